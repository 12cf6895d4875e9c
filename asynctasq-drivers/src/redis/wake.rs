//! The notifier: scripts publish on a queue's `wake` channel when it may
//! have claimable work (the message: milliseconds until the earliest of the
//! jobs is due, by the server's clock); the connection hands the RESP3 push
//! messages to [`PushSender`], which publishes them into the driver's
//! [`WakeHub`] at once (no task in between).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use asynctasq_core::wake::{Notifier, Wake, WakeHub};
use redis::aio::{AsyncPushSender, SendError};
use redis::{PushInfo, PushKind, Value};

use super::RedisDriver;

/// Where the connection's push messages go.
#[derive(Debug)]
pub(super) struct Pushes {
    /// This process's wake-ups for the driver's server and prefix.
    pub(super) hub: Arc<WakeHub>,
    /// `{<prefix>:`, the start of every queue's channel.
    start: String,
    /// False from a disconnection until a (re)subscription is confirmed.
    connected: AtomicBool,
}

impl Pushes {
    /// Pushes into `hub`, for the channels of the queues under `prefix`.
    pub(super) fn new(hub: Arc<WakeHub>, prefix: &str) -> Arc<Self> {
        Arc::new(Pushes {
            hub,
            start: format!("{{{prefix}:"),
            connected: AtomicBool::new(true),
        })
    }

    /// The queue whose wake-up channel is `channel`.
    fn queue_of<'a>(&self, channel: &'a [u8]) -> Option<&'a str> {
        let channel = std::str::from_utf8(channel).ok()?;
        channel.strip_prefix(&self.start)?.strip_suffix("}:wake")
    }

    fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
        // Either way messages may have been missed: waiters look again.
        self.hub.publish(Wake::Resync);
    }
}

/// Receives the connection's push messages.
#[derive(Clone, Debug)]
pub(super) struct PushSender(pub(super) Arc<Pushes>);

impl AsyncPushSender for PushSender {
    fn send(&self, info: PushInfo) -> Result<(), SendError> {
        let pushes = &self.0;
        match (info.kind, info.data.as_slice()) {
            (PushKind::Message | PushKind::SMessage, [Value::BulkString(channel), message, ..]) => {
                if let Some(queue) = pushes.queue_of(channel) {
                    let delay = match message {
                        Value::BulkString(ms) => std::str::from_utf8(ms).ok(),
                        _ => None,
                    };
                    // A message that is no number (an older driver's) means now.
                    let delay = delay.and_then(|ms| ms.parse().ok()).unwrap_or(0);
                    pushes.hub.publish(Wake::Due {
                        queue: Some(queue.into()),
                        at: chrono::Utc::now() + chrono::Duration::milliseconds(delay),
                    });
                }
            }
            (PushKind::Disconnection, _) => pushes.set_connected(false),
            // A subscription confirmed, maybe a resubscription after a reconnect.
            (PushKind::Subscribe | PushKind::SSubscribe, _) => pushes.set_connected(true),
            _ => {}
        }
        Ok(())
    }
}

impl RedisDriver {
    /// Tells this process's waiters that jobs may be claimable now, when
    /// `n` (how many a write made ready) is not 0; returns `n`.
    pub(super) fn woke(&self, n: u64) -> u64 {
        if n > 0 {
            self.inner.pushes.hub.publish_all_due();
        }
        n
    }
}

/// Subscribes to the wake-up channels of the queues waited on (`SSUBSCRIBE`
/// on a cluster), on the driver's connection, which resubscribes by itself
/// after a reconnect.
#[async_trait]
impl Notifier for RedisDriver {
    /// Subscribes to the channels of `queues` not subscribed yet (all of
    /// them again after a disconnection); whether the connection is up.
    async fn listen(&self, queues: &[String]) -> bool {
        let mut subscribed = self.inner.subscribed.lock().await;
        let pushes = &self.inner.pushes;
        let again = !pushes.connected.load(Ordering::Relaxed);
        for queue in queues {
            let channel = format!("{}wake", self.queue_prefix(queue));
            if !again && subscribed.contains(&channel) {
                continue;
            }
            // One channel per command: on a cluster, channels of different
            // queues live on different shards.
            if let Err(e) = self.conn().subscribe(std::slice::from_ref(&channel)).await {
                tracing::debug!(error = %e, "redis wake-up subscription failed");
                return false;
            }
            subscribed.insert(channel);
        }
        if again && !queues.is_empty() {
            pushes.connected.store(true, Ordering::Relaxed);
        }
        pushes.connected.load(Ordering::Relaxed)
    }
}
