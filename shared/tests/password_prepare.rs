//! Login and signup start allocating argon2's working set when a request
//! arrives (`prepare_working_set`), and their hash can start before the
//! allocation ends; a preparation can also start while a hash holds the
//! only set. Neither may leave a second 19 MiB set. Its own test binary, so
//! no other test's sets are counted.

use std::time::Duration;

use shared::password::{prepare_working_set, verify, working_sets};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preparations_and_logins_share_one_working_set() {
    // A fresh process: the preparation and the first login race for the set.
    prepare_working_set();
    verify("vivid tundra lantern 47".into(), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(working_sets(), (1, 1), "(idle, in existence)");

    // A preparation while a login holds that set (a hash takes 10+ ms).
    let login = tokio::spawn(verify("vivid tundra lantern 47".into(), None));
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(working_sets(), (0, 1), "the login took the set");
    prepare_working_set();
    login.await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(working_sets(), (1, 1));
}
