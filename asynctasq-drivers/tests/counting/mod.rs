//! A task that records how often each job ran, for the tests that kill
//! connections or stop servers during a worker run and then check that every
//! job ran: the task, envelopes for it, and the checks. Each job sleeps for
//! the time its envelope asks, so the tests of one binary can keep their own
//! pace; each test checks only its own job ids.

#![allow(dead_code)]

pub mod chaos;

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use asynctasq_core::task::HandlerFuture;
use asynctasq_core::{Envelope, JobContext, JobId, Registry, RetryPolicy, TaskRegistration};

/// The task's name.
pub const NAME: &str = "test.counted";

static TASK: TaskRegistration = TaskRegistration {
    name: NAME,
    location: concat!(file!(), ":", line!()),
    handler: counted,
    model_arguments: Vec::new,
};

/// How many times each job ran, by id.
static RUNS: LazyLock<Mutex<HashMap<JobId, u32>>> = LazyLock::new(Default::default);

/// Sleeps for the envelope's `ms` argument, then counts the run.
fn counted(ctx: JobContext) -> HandlerFuture {
    let ms = match &ctx.args {
        asynctasq_core::rmpv::Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some("ms"))
            .and_then(|(_, v)| v.as_u64())
            .unwrap_or(0),
        _ => 0,
    };
    Box::pin(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        *RUNS.lock().unwrap().entry(ctx.id).or_default() += 1;
        Ok(())
    })
}

/// A registry with only the counting task.
pub fn registry() -> Registry {
    Registry::from_registrations([&TASK]).expect("registry")
}

/// `n` jobs of the counting task on `queue`, each taking `job_time`, with
/// many attempts and a short fixed backoff (a chaos run may fail attempts).
pub fn envelopes(queue: &str, n: usize, job_time: Duration) -> Vec<Envelope> {
    let ms = u64::try_from(job_time.as_millis()).unwrap_or(u64::MAX);
    (0..n)
        .map(|_| Envelope {
            args: asynctasq_core::rmpv::Value::Map(vec![("ms".into(), ms.into())]),
            max_attempts: 50,
            retry: RetryPolicy::fixed(Duration::from_millis(50)).without_jitter(),
            ..Envelope::new(NAME, queue)
        })
        .collect()
}

/// The ids of `envelopes`.
pub fn ids<'a>(envelopes: impl IntoIterator<Item = &'a Envelope>) -> HashSet<JobId> {
    envelopes.into_iter().map(|e| e.id).collect()
}

/// How many of `ids` ran at least once.
pub fn ran(ids: &HashSet<JobId>) -> usize {
    let runs = RUNS.lock().unwrap();
    ids.iter().filter(|id| runs.contains_key(id)).count()
}

/// How many times each of `ids` that ran did.
pub fn runs(ids: &HashSet<JobId>) -> HashMap<JobId, u32> {
    let runs = RUNS.lock().unwrap();
    ids.iter()
        .filter_map(|id| runs.get(id).map(|n| (*id, *n)))
        .collect()
}

/// Resolves once every one of `ids` has run: a worker's stop signal that
/// does not depend on an empty queue (a producer may still be adding jobs).
pub async fn all_ran(ids: HashSet<JobId>) {
    while ran(&ids) < ids.len() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
