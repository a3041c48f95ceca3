//! Lambda entry point: start the one-time password work in the background,
//! build the state once, then serve events.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::password::warm_up_in_background(shared::password::WarmUp::HashingAndStrength);
    shared::runtime::run_http(signup::handle).await
}
