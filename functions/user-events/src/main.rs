//! Lambda entry point of the SQS consumer (ReportBatchItemFailures).
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::consumer::run_sqs(user_events::handle).await
}
