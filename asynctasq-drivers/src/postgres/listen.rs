//! Wake-ups: one `LISTEN` connection per driver, fanned out to every waiter.
//!
//! The driver's inserts (and the statements that make jobs claimable again)
//! call `pg_notify('asynctasq_jobs', '<due epoch ms>:<queue>')`. A background
//! task owns a dedicated connection (its own one-connection pool, so it never
//! takes a slot of the application's pool) that listens on that channel and
//! broadcasts each notification to the waiters of this process.
//!
//! Notifications are not durable: those sent while the listener is
//! disconnected are lost. So whenever the listener loses its connection or
//! (re)connects, it broadcasts [`Wake::Resync`]: every waiter returns, and the
//! worker claims again, finding whatever arrived in the gap. While the
//! listener is down, waiters poll at the driver's `poll_interval`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::support::Wake;

/// The notification channel.
pub(super) const CHANNEL: &str = "asynctasq_jobs";

/// Pause before the first reconnection attempt; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Parses a notification payload (`<due epoch ms>:<queue>`); anything
/// unexpected wakes everyone.
pub(super) fn parse_payload(payload: &str) -> Wake {
    let Some((due, queue)) = payload.split_once(':') else {
        return Wake::Resync;
    };
    match due.parse::<i64>() {
        Ok(due_ms) => Wake::Due {
            queue: (!queue.is_empty()).then(|| Arc::from(queue)),
            due_ms,
        },
        Err(_) => Wake::Resync,
    }
}

/// State shared by the hub and its listener task.
#[derive(Debug)]
struct Shared {
    tx: broadcast::Sender<Wake>,
    listening: AtomicBool,
}

impl Shared {
    fn publish(&self, wake: Wake) {
        // No receivers is fine: nobody is waiting.
        let _ = self.tx.send(wake);
    }
}

/// Fans notifications out to waiters; starts its listener on first use.
#[derive(Debug)]
pub(super) struct Hub {
    shared: Arc<Shared>,
    /// Connection options for the listener, `None` when listening is off.
    options: Option<PgConnectOptions>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Hub {
    /// A hub that listens with `options`, or never listens when `None`.
    pub(super) fn new(options: Option<PgConnectOptions>) -> Self {
        let (tx, _) = broadcast::channel(1024);
        Hub {
            shared: Arc::new(Shared {
                tx,
                listening: AtomicBool::new(false),
            }),
            options,
            task: Mutex::new(None),
        }
    }

    /// A receiver of the wake-ups published from now on.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Wake> {
        self.shared.tx.subscribe()
    }

    /// Publishes a wake-up to this process's waiters.
    pub(super) fn publish(&self, wake: Wake) {
        self.shared.publish(wake);
    }

    /// Starts the listener if it is not running (it stops when its runtime
    /// does), and says whether it is listening now.
    pub(super) fn ensure_listening(&self) -> bool {
        let Some(options) = &self.options else {
            return false;
        };
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if task.as_ref().is_none_or(|t| t.is_finished()) {
            *task = Some(tokio::spawn(run(options.clone(), self.shared.clone())));
        }
        self.is_listening()
    }

    /// Whether notifications are being received right now.
    pub(super) fn is_listening(&self) -> bool {
        self.shared.listening.load(Ordering::Acquire)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// Marks the hub as not listening when the task ends, however it ends.
struct NotListening(Arc<Shared>);

impl Drop for NotListening {
    fn drop(&mut self) {
        self.0.listening.store(false, Ordering::Release);
        self.0.publish(Wake::Resync);
    }
}

/// The listener task: connects, listens, forwards; reconnects with backoff.
async fn run(options: PgConnectOptions, shared: Arc<Shared>) {
    let _guard = NotListening(shared.clone());
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
                shared.listening.store(true, Ordering::Release);
                shared.publish(Wake::Resync);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => shared.publish(parse_payload(n.payload())),
                        // Lost and already re-established (sqlx reconnects eagerly
                        // and re-issues LISTEN): whatever was sent in between is lost.
                        Ok(None) => {
                            tracing::warn!(
                                "asynctasq postgres listener lost its connection and reconnected"
                            );
                            shared.publish(Wake::Resync);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "asynctasq postgres listener failed; reconnecting");
                            break;
                        }
                    }
                }
                shared.listening.store(false, Ordering::Release);
                shared.publish(Wake::Resync);
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
        assert_eq!(
            parse_payload("1700000000123:emails"),
            Wake::Due {
                queue: Some(Arc::from("emails")),
                due_ms: 1_700_000_000_123
            }
        );
        assert_eq!(
            parse_payload("5:a:b"),
            Wake::Due {
                queue: Some(Arc::from("a:b")),
                due_ms: 5
            }
        );
        assert_eq!(
            parse_payload("5:"),
            Wake::Due {
                queue: None,
                due_ms: 5
            }
        );
        assert_eq!(parse_payload("garbage"), Wake::Resync);
        let emails = vec!["emails".to_string()];
        assert!(parse_payload("5:emails").concerns(&emails));
        assert!(!parse_payload("5:reports").concerns(&emails));
        assert!(parse_payload("5:").concerns(&emails));
    }
}
