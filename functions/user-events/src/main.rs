//! Lambda entry point of the SQS consumer (ReportBatchItemFailures).
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    edge::consumer::run_sqs(user_events::handle).await
}
