//! The Redis driver: one server or a Redis Cluster, through the same Lua scripts.
//!
//! # URLs
//!
//! | URL | meaning |
//! |---|---|
//! | `redis://[user:password@]host[:port][/db][?prefix=p]` | one server |
//! | `rediss://…[?tls_ca=/path/ca.pem]` | one server over TLS (system roots, or the given CA) |
//! | `redis+cluster://[user:password@]host:port[,host:port…][/][?prefix=p]` | a Redis Cluster (the hosts are seeds) |
//! | `rediss+cluster://…` | a Redis Cluster over TLS |
//!
//! `prefix` (default `asynctasq`) starts every key, so several applications can
//! share a server. Other query parameters go to the `redis` crate.
//!
//! # Key layout
//!
//! Every key of one queue starts with the hash tag `{<prefix>:<queue>}`, so a
//! script touches a single cluster slot:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{p:q}:job:<id>` | string | the job's body, written once: task, priority, max_attempts, run_at, created and the payload (MessagePack) |
//! | `{p:q}:meta:<id>` | string | `claims:attempt`, from the job's first claim on (the claim counter is the fencing token) |
//! | `{p:q}:errors:<id>` | string | the job's failed attempts, one JSON object per line |
//! | `{p:q}:pending:<priority>` | sorted set | ids of scheduled and ready jobs of that priority, scored by run_at (ms) |
//! | `{p:q}:prios` | sorted set | the priority levels that may hold pending jobs |
//! | `{p:q}:running` | sorted set | leased ids, scored by lease deadline (ms) |
//! | `{p:q}:dead` | sorted set | dead ids, scored by failure time (ms) |
//! | `{p:q}:paused` | string | present while the queue is paused |
//! | `{p:q}:wake` | channel | published when the queue may have claimable work |
//! | `{p}:queues`, `{p}:queue_names`, `{p}:queue_seq` | hash, hash, counter | queue name ↔ number |
//!
//! A job is *scheduled* while its run_at lies ahead of the server's clock and
//! *ready* from then on: claims read the pending sets up to "now", so delayed
//! jobs need no promotion step and become claimable to the millisecond.
//!
//! # Scripts and guarantees
//!
//! Each state change is one Lua script on one queue (`lua/*.lua`), atomic on
//! the server, and every script works on a bounded batch (at most a few
//! hundred jobs per call; the driver loops), so a backlog of millions costs
//! the same per call as a backlog of ten. A job's state is the sorted set
//! that holds it, and the hot paths (enqueue, claim, complete) are a fixed
//! number of variadic commands per batch (`MGET`/`MSET`, `ZMSCORE`,
//! `ZADD`/`ZREM`, `DEL`), never commands per job. Completed jobs are deleted
//! with their body, meta and errors. Receipt tokens carry the queue's number
//! and the job's claim counter: acks find the queue without an index, and an
//! ack applies only while the job is still running under that counter
//! (fencing).
//!
//! Waiting workers subscribe to their queues' `wake` channels (sharded pub/sub
//! on a cluster) on the driver's RESP3 connection, which reconnects and
//! resubscribes by itself; a wait also sleeps no longer than the next
//! scheduled job's due time.
//!
//! See `docs/drivers.md` (section Redis) for the full description.

mod body;
mod conn;
mod scripts;
mod url;
mod wake;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::{select_all, try_join_all};
use redis::{FromRedisValue, Value};
use tokio::sync::Notify;

use asynctasq_core::job::{from_millis, to_millis};
use asynctasq_core::{
    AttemptError, Burial, ClaimParams, ClaimedJob, DeadListParams, DeadSelector, Driver,
    DriverFactory, Error, ExpiredLease, ExpiredParams, JobId, JobInfo, NewJob, QueueStats, Receipt,
    Result, Retry,
};

use conn::Conn;
use scripts::Lua;
use url::Target;
use wake::{WakeSender, Wakers};

use crate::support::{attempt_u32, non_negative, queue_stats, state_from_str};

/// Most jobs inserted by one script call.
const ENQUEUE_CHUNK: usize = 500;
/// Most jobs leased by one script call.
const CLAIM_CHUNK: usize = 500;
/// Most receipts applied by one script call.
const ACK_CHUNK: usize = 500;
/// Most dead jobs requeued or purged by one script call.
const DEAD_BATCH: i64 = 500;
/// Most pending jobs deleted by one script call of `queue_purge`.
const PURGE_BATCH: i64 = 1000;
/// How long a cached queue number is trusted before it is checked again.
const REGISTRY_TTL: Duration = Duration::from_secs(60);
/// Bits of a receipt token that hold the job's claim counter; the bits above
/// hold the queue's number.
const CLAIM_BITS: u32 = 40;
/// Queue numbers must fit the positive bits above [`CLAIM_BITS`].
const MAX_QUEUES: i64 = 1 << (63 - CLAIM_BITS);

/// A driver that keeps jobs in Redis or a Redis Cluster.
///
/// Built from a URL (see the [module docs](self)); `asynctasq_core::connect`
/// builds it for the `redis`, `rediss`, `redis+cluster` and `rediss+cluster` schemes.
///
/// ```no_run
/// # async fn run() -> asynctasq_core::Result<()> {
/// use asynctasq_core::Driver;
/// use asynctasq_drivers::RedisDriver;
///
/// let driver = RedisDriver::connect("redis://127.0.0.1:6379/0?prefix=myapp").await?;
/// driver.migrate().await?;
/// println!("{:?}", driver.stats(None).await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisDriver {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Conn,
    target: Target,
    publish: &'static str,
    registry: Mutex<QueueCache>,
    wakers: Arc<Wakers>,
    subscribed: tokio::sync::Mutex<HashSet<String>>,
    rotation: AtomicUsize,
}

/// Queue numbers known to this process, refreshed after [`REGISTRY_TTL`].
#[derive(Default)]
struct QueueCache {
    by_name: HashMap<String, (i64, Instant)>,
    by_number: HashMap<i64, (String, Instant)>,
}

impl fmt::Debug for RedisDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDriver")
            .field("url", &self.inner.target.redacted)
            .field("prefix", &self.inner.target.prefix)
            .field("cluster", &self.inner.target.cluster)
            .finish()
    }
}

fn driver_err(e: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>) -> Error {
    Error::driver("redis", e)
}

fn unexpected(what: &str, value: &Value) -> Error {
    driver_err(format!("unexpected reply for {what}: {value:?}"))
}

/// A script's arguments after the queue prefix and publish command.
#[derive(Default)]
struct Args(Vec<Vec<u8>>);

impl Args {
    fn s(mut self, text: &str) -> Self {
        self.0.push(text.as_bytes().to_vec());
        self
    }
    fn n(mut self, number: i64) -> Self {
        self.0.push(number.to_string().into_bytes());
        self
    }
    fn b(mut self, bytes: &[u8]) -> Self {
        self.0.push(bytes.to_vec());
        self
    }
}

impl RedisDriver {
    /// Connects to the server or cluster named by `url`.
    ///
    /// Fails if the URL is invalid or Redis cannot be reached now; once
    /// connected, the driver reconnects by itself.
    pub async fn connect(url: &str) -> Result<Self> {
        let target = url::parse(url).map_err(Error::Config)?;
        let wakers = Arc::new(Wakers::default());
        let conn = Conn::open(&target, WakeSender(wakers.clone()))
            .await
            .map_err(|e| {
                driver_err(format!(
                    "cannot connect to {}: {e}",
                    target.redacted.as_str()
                ))
            })?;
        let publish = conn.publish_command();
        tracing::debug!(url = %target.redacted, prefix = %target.prefix, "redis driver connected");
        Ok(RedisDriver {
            inner: Arc::new(Inner {
                conn,
                target,
                publish,
                registry: Mutex::default(),
                wakers,
                subscribed: tokio::sync::Mutex::default(),
                rotation: AtomicUsize::new(0),
            }),
        })
    }

    /// The key prefix (`?prefix=` of the URL, `asynctasq` by default).
    pub fn prefix(&self) -> &str {
        &self.inner.target.prefix
    }

    /// Whether the driver talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.target.cluster
    }

    fn conn(&self) -> Conn {
        self.inner.conn.clone()
    }

    /// `{<prefix>:<queue>}:`, the start of every key of `queue`.
    fn queue_prefix(&self, queue: &str) -> String {
        format!("{{{}:{queue}}}:", self.inner.target.prefix)
    }

    /// A key of the global, queue-independent part of the layout.
    fn global_key(&self, name: &str) -> String {
        format!("{{{}}}:{name}", self.inner.target.prefix)
    }

    /// Runs a per-queue script.
    async fn run<T: FromRedisValue>(&self, lua: &Lua, queue: &str, args: Args) -> Result<T> {
        let pre = self.queue_prefix(queue);
        let mut invocation = lua.script.key(format!("{pre}running"));
        invocation.arg(&pre).arg(self.inner.publish).arg(&args.0);
        invocation
            .invoke_async(&mut self.conn())
            .await
            .map_err(driver_err)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, QueueCache> {
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, queue: &str, number: i64) {
        let now = Instant::now();
        let mut cache = self.registry();
        cache.by_name.insert(queue.to_string(), (number, now));
        cache.by_number.insert(number, (queue.to_string(), now));
    }

    /// The number of `queue`, registering the queue on first use.
    async fn queue_number(&self, queue: &str) -> Result<i64> {
        if let Some(&(n, at)) = self.registry().by_name.get(queue)
            && at.elapsed() < REGISTRY_TTL
        {
            return Ok(n);
        }
        let number: i64 = scripts::REGISTER
            .script
            .key(self.global_key("queues"))
            .key(self.global_key("queue_names"))
            .key(self.global_key("queue_seq"))
            .arg(queue)
            .invoke_async(&mut self.conn())
            .await
            .map_err(driver_err)?;
        if !(1..MAX_QUEUES).contains(&number) {
            return Err(driver_err(format!(
                "queue `{queue}` got number {number}; at most {} queues fit in receipt tokens",
                MAX_QUEUES - 1
            )));
        }
        self.remember(queue, number);
        Ok(number)
    }

    /// The queue with `number`, if there is one.
    async fn queue_named(&self, number: i64) -> Result<Option<String>> {
        if let Some((name, at)) = self.registry().by_number.get(&number)
            && at.elapsed() < REGISTRY_TTL
        {
            return Ok(Some(name.clone()));
        }
        let name: Option<String> = redis::cmd("HGET")
            .arg(self.global_key("queue_names"))
            .arg(number)
            .query_async(&mut self.conn())
            .await
            .map_err(driver_err)?;
        if let Some(name) = &name {
            self.remember(name, number);
        }
        Ok(name)
    }

    /// Every queue that ever held a job or was paused, sorted by name.
    async fn known_queues(&self) -> Result<Vec<String>> {
        let all: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(self.global_key("queues"))
            .query_async(&mut self.conn())
            .await
            .map_err(driver_err)?;
        let mut names: Vec<String> = all.keys().cloned().collect();
        for (name, number) in all {
            self.remember(&name, number);
        }
        names.sort_unstable();
        Ok(names)
    }

    /// `[queue]`, or every known queue.
    async fn queue_or_all(&self, queue: Option<&str>) -> Result<Vec<String>> {
        match queue {
            Some(q) => Ok(vec![q.to_string()]),
            None => self.known_queues().await,
        }
    }

    /// Groups `receipts` by the queue their token names, each as (id,
    /// claim counter). Receipts whose token names no queue this driver
    /// knows (forged, or from another database) are in no group.
    async fn by_queue(&self, receipts: &[Receipt]) -> Result<Vec<(String, Vec<(JobId, i64)>)>> {
        let mut by_number: HashMap<i64, Vec<(JobId, i64)>> = HashMap::new();
        for r in receipts {
            if let Some((number, claims)) = split_token(r.token) {
                by_number.entry(number).or_default().push((r.id, claims));
            }
        }
        let mut groups = Vec::with_capacity(by_number.len());
        for (number, list) in by_number {
            if let Some(queue) = self.queue_named(number).await? {
                groups.push((queue, list));
            }
        }
        Ok(groups)
    }

    /// Applies `action` to `receipts`, grouped by queue, in bounded script calls.
    async fn ack_many(&self, action: &str, param: i64, receipts: &[Receipt]) -> Result<u64> {
        let groups = self.by_queue(receipts).await?;
        let calls = groups.iter().flat_map(|(queue, list)| {
            list.chunks(ACK_CHUNK).map(move |chunk| async move {
                let applied: i64 = self.ack(queue, action, param, "", chunk).await?;
                Ok::<_, Error>(applied.max(0) as u64)
            })
        });
        Ok(try_join_all(calls).await?.into_iter().sum())
    }

    /// Runs the ack script on one queue's receipts; its answer is `T`.
    async fn ack<T: FromRedisValue>(
        &self,
        queue: &str,
        action: &str,
        param: i64,
        error: &str,
        receipts: &[(JobId, i64)],
    ) -> Result<T> {
        let mut args = Args::default().s(action).n(param).s(error);
        for (id, claims) in receipts {
            args = args.s(&id.to_string()).n(*claims);
        }
        self.run(&scripts::ACK, queue, args).await
    }

    /// Retry or bury: one fenced receipt with an error.
    async fn ack_one(
        &self,
        action: &str,
        receipt: &Receipt,
        param: i64,
        error: &AttemptError,
    ) -> Result<bool> {
        let Some((number, claims)) = split_token(receipt.token) else {
            return Ok(false);
        };
        let Some(queue) = self.queue_named(number).await? else {
            return Ok(false);
        };
        let line = error.to_stored();
        let applied: i64 = self
            .ack(&queue, action, param, &line, &[(receipt.id, claims)])
            .await?;
        Ok(applied > 0)
    }

    /// `(paused, top due priority, ms until the next scheduled job)` of `queue`.
    async fn probe(&self, queue: &str) -> Result<Probe> {
        let (paused, top, next_due): (i64, String, i64) =
            self.run(&scripts::PROBE, queue, Args::default()).await?;
        Ok(Probe {
            paused: paused != 0,
            top: if top.is_empty() {
                None
            } else {
                top.parse().ok()
            },
            next_due: u64::try_from(next_due).ok().map(Duration::from_millis),
        })
    }

    /// Leases up to `max` jobs of one queue, in bounded script calls.
    async fn claim_queue(
        &self,
        queue: &str,
        max: usize,
        lease_ms: i64,
        out: &mut Vec<ClaimedJob>,
    ) -> Result<()> {
        let number = self.queue_number(queue).await?;
        let mut left = max;
        while left > 0 {
            let want = left.min(CLAIM_CHUNK);
            let reply: Vec<Value> = self
                .run(
                    &scripts::CLAIM,
                    queue,
                    Args::default().n(want as i64).n(lease_ms),
                )
                .await?;
            if !reply.len().is_multiple_of(4) {
                return Err(driver_err(format!(
                    "claim returned {} values, not a multiple of 4",
                    reply.len()
                )));
            }
            let got = reply.len() / 4;
            let mut values = reply.into_iter();
            while let Some(id) = values.next() {
                let mut next = || values.next().unwrap_or(Value::Nil);
                let id = parse_id(id)?;
                let claims = int(next(), "claims")?;
                let attempt = int(next(), "attempt")?;
                let claimed = body::claimed(bytes(next(), "body")?);
                out.push(ClaimedJob {
                    receipt: Receipt {
                        id,
                        token: make_token(number, claims),
                    },
                    task: claimed.task,
                    queue: queue.to_string(),
                    attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                    max_attempts: claimed.max_attempts,
                    payload: claimed.payload,
                });
            }
            if got < want {
                break;
            }
            left -= got;
        }
        Ok(())
    }

    /// Up to `limit` expired leases of one queue (before `now` ms, the
    /// server's clock when empty), each with its lease deadline.
    async fn expired_in(
        &self,
        queue: &str,
        now: &str,
        limit: i64,
    ) -> Result<Vec<(i64, ExpiredLease)>> {
        let number = self.queue_number(queue).await?;
        let reply: Vec<Value> = self
            .run(&scripts::EXPIRED, queue, Args::default().n(limit).s(now))
            .await?;
        if !reply.len().is_multiple_of(5) {
            return Err(driver_err(format!(
                "the expired-lease read returned {} values, not a multiple of 5",
                reply.len()
            )));
        }
        let mut out = Vec::with_capacity(reply.len() / 5);
        let mut values = reply.into_iter();
        while let Some(id) = values.next() {
            let mut next = || values.next().unwrap_or(Value::Nil);
            let id = parse_id(id)?;
            let deadline = int(next(), "lease deadline")?;
            let claims = int(next(), "claims")?;
            let attempt = int(next(), "attempt")?;
            let body = body::claimed(bytes(next(), "body")?);
            out.push((
                deadline,
                ExpiredLease {
                    receipt: Receipt {
                        id,
                        token: make_token(number, claims),
                    },
                    task: body.task,
                    queue: queue.to_string(),
                    attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                    max_attempts: body.max_attempts,
                    payload: body.payload,
                },
            ));
        }
        Ok(out)
    }

    /// Subscribes to the wake-up channels not subscribed yet.
    async fn subscribe(&self, channels: &[String]) -> Result<()> {
        let mut done = self.inner.subscribed.lock().await;
        for channel in channels {
            if done.contains(channel) {
                continue;
            }
            self.inner.wakers.of(channel);
            // One channel per command: on a cluster, channels of different
            // queues live on different shards.
            self.conn()
                .subscribe(std::slice::from_ref(channel))
                .await
                .map_err(driver_err)?;
            done.insert(channel.clone());
        }
        Ok(())
    }

    /// Reads jobs by id from one queue.
    async fn lookup(&self, queue: &str, ids: &[JobId]) -> Result<Vec<JobInfo>> {
        let mut args = Args::default();
        for id in ids {
            args = args.s(&id.to_string());
        }
        let reply: Vec<Value> = self.run(&scripts::LOOKUP, queue, args).await?;
        parse_infos(queue, reply)
    }

    /// Requeues or purges dead jobs of the selection.
    async fn dead_apply(&self, action: &str, selector: DeadSelector<'_>) -> Result<u64> {
        match selector {
            DeadSelector::Ids(ids) => {
                if ids.is_empty() {
                    return Ok(0);
                }
                let queues = self.known_queues().await?;
                let calls = queues.iter().flat_map(|queue| {
                    ids.chunks(ACK_CHUNK).map(move |chunk| {
                        let mut args = Args::default().s(action).n(DEAD_BATCH);
                        for id in chunk {
                            args = args.s(&id.to_string());
                        }
                        self.run::<i64>(&scripts::DEAD, queue, args)
                    })
                });
                Ok(non_negative(
                    try_join_all(calls).await?.into_iter().sum::<i64>(),
                ))
            }
            DeadSelector::All { queue } => {
                let queues = self.queue_or_all(queue).await?;
                let calls = queues.iter().map(|queue| async move {
                    let mut total = 0u64;
                    loop {
                        let n: i64 = self
                            .run(
                                &scripts::DEAD,
                                queue,
                                Args::default().s(action).n(DEAD_BATCH),
                            )
                            .await?;
                        total += non_negative(n);
                        if n < DEAD_BATCH {
                            return Ok::<_, Error>(total);
                        }
                    }
                });
                Ok(try_join_all(calls).await?.into_iter().sum())
            }
        }
    }
}

/// What a waiter or a multi-queue claim learns about a queue.
struct Probe {
    paused: bool,
    top: Option<i64>,
    next_due: Option<Duration>,
}

fn make_token(queue_number: i64, claims: i64) -> i64 {
    (queue_number << CLAIM_BITS) | (claims & ((1 << CLAIM_BITS) - 1))
}

/// `(queue number, claim counter)` of a token this driver made, or `None`.
fn split_token(token: i64) -> Option<(i64, i64)> {
    let number = token >> CLAIM_BITS;
    let claims = token & ((1 << CLAIM_BITS) - 1);
    (token > 0 && number > 0 && claims > 0).then_some((number, claims))
}

fn validate_queue(queue: &str) -> Result<()> {
    if queue.contains(['{', '}']) {
        return Err(Error::Config(format!(
            "the redis driver does not accept `{{` or `}}` in queue names (`{queue}`): they delimit hash tags"
        )));
    }
    Ok(())
}

fn bytes(value: Value, what: &str) -> Result<Vec<u8>> {
    match value {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::Int(i) => Ok(i.to_string().into_bytes()),
        other => Err(unexpected(what, &other)),
    }
}

fn text(value: Value, what: &str) -> Result<String> {
    String::from_utf8(bytes(value, what)?).map_err(|_| driver_err(format!("{what} is not utf-8")))
}

fn int(value: Value, what: &str) -> Result<i64> {
    match value {
        Value::Int(i) => Ok(i),
        Value::Double(d) => Ok(d as i64),
        other => {
            let t = text(other, what)?;
            t.parse::<i64>()
                .or_else(|_| t.parse::<f64>().map(|f| f as i64))
                .map_err(|_| driver_err(format!("{what} is not a number: {t}")))
        }
    }
}

fn parse_id(value: Value) -> Result<JobId> {
    let t = text(value, "job id")?;
    t.parse()
        .map_err(|_| driver_err(format!("stored job id `{t}` is not a uuid")))
}

/// Parses the nine values per job returned by `lookup.lua`.
fn parse_infos(queue: &str, reply: Vec<Value>) -> Result<Vec<JobInfo>> {
    let mut out = Vec::with_capacity(reply.len() / 9);
    let mut values = reply.into_iter();
    while let Some(id) = values.next() {
        let mut next = || values.next().unwrap_or(Value::Nil);
        let id = parse_id(id)?;
        let state = state_from_str("redis", &text(next(), "state")?)?;
        let task = text(next(), "task")?;
        let attempt = int(next(), "attempt")?;
        let max_attempts = int(next(), "max_attempts")?;
        let priority = int(next(), "priority")?;
        let run_at = int(next(), "run_at")?;
        let created_at = int(next(), "created_at")?;
        let created_at = from_millis(created_at);
        let errors = AttemptError::from_stored_list(&text(next(), "errors")?, created_at);
        out.push(JobInfo {
            id,
            task,
            queue: queue.to_string(),
            state,
            attempt: attempt_u32(attempt),
            max_attempts: attempt_u32(max_attempts),
            priority: i16::try_from(priority).unwrap_or_default(),
            run_at: from_millis(run_at),
            created_at,
            errors,
        });
    }
    Ok(out)
}

#[async_trait]
impl Driver for RedisDriver {
    fn name(&self) -> &'static str {
        "redis"
    }

    /// Redis needs no schema: this checks the connection and loads the scripts
    /// (on every node of a cluster).
    async fn migrate(&self) -> Result<()> {
        let mut conn = self.conn();
        for lua in scripts::all() {
            lua.script
                .prepare_invoke()
                .load_async(&mut conn)
                .await
                .map_err(driver_err)?;
        }
        Ok(())
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        let mut groups: Vec<(&str, Vec<&NewJob>)> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for job in jobs {
            let i = match index.get(job.queue.as_str()) {
                Some(&i) => i,
                None => {
                    validate_queue(&job.queue)?;
                    groups.push((&job.queue, Vec::new()));
                    index.insert(&job.queue, groups.len() - 1);
                    groups.len() - 1
                }
            };
            groups[i].1.push(job);
        }
        try_join_all(groups.iter().map(|(q, _)| self.queue_number(q))).await?;
        let created_ms = to_millis(chrono::Utc::now());
        let mut calls: Vec<(&str, Args)> = Vec::new();
        for (queue, list) in &groups {
            for chunk in list.chunks(ENQUEUE_CHUNK) {
                let mut args = Args::default();
                for job in chunk {
                    args = args
                        .s(&job.id.to_string())
                        .n(job.priority.into())
                        .n(to_millis(job.run_at))
                        .b(&body::encode(job, created_ms));
                }
                calls.push((queue, args));
            }
        }
        match (&self.inner.conn, calls.len()) {
            (_, 0) => Ok(()),
            // Several calls on one server: one MULTI/EXEC, so the batch stays atomic.
            // EVAL (not EVALSHA) because a NOSCRIPT inside MULTI would not abort it.
            (Conn::Single(_), n) if n > 1 => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for (queue, args) in &calls {
                    let pre = self.queue_prefix(queue);
                    pipe.cmd("EVAL")
                        .arg(&scripts::ENQUEUE.source)
                        .arg(1)
                        .arg(format!("{pre}running"))
                        .arg(&pre)
                        .arg(self.inner.publish)
                        .arg(&args.0)
                        .ignore();
                }
                pipe.query_async::<()>(&mut self.conn())
                    .await
                    .map_err(driver_err)
            }
            _ => {
                try_join_all(
                    calls
                        .into_iter()
                        .map(|(queue, args)| self.run::<i64>(&scripts::ENQUEUE, queue, args)),
                )
                .await?;
                Ok(())
            }
        }
    }

    async fn claim(&self, params: ClaimParams<'_>) -> Result<Vec<ClaimedJob>> {
        let queues = params.queues;
        if params.max == 0 || queues.is_empty() {
            return Ok(Vec::new());
        }
        let lease_ms = i64::try_from(params.lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut out = Vec::with_capacity(params.max.min(CLAIM_CHUNK));
        if queues.len() == 1 {
            self.claim_queue(&queues[0], params.max, lease_ms, &mut out)
                .await?;
            return Ok(out);
        }
        // Several queues: look at all of them first, then claim from the queue
        // whose best due job has the highest priority; ties rotate between claims.
        let probes = try_join_all(queues.iter().map(|q| self.probe(q))).await?;
        let start = self.inner.rotation.fetch_add(1, Ordering::Relaxed) % queues.len();
        let mut order: Vec<(i64, usize)> = probes
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.paused)
            .filter_map(|(i, p)| p.top.map(|top| (top, i)))
            .collect();
        let n = queues.len();
        order.sort_by_key(|&(top, i)| (std::cmp::Reverse(top), (i + n - start) % n));
        for (_, i) in order {
            let left = params.max - out.len();
            if left == 0 {
                break;
            }
            self.claim_queue(&queues[i], left, lease_ms, &mut out)
                .await?;
        }
        Ok(out)
    }

    async fn complete(&self, receipts: &[Receipt]) -> Result<u64> {
        self.ack_many("complete", 0, receipts).await
    }

    async fn retry(&self, retries: &[Retry]) -> Result<u64> {
        // One script call per job (each has its own time and error), sent
        // together over the multiplexed connection.
        let calls = retries
            .iter()
            .map(|r| self.ack_one("retry", &r.receipt, to_millis(r.run_at), &r.error));
        Ok(try_join_all(calls).await?.into_iter().map(u64::from).sum())
    }

    async fn bury(&self, burials: &[Burial]) -> Result<u64> {
        let calls = burials
            .iter()
            .map(|b| self.ack_one("bury", &b.receipt, to_millis(b.error.at), &b.error));
        Ok(try_join_all(calls).await?.into_iter().map(u64::from).sum())
    }

    async fn release(&self, receipts: &[Receipt]) -> Result<u64> {
        self.ack_many("release", 0, receipts).await
    }

    async fn extend(&self, receipts: &[Receipt], lease: Duration) -> Result<Vec<Receipt>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let groups = self.by_queue(receipts).await?;
        let calls = groups.iter().flat_map(|(queue, list)| {
            list.chunks(ACK_CHUNK).map(move |chunk| async move {
                // The script answers with the ids it did not extend.
                let lost: Vec<String> = self.ack(queue, "extend", lease_ms, "", chunk).await?;
                Ok::<_, Error>(lost)
            })
        });
        let lost: HashSet<String> = try_join_all(calls).await?.into_iter().flatten().collect();
        let routed: HashSet<JobId> = groups
            .iter()
            .flat_map(|(_, list)| list.iter().map(|(id, _)| *id))
            .collect();
        // A receipt in no group names no known queue: nothing held it.
        Ok(receipts
            .iter()
            .filter(|r| !routed.contains(&r.id) || lost.contains(&r.id.to_string()))
            .copied()
            .collect())
    }

    async fn leases_expired(&self, params: ExpiredParams) -> Result<Vec<ExpiredLease>> {
        let now = params
            .now
            .map(|t| to_millis(t).to_string())
            .unwrap_or_default();
        let limit = i64::try_from(params.limit).unwrap_or(i64::MAX);
        let queues = self.known_queues().await?;
        let reads = queues
            .iter()
            .map(|queue| self.expired_in(queue, &now, limit));
        let mut expired: Vec<(i64, ExpiredLease)> =
            try_join_all(reads).await?.into_iter().flatten().collect();
        expired.sort_unstable_by_key(|(deadline, lease)| (*deadline, lease.receipt.id));
        expired.truncate(params.limit);
        Ok(expired.into_iter().map(|(_, lease)| lease).collect())
    }

    async fn wait(&self, queues: &[String], timeout: Duration) -> Result<()> {
        if queues.is_empty() {
            tokio::time::sleep(timeout).await;
            return Ok(());
        }
        let channels: Vec<String> = queues
            .iter()
            .map(|q| format!("{}wake", self.queue_prefix(q)))
            .collect();
        self.subscribe(&channels).await?;
        // Register interest before looking, so a wake-up between the look and
        // the sleep is not lost.
        let notifies: Vec<Arc<Notify>> = channels.iter().map(|c| self.inner.wakers.of(c)).collect();
        let mut notified: Vec<Pin<Box<tokio::sync::futures::Notified<'_>>>> =
            notifies.iter().map(|n| Box::pin(n.notified())).collect();
        for n in &mut notified {
            n.as_mut().enable();
        }
        let mut limit = timeout;
        for probe in try_join_all(queues.iter().map(|q| self.probe(q))).await? {
            if probe.paused {
                continue;
            }
            if probe.top.is_some() {
                return Ok(());
            }
            if let Some(due) = probe.next_due {
                limit = limit.min(due + Duration::from_millis(1));
            }
        }
        tokio::select! {
            _ = select_all(notified) => {}
            _ = tokio::time::sleep(limit) => {}
        }
        Ok(())
    }

    async fn stats(&self, queues: Option<&[String]>) -> Result<Vec<QueueStats>> {
        let names: Vec<String> = match queues {
            Some(qs) => {
                let mut v = qs.to_vec();
                v.sort_unstable();
                v.dedup();
                v
            }
            None => self.known_queues().await?,
        };
        let counts =
            try_join_all(names.iter().map(|q| {
                self.run::<(i64, i64, i64, i64, i64)>(&scripts::STATS, q, Args::default())
            }))
            .await?;
        Ok(names
            .into_iter()
            .zip(counts)
            .map(|(queue, (ready, scheduled, running, dead, paused))| {
                queue_stats(queue, [ready, scheduled, running, dead], paused != 0)
            })
            .collect())
    }

    /// Looks in every known queue (one script call per queue, sent together).
    async fn job(&self, id: JobId) -> Result<Option<JobInfo>> {
        let queues = self.known_queues().await?;
        let ids = [id];
        let found = try_join_all(queues.iter().map(|q| self.lookup(q, &ids))).await?;
        Ok(found.into_iter().flatten().next())
    }

    async fn dead_list(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        if params.limit == 0 {
            return Ok(Vec::new());
        }
        let queues = self.queue_or_all(params.queue).await?;
        // A single queue pages on the server; several are merged here from
        // each queue's first `offset + limit` entries.
        let (start, stop) = if queues.len() == 1 {
            (params.offset, params.offset + params.limit - 1)
        } else {
            (0, params.offset + params.limit - 1)
        };
        let pages = try_join_all(queues.iter().map(|q| {
            self.run::<Vec<Value>>(
                &scripts::DEAD_PAGE,
                q,
                Args::default().n(start as i64).n(stop as i64),
            )
        }))
        .await?;
        let mut entries: Vec<(i64, JobId, usize)> = Vec::new();
        for (qi, page) in pages.into_iter().enumerate() {
            let mut values = page.into_iter();
            while let (Some(id), Some(score)) = (values.next(), values.next()) {
                entries.push((int(score, "failed_at")?, parse_id(id)?, qi));
            }
        }
        entries.sort_by_key(|&(at, id, _)| std::cmp::Reverse((at, id)));
        let skip = if queues.len() == 1 { 0 } else { params.offset };
        let chosen: Vec<(i64, JobId, usize)> =
            entries.into_iter().skip(skip).take(params.limit).collect();
        let mut by_queue: HashMap<usize, Vec<JobId>> = HashMap::new();
        for (_, id, qi) in &chosen {
            by_queue.entry(*qi).or_default().push(*id);
        }
        let infos = try_join_all(
            by_queue
                .iter()
                .map(|(qi, ids)| self.lookup(&queues[*qi], ids)),
        )
        .await?;
        let mut by_id: HashMap<JobId, JobInfo> = infos
            .into_iter()
            .flatten()
            .map(|info| (info.id, info))
            .collect();
        Ok(chosen
            .into_iter()
            .filter_map(|(_, id, _)| by_id.remove(&id))
            .collect())
    }

    async fn dead_requeue(&self, selector: DeadSelector<'_>) -> Result<u64> {
        self.dead_apply("requeue", selector).await
    }

    async fn dead_purge(&self, selector: DeadSelector<'_>) -> Result<u64> {
        self.dead_apply("purge", selector).await
    }

    async fn queue_purge(&self, queue: &str) -> Result<u64> {
        let mut total = 0;
        loop {
            let n: i64 = self
                .run(&scripts::PURGE, queue, Args::default().n(PURGE_BATCH))
                .await?;
            total += non_negative(n);
            if n < PURGE_BATCH {
                return Ok(total);
            }
        }
    }

    async fn queue_pause(&self, queue: &str) -> Result<()> {
        validate_queue(queue)?;
        self.queue_number(queue).await?;
        self.run::<i64>(&scripts::PAUSE, queue, Args::default().s("1"))
            .await?;
        Ok(())
    }

    async fn queue_resume(&self, queue: &str) -> Result<()> {
        self.run::<i64>(&scripts::PAUSE, queue, Args::default().s("0"))
            .await?;
        Ok(())
    }
}

asynctasq_core::inventory::submit! {
    DriverFactory {
        schemes: asynctasq_core::url::REDIS.schemes,
        connect: |url| {
            let url = url.to_string();
            Box::pin(async move {
                Ok(Arc::new(RedisDriver::connect(&url).await?) as Arc<dyn Driver>)
            })
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_foreign_values() {
        let t = make_token(3, 17);
        assert_eq!(split_token(t), Some((3, 17)));
        assert_eq!(
            split_token(make_token(MAX_QUEUES - 1, (1 << CLAIM_BITS) - 1)).map(|p| p.0),
            Some(MAX_QUEUES - 1)
        );
        assert_eq!(split_token(0), None);
        assert_eq!(split_token(-5), None);
        assert_eq!(split_token(17), None, "no queue number");
        assert_eq!(split_token(3 << CLAIM_BITS), None, "no claim counter");
    }
}
