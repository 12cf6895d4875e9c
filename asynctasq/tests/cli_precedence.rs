//! Where the command line finds its backend when the environment names one
//! too: the client configured in code wins over `ASYNCTASQ_URL`, and `--url`
//! wins over both.
//!
//! The test re-runs itself in a child process with `ASYNCTASQ_URL` set, since
//! a test cannot safely change its own environment.

mod cli_support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use asynctasq::Client;
use asynctasq::drivers::MemoryDriver;
use cli_support::{enqueue, in_process};

const CHILD: &str = "ASYNCTASQ_CLI_PRECEDENCE_CHILD";

#[tokio::test]
async fn code_beats_the_environment_and_the_flag_beats_both() {
    if std::env::var_os(CHILD).is_none() {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "code_beats_the_environment_and_the_flag_beats_both",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env("ASYNCTASQ_URL", "nosuch://from-env")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "the child failed:\n{text}");
        assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
        return;
    }

    assert_eq!(
        std::env::var("ASYNCTASQ_URL").as_deref(),
        Ok("nosuch://from-env")
    );
    // Without `init`, the environment's URL is used.
    let out = in_process(&["stats"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with(
            "cannot connect to nosuch://from-env (check the ASYNCTASQ_URL environment variable, \
             or pass --url)"
        ),
        "{out:#?}"
    );

    // With a client configured in code, the code wins.
    let client = Client::new(Arc::new(MemoryDriver::new()));
    asynctasq::set_global(client.clone()).unwrap();
    enqueue(&client, "app::report", "from-code", Duration::ZERO).await;
    let out = in_process(&["stats"]).await.ok();
    assert!(out.contains("from-code"), "{out}");

    // The flag wins over the code.
    let out = in_process(&["--url", "nosuch://from-flag", "stats"]).await;
    assert!(
        out.stderr
            .starts_with("cannot connect to nosuch://from-flag (check the URL given with --url)"),
        "{out:#?}"
    );
}
