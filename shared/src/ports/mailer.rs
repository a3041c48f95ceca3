//! The mailer port (SES on AWS, a folder of `.eml` files when embedded).

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail: {0}")]
    Invalid(String),
    #[error("mailer unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one mail; returns a message id.
    async fn send(&self, mail: &Mail) -> Result<String, MailError>;
}

/// Builds the RFC 5322 message both adapters send (SES takes it raw).
pub fn render(from: &str, mail: &Mail) -> Result<Vec<u8>, MailError> {
    let message = lettre::Message::builder()
        .from(
            from.parse()
                .map_err(|_| MailError::Invalid("from address".into()))?,
        )
        .to(mail
            .to
            .parse()
            .map_err(|_| MailError::Invalid("to address".into()))?)
        .subject(mail.subject.clone())
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(mail.text.clone())
        .map_err(|e| MailError::Invalid(e.to_string()))?;
    Ok(message.formatted())
}
