//! The AWS adapters take credentials and region from the environment only
//! (`adapters_aws::sdk_config`): what Lambda sets, and what the
//! local server, the tests and moto use. A profile file, which aws-config's
//! default chains would read, is ignored. Its own test binary (one test), as
//! it changes the process environment.

use adapters_aws::sdk_config;
use aws_credential_types::provider::ProvideCredentials;
use shared::Config;

#[tokio::test]
async fn credentials_and_region_come_from_the_environment_only() {
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        "[default]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = from-profile\n",
    )
    .unwrap();
    std::fs::write(aws.join("config"), "[default]\nregion = eu-west-3\n").unwrap();
    // SAFETY: this test binary runs this one test; nothing else reads or
    // writes the environment meanwhile.
    unsafe {
        std::env::set_var("HOME", home.path());
        std::env::set_var("AWS_CONFIG_FILE", aws.join("config"));
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", aws.join("credentials"));
        for name in [
            "AWS_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
        ] {
            std::env::remove_var(name);
        }
    }
    let config = Config::embedded(home.path().join("data"));

    // Nothing in the environment: the profile is not a fallback.
    let sdk = sdk_config(&config).await;
    assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
    let provider = sdk.credentials_provider().expect("a credentials provider");
    let found = provider.provide_credentials().await;
    assert!(found.is_err(), "credentials from the profile: {found:?}");

    // Lambda's variables are what it uses.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDFROMENVIRONMENT");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "from-environment");
        std::env::set_var("AWS_SESSION_TOKEN", "session-token");
        std::env::set_var("AWS_REGION", "eu-central-1");
    }
    let sdk = sdk_config(&config).await;
    assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-central-1"));
    let credentials = sdk
        .credentials_provider()
        .expect("a credentials provider")
        .provide_credentials()
        .await
        .expect("credentials from the environment");
    assert_eq!(credentials.access_key_id(), "AKIDFROMENVIRONMENT");
    assert_eq!(credentials.session_token(), Some("session-token"));
}
