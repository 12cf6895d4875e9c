//! The driver conformance suite on the in-memory driver.

use std::sync::Arc;

use asynctasq_core::Driver;
use asynctasq_core::memory::MemoryDriver;

async fn driver() -> Arc<dyn Driver> {
    Arc::new(MemoryDriver::new())
}

asynctasq_core::conformance_tests!(driver);
