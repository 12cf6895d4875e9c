//! Batched model fetches: the jobs of one claim batch fetch their sea-orm
//! models together.
//!
//! A worker starts the jobs of a claim batch at once, and each decodes its
//! arguments first, all of them concurrently. Without help, every model
//! reference is one `SELECT … WHERE pk = ?`: one statement per model per
//! job. A [`ModelBatch`] gathers the requests of the batch's jobs: each job
//! asks for all its models in its first poll, and once every job of the
//! batch has been polled (or [`MAX_GATHER`] has passed), each entity is
//! fetched with one `IN` query per 500 keys and every job gets its rows.
//! Each job still sees its rows as they are when its batch is fetched (after
//! the claim, never at dispatch), a row missing for one job fails only that
//! job, and a fetch error fails only the jobs that asked that entity. A job
//! without model arguments waits for nothing.
//!
//! The worker runs each job with [`ModelBatch::run`]; outside a worker (a
//! test calling a handler) model arguments are fetched with a query each.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use sea_orm::sea_query::IntoValueTuple;
use sea_orm::{DatabaseConnection, EntityTrait, QueryFilter};
use tokio::sync::{Notify, oneshot};

use super::model::{FetchableModel, PkOf, any_of_keys};

/// Rows fetched per `IN` query.
pub(crate) const CHUNK: usize = 500;

/// Longest a fetch waits for the other jobs of its batch to ask.
pub const MAX_GATHER: Duration = Duration::from_millis(5);

tokio::task_local! {
    static BATCH: Arc<ModelBatch>;
}

/// The rows of one request, in the order of its keys (`None`: no such row),
/// or why the fetch failed.
type Answer<M> = Result<Vec<Option<M>>, String>;

/// One job's request: its keys, and where the rows go.
type Request<M> = (
    Vec<PkOf<<M as FetchableModel>::E>>,
    oneshot::Sender<Answer<M>>,
);

/// The requests for one entity waiting for the next fetch.
struct Pending<M: FetchableModel> {
    requests: Vec<Request<M>>,
    /// Whether a fetch is gathering them.
    gathering: bool,
}

/// One entity's loader.
struct EntityLoader<M: FetchableModel> {
    pending: Mutex<Pending<M>>,
}

/// The jobs of one claim batch, fetching their model arguments together:
/// one statement per entity (per 500 keys) for all of them. Each job asks
/// for all its models in its first poll; once every job of the batch has
/// been polled (or [`MAX_GATHER`] has passed) each entity is fetched once.
/// A row missing for one job fails only that job; a fetch error fails the
/// jobs that asked that entity. The worker runs every job of a claim with
/// [`run`](Self::run); outside one, models are fetched with a query each.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use asynctasq_core::args::ModelBatch;
///
/// let batch = ModelBatch::new(2);
/// let (a, b) = tokio::join!(batch.clone().run(async { 1 }), batch.run(async { 2 }));
/// assert_eq!(a + b, 3);
/// # }
/// ```
pub struct ModelBatch {
    entities: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// Jobs of the batch not polled yet (they may still ask).
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

/// Counts a job of the batch as having asked once dropped: after its first
/// poll, or if it never ran.
struct Asked(Arc<ModelBatch>);

impl Drop for Asked {
    fn drop(&mut self) {
        if self.0.asking.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.all_asked.notify_waiters();
        }
    }
}

impl ModelBatch {
    /// A batch of `jobs` jobs.
    pub fn new(jobs: usize) -> Arc<Self> {
        Arc::new(ModelBatch {
            entities: Mutex::default(),
            asking: AtomicUsize::new(jobs),
            all_asked: Notify::new(),
        })
    }

    /// Runs one job of the batch. The job asks for its models during its
    /// first poll; from then on it counts as having asked.
    pub async fn run<F: Future>(self: Arc<Self>, job: F) -> F::Output {
        let asked = Asked(self.clone());
        let mut job = std::pin::pin!(BATCH.scope(self, job));
        let first = std::future::poll_fn(|cx| Poll::Ready(job.as_mut().poll(cx))).await;
        drop(asked);
        match first {
            Poll::Ready(output) => output,
            Poll::Pending => job.await,
        }
    }

    /// Returns once every job of the batch has asked, or after [`MAX_GATHER`].
    async fn gathered(&self) {
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
        let _ = tokio::time::timeout(MAX_GATHER, wait).await;
    }

    /// The rows of `pks` from `db`: with the other requests of the running
    /// job's batch when there is one, else with a query of their own.
    pub(crate) async fn load<M>(db: &DatabaseConnection, pks: Vec<PkOf<M::E>>) -> Answer<M>
    where
        M: FetchableModel,
        PkOf<M::E>: Clone + Debug + Send + Sync,
    {
        match BATCH.try_with(Arc::clone) {
            Ok(batch) => {
                let entity = batch.entity::<M>();
                entity.request(batch, db, pks).await
            }
            Err(_) => fetch::<M>(db, &pks).await.map(|found| answer(&found, &pks)),
        }
    }

    fn entity<M>(&self) -> Arc<EntityLoader<M>>
    where
        M: FetchableModel,
        PkOf<M::E>: Send + Sync,
    {
        let mut entities = self.entities.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entities.entry(TypeId::of::<M>()).or_insert_with(|| {
            Arc::new(EntityLoader::<M> {
                pending: Mutex::new(Pending {
                    requests: Vec::new(),
                    gathering: false,
                }),
            })
        });
        Arc::clone(entry)
            .downcast::<EntityLoader<M>>()
            .expect("one loader type per TypeId")
    }
}

impl<M> EntityLoader<M>
where
    M: FetchableModel,
    PkOf<M::E>: Clone + Debug + Send + Sync,
{
    /// Queues `pks` for the batch's next fetch of this entity, starting one
    /// if none gathers.
    async fn request(
        self: Arc<Self>,
        batch: Arc<ModelBatch>,
        db: &DatabaseConnection,
        pks: Vec<PkOf<M::E>>,
    ) -> Answer<M> {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.requests.push((pks, tx));
            !std::mem::replace(&mut pending.gathering, true)
        };
        if start {
            tokio::spawn(Arc::clone(&self).gather_and_fetch(batch, db.clone()));
        }
        rx.await
            .unwrap_or_else(|_| Err("the model fetch was dropped".to_string()))
    }

    /// Lets the other jobs of the batch ask, then fetches what they all
    /// asked for and answers each.
    async fn gather_and_fetch(self: Arc<Self>, batch: Arc<ModelBatch>, db: DatabaseConnection) {
        batch.gathered().await;
        let requests = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.gathering = false;
            std::mem::take(&mut pending.requests)
        };
        let mut keys: Vec<PkOf<M::E>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (pks, _) in &requests {
            for pk in pks {
                if seen.insert(key_of(pk)) {
                    keys.push(pk.clone());
                }
            }
        }
        let fetched = fetch::<M>(&db, &keys).await;
        for (pks, tx) in requests {
            let _ = tx.send(match &fetched {
                Ok(found) => Ok(answer(found, &pks)),
                Err(e) => Err(e.clone()),
            });
        }
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
    for chunk in keys.chunks(CHUNK) {
        let rows = <M::E as EntityTrait>::find()
            .filter(any_of_keys::<M::E>(chunk))
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

/// The rows of `pks`, in their order.
fn answer<M: Clone, K: IntoValueTuple + Clone>(
    found: &HashMap<String, M>,
    pks: &[K],
) -> Vec<Option<M>> {
    pks.iter()
        .map(|pk| found.get(&key_of(pk)).cloned())
        .collect()
}
