//! A cold function's first login can arrive while the background warm-up is
//! still allocating argon2's working set, and a warm-up can start while a
//! hash holds the only set: neither may allocate a second 19 MiB set. Its
//! own test binary, so no other test's sets are counted.

use std::time::Duration;

use shared::password::{WarmUp, verify, warm_up_in_background, working_sets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_ups_and_logins_share_one_working_set() {
    // A fresh process: the warm-up and the first login race for the set.
    let warm_up = warm_up_in_background(WarmUp::Hashing);
    verify("vivid tundra lantern 47".into(), None)
        .await
        .unwrap();
    warm_up.join().unwrap();
    assert_eq!(working_sets(), (1, 1), "(idle, in existence)");

    // A warm-up while a login holds that set (a hash takes 10+ ms).
    let login = tokio::spawn(verify("vivid tundra lantern 47".into(), None));
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(working_sets(), (0, 1), "the login took the set");
    warm_up_in_background(WarmUp::Hashing).join().unwrap();
    login.await.unwrap().unwrap();
    assert_eq!(working_sets(), (1, 1));
}
