//! The baseline for cold starts: the smallest `lambda_runtime` function,
//! built with the same profile as ours. It echoes its event.
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|e: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, std::convert::Infallible>(e.payload)
    }))
    .await
}
