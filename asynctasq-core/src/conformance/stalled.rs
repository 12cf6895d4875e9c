//! Lease extensions that stall until a test lets them through: a worker
//! paused (or cut off) for longer than its lease, over a real driver. Every
//! other call goes straight to the driver under test.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::driver::Driver;
use crate::observed::{Hooks, Observed, Op};

/// Holds [`Driver::extend`] until [`resume`](Self::resume).
#[derive(Debug)]
pub(crate) struct StalledExtend {
    open: watch::Sender<bool>,
}

impl StalledExtend {
    /// `inner`, its extensions stalled from the start, and the handle that
    /// lets them through.
    pub(crate) fn wrap(inner: Arc<dyn Driver>) -> (Arc<dyn Driver>, Arc<StalledExtend>) {
        let stalled = Arc::new(StalledExtend {
            open: watch::channel(false).0,
        });
        (Arc::new(Observed::new(inner, stalled.clone())), stalled)
    }

    /// Lets the stalled extensions (and later ones) through.
    pub(crate) fn resume(&self) {
        self.open.send_replace(true);
    }
}

#[async_trait]
impl Hooks for StalledExtend {
    async fn before(&self, op: Op) {
        if op == Op::Extend {
            // The sender lives in `self`, so the wait ends only when opened.
            let _ = self.open.subscribe().wait_for(|open| *open).await;
        }
    }
}
