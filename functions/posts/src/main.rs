//! Lambda entry point: build the state once, then serve events.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    edge::runtime::run_http_reading_posts(edge::wiring::https_posts, posts::handle).await
}
