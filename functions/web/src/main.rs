//! Lambda entry point: the pages are compiled in, so there is no state to
//! build and no configuration to read.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(|req| async move {
        Ok::<_, std::convert::Infallible>(web::answer(&req))
    }))
    .await
}
