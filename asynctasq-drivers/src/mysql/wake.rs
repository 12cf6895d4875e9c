//! In-process wake-ups. MySQL has no `LISTEN/NOTIFY`, so workers of other
//! processes find new jobs by polling; but a dispatch and a worker in the
//! same process share a process-global hub per database, so the worker
//! starts the job at once.
//!
//! Hubs are keyed by the database's identity (`user@host:port/database`),
//! so two drivers built separately for one database (a web handler's and a
//! worker's) still wake each other.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use tokio::sync::broadcast;

use crate::support::Wake;

/// Wake-ups of the jobs of one database, within this process.
#[derive(Debug)]
pub(super) struct Hub {
    tx: broadcast::Sender<Wake>,
}

impl Hub {
    /// A receiver of the wake-ups published from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.tx.subscribe()
    }

    /// Tells this process's waiters on the database.
    pub(super) fn publish(&self, wake: Wake) {
        // No receivers is fine: nobody is waiting.
        let _ = self.tx.send(wake);
    }
}

static HUBS: LazyLock<Mutex<HashMap<String, Weak<Hub>>>> = LazyLock::new(Default::default);

/// The hub of the database `identity`, shared by every driver of this
/// process that uses it.
pub(super) fn hub(identity: &str) -> Arc<Hub> {
    let mut hubs = HUBS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hub) = hubs.get(identity).and_then(Weak::upgrade) {
        return hub;
    }
    hubs.retain(|_, hub| hub.strong_count() > 0);
    let (tx, _) = broadcast::channel(1024);
    let hub = Arc::new(Hub { tx });
    hubs.insert(identity.to_string(), Arc::downgrade(&hub));
    hub
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hub_per_database() {
        let a = hub("u@h:3306/db1");
        let b = hub("u@h:3306/db1");
        let c = hub("u@h:3306/db2");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        let mut rx = b.subscribe();
        a.publish(Wake::Resync);
        assert_eq!(rx.try_recv().unwrap(), Wake::Resync);
    }
}
