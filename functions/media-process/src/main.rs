//! Lambda entry point: build the state once, then handle S3 notifications.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = edge::runtime::state_from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::s3::S3Event>| {
            let state = state.clone();
            async move {
                media_process::handle(state, event.payload)
                    .await
                    .map_err(|e| lambda_runtime::Error::from(e.to_string()))
            }
        },
    ))
    .await
}
