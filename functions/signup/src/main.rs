//! Lambda entry point: build the state once, then serve events.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_http(signup::handle).await
}
