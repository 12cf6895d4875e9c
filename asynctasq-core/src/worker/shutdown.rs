//! Stopping: the stop requests a worker receives (a stream of signals), and
//! the shutdown itself.
//!
//! The first request stops claiming and lets running jobs finish within the
//! grace period, after logging what is still running; a second request (a
//! second Ctrl-C or SIGTERM) stops at once. Jobs still running when the
//! worker stops are aborted and released: they become ready again, their
//! attempt not counted, and run on another worker (or this one, restarted).

use std::future::Future;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::task::JoinSet;

use super::Runtime;
use crate::job::Receipt;

/// How far the stop requests have gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// No request: run.
    Running,
    /// One request: stop claiming, let running jobs finish within the grace period.
    Graceful,
    /// A second request: release running jobs and stop now.
    Now,
}

impl Stop {
    /// Whether stopping was asked for.
    pub(crate) fn requested(self) -> bool {
        self != Stop::Running
    }
}

/// Turns each item of `requests` into the next [`Stop`] level. The task
/// keeps the sender until aborted, so the worker never sees a closed channel
/// when `requests` ends.
pub(crate) fn forward(
    requests: impl Stream<Item = ()> + Send + 'static,
) -> (watch::Receiver<Stop>, JoinHandle<()>) {
    let (tx, rx) = watch::channel(Stop::Running);
    let task = tokio::spawn(async move {
        let mut requests = std::pin::pin!(requests);
        let mut stop = Stop::Running;
        while stop != Stop::Now && requests.next().await.is_some() {
            stop = match stop {
                Stop::Running => Stop::Graceful,
                Stop::Graceful | Stop::Now => Stop::Now,
            };
            tx.send_replace(stop);
        }
        std::future::pending::<()>().await;
    });
    (rx, task)
}

/// One item per SIGINT (Ctrl-C) and, on Unix, per SIGTERM: the stop
/// requests [`Worker::run`](super::Worker::run) obeys. The handlers are
/// installed when this is called, so a signal that arrives before the
/// worker polls the stream is not lost.
pub fn shutdown_signals() -> impl Stream<Item = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(interrupt), Ok(terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            let stream = futures::stream::unfold(
                (interrupt, terminate),
                |(mut interrupt, mut terminate)| async move {
                    let name = tokio::select! {
                        Some(()) = interrupt.recv() => "SIGINT",
                        Some(()) = terminate.recv() => "SIGTERM",
                        else => return None,
                    };
                    tracing::info!(signal = name, "shutdown signal received");
                    Some(((), (interrupt, terminate)))
                },
            );
            return stream.boxed();
        }
    }
    futures::stream::unfold((), |()| async {
        tokio::signal::ctrl_c().await.ok()?;
        tracing::info!(signal = "Ctrl-C", "shutdown signal received");
        Some(((), ()))
    })
    .boxed()
}

/// Resolves once a first stop request arrives.
async fn first_request(stop: &mut watch::Receiver<Stop>) {
    // The sender lives as long as the worker (see `forward`).
    let _ = stop.wait_for(|s| s.requested()).await;
}

/// Resolves once a second stop request ([`Stop::Now`]) arrives.
async fn second_request(stop: &mut watch::Receiver<Stop>) {
    let _ = stop.wait_for(|s| *s == Stop::Now).await;
}

/// Most running jobs named in the shutdown log line.
const NAMED: usize = 10;

/// `task id, task id, … and N more`: the running jobs, at most [`NAMED`].
fn describe(running: &[(String, String)]) -> String {
    let mut named: Vec<String> = running
        .iter()
        .take(NAMED)
        .map(|(task, id)| format!("{task} {id}"))
        .collect();
    if running.len() > NAMED {
        named.push(format!("and {} more", running.len() - NAMED));
    }
    named.join(", ")
}

impl Runtime {
    /// Lets running jobs finish. Once stopping was asked for (at once, or
    /// when a signal comes while a drained or `max_jobs` worker waits for its
    /// last jobs), logs what is still running and waits at most the grace
    /// period, or until a second request; then aborts the rest and releases
    /// their jobs.
    pub(super) async fn shut_down(
        &self,
        semaphore: &Arc<Semaphore>,
        waiting_room: &Arc<Semaphore>,
        jobs: &mut JoinSet<()>,
        stop: &watch::Receiver<Stop>,
    ) {
        let all = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let mut stop = stop.clone();
        // Every job finished once no job waits for its slot back, then no
        // job holds one (in that order: a waiting job needs a slot).
        let finish = async {
            let seats = waiting_room
                .acquire_many(all(self.config.waiting_room()))
                .await;
            let slots = semaphore.acquire_many(all(self.config.concurrency)).await;
            (seats, slots)
        };
        let mut finish = std::pin::pin!(finish);
        let finished = if !stop.borrow().requested() {
            tokio::select! {
                _ = &mut finish => true,
                _ = first_request(&mut stop) => {
                    self.wait_graceful(&mut finish, &mut stop).await
                }
            }
        } else {
            self.wait_graceful(&mut finish, &mut stop).await
        };
        if finished {
            while jobs.join_next().await.is_some() {}
            return;
        }
        jobs.abort_all();
        while jobs.join_next().await.is_some() {}
        self.release_unfinished().await;
    }

    /// Waits for `finish` for at most the grace period, or until a second
    /// stop request. Returns whether every job finished.
    async fn wait_graceful(
        &self,
        finish: &mut (impl Future + Unpin),
        stop: &mut watch::Receiver<Stop>,
    ) -> bool {
        let grace = self.config.grace;
        if *stop.borrow() == Stop::Now {
            tracing::warn!("stopping now: releasing running jobs (they will run again)");
            return false;
        }
        let running = self.running();
        if running.is_empty() {
            tracing::info!("shutting down: no job is running");
        } else {
            tracing::info!(
                running = running.len(),
                grace = ?grace,
                jobs = %describe(&running),
                "shutting down: waiting up to {grace:?} for {} running job(s); \
                 press Ctrl-C again (or send another SIGTERM) to stop now and release them \
                 (they will run again)",
                running.len()
            );
        }
        tokio::select! {
            _ = finish => true,
            _ = tokio::time::sleep(grace) => {
                tracing::warn!(grace = ?grace, "grace period over: releasing unfinished jobs");
                false
            }
            _ = second_request(stop) => {
                tracing::warn!("second stop request: releasing unfinished jobs now");
                false
            }
        }
    }

    /// `(task, job id)` of the jobs executing now, by task then id.
    fn running(&self) -> Vec<(String, String)> {
        let mut running: Vec<(String, String)> = self
            .executing
            .lock()
            .expect("executing map poisoned")
            .iter()
            .map(|(id, job)| (job.task.clone(), id.to_string()))
            .collect();
        running.sort();
        running
    }

    /// Hands the jobs that did not finish back to their queues.
    async fn release_unfinished(&self) {
        let receipts: Vec<Receipt> = self
            .executing
            .lock()
            .expect("executing map poisoned")
            .drain()
            .map(|(_, job)| job.receipt)
            .collect();
        match self.client.driver().release(&receipts).await {
            Ok(n) => {
                tracing::warn!(
                    released = n,
                    "released unfinished jobs: they are ready again, this attempt not counted"
                );
                self.counters.record_released(n);
            }
            Err(e) => tracing::error!(
                error = %e,
                "releasing unfinished jobs failed; their leases will expire and the rescuer will return them"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn each_request_raises_the_stop_level_and_the_channel_stays_open() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<()>();
        let (mut stop, task) = forward(rx);
        assert_eq!(*stop.borrow(), Stop::Running);
        tx.unbounded_send(()).unwrap();
        stop.changed().await.unwrap();
        assert_eq!(*stop.borrow_and_update(), Stop::Graceful);
        tx.unbounded_send(()).unwrap();
        stop.changed().await.unwrap();
        assert_eq!(*stop.borrow_and_update(), Stop::Now);
        // The stream ends: the level stays, nobody sees a closed channel.
        drop(tx);
        let still_open = tokio::time::timeout(Duration::from_millis(50), stop.changed()).await;
        assert!(still_open.is_err(), "the stop channel changed or closed");
        task.abort();
    }

    #[test]
    fn the_running_list_is_bounded() {
        let running: Vec<(String, String)> = (0..12)
            .map(|n| ("mail".to_string(), format!("id{n:02}")))
            .collect();
        let text = describe(&running);
        assert!(text.starts_with("mail id00, mail id01, "), "{text}");
        assert!(text.ends_with("mail id09, and 2 more"), "{text}");
        assert_eq!(describe(&running[..1]), "mail id00");
    }
}
