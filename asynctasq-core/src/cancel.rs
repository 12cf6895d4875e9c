//! Telling a running job to stop: the signal a handler can observe
//! ([`Cancellation`], in its [`JobContext`](crate::JobContext)) and the
//! worker's side that raises it.
//!
//! The worker raises it when this attempt no longer counts: its lease was
//! lost ([`CancelReason::LeaseLost`]: the lease expired, the job was rescued
//! and may be running on another worker). A handler is never aborted for
//! it; it is told, and should stop soon. Whatever it returns afterwards is
//! discarded.

use std::fmt;

use tokio::sync::watch;

/// Why a job was told to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelReason {
    /// The worker could not extend the job's lease: it expired and the job
    /// was rescued (it may run, or have run, on another worker). The worker
    /// writes no result for this attempt.
    LeaseLost,
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CancelReason::LeaseLost => "the job's lease was lost (it was rescued)",
        })
    }
}

/// A running job's stop signal, observed by its handler.
///
/// ```
/// # async fn work(ctx: asynctasq_core::JobContext) {
/// tokio::select! {
///     reason = ctx.cancelled() => {
///         // Stop: this attempt's result will not be written.
///         eprintln!("job {} stopped: {reason}", ctx.id);
///     }
///     _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => { /* the work */ }
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Cancellation {
    rx: watch::Receiver<Option<CancelReason>>,
}

impl Cancellation {
    /// A signal that is never raised (for calling a handler outside a worker).
    pub fn never() -> Self {
        // The receiver keeps the last value once the sender is gone.
        let (_, rx) = watch::channel(None);
        Cancellation { rx }
    }

    /// Why the job was told to stop, or `None` while it may go on.
    pub fn reason(&self) -> Option<CancelReason> {
        *self.rx.borrow()
    }

    /// Whether the job was told to stop.
    pub fn is_cancelled(&self) -> bool {
        self.reason().is_some()
    }

    /// Resolves once the job is told to stop, with the reason; never
    /// resolves for a job that runs to its end undisturbed.
    pub async fn cancelled(&self) -> CancelReason {
        if let Some(reason) = self.reason() {
            return reason;
        }
        let mut rx = self.rx.clone();
        let raised = rx.wait_for(Option::is_some).await.ok().and_then(|r| *r);
        match raised {
            Some(reason) => reason,
            // The worker dropped the sender without raising: never.
            None => std::future::pending().await,
        }
    }
}

/// The worker's side of a [`Cancellation`]: raises it.
#[derive(Debug)]
pub(crate) struct Canceller {
    tx: watch::Sender<Option<CancelReason>>,
}

impl Canceller {
    /// A fresh, unraised signal and its handle for the handler.
    pub(crate) fn new() -> (Canceller, Cancellation) {
        let (tx, rx) = watch::channel(None);
        (Canceller { tx }, Cancellation { rx })
    }

    /// Tells the job to stop; the first reason sticks.
    pub(crate) fn cancel(&self, reason: CancelReason) {
        self.tx.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_handler_sees_the_first_reason() {
        let (canceller, cancellation) = Canceller::new();
        assert!(!cancellation.is_cancelled());
        let waiting = tokio::spawn({
            let c = cancellation.clone();
            async move { c.cancelled().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished());
        canceller.cancel(CancelReason::LeaseLost);
        assert_eq!(waiting.await.unwrap(), CancelReason::LeaseLost);
        assert_eq!(cancellation.reason(), Some(CancelReason::LeaseLost));
    }

    #[tokio::test]
    async fn never_never_resolves() {
        let never = Cancellation::never();
        assert!(!never.is_cancelled());
        let waited = tokio::time::timeout(Duration::from_millis(20), never.cancelled()).await;
        assert!(waited.is_err());
    }
}
