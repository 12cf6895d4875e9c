//! The driver conformance suite on the SQLite driver.
//!
//! All cases share one database file, as concurrent applications would; the
//! suite gives every case its own queues.

#![cfg(feature = "sqlite")]

use std::sync::{Arc, LazyLock};

use asynctasq_core::Driver;
use asynctasq_drivers::SqliteDriver;

/// The database, under cargo's temp dir for tests; a previous run's file is removed first.
static URL: LazyLock<String> = LazyLock::new(|| {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqlite-conformance.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    format!("sqlite://{}", path.display())
});

async fn driver() -> Arc<dyn Driver> {
    let url = URL.as_str();
    let driver = SqliteDriver::connect(url).await.expect("connect");
    driver.migrate().await.expect("migrate");
    Arc::new(driver)
}

asynctasq_core::conformance_tests!(driver);
