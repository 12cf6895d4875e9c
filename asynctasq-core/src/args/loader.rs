//! Batched model fetches: the jobs a worker runs fetch their sea-orm models
//! together.
//!
//! A worker starts the jobs of a claim batch at once, and each decodes its
//! arguments first, all of them concurrently. Without help, every model
//! reference is one `SELECT … WHERE pk = ?`: one statement per model per
//! job. The worker's [`ModelLoader`] gathers the requests instead, one queue
//! per entity:
//!
//! - each job asks for all its models in its first poll, and a fetch starts
//!   once every job of the claims it serves has been polled (or
//!   [`MAX_GATHER`] has passed), so the jobs of one claim share a statement;
//! - at most [`IN_FLIGHT`] fetches of one entity run at a time: requests that
//!   arrive meanwhile (jobs of later claims) wait for the next one. Under
//!   load, batches grow with the arrival rate instead of the database
//!   receiving one statement per claim.
//!
//! Each entity is fetched with one `IN` query per [`CHUNK`] keys. A job still
//! sees its rows as they are when its fetch runs (after its claim, never at
//! dispatch), a row missing for one job fails only that job, and a fetch
//! error fails only the jobs that asked that entity in that fetch. A job
//! without model arguments waits for nothing.
//!
//! The worker runs each such job with [`ModelBatch::run`]; outside a worker
//! (a test calling a handler) model arguments are fetched with a query each.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use sea_orm::sea_query::IntoValueTuple;
use sea_orm::{DatabaseConnection, DbBackend, EntityTrait, QueryFilter};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::model::{FetchableModel, PkOf, any_of_keys};
use crate::worker::Slot;

/// Rows fetched per `IN` query.
pub(crate) const CHUNK: usize = 512;

/// Longest a fetch waits for the other jobs of its claims to ask. They are
/// started together and ask in their first poll, so this is reached only
/// when the runtime is too busy to poll them promptly.
pub const MAX_GATHER: Duration = Duration::from_millis(20);

/// Fetches of one entity that run at once; later requests wait for the next.
pub const IN_FLIGHT: usize = 2;

tokio::task_local! {
    static JOB: JobModels;
}

/// What a running job's model requests need: its claim's batch, and the
/// slot it lends while it waits for rows.
#[derive(Clone)]
struct JobModels {
    claim: Arc<ModelBatch>,
    slot: Arc<Slot>,
}

/// The rows of one request, in the order of its keys (`None`: no such row),
/// or why the fetch failed.
type Answer<M> = Result<Vec<Option<M>>, String>;

/// One job's request: its claim, its keys, and where the rows go.
struct Request<M: FetchableModel> {
    claim: Arc<ModelBatch>,
    keys: Vec<PkOf<M::E>>,
    reply: oneshot::Sender<Answer<M>>,
}

/// One entity's queue of requests.
struct EntityQueue<M: FetchableModel> {
    state: Mutex<QueueState<M>>,
}

struct QueueState<M: FetchableModel> {
    /// Requests waiting for the next fetch.
    waiting: Vec<Request<M>>,
    /// Fetch loops running (at most [`IN_FLIGHT`]).
    fetchers: usize,
}

/// A worker's model fetches, shared by all the jobs it runs: one queue of
/// requests per entity. A fetch starts once every job of the claims it
/// serves has asked (or after [`MAX_GATHER`]), at most [`IN_FLIGHT`] per
/// entity run at once, and requests that arrive meanwhile wait for the next
/// one, so under load one statement serves more jobs. The worker makes one
/// loader, and a [`ModelBatch`] per claim with [`batch`](Self::batch).
#[derive(Default)]
pub(crate) struct ModelLoader {
    entities: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for ModelLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelLoader").finish_non_exhaustive()
    }
}

/// The jobs of one claim that take model arguments: a fetch waits until
/// each of them has asked (been polled once), so they share it.
pub(crate) struct ModelBatch {
    loader: Arc<ModelLoader>,
    /// Jobs of the claim not polled yet (they may still ask).
    asking: AtomicUsize,
    /// Told when `asking` reaches 0.
    all_asked: Notify,
}

impl std::fmt::Debug for ModelBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelBatch")
            .field("asking", &self.asking.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Counts a job of the claim as having asked once dropped: after its first
/// poll, or if it never ran.
struct Asked(Arc<ModelBatch>);

impl Drop for Asked {
    fn drop(&mut self) {
        if self.0.asking.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.all_asked.notify_waiters();
        }
    }
}

impl ModelLoader {
    /// A loader with no requests.
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The batch of a claim whose `jobs` jobs take model arguments.
    pub(crate) fn batch(self: &Arc<Self>, jobs: usize) -> Arc<ModelBatch> {
        Arc::new(ModelBatch {
            loader: Arc::clone(self),
            asking: AtomicUsize::new(jobs),
            all_asked: Notify::new(),
        })
    }

    fn queue<M>(&self) -> Arc<EntityQueue<M>>
    where
        M: FetchableModel,
        PkOf<M::E>: Send + Sync,
    {
        let mut entities = self.entities.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entities.entry(TypeId::of::<M>()).or_insert_with(|| {
            Arc::new(EntityQueue::<M> {
                state: Mutex::new(QueueState {
                    waiting: Vec::new(),
                    fetchers: 0,
                }),
            })
        });
        Arc::clone(entry)
            .downcast::<EntityQueue<M>>()
            .expect("one queue type per TypeId")
    }
}

impl ModelBatch {
    /// Runs one job of the claim, which holds `slot`. The job asks for its
    /// models during its first poll; from then on it counts as having
    /// asked. While it waits for rows it lends its slot ([`Slot`]).
    pub(crate) async fn run<F: Future>(self: Arc<Self>, slot: Arc<Slot>, job: F) -> F::Output {
        let asked = Asked(self.clone());
        let scope = JobModels { claim: self, slot };
        let mut job = std::pin::pin!(JOB.scope(scope, job));
        let first = std::future::poll_fn(|cx| Poll::Ready(job.as_mut().poll(cx))).await;
        drop(asked);
        match first {
            Poll::Ready(output) => output,
            Poll::Pending => job.await,
        }
    }

    /// Returns once every job of the claim has asked, or at `deadline`.
    async fn asked(&self, deadline: Instant) {
        let wait = async {
            loop {
                let notified = self.all_asked.notified();
                let mut notified = std::pin::pin!(notified);
                notified.as_mut().enable();
                if self.asking.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout_at(deadline, wait).await;
    }

    /// The rows of `pks` from `db`: through the worker's loader when the
    /// running job has a batch, else with a query of their own.
    pub(crate) async fn load<M>(db: &DatabaseConnection, pks: Vec<PkOf<M::E>>) -> Answer<M>
    where
        M: FetchableModel,
        PkOf<M::E>: Clone + Debug + Send + Sync,
    {
        match JOB.try_with(Clone::clone) {
            Ok(JobModels { claim, slot }) => {
                let queue = claim.loader.queue::<M>();
                slot.lend_while(queue.request(claim, db, pks)).await
            }
            Err(_) => fetch::<M>(db, &pks).await.map(|found| answer(&found, &pks)),
        }
    }
}

impl<M> EntityQueue<M>
where
    M: FetchableModel,
    PkOf<M::E>: Clone + Debug + Send + Sync,
{
    /// Queues `keys` for the next fetch of this entity, starting a fetch
    /// loop if fewer than [`IN_FLIGHT`] run.
    async fn request(
        self: Arc<Self>,
        claim: Arc<ModelBatch>,
        db: &DatabaseConnection,
        keys: Vec<PkOf<M::E>>,
    ) -> Answer<M> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.waiting.push(Request { claim, keys, reply });
            let start = state.fetchers < IN_FLIGHT;
            state.fetchers += usize::from(start);
            start
        };
        if start {
            tokio::spawn(Arc::clone(&self).fetch_loop(db.clone()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err("the model fetch was dropped".to_string()))
    }

    /// Fetches what is waiting, once its claims have asked, until nothing is.
    async fn fetch_loop(self: Arc<Self>, db: DatabaseConnection) {
        loop {
            let claims = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                if state.waiting.is_empty() {
                    state.fetchers -= 1;
                    return;
                }
                distinct_claims(&state.waiting)
            };
            let deadline = Instant::now() + MAX_GATHER;
            for claim in claims {
                claim.asked(deadline).await;
            }
            let requests = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                std::mem::take(&mut state.waiting)
            };
            if !requests.is_empty() {
                // A panic in a fetch fails its requests (their senders are
                // dropped), not the loop: later requests still get answers.
                let _ = AssertUnwindSafe(answer_all(&db, requests))
                    .catch_unwind()
                    .await;
            }
        }
    }
}

/// The claims of `requests`, each once.
fn distinct_claims<M: FetchableModel>(requests: &[Request<M>]) -> Vec<Arc<ModelBatch>> {
    let mut seen = HashSet::new();
    requests
        .iter()
        .filter(|r| seen.insert(Arc::as_ptr(&r.claim)))
        .map(|r| Arc::clone(&r.claim))
        .collect()
}

/// Fetches the keys of `requests` together and answers each.
async fn answer_all<M>(db: &DatabaseConnection, requests: Vec<Request<M>>)
where
    M: FetchableModel,
    PkOf<M::E>: Clone,
{
    let mut keys: Vec<PkOf<M::E>> = Vec::new();
    let mut seen = HashSet::new();
    for request in &requests {
        for pk in &request.keys {
            if seen.insert(key_of(pk)) {
                keys.push(pk.clone());
            }
        }
    }
    let fetched = fetch::<M>(db, &keys).await;
    for request in requests {
        let _ = request.reply.send(match &fetched {
            Ok(found) => Ok(answer(found, &request.keys)),
            Err(e) => Err(e.clone()),
        });
    }
}

/// A key as text, the same for a key read from a payload and from a row.
fn key_of<K: IntoValueTuple + Clone>(pk: &K) -> String {
    format!("{:?}", pk.clone().into_value_tuple())
}

/// The rows of `keys`, by [`key_of`], fetched with one `IN` query per
/// [`CHUNK`] keys.
async fn fetch<M>(
    db: &DatabaseConnection,
    keys: &[PkOf<M::E>],
) -> Result<HashMap<String, M>, String>
where
    M: FetchableModel,
    PkOf<M::E>: Clone,
{
    let mut found = HashMap::with_capacity(keys.len());
    let backend = db.get_database_backend();
    for chunk in keys.chunks(CHUNK) {
        // An array parameter has one shape already; an `IN` list is padded.
        let keys = match backend {
            DbBackend::Postgres => Cow::Borrowed(chunk),
            _ => Cow::Owned(padded(chunk)),
        };
        let rows = <M::E as EntityTrait>::find()
            .filter(any_of_keys::<M::E>(backend, &keys))
            .all(db)
            .await
            .map_err(|e| e.to_string())?;
        found.extend(
            rows.into_iter()
                .map(|m| (format!("{:?}", m.get_primary_key_value()), m)),
        );
    }
    Ok(found)
}

/// `keys` with its last key repeated up to the next power of two: a fetch's
/// statement then has one of a few shapes (1, 2, 4 … keys), which every
/// connection keeps prepared, instead of one per batch size.
fn padded<K: Clone>(keys: &[K]) -> Vec<K> {
    let mut padded = keys.to_vec();
    if let Some(last) = keys.last() {
        padded.resize(keys.len().next_power_of_two(), last.clone());
    }
    padded
}

/// The rows of `pks`, in their order.
fn answer<M: Clone, K: IntoValueTuple + Clone>(
    found: &HashMap<String, M>,
    pks: &[K],
) -> Vec<Option<M>> {
    pks.iter()
        .map(|pk| found.get(&key_of(pk)).cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_padded_to_a_power_of_two_with_the_last() {
        assert_eq!(padded::<i32>(&[]), Vec::<i32>::new());
        assert_eq!(padded(&[7]), [7]);
        assert_eq!(padded(&[1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(padded(&[1, 2, 3, 4, 5]), [1, 2, 3, 4, 5, 5, 5, 5]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_claim_counts_each_job_as_asked_after_its_first_poll() {
        let claim = ModelLoader::new().batch(2);
        let slot = || {
            let slots = Arc::new(tokio::sync::Semaphore::new(1));
            let permit = slots.clone().try_acquire_owned().unwrap();
            Slot::new(permit, slots, Arc::new(tokio::sync::Semaphore::new(1)))
        };
        let slow = claim.clone().run(slot(), async {
            tokio::task::yield_now().await;
            1
        });
        let fast = claim.clone().run(slot(), async { 2 });
        assert_eq!(tokio::join!(slow, fast), (1, 2));
        assert_eq!(claim.asking.load(Ordering::Acquire), 0);
        // Every job asked: waiting for the claim returns at once.
        let waited = tokio::time::timeout(
            Duration::from_millis(1),
            claim.asked(Instant::now() + Duration::from_secs(60)),
        )
        .await;
        assert!(waited.is_ok());
    }
}
