//! The signing key from Secrets Manager: read once, at a signing function's
//! cold start, and kept in the process. The function's configuration holds
//! only the secret's name, so `lambda:GetFunctionConfiguration` (granted by
//! AWS's ReadOnlyAccess) shows nothing that mints tokens.

use aws_config::SdkConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The `SecretString` of `secret` (a name or an ARN), or why it could not be
/// read, in words an operator acts on (the cold start logs it and fails).
pub async fn read_secret_string(sdk: &SdkConfig, secret: &str) -> Result<String, String> {
    let client = super::client!(aws_sdk_secretsmanager, sdk);
    let out = client
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| {
            let why = match e.code() {
                Some("ResourceNotFoundException") => "does not exist (or has no current version)",
                Some("AccessDeniedException") => {
                    "may not be read by this function's role (secretsmanager:GetSecretValue)"
                }
                Some("DecryptionFailure") => "cannot be decrypted with its KMS key by this role",
                _ => "could not be read",
            };
            format!("the secret {secret:?} {why}: {}", super::classify(&e).1)
        })?;
    out.secret_string
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            format!("the secret {secret:?} holds no string (store the PEM as SecretString)")
        })
}
