//! The types a driver stores and returns: ids, new jobs, claimed jobs, receipts, states.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A point in time, UTC. Drivers store it with millisecond precision.
pub type Timestamp = DateTime<Utc>;

/// The identifier of a job: a UUID v7, so ids sort by creation time.
///
/// The id returned by `dispatch()` is the one that `stats`, `dead` and job
/// lookups accept; its text form is the usual hyphenated UUID.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub uuid::Uuid);

impl JobId {
    /// A new, time-ordered id.
    pub fn new() -> Self {
        JobId(uuid::Uuid::now_v7())
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({})", self.0.hyphenated())
    }
}

impl FromStr for JobId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(JobId)
    }
}

/// The state of a job, as stored by a driver.
///
/// | state | who moves a job in | who moves it out |
/// |---|---|---|
/// | `Scheduled` | dispatch with a delay; a retry with backoff (the worker's, or the rescuer's when a lease expired) | time: it becomes `Ready` at `run_at` |
/// | `Ready` | dispatch; `dead retry` | a worker's claim |
/// | `Running` | a worker's claim (with a lease) | the worker's ack (completed, retry, dead), a graceful release, or the rescuer when the lease expires |
/// | `Dead` | the worker (attempts exhausted, permanent error, unknown task, undecodable payload); the rescuer (attempts exhausted) | `dead retry`, `dead purge` |
///
/// Completed jobs are deleted; they have no state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its `run_at`.
    Scheduled,
    /// Due and waiting for a worker.
    Ready,
    /// Leased to a worker.
    Running,
    /// In the dead-letter: it will not run again unless requeued.
    Dead,
    /// Completed and kept for the driver's retention period (only drivers
    /// configured to retain completed jobs; the others delete them).
    Completed,
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JobState::Scheduled => "scheduled",
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Dead => "dead",
            JobState::Completed => "completed",
        })
    }
}

/// A job to insert: the columns a driver indexes plus the opaque payload.
///
/// The payload is an encoded [`Envelope`](crate::Envelope); drivers never look inside it.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// The job's id.
    pub id: JobId,
    /// The task name (for listings; the worker reads it from the payload).
    pub task: String,
    /// The queue.
    pub queue: String,
    /// Higher runs first.
    pub priority: i16,
    /// Not claimable before this instant.
    pub run_at: Timestamp,
    /// Total attempts allowed, at least 1.
    pub max_attempts: u32,
    /// The encoded envelope.
    pub payload: Vec<u8>,
}

/// Proof of a claim: acks must present it, and a stale one is rejected (fencing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Receipt {
    /// The claimed job.
    pub id: JobId,
    /// A token fresh for every claim; the driver accepts an ack only while the
    /// job is still running under this token.
    pub token: i64,
}

/// A job handed to a worker by [`Driver::claim`](crate::Driver::claim).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The receipt to ack with.
    pub receipt: Receipt,
    /// The task name stored with the job.
    pub task: String,
    /// The queue it was claimed from.
    pub queue: String,
    /// This attempt's number, starting at 1.
    pub attempt: u32,
    /// Total attempts allowed.
    pub max_attempts: u32,
    /// The encoded envelope, as stored.
    pub payload: Vec<u8>,
}

/// What went wrong in one attempt, as stored with the job.
///
/// Every driver stores it in one form, written by
/// [`to_stored`](AttemptError::to_stored) and read by
/// [`from_stored_list`](AttemptError::from_stored_list) (see
/// [`stored_error`](crate::stored_error)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    /// When the attempt failed.
    #[serde(with = "crate::stored_error::at")]
    pub at: Timestamp,
    /// The attempt's number, starting at 1.
    pub attempt: u32,
    /// A readable reason.
    pub message: String,
}

impl AttemptError {
    /// An error for `attempt` that happened now.
    pub fn now(attempt: u32, message: impl Into<String>) -> Self {
        AttemptError {
            at: Utc::now(),
            attempt,
            message: message.into(),
        }
    }
}

/// A failed attempt to run again later: an item of [`Driver::retry`](crate::Driver::retry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The claim the attempt ran under.
    pub receipt: Receipt,
    /// When the next attempt may start.
    pub run_at: Timestamp,
    /// What went wrong, appended to the job's errors.
    pub error: AttemptError,
}

/// A job to move to dead-letter: an item of [`Driver::bury`](crate::Driver::bury).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Burial {
    /// The claim the last attempt ran under.
    pub receipt: Receipt,
    /// Why the job is given up, appended to its errors.
    pub error: AttemptError,
}

/// A stored job as seen by admin commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobInfo {
    /// The job's id.
    pub id: JobId,
    /// The task name.
    pub task: String,
    /// The queue.
    pub queue: String,
    /// The state.
    pub state: JobState,
    /// Attempts made so far.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Priority; higher runs first.
    pub priority: i16,
    /// When it may run (next).
    pub run_at: Timestamp,
    /// When it was dispatched.
    pub created_at: Timestamp,
    /// Errors of failed attempts, oldest first.
    pub errors: Vec<AttemptError>,
}

impl JobInfo {
    /// The most recent error, if any attempt failed.
    pub fn last_error(&self) -> Option<&AttemptError> {
        self.errors.last()
    }
}

/// Counts of one queue's jobs by state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Due, waiting for a worker.
    pub ready: u64,
    /// Waiting for a later `run_at` (delays and retry backoff).
    pub scheduled: u64,
    /// Leased to workers.
    pub running: u64,
    /// In the dead-letter.
    pub dead: u64,
    /// Whether claims from this queue are paused.
    pub paused: bool,
}

impl QueueStats {
    /// Jobs that will still run: ready, scheduled or running.
    pub fn outstanding(&self) -> u64 {
        self.ready + self.scheduled + self.running
    }
}

/// What [`Driver::claim`](crate::Driver::claim) needs.
#[derive(Clone, Copy, Debug)]
pub struct ClaimParams<'a> {
    /// Who claims (for diagnostics).
    pub worker: &'a str,
    /// The queues to claim from; paused queues are skipped.
    pub queues: &'a [String],
    /// At most this many jobs.
    pub max: usize,
    /// The lease: the job is rescued if not acked or extended within it.
    pub lease: Duration,
}

/// Which page of dead jobs [`Driver::dead_list`](crate::Driver::dead_list)
/// returns, newest failure first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadListParams<'a> {
    /// Only this queue's dead jobs, or every queue's when `None`.
    pub queue: Option<&'a str>,
    /// At most this many jobs.
    pub limit: usize,
    /// Skip this many of the newest first.
    pub offset: usize,
}

/// Which dead jobs an admin operation applies to.
#[derive(Clone, Copy, Debug)]
pub enum DeadSelector<'a> {
    /// These ids (ids that are not dead are ignored).
    Ids(&'a [JobId]),
    /// Every dead job, or every dead job of one queue.
    All {
        /// Restrict to this queue.
        queue: Option<&'a str>,
    },
}

/// Which expired leases [`Driver::leases_expired`](crate::Driver::leases_expired) reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiredParams {
    /// The instant leases are compared with: `None` for the backend's own
    /// clock (SQL `now()`, Redis `TIME`), `Some` to move time (tests).
    pub now: Option<Timestamp>,
    /// At most this many leases.
    pub limit: usize,
}

/// A running job whose lease has expired, as reported to the rescuer by
/// [`Driver::leases_expired`](crate::Driver::leases_expired): the claim as it
/// was made. Its receipt stays valid until someone acts on the job, so the
/// rescuer applies its decision through the fenced
/// [`Driver::retry`](crate::Driver::retry) and
/// [`Driver::bury`](crate::Driver::bury); it reads the retry policy the job
/// was dispatched with from the payload.
pub type ExpiredLease = ClaimedJob;

/// What [`Driver::complete`](crate::Driver::complete) does with a job that
/// succeeded: the worker's `retain_completed` setting decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// Delete it (the default).
    Delete,
    /// Keep it as `completed` until the [`Pruner`](crate::worker::Pruner)
    /// deletes it; only drivers whose [`Capabilities::retention`] is true.
    Keep,
}

/// Which completed jobs [`Driver::prune_completed`](crate::Driver::prune_completed) deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneParams {
    /// Jobs completed before this instant.
    pub before: Timestamp,
    /// At most this many, oldest first.
    pub limit: usize,
}

/// What a driver's backend can do beyond the contract every driver meets.
/// The conformance suite reads it to skip, with a message, the cases a
/// driver cannot run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`Driver::enqueue_in`](crate::Driver::enqueue_in): jobs inserted in
    /// the caller's sea-orm transaction.
    pub transactional_enqueue: bool,
    /// [`Completion::Keep`] and [`Driver::prune_completed`](crate::Driver::prune_completed).
    pub retention: bool,
    /// A [`Notifier`](crate::wake::Notifier) brings other processes'
    /// changes to waiting workers at once (else they poll).
    pub listener: bool,
}

impl Capabilities {
    /// Only the contract every driver meets.
    pub const NONE: Self = Self {
        transactional_enqueue: false,
        retention: false,
        listener: false,
    };

    /// With transactional enqueue.
    pub const fn with_transactional_enqueue(mut self) -> Self {
        self.transactional_enqueue = true;
        self
    }

    /// With retention of completed jobs.
    pub const fn with_retention(mut self) -> Self {
        self.retention = true;
        self
    }

    /// With a listener for other processes' changes.
    pub const fn with_listener(mut self) -> Self {
        self.listener = true;
        self
    }
}

/// What one pass of the [`Rescuer`](crate::worker::Rescuer) did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RescueReport {
    /// Jobs put back to ready.
    pub requeued: u64,
    /// Jobs moved to dead-letter because they had no attempts left.
    pub buried: u64,
}

/// Converts a timestamp to the milliseconds that drivers store.
pub fn to_millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

/// Converts stored milliseconds back to a timestamp (saturating on absurd values).
pub fn from_millis(ms: i64) -> Timestamp {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}
