//! The driver conformance suite on a Redis Cluster of three masters that this
//! test binary starts on free loopback ports (and that dies with it).

mod redis_support;

use asynctasq_core::Completion;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use asynctasq_core::Driver;
use asynctasq_core::conformance::{claim_one_queue, job, stats_of, unique_queue};
use asynctasq_drivers::RedisDriver;
use redis_support::Cluster;

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(Cluster::start)
}

fn random_prefix() -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("atq-cluster-{}", &id[16..])
}

async fn connect() -> RedisDriver {
    let cluster = tokio::task::spawn_blocking(cluster).await.unwrap();
    let driver = RedisDriver::connect(&cluster.url(&random_prefix()))
        .await
        .expect("connect to the test cluster");
    assert!(driver.is_cluster());
    driver.migrate().await.expect("migrate");
    driver
}

async fn driver() -> Arc<dyn Driver> {
    Arc::new(connect().await)
}

asynctasq_core::conformance_tests!(driver);

/// The queues of one test land on different shards, and each shard serves its
/// own queues' scripts and wake-ups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_spread_over_the_shards() {
    let driver: Arc<dyn Driver> = driver().await;
    let queues: Vec<String> = (0..12)
        .map(|i| unique_queue(&format!("shard{i}")))
        .collect();
    let jobs: Vec<_> = queues.iter().map(|q| job(q)).collect();
    driver.enqueue(&jobs).await.unwrap();
    let claimed =
        asynctasq_core::conformance::claim(&driver, &queues, 100, Duration::from_secs(30)).await;
    assert_eq!(claimed.len(), 12);
    let receipts: Vec<_> = claimed.iter().map(|c| c.receipt).collect();
    assert_eq!(
        driver
            .complete(&receipts, Completion::Delete)
            .await
            .unwrap(),
        12
    );
    for q in &queues {
        assert_eq!(stats_of(&driver, q).await.outstanding(), 0);
    }
    let used: std::collections::HashSet<String> = cluster()
        .nodes
        .iter()
        .filter(|n| n.cli(&["info", "commandstats"]).contains("cmdstat_evalsha"))
        .map(|n| n.port.to_string())
        .collect();
    assert!(used.len() >= 2, "scripts ran on {used:?} only");
    assert!(claim_one_queue(&driver, &queues[0], 1).await.is_empty());
}
