//! The second cold-start baseline: the hello-world function plus what a
//! DynamoDB-backed Rust Lambda does at init, build its SDK configuration
//! and one DynamoDB client, the way ours do (`adapters_aws::
//! sdk_config`: credentials and region from the environment, no default
//! chains), with the same SDK features and release profile. It echoes its
//! event.
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    use aws_config::environment::{
        EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
    };
    use aws_config::meta::region::ProvideRegion;
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(EnvironmentVariableRegionProvider::new().region().await)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ),
        )
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .build();
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<serde_json::Value>| {
        // Held by the handler, as a real function holds its client.
        let _client = client.clone();
        async move { Ok::<_, std::convert::Infallible>(e.payload) }
    }))
    .await
}
