//! The mailer contract, on the mail folder and on SES v2 (moto).

mod common;

use common::{TestBackend, state};
use edge::wiring::EmbeddedParts;
use shared::ports::{Mail, MailError};

on_both_backends!(mail_is_sent, bad_addresses_are_refused);

fn welcome() -> Mail {
    Mail {
        to: "ada@example.com".into(),
        subject: "Welcome, Ada".into(),
        text: "Hello ✓".into(),
    }
}

async fn mail_is_sent(b: TestBackend) {
    let (_d, s) = state(b).await;
    let id = s.mailer.send(&welcome()).await.unwrap();
    assert!(!id.is_empty());
    if let Some(parts) = s.extras.get::<EmbeddedParts>() {
        let files = parts.mail.list().unwrap();
        assert_eq!(files.len(), 1);
        let eml = std::fs::read_to_string(&files[0]).unwrap();
        assert!(eml.contains("To: ada@example.com"), "{eml}");
        assert!(eml.contains("Subject: Welcome, Ada"), "{eml}");
    }
}

async fn bad_addresses_are_refused(b: TestBackend) {
    let (_d, s) = state(b).await;
    let bad = Mail {
        to: "not an address".into(),
        ..welcome()
    };
    assert!(matches!(
        s.mailer.send(&bad).await,
        Err(MailError::Invalid(_))
    ));
}
