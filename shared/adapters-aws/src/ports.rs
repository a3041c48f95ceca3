//! The AWS adapters over one `SdkConfig`, built all at once or on first use.
//! Each is behind its service's feature; in a build without it, the port
//! fails to build ([`not_linked`]), so a request that reaches it answers 503
//! and the log names the missing feature.

use std::sync::Arc;

use shared::config::Config;
use shared::ports::lazy::Lazy;
use shared::ports::{BlobStore, ItemStore, Mailer, Ports, Queue};

#[cfg(feature = "aws")]
use aws_config::SdkConfig;

/// What a refused port says (and logs) when a request reaches it.
pub fn not_linked(feature: &str) -> String {
    format!(
        "this function is built without the `{feature}` feature of `adapters-aws` (add it to the function's Cargo.toml)"
    )
}

/// Why the AWS ports could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("QUEUE_URL is required")]
    NoQueueUrl,
    /// A service missing from this build, for the wiring that needs all.
    #[error("{0}")]
    NotLinked(String),
}

#[cfg(feature = "aws")]
type Sdk = SdkConfig;
/// Without any AWS feature there is no SDK configuration to share.
#[cfg(not(feature = "aws"))]
type Sdk = ();

#[allow(dead_code)] // unused when every service is linked
fn refuse<T: ?Sized>(feature: &str) -> Result<Arc<T>, String> {
    Err(not_linked(feature))
}

fn store(_sdk: &Sdk, _config: &Config) -> Result<Arc<dyn ItemStore>, String> {
    #[cfg(feature = "dynamodb")]
    return Ok(Arc::new(crate::DynamoStore::new(
        crate::client!(aws_sdk_dynamodb, _sdk),
        _config.table_name.clone(),
    )));
    #[cfg(not(feature = "dynamodb"))]
    refuse("dynamodb")
}

fn blobs(_sdk: &Sdk, _config: &Config) -> Result<Arc<dyn BlobStore>, String> {
    #[cfg(feature = "s3")]
    return {
        let path_style = _config.aws_endpoint_url.is_some();
        let s3 = crate::client!(aws_sdk_s3, _sdk, |b: aws_sdk_s3::config::Builder| b
            .force_path_style(path_style));
        Ok(Arc::new(crate::S3Blobs::new(
            s3,
            _config.bucket_name.clone(),
        )))
    };
    #[cfg(not(feature = "s3"))]
    refuse("s3")
}

fn queue(_sdk: &Sdk, _config: &Config, _url: String) -> Result<Arc<dyn Queue>, String> {
    #[cfg(feature = "sqs")]
    return Ok(Arc::new(crate::SqsQueue::new(
        crate::client!(aws_sdk_sqs, _sdk),
        _url,
        _config.dead_letter_queue_url.clone(),
    )));
    #[cfg(not(feature = "sqs"))]
    refuse("sqs")
}

fn mailer(_sdk: &Sdk, _config: &Config) -> Result<Arc<dyn Mailer>, String> {
    #[cfg(feature = "ses")]
    return Ok(Arc::new(crate::SesMailer::new(
        crate::client!(aws_sdk_sesv2, _sdk),
        _config.mail_from.clone(),
    )));
    #[cfg(not(feature = "ses"))]
    refuse("ses")
}

async fn sdk_config(_config: &Config) -> Sdk {
    #[cfg(feature = "aws")]
    return crate::sdk_config(_config).await;
    #[cfg(not(feature = "aws"))]
    ()
}

fn queue_url(config: &Config) -> Result<String, SetupError> {
    config.queue_url.clone().ok_or(SetupError::NoQueueUrl)
}

/// Every adapter, now: a service missing from the build refuses the start
/// (the local server and the tests link them all).
pub async fn eager(config: &Config) -> Result<Ports, SetupError> {
    let url = queue_url(config)?;
    let sdk = sdk_config(config).await;
    Ok(Ports {
        store: store(&sdk, config).map_err(SetupError::NotLinked)?,
        blobs: blobs(&sdk, config).map_err(SetupError::NotLinked)?,
        queue: queue(&sdk, config, url).map_err(SetupError::NotLinked)?,
        mailer: mailer(&sdk, config).map_err(SetupError::NotLinked)?,
    })
}

/// The SDK configuration and the client of one port, built on first use.
/// The configuration (credentials chain, region, the HTTPS client with its
/// root certificates) is loaded once, by whichever client comes first.
fn on_first_use<T: ?Sized + 'static>(
    shared: &Arc<(tokio::sync::OnceCell<Sdk>, Config)>,
    make: impl Fn(&Sdk, &Config) -> Result<Arc<T>, String> + Send + Sync + 'static,
) -> Lazy<T> {
    let shared = shared.clone();
    let make = Arc::new(make);
    Lazy::new(move || {
        let (shared, make) = (shared.clone(), make.clone());
        Box::pin(async move {
            let (sdk, config) = &*shared;
            make(sdk.get_or_init(|| sdk_config(config)).await, config)
        })
    })
}

/// Every adapter, each built the first time a request reaches it.
pub fn lazy(config: &Config) -> Result<Ports, SetupError> {
    let url = queue_url(config)?;
    let shared = Arc::new((tokio::sync::OnceCell::<Sdk>::new(), config.clone()));
    let store: Lazy<dyn ItemStore> = on_first_use(&shared, store);
    let blobs: Lazy<dyn BlobStore> = on_first_use(&shared, blobs);
    let queue: Lazy<dyn Queue> =
        on_first_use(&shared, move |sdk, config| queue(sdk, config, url.clone()));
    let mailer: Lazy<dyn Mailer> = on_first_use(&shared, mailer);
    Ok(Ports {
        store: Arc::new(store),
        blobs: Arc::new(blobs),
        queue: Arc::new(queue),
        mailer: Arc::new(mailer),
    })
}

/// The signing key's PEM from the secret named `secret` (the deployed login
/// and refresh read it once, at cold start); an error says why, and in a
/// build without the `secrets` feature that it is missing.
pub async fn signing_key_pem(_config: &Config, secret: &str) -> Result<String, String> {
    #[cfg(feature = "secrets")]
    {
        let sdk = crate::sdk_config(_config).await;
        crate::read_secret_string(&sdk, secret).await
    }
    #[cfg(not(feature = "secrets"))]
    Err(format!(
        "JWT_PRIVATE_KEY_SECRET names {secret:?}, but this function is built without the `secrets` feature of `adapters-aws`"
    ))
}
