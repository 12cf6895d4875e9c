//! `worker --database-url` with a models database that is down: the worker
//! stops within about 2 s, naming the cause (sea-orm's defaults waited 30 s
//! and said only `pool timed out while waiting for an open connection`).

#![cfg(feature = "postgres")]

mod cli_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use asynctasq::drivers::MemoryDriver;
use asynctasq::prelude::*;
use cli_support::in_process;

#[task(name = "cli_models_test::noop")]
async fn noop() {}

#[tokio::test]
async fn a_models_database_that_is_down_fails_the_worker_fast_with_its_cause() {
    asynctasq::set_global(Client::new(Arc::new(MemoryDriver::new()))).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://app:s3cret@127.0.0.1:{port}/shop");
    let start = Instant::now();
    let out = in_process(&["worker", "--burst", "--database-url", &url]).await;
    let took = start.elapsed();
    assert_eq!(out.code, 2, "a user error: {out:#?}");
    assert!(took < Duration::from_secs(4), "took {took:?}: {out:#?}");
    assert!(
        out.stderr.contains("cannot connect to the models database")
            && out.stderr.contains("connection refused"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
    eprintln!("failed in {took:?}: {}", out.stderr);
}
