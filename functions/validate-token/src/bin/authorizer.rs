//! Lambda entry point of the API Gateway authorizer.
use aws_lambda_events::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = edge::runtime::state_from_env().await?;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| {
            let state = state.clone();
            // An `Err` fails the invocation: API Gateway answers 500 and
            // caches nothing.
            async move {
                validate_token::authorize(&state, &event.payload)
                    .await
                    .map_err(lambda_runtime::Error::from)
            }
        },
    ))
    .await
}
