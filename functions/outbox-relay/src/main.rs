//! Lambda entry point of the scheduled outbox relay (EventBridge, every minute).
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = edge::runtime::state_from_env().await?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        let state = state.clone();
        async move { outbox_relay::run(&state).await }
    }))
    .await
}
