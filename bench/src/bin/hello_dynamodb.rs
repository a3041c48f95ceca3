//! The second cold-start baseline: the hello-world function plus what any
//! DynamoDB-backed Rust Lambda does at init, load `aws-config` (credentials
//! chain, region, the HTTPS client) and build one DynamoDB client, with the
//! same SDK features and release profile as ours. It echoes its event.
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<serde_json::Value>| {
        // Held by the handler, as a real function holds its client.
        let _client = client.clone();
        async move { Ok::<_, std::convert::Infallible>(e.payload) }
    }))
    .await
}
