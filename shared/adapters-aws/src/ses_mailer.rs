//! The mailer on SES v2, sending the same raw RFC 5322 message the embedded
//! mail folder stores.

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

use super::classify;
use shared::ports::mailer::{Mail, MailError, Mailer, render};

#[derive(Clone)]
pub struct SesMailer {
    client: Client,
    from: String,
}

impl SesMailer {
    pub fn new(client: Client, from: impl Into<String>) -> Self {
        SesMailer {
            client,
            from: from.into(),
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<String, MailError> {
        let raw = RawMessage::builder()
            .data(Blob::new(render(&self.from, mail)?))
            .build()
            .map_err(|e| MailError::Invalid(e.to_string()))?;
        let out = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map_err(|e| MailError::Unavailable(classify(&e).1))?;
        Ok(out.message_id.unwrap_or_default())
    }
}
