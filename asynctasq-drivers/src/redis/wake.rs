//! Wake-ups: scripts publish on a queue's channel when it may have claimable
//! work; the connection hands the RESP3 push messages to [`WakeSender`], which
//! wakes the local waiters of that queue at once (no task in between).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use redis::aio::AsyncPushSender;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::Notify;

/// The local waiters of each subscribed channel.
#[derive(Debug, Default)]
pub(crate) struct Wakers {
    channels: Mutex<HashMap<Vec<u8>, Arc<Notify>>>,
}

impl Wakers {
    /// The [`Notify`] of `channel`, created on first use.
    pub(crate) fn of(&self, channel: &str) -> Arc<Notify> {
        self.lock()
            .entry(channel.as_bytes().to_vec())
            .or_default()
            .clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Arc<Notify>>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self, channel: &[u8]) {
        if let Some(n) = self.lock().get(channel) {
            n.notify_waiters();
        }
    }

    /// Wakes everyone: after a disconnection messages may have been missed, so
    /// waiters look at their queues again.
    fn wake_all(&self) {
        for n in self.lock().values() {
            n.notify_waiters();
        }
    }
}

/// Receives the connection's push messages.
#[derive(Clone, Debug)]
pub(crate) struct WakeSender(pub(crate) Arc<Wakers>);

impl AsyncPushSender for WakeSender {
    fn send(&self, info: PushInfo) -> Result<(), redis::aio::SendError> {
        match info.kind {
            PushKind::Message | PushKind::SMessage => {
                if let Some(Value::BulkString(channel)) = info.data.first() {
                    self.0.wake(channel);
                }
            }
            // A lost connection, or a (re)subscription confirmed after one.
            PushKind::Disconnection | PushKind::Subscribe | PushKind::SSubscribe => {
                self.0.wake_all()
            }
            _ => {}
        }
        Ok(())
    }
}
