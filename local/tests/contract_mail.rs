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

/// The message as sent: the file in the mail folder, or what SES (moto)
/// accepted under the id the mailer returned.
async fn sent(b: TestBackend, s: &shared::AppState, id: &str) -> String {
    match b {
        TestBackend::Embedded => {
            let parts = s.extras.get::<EmbeddedParts>().expect("the mail folder");
            let files = parts.mail.list().unwrap();
            assert_eq!(files.len(), 1);
            std::fs::read_to_string(&files[0]).unwrap()
        }
        TestBackend::Aws => {
            // `tests/e2e/moto_serial.py` lists what SES accepted.
            let moto = edge::testing::moto_endpoint().expect("moto");
            let all: Vec<serde_json::Value> = reqwest::get(format!("{moto}/_tests/ses/messages"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let mine: Vec<_> = all.iter().filter(|m| m["id"] == id).collect();
            assert_eq!(mine.len(), 1, "{id} among {all:?}");
            assert_eq!(mine[0]["destinations"][0], "ada@example.com", "{mine:?}");
            mine[0]["raw"].as_str().expect("a raw message").to_owned()
        }
    }
}

async fn mail_is_sent(b: TestBackend) {
    let (_d, s) = state(b).await;
    let id = s.mailer.send(&welcome()).await.unwrap();
    assert!(!id.is_empty());
    let eml = sent(b, &s, &id).await;
    assert!(eml.contains("To: ada@example.com"), "{eml}");
    assert!(eml.contains("Subject: Welcome, Ada"), "{eml}");
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
