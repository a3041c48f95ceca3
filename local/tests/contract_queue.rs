//! The queue contract, on the SQLite queue and on SQS (moto): delivery,
//! visibility, redelivery, dead letters and redrive.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{TestBackend, state};
use shared::ports::MAX_RECEIVES;

on_both_backends!(
    send_receive_delete,
    unacknowledged_messages_come_back,
    poison_messages_are_dead_lettered_and_redriven
);

async fn send_receive_delete(b: TestBackend) {
    let (_d, s) = state(b).await;
    let q = s.queue.clone();
    q.health().await.unwrap();
    let mut sent = HashSet::new();
    for i in 0..3 {
        sent.insert(q.send(&format!("{{\"n\":{i}}}")).await.unwrap());
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.extend(q.receive(10, Duration::from_secs(30)).await.unwrap());
        if got.len() == 3 {
            break;
        }
    }
    assert_eq!(
        got.iter()
            .map(|m| m.message_id.clone())
            .collect::<HashSet<_>>(),
        sent
    );
    assert!(got.iter().all(|m| m.receive_count == 1));
    // Hidden while being handled.
    assert!(
        q.receive(10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty()
    );
    for m in &got {
        q.delete(&m.receipt).await.unwrap();
    }
    q.change_visibility(&got[0].receipt, Duration::ZERO)
        .await
        .ok();
    assert!(
        q.receive(10, Duration::from_secs(30))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn unacknowledged_messages_come_back(b: TestBackend) {
    let (_d, s) = state(b).await;
    let q = s.queue.clone();
    let id = q.send("work").await.unwrap();
    let first = q.receive(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        q.receive(1, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = q.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        (second[0].message_id.clone(), second[0].receive_count),
        (id.clone(), 2)
    );
    // A reported failure becomes visible again at once.
    q.change_visibility(&second[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let third = q.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        (third[0].message_id.clone(), third[0].receive_count),
        (id, 3)
    );
    q.delete(&third[0].receipt).await.unwrap();
}

async fn poison_messages_are_dead_lettered_and_redriven(b: TestBackend) {
    let (_d, s) = state(b).await;
    let q = s.queue.clone();
    q.send("poison").await.unwrap();
    for n in 1..=MAX_RECEIVES {
        let got = q.receive(1, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 1, "receive {n}");
        assert_eq!(got[0].receive_count, n);
    }
    assert!(
        q.receive(1, Duration::ZERO).await.unwrap().is_empty(),
        "moved to the dead-letter queue"
    );
    assert_eq!(q.dead_letter_count().await.unwrap(), 1);
    assert_eq!(q.redrive_dead_letters().await.unwrap(), 1);
    assert_eq!(q.dead_letter_count().await.unwrap(), 0);
    let back = q.receive(1, Duration::from_secs(30)).await.unwrap();
    assert_eq!(back[0].body, "poison");
    assert_eq!(back[0].receive_count, 1);
}
