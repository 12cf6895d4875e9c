//! Where the command line finds its backend: `--url` beats the client
//! configured in code, which beats the environment and the default.
//!
//! A file of its own, because it sets the process-wide global client.

use std::collections::BTreeMap;

use asynctasq::core::envelope::ENVELOPE_VERSION;
use asynctasq::{Envelope, JobId, RetryPolicy};

async fn run(args: &[&str]) -> String {
    let mut out = Vec::new();
    asynctasq::cli::run_from(args.iter().copied(), &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn the_flag_beats_the_code_which_beats_the_default() {
    let code_dir = tempfile::tempdir().unwrap();
    let code_url = format!("sqlite://{}", code_dir.path().join("code.db").display());
    let client = asynctasq::init(asynctasq::Config::new(&code_url))
        .await
        .unwrap();
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        id: JobId::new(),
        task: "app::report".into(),
        queue: "from-code".into(),
        args: rmpv::Value::Map(vec![]),
        max_attempts: 1,
        retry: RetryPolicy::default(),
        timeout_ms: None,
        priority: 0,
        run_at: 0,
        created_at: 0,
        headers: BTreeMap::new(),
    };
    client.enqueue(&[envelope]).await.unwrap();

    // No flag: the client from `init` (whatever ASYNCTASQ_URL says).
    let out = run(&["app", "stats"]).await;
    assert!(out.contains("from-code"), "{out}");

    // The flag wins over the code.
    let flag_dir = tempfile::tempdir().unwrap();
    let flag_url = format!("sqlite://{}", flag_dir.path().join("flag.db").display());
    let out = run(&["app", "--url", &flag_url, "stats"]).await;
    assert!(out.starts_with("no queues yet"), "{out}");

    // `migrate` names the backend from the code without its URL.
    let out = run(&["app", "migrate"]).await;
    assert_eq!(
        out,
        "migrated the sqlite backend configured in code (asynctasq::init): the sqlite schema is up to date\n"
    );
}
