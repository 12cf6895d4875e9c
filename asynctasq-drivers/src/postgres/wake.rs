//! The notifier: one `LISTEN` connection per driver, feeding the process's
//! [`WakeHub`].
//!
//! The driver's inserts (and the statements that make jobs claimable again)
//! call `pg_notify('asynctasq_jobs', '<due epoch ms>:<queue>')`. A background
//! task owns a dedicated connection (its own one-connection pool, so it never
//! takes a slot of the application's pool) that listens on that channel and
//! publishes each notification into the hub.
//!
//! Notifications are not durable: those sent while the listener is
//! disconnected are lost. So whenever the listener loses its connection or
//! (re)connects, it publishes [`Wake::Resync`]: every waiter returns, and the
//! worker claims again, finding whatever arrived in the gap. While the
//! listener is down, waiters poll at the driver's `poll_interval`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::task::JoinHandle;

use asynctasq_core::job::from_millis;
use asynctasq_core::wake::{Notifier, Wake, WakeHub};

/// The notification channel.
const CHANNEL: &str = "asynctasq_jobs";

/// Pause before the first reconnection attempt; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Parses a notification payload (`<due epoch ms>:<queue>`); anything
/// unexpected means "look again".
fn parse_payload(payload: &str) -> Wake {
    let parsed = payload.split_once(':').and_then(|(due, queue)| {
        Some(Wake::Due {
            at: from_millis(due.parse().ok()?),
            queue: (!queue.is_empty()).then(|| Arc::from(queue)),
        })
    });
    parsed.unwrap_or(Wake::Changed)
}

/// Starts the `LISTEN` task on first use and says whether it is connected.
#[derive(Debug)]
pub(super) struct Listener {
    hub: Arc<WakeHub>,
    options: PgConnectOptions,
    /// Whether the task is connected; set by the task.
    listening: Arc<AtomicBool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Listener {
    /// A listener that connects with `options` and publishes into `hub`.
    pub(super) fn new(options: PgConnectOptions, hub: Arc<WakeHub>) -> Self {
        Listener {
            hub,
            options,
            listening: Arc::default(),
            task: Mutex::new(None),
        }
    }

    /// Whether notifications are being received right now.
    pub(super) fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }
}

#[async_trait]
impl Notifier for Listener {
    /// Starts the listener if it is not running (it stops when its runtime
    /// does). It listens for every queue: the channel is the database's.
    async fn listen(&self, _queues: &[String]) -> bool {
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if task.as_ref().is_none_or(|t| t.is_finished()) {
            let (options, hub) = (self.options.clone(), self.hub.clone());
            *task = Some(tokio::spawn(run(options, hub, self.listening.clone())));
        }
        self.is_listening()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let task = self.task.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = task.take() {
            task.abort();
        }
    }
}

/// Sets the listening flag (and tells the waiters to look again); clears it
/// when the task ends, however it ends.
struct ListenState(Arc<WakeHub>, Arc<AtomicBool>);

impl ListenState {
    fn set(&self, listening: bool) {
        self.1.store(listening, Ordering::Release);
        self.0.publish(Wake::Resync);
    }
}

impl Drop for ListenState {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// The listener task: connects, listens, forwards; reconnects with backoff.
async fn run(options: PgConnectOptions, hub: Arc<WakeHub>, listening: Arc<AtomicBool>) {
    let state = ListenState(hub.clone(), listening);
    // Its own pool of one connection: never a slot of the application's pool,
    // and sqlx's listener reconnects through it.
    let port = options.get_port();
    let pool = crate::nodelay::on_connect(PgPoolOptions::new(), port)
        .max_connections(1)
        .min_connections(0)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options);
    let mut backoff = MIN_BACKOFF;
    let mut failures = 0u32;
    loop {
        match connect(&pool).await {
            Ok(mut listener) => {
                if failures > 0 {
                    tracing::info!("asynctasq postgres listener reconnected");
                }
                failures = 0;
                backoff = MIN_BACKOFF;
                state.set(true);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => hub.publish(parse_payload(n.payload())),
                        // Lost and already re-established (sqlx reconnects eagerly
                        // and re-issues LISTEN): whatever was sent in between is lost.
                        Ok(None) => {
                            tracing::warn!(
                                "asynctasq postgres listener lost its connection and reconnected"
                            );
                            hub.publish(Wake::Resync);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "asynctasq postgres listener failed; reconnecting");
                            break;
                        }
                    }
                }
                state.set(false);
            }
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %e, "asynctasq postgres listener cannot connect; idle workers poll until it can");
                } else {
                    tracing::debug!(error = %e, failures, "asynctasq postgres listener still cannot connect");
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn connect(pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_payloads() {
        let due = |queue: Option<&str>, ms| Wake::Due {
            queue: queue.map(Arc::from),
            at: from_millis(ms),
        };
        assert_eq!(
            parse_payload("1700000000123:emails"),
            due(Some("emails"), 1_700_000_000_123)
        );
        assert_eq!(parse_payload("5:a:b"), due(Some("a:b"), 5));
        assert_eq!(parse_payload("5:"), due(None, 5));
        assert_eq!(parse_payload("garbage"), Wake::Changed);
        assert_eq!(parse_payload("x:emails"), Wake::Changed);
        let emails = vec!["emails".to_string()];
        assert!(parse_payload("5:emails").concerns(&emails));
        assert!(!parse_payload("5:reports").concerns(&emails));
        assert!(parse_payload("5:").concerns(&emails));
    }
}
