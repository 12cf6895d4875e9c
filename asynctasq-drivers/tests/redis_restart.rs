//! A private Redis with `appendonly yes` and `appendfsync always` is killed
//! (SIGKILL) and restarted in the middle of a run: the driver reconnects by
//! itself, and every job whose enqueue was acknowledged runs.

mod redis_support;

use asynctasq_core::Completion;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asynctasq_core::envelope::Envelope;
use asynctasq_core::task::HandlerFuture;
use asynctasq_core::{
    Client, Driver, JobContext, JobId, Registry, RetryPolicy, TaskRegistration, Worker,
};
use asynctasq_drivers::RedisDriver;
use redis_support::Server;

static SEEN: Mutex<Option<HashSet<JobId>>> = Mutex::new(None);

static RECORD: TaskRegistration = TaskRegistration {
    name: "restart.record",
    location: concat!(file!(), ":", line!()),
    handler: record,
    model_arguments: Vec::new,
};

fn record(ctx: JobContext) -> HandlerFuture {
    SEEN.lock()
        .unwrap()
        .get_or_insert_with(HashSet::new)
        .insert(ctx.id);
    Box::pin(async { Ok(()) })
}

fn seen() -> HashSet<JobId> {
    SEEN.lock().unwrap().clone().unwrap_or_default()
}

fn envelope(queue: &str) -> Envelope {
    Envelope {
        max_attempts: 25,
        retry: RetryPolicy::fixed(Duration::from_millis(50)).without_jitter(),
        ..Envelope::new("restart.record", queue)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aof_restart_during_a_run_loses_nothing() {
    const JOBS: usize = 4000;
    let server = Arc::new(Server::start(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ]));
    let driver = RedisDriver::connect(&format!("{}/?prefix=restart", server.url()))
        .await
        .expect("connect to the private redis");
    driver.migrate().await.unwrap();
    let driver: Arc<dyn Driver> = Arc::new(driver);
    let client = Client::new(driver.clone());
    let queue = "restart";

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(client.clone())
        .registry(Registry::from_registrations([&RECORD]).unwrap())
        .queues([queue])
        .concurrency(16)
        .lease(Duration::from_secs(2));
    let worker = tokio::spawn(worker.run_until(async {
        let _ = stop_rx.await;
    }));

    // The producer enqueues small batches and retries a failed batch (same
    // ids: enqueue is idempotent) until it is acknowledged.
    let acked = Arc::new(Mutex::new(Vec::<JobId>::new()));
    let failures = Arc::new(Mutex::new(0usize));
    let producer = {
        let client = client.clone();
        let acked = acked.clone();
        let failures = failures.clone();
        tokio::spawn(async move {
            for _ in 0..(JOBS / 20) {
                let batch: Vec<Envelope> = (0..20).map(|_| envelope(queue)).collect();
                while let Err(e) = client.enqueue(&batch).await {
                    *failures.lock().unwrap() += 1;
                    tracing::debug!("enqueue failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                acked.lock().unwrap().extend(batch.iter().map(|e| e.id));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    // Let the run get going, then kill the server mid-flight and bring it back.
    let started = Instant::now();
    while acked.lock().unwrap().len() < JOBS / 4 || seen().len() < JOBS / 8 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run never got going"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = (acked.lock().unwrap().len(), seen().len());
    let s = server.clone();
    tokio::task::spawn_blocking(move || {
        s.kill();
        std::thread::sleep(Duration::from_millis(300));
        s.restart();
    })
    .await
    .unwrap();
    eprintln!(
        "restarted redis with {} jobs acknowledged, {} run",
        before.0, before.1
    );

    producer.await.unwrap();
    let acked: HashSet<JobId> = acked.lock().unwrap().iter().copied().collect();
    assert_eq!(acked.len(), JOBS);
    let started = Instant::now();
    loop {
        let missing = acked.difference(&seen()).count();
        let stats = driver.stats(Some(&[queue.to_string()])).await;
        if missing == 0
            && let Ok(stats) = &stats
            && stats[0].outstanding() == 0
        {
            assert_eq!(stats[0].dead, 0, "{stats:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "{missing} acknowledged jobs never ran; stats {stats:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(());
    let report = worker.await.unwrap().unwrap();
    eprintln!(
        "after the restart: {report:?}, {} failed enqueue calls retried, {} runs",
        failures.lock().unwrap(),
        seen().len()
    );

    // Wake-ups work again: the connection resubscribed after the restart.
    let queues = vec![queue.to_string()];
    driver
        .wait(&queues, Duration::from_millis(1))
        .await
        .unwrap();
    let waiter = {
        let driver = driver.clone();
        let queues = queues.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            driver.wait(&queues, Duration::from_secs(5)).await.unwrap();
            t.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.enqueue(&[envelope(queue)]).await.unwrap();
    let waited = waiter.await.unwrap();
    assert!(
        waited < Duration::from_secs(1),
        "no wake-up after the restart: {waited:?}"
    );
}

/// `rediss://` with a private CA (`tls_ca=`): jobs and wake-ups work over TLS,
/// and a server certificate the CA did not sign is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_private_ca() {
    let server = Server::start_tls();
    let ca = server.dir.join("ca.crt");
    let url = format!(
        "rediss://127.0.0.1:{}/?prefix=tls&tls_ca={}",
        server.port,
        ca.display()
    );
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&url).await.expect("tls connect"));
    driver.migrate().await.unwrap();
    let queues = vec!["tls".to_string()];
    let waiter = {
        let driver = driver.clone();
        let queues = queues.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            driver.wait(&queues, Duration::from_secs(5)).await.unwrap();
            t.elapsed()
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    Client::new(driver.clone())
        .enqueue(&[envelope("tls")])
        .await
        .unwrap();
    assert!(waiter.await.unwrap() < Duration::from_secs(1));
    let claimed = asynctasq_core::conformance::claim_one_queue(&driver, "tls", 5).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        driver
            .complete(&[claimed[0].receipt], Completion::Delete)
            .await
            .unwrap(),
        1
    );

    // Without the CA, the system roots do not trust the server.
    let untrusted = format!("rediss://127.0.0.1:{}/?prefix=tls", server.port);
    assert!(RedisDriver::connect(&untrusted).await.is_err());
}

/// An ACL user with a password, a database index, and a wrong password that
/// is refused without showing up in the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user_and_database_index() {
    let server = Server::start(&["--user", "app", "on", ">s3cret-pw", "~*", "&*", "+@all"]);
    let url = format!(
        "redis://app:s3cret-pw@127.0.0.1:{}/3?prefix=acl",
        server.port
    );
    let driver: Arc<dyn Driver> = Arc::new(RedisDriver::connect(&url).await.expect("acl connect"));
    assert!(!format!("{driver:?}").contains("s3cret-pw"));
    Client::new(driver.clone())
        .enqueue(&[envelope("acl")])
        .await
        .unwrap();
    assert_eq!(
        driver.stats(Some(&["acl".to_string()])).await.unwrap()[0].ready,
        1
    );
    assert_ne!(
        server.cli(&["-n", "3", "dbsize"]).trim(),
        "0",
        "keys are in db 3"
    );
    assert_eq!(
        server.cli(&["-n", "0", "dbsize"]).trim(),
        "0",
        "nothing in db 0"
    );

    let wrong = format!("redis://app:not-the-pw@127.0.0.1:{}/3", server.port);
    let err = RedisDriver::connect(&wrong)
        .await
        .expect_err("wrong password");
    let text = format!("{err} {err:?} {}", error_chain(&err));
    assert!(!text.contains("not-the-pw"), "{text}");
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = String::new();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(&format!(" / {s} {s:?}"));
        source = s.source();
    }
    text
}
