//! The worker's claim loop: keeps up to `concurrency` jobs running, sends
//! claims (two in flight while the queues keep filling whole batches), starts
//! what they return, idles on the core [`Waiter`] when the queues look
//! empty, and backs off while the backend fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::claims::{ClaimOutcome, Claims};
use super::completer::{self, Finished};
use super::config::{WorkerConfig, completion_of};
use super::executor;
use super::maintenance::Maintenance;
use super::outage::Outage;
use super::shutdown::Stop;
use super::signals::{Signal, Signals};
use super::slot::Slot;
use super::stats::{WorkerCounters, WorkerReport};
use super::waiter::Waiter;
use crate::args::ModelLoader;
use crate::cancel::Canceller;
use crate::dispatch::Client;
use crate::error::Result;
use crate::job::{ClaimedJob, JobId, Receipt};
use crate::task::Registry;

/// The first pause after a failed claim; doubles up to [`MAX_CLAIM_PAUSE`].
const MIN_CLAIM_PAUSE: Duration = Duration::from_millis(100);
const MAX_CLAIM_PAUSE: Duration = Duration::from_secs(5);

/// What the claim loop does next.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Next,
    Stop,
}

/// The claim loop's state between steps.
struct ClaimLoop {
    /// One permit per running job (or job asked for by a claim in flight).
    semaphore: Arc<Semaphore>,
    /// One seat per job waiting for its models without a slot (see [`Slot`]).
    waiting_room: Arc<Semaphore>,
    jobs: JoinSet<()>,
    claims: Claims,
    /// How long to back off after the next failed claim.
    claim_pause: Duration,
    waiter: Waiter,
    done_tx: mpsc::Sender<Finished>,
    stop: watch::Receiver<Stop>,
}

/// The jobs executing now, for lease extension, the shutdown log and release.
pub(crate) type Executing = Arc<Mutex<HashMap<JobId, Running>>>;

/// A job that is executing now.
pub(crate) struct Running {
    /// Its receipt (for extension and release).
    pub(crate) receipt: Receipt,
    /// Its task name (for the shutdown log).
    pub(crate) task: String,
    /// Tells its handler to stop (a lost lease).
    pub(crate) canceller: Canceller,
}

/// A running worker's parts.
pub(super) struct Runtime {
    pub(super) client: Client,
    pub(super) database: Option<DatabaseConnection>,
    pub(super) config: Arc<WorkerConfig>,
    pub(super) registry: Arc<Registry>,
    pub(super) counters: Arc<WorkerCounters>,
    pub(super) executing: Executing,
    pub(super) outage: Arc<Outage>,
    pub(super) signals: Signals,
    /// The model fetches of the jobs it runs.
    pub(super) models: Arc<ModelLoader>,
}

impl Runtime {
    pub(super) fn new(
        client: Client,
        config: WorkerConfig,
        registry: Registry,
        database: Option<DatabaseConnection>,
    ) -> Self {
        Runtime {
            client,
            database,
            outage: Arc::new(Outage::new(&config.id)),
            config: Arc::new(config),
            registry: Arc::new(registry),
            counters: Arc::default(),
            executing: Arc::default(),
            signals: Signals::default(),
            models: ModelLoader::new(),
        }
    }

    /// Runs the worker until a stop request, `max_jobs` or (in burst mode)
    /// drained queues; then shuts down and reports.
    pub(super) async fn run(self, stop: watch::Receiver<Stop>) -> Result<WorkerReport> {
        let driver = self.client.driver().clone();
        let config = self.config.clone();
        tracing::info!(
            worker = %config.id, driver = driver.name(), queues = ?config.queues,
            concurrency = config.concurrency, tasks = ?self.registry.names(), "worker started"
        );
        let (done_tx, done_rx) = mpsc::channel::<Finished>(config.concurrency * 2);
        let completer = tokio::spawn(completer::run(
            driver.clone(),
            completion_of(&config),
            done_rx,
            self.counters.clone(),
            self.outage.clone(),
            self.signals.clone(),
        ));
        let maintenance = tokio::spawn(
            Maintenance {
                driver,
                config: config.clone(),
                executing: self.executing.clone(),
                outage: self.outage.clone(),
                counters: self.counters.clone(),
                signals: self.signals.clone(),
            }
            .run(),
        );
        let mut state = ClaimLoop {
            semaphore: Arc::new(Semaphore::new(config.concurrency)),
            waiting_room: Arc::new(Semaphore::new(config.waiting_room())),
            jobs: JoinSet::new(),
            claims: Claims::default(),
            claim_pause: MIN_CLAIM_PAUSE,
            waiter: Waiter::new(),
            done_tx,
            stop,
        };
        while self.step(&mut state).await == Step::Next {}
        // Claims still out when the loop ends: their jobs run (or are
        // released) with the others.
        while let Some(outcome) = state.claims.next().await {
            if let Ok(claimed) = outcome.result {
                self.start(claimed, outcome.permits, &mut state);
            }
        }
        self.shut_down(
            &state.semaphore,
            &state.waiting_room,
            &mut state.jobs,
            &state.stop,
        )
        .await;
        drop(state);
        let _ = completer.await;
        maintenance.abort();
        let report = self.counters.report();
        tracing::info!(worker = %config.id, ?report, "worker stopped");
        Ok(report)
    }

    /// One turn of the claim loop: handle a claim's answer, or send a claim
    /// when a slot is free, or stop.
    async fn step(&self, state: &mut ClaimLoop) -> Step {
        if state.stop.borrow().requested() {
            return Step::Stop;
        }
        let remaining = self
            .config
            .max_jobs
            .map(|max| max.saturating_sub(self.counters.claimed() + state.claims.requested));
        if remaining == Some(0) && state.claims.is_empty() {
            return Step::Stop;
        }
        while state.jobs.try_join_next().is_some() {}
        let may_claim = remaining != Some(0) && state.claims.may_start();
        tokio::select! {
            biased;
            _ = state.stop.changed() => Step::Stop,
            Some(outcome) = state.claims.next() => self.claim_answered(outcome, state).await,
            permit = state.semaphore.clone().acquire_owned(), if may_claim => {
                let first = permit.expect("semaphore is never closed");
                self.send_claim(first, remaining, state);
                Step::Next
            }
        }
    }

    /// Sends a claim for as many jobs as there are free slots (at most the
    /// claim batch and what `max_jobs` leaves).
    fn send_claim(
        &self,
        first: OwnedSemaphorePermit,
        remaining: Option<u64>,
        state: &mut ClaimLoop,
    ) {
        let want = remaining.map_or(self.config.claim_batch, |r| {
            r.min(self.config.claim_batch as u64) as usize
        });
        let mut permits = vec![first];
        while permits.len() < want {
            match state.semaphore.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        state
            .claims
            .start(self.client.driver().clone(), self.config.clone(), permits);
    }

    /// Starts the claimed jobs; idles when the queues looked empty and no
    /// other claim is out; backs off when the claim failed.
    async fn claim_answered(&self, outcome: ClaimOutcome, state: &mut ClaimLoop) -> Step {
        self.outage.record("claim", &outcome.result);
        let Ok(claimed) = outcome.result else {
            drop(outcome.permits);
            state.claims.saturated = false;
            let pause = state.claim_pause;
            state.claim_pause = (pause * 2).min(MAX_CLAIM_PAUSE);
            return tokio::select! {
                _ = tokio::time::sleep(pause) => Step::Next,
                _ = state.stop.changed() => Step::Stop,
            };
        };
        state.claim_pause = MIN_CLAIM_PAUSE;
        state.claims.saturated = claimed.len() == outcome.permits.len();
        let got = claimed.len();
        self.start(claimed, outcome.permits, state);
        if got > 0 {
            // Let the jobs just spawned start before this task sends its
            // next claim.
            tokio::task::yield_now().await;
            return Step::Next;
        }
        if !state.claims.is_empty() {
            return Step::Next;
        }
        self.idle(state).await
    }

    /// Waits for work (the core [`Waiter`]), or stops when a burst worker
    /// finds its queues drained.
    async fn idle(&self, state: &mut ClaimLoop) -> Step {
        let config = &self.config;
        if config.burst && self.drained(state).await {
            return Step::Stop;
        }
        let wait = if config.burst {
            config.idle_wait.min(Duration::from_millis(20))
        } else {
            config.idle_wait
        };
        let driver = self.client.driver().as_ref();
        tokio::select! {
            r = state.waiter.wait(driver, &config.queues, wait) => {
                if let Err(e) = r {
                    // Only a failure counts: a wait may end without asking
                    // the backend anything.
                    self.outage.failed("wait", &e);
                    tokio::time::sleep(state.claim_pause).await;
                }
                Step::Next
            }
            _ = state.stop.changed() => Step::Stop,
        }
    }

    /// Runs claimed jobs, one permit each; unused permits are returned.
    fn start(
        &self,
        claimed: Vec<ClaimedJob>,
        mut permits: Vec<OwnedSemaphorePermit>,
        state: &mut ClaimLoop,
    ) {
        self.counters.record_claimed(claimed.len() as u64);
        if !claimed.is_empty() {
            self.signals.emit(|| Signal::Claimed {
                jobs: claimed.iter().map(|job| job.receipt.id).collect(),
            });
        }
        // The jobs of this claim that take sea-orm models fetch them
        // together; the others run as they are.
        let takes_models = |job: &ClaimedJob| self.registry.takes_models(&job.task);
        let asking = claimed.iter().filter(|job| takes_models(job)).count();
        let batch = (asking > 0).then(|| self.models.batch(asking));
        for job in claimed {
            let models = batch.clone().filter(|_| takes_models(&job));
            let permit = permits.pop().expect("claim returned at most `max` jobs");
            // Only a job that fetches models may lend its slot; the others
            // just hold their permit.
            let (slot, permit) = match models {
                Some(_) => {
                    let slot =
                        Slot::new(permit, state.semaphore.clone(), state.waiting_room.clone());
                    (Some(slot), None)
                }
                None => (None, Some(permit)),
            };
            let (canceller, cancellation) = Canceller::new();
            self.executing
                .lock()
                .expect("executing map poisoned")
                .insert(
                    job.receipt.id,
                    Running {
                        receipt: job.receipt,
                        task: job.task.clone(),
                        canceller,
                    },
                );
            let registry = self.registry.clone();
            let executing = self.executing.clone();
            let database = self.database.clone();
            let done = state.done_tx.clone();
            state.jobs.spawn(async move {
                tracing::debug!(job.id = %job.receipt.id, task = %job.task, attempt = job.attempt, "started");
                let execute = executor::execute(
                    &job,
                    &registry,
                    database.as_ref(),
                    cancellation,
                    slot.as_deref(),
                );
                let verdict = match (models, &slot) {
                    (Some(batch), Some(slot)) => batch.run(slot.clone(), execute).await,
                    _ => execute.await,
                };
                {
                    let mut executing = executing.lock().expect("executing map poisoned");
                    // Gone when the lease was lost (and maybe claimed here again).
                    if executing.get(&job.receipt.id).map(|j| j.receipt) == Some(job.receipt) {
                        executing.remove(&job.receipt.id);
                    }
                }
                drop((slot, permit));
                let _ = done
                    .send(Finished {
                        receipt: job.receipt,
                        task: job.task,
                        verdict,
                    })
                    .await;
            });
        }
    }

    /// `true` when this worker runs nothing and the queues hold no outstanding job.
    async fn drained(&self, state: &ClaimLoop) -> bool {
        if state.semaphore.available_permits() != self.config.concurrency
            || state.waiting_room.available_permits() != self.config.waiting_room()
        {
            return false;
        }
        let stats = self.client.driver().stats(Some(&self.config.queues)).await;
        self.outage.record("stats", &stats);
        stats.is_ok_and(|stats| stats.iter().all(|s| s.paused || s.outstanding() == 0))
    }
}
