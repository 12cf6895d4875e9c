//! An oversized payload is refused at dispatch with a clear error, and
//! nothing is stored.

use asynctasq::{Client, Config, Error, task};

#[task(queue = "uploads")]
async fn store_blob(blob: String) {
    let _ = blob;
}

#[tokio::test]
async fn oversized_payloads_are_refused_and_nothing_is_stored() {
    let client = Client::connect(&Config::new("memory://").max_payload_bytes(1024))
        .await
        .unwrap();
    let error = store_blob("x".repeat(2000))
        .dispatch_with(&client)
        .await
        .unwrap_err();
    match &error {
        Error::PayloadTooLarge { size, limit } => {
            assert!(*size > 2000, "{size}");
            assert_eq!(*limit, 1024);
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(error.to_string().contains("exceeds the limit of 1024 bytes"), "{error}");
    assert!(client.driver().stats(None).await.unwrap().is_empty(), "something was stored");
    store_blob("small".into()).dispatch_with(&client).await.unwrap();
}
