//! The Lua scripts, one `.lua` file each, loaded once per process, and the
//! driver's ways of running them: on one queue, until a queue is drained,
//! over receipts grouped by queue.
//!
//! Per-queue scripts get `common.lua` prepended. They run through
//! [`redis::Script`]: `EVALSHA`, and on `NOSCRIPT` (a restarted server has an
//! empty script cache) `SCRIPT LOAD` and `EVALSHA` again — on a cluster the
//! load goes to every node.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;
use std::sync::atomic::Ordering;

use asynctasq_core::Result;
use asynctasq_core::job::to_millis;
use asynctasq_core::{ClaimedJob, DeadListParams, DeadSelector, JobId, JobInfo, NewJob, Receipt};
use futures::future::try_join_all;
use redis::{FromRedisValue, Script, ToRedisArgs};

use super::connect::Conn;
use super::queues::{split_token, validate_queue};
use super::rows::{self, Probe, driver_err};
use super::{RedisDriver, body};
use crate::support::non_negative;

/// Most jobs inserted by one script call.
const ENQUEUE_CHUNK: usize = 500;
/// Most jobs leased by one script call.
const CLAIM_CHUNK: usize = 500;
/// Most receipts (or dead ids) applied by one script call.
const ACK_CHUNK: usize = 500;
/// Most dead jobs requeued or purged by one script call.
const DEAD_BATCH: i64 = 500;
/// Most pending jobs deleted by one script call of `queue_purge`.
pub(super) const PURGE_BATCH: i64 = 1000;
/// No arguments after the queue's.
pub(super) const NO_ARGS: &[&str] = &[];

const COMMON: &str = include_str!("lua/common.lua");

/// A script with its source (kept for `EVAL` inside `MULTI`).
#[derive(Debug)]
pub(super) struct Lua {
    /// The full source.
    pub(super) source: String,
    /// The script, invoked by its SHA-1.
    pub(super) script: Script,
}

impl Lua {
    fn new(source: String) -> Self {
        Lua {
            script: Script::new(&source),
            source,
        }
    }
}

macro_rules! per_queue {
    ($($name:ident: $file:literal, $doc:literal;)*) => {
        $(
            #[doc = $doc]
            pub(super) static $name: LazyLock<Lua> =
                LazyLock::new(|| Lua::new(format!("{COMMON}\n{}", include_str!($file))));
        )*
        /// Every script, for preloading in `migrate`.
        pub(super) fn all() -> Vec<&'static Lua> {
            vec![$(&$name,)* &REGISTER]
        }
    };
}

per_queue! {
    ENQUEUE: "lua/enqueue.lua", "Inserts jobs.";
    CLAIM: "lua/claim.lua", "Leases due jobs.";
    ACK: "lua/ack.lua", "Complete, release, extend, retry, bury (fenced).";
    EXPIRED: "lua/expired.lua", "Reports expired leases.";
    PROBE: "lua/probe.lua", "Top due priority, next due time.";
    STATS: "lua/stats.lua", "Counts by state.";
    LOOKUP: "lua/lookup.lua", "Reads jobs by id.";
    DEAD_PAGE: "lua/dead_page.lua", "Pages through dead jobs.";
    DEAD: "lua/dead.lua", "Requeues or purges dead jobs.";
    PURGE: "lua/purge.lua", "Deletes pending jobs.";
    PAUSE: "lua/pause.lua", "Pauses or resumes a queue.";
}

/// Numbers queues (global keys, not per queue).
pub(super) static REGISTER: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(include_str!("lua/register.lua").to_string()));

/// A job as `enqueue.lua` takes it: id, priority, run_at (ms), body.
type Insert = (String, i64, i64, Vec<u8>);

impl RedisDriver {
    /// `{<prefix>:<queue>}:`, the start of every key of `queue`.
    pub(super) fn queue_prefix(&self, queue: &str) -> String {
        format!("{{{}:{queue}}}:", self.inner.target.prefix)
    }

    /// A key of the global, queue-independent part of the layout.
    pub(super) fn global_key(&self, name: &str) -> String {
        format!("{{{}}}:{name}", self.inner.target.prefix)
    }

    /// Runs a per-queue script: `KEYS[1]` is the queue's `running` set, then
    /// come the queue's key prefix, the publish command and `args`.
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        lua: &Lua,
        queue: &str,
        args: impl ToRedisArgs,
    ) -> Result<T> {
        let pre = self.queue_prefix(queue);
        lua.script
            .key(format!("{pre}running"))
            .arg(&pre)
            .arg(self.inner.publish)
            .arg(args)
            .invoke_async(&mut self.conn())
            .await
            .map_err(driver_err)
    }

    /// Runs `lua` on `queue` until a call handles fewer than `batch` jobs;
    /// how many they handled.
    pub(super) async fn drain(
        &self,
        lua: &Lua,
        queue: &str,
        args: impl ToRedisArgs + Copy,
        batch: i64,
    ) -> Result<u64> {
        let mut total = 0;
        loop {
            let n: i64 = self.run(lua, queue, args).await?;
            total += non_negative(n);
            if n < batch {
                return Ok(total);
            }
        }
    }

    /// Runs the ack script's `action` over `acks` (receipt, parameter, error
    /// line), grouped by the queue their tokens name, in bounded calls, and
    /// returns each call's answer. A receipt whose token names no queue this
    /// driver knows (forged, or from another database) is in no call.
    pub(super) async fn acks<'r, T: FromRedisValue>(
        &self,
        action: &str,
        acks: impl IntoIterator<Item = (&'r Receipt, i64, String)>,
    ) -> Result<Vec<T>> {
        let mut by_number: HashMap<i64, Vec<(String, i64, i64, String)>> = HashMap::new();
        for (receipt, param, error) in acks {
            if let Some((number, claims)) = split_token(receipt.token) {
                let entry = (receipt.id.to_string(), claims, param, error);
                by_number.entry(number).or_default().push(entry);
            }
        }
        let mut groups = Vec::with_capacity(by_number.len());
        for (number, entries) in by_number {
            if let Some(queue) = self.queue_named(number).await? {
                groups.push((queue, entries));
            }
        }
        let calls = groups.iter().flat_map(|(queue, entries)| {
            let chunks = entries.chunks(ACK_CHUNK);
            chunks.map(move |chunk| self.run(&ACK, queue, (action, chunk)))
        });
        try_join_all(calls).await
    }

    /// Inserts `jobs`, grouped by queue, in bounded script calls.
    pub(super) async fn insert(&self, jobs: &[NewJob]) -> Result<()> {
        let created_ms = to_millis(chrono::Utc::now());
        let mut by_queue: BTreeMap<&str, Vec<Insert>> = BTreeMap::new();
        for job in jobs {
            let body = body::encode(job, created_ms);
            let insert = (
                job.id.to_string(),
                job.priority.into(),
                to_millis(job.run_at),
                body,
            );
            by_queue.entry(&job.queue).or_default().push(insert);
        }
        for queue in by_queue.keys() {
            validate_queue(queue)?;
        }
        try_join_all(by_queue.keys().map(|q| self.queue_number(q))).await?;
        let calls: Vec<(&str, &[Insert])> = by_queue
            .iter()
            .flat_map(|(q, list)| list.chunks(ENQUEUE_CHUNK).map(move |c| (*q, c)))
            .collect();
        if calls.len() > 1 && matches!(self.inner.conn, Conn::Single(_)) {
            // Several calls on one server: one MULTI/EXEC, so the batch stays atomic.
            // EVAL (not EVALSHA) because a NOSCRIPT inside MULTI would not abort it.
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (queue, chunk) in calls {
                let pre = self.queue_prefix(queue);
                pipe.cmd("EVAL")
                    .arg(&ENQUEUE.source)
                    .arg(1)
                    .arg(format!("{pre}running"))
                    .arg(&pre)
                    .arg(self.inner.publish)
                    .arg(chunk)
                    .ignore();
            }
            return pipe.query_async(&mut self.conn()).await.map_err(driver_err);
        }
        let inserts = calls
            .into_iter()
            .map(|(q, c)| self.run::<i64>(&ENQUEUE, q, c));
        try_join_all(inserts).await?;
        Ok(())
    }

    /// What `probe.lua` tells of each of `queues`.
    pub(super) async fn probes(&self, queues: &[String]) -> Result<Vec<Probe>> {
        let probes = queues.iter().map(|q| self.run(&PROBE, q, NO_ARGS));
        let probes: Vec<(i64, String, i64)> = try_join_all(probes).await?;
        Ok(probes.into_iter().map(Probe::from).collect())
    }

    /// The queues to claim from, in order. Several are probed first: the
    /// queue whose best due job has the highest priority goes first, ties
    /// rotate between claims, paused and idle queues are left out.
    pub(super) async fn claim_order<'q>(&self, queues: &'q [String]) -> Result<Vec<&'q String>> {
        if queues.len() < 2 {
            return Ok(queues.iter().collect());
        }
        let probes = self.probes(queues).await?;
        let n = queues.len();
        let start = self.inner.rotation.fetch_add(1, Ordering::Relaxed) % n;
        let mut order: Vec<(i64, usize)> = probes
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.paused)
            .filter_map(|(i, p)| p.top.map(|top| (top, i)))
            .collect();
        order.sort_by_key(|&(top, i)| (Reverse(top), (i + n - start) % n));
        Ok(order.into_iter().map(|(_, i)| &queues[i]).collect())
    }

    /// Leases up to `max` jobs of `queues` (in [`claim_order`](Self::claim_order)),
    /// in bounded script calls.
    pub(super) async fn claim_jobs(
        &self,
        queues: &[String],
        max: usize,
        lease_ms: i64,
    ) -> Result<Vec<ClaimedJob>> {
        let mut out = Vec::new();
        if max == 0 {
            return Ok(out);
        }
        for queue in self.claim_order(queues).await? {
            while out.len() < max {
                let want = (max - out.len()).min(CLAIM_CHUNK);
                let got = self.leases(&CLAIM, queue, (want, lease_ms)).await?;
                let drained = got.len() < want;
                out.extend(got.into_iter().map(|(_, job)| job));
                if drained {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The leases that `lua` (claim or expired) answers on `queue`, each
    /// with its deadline.
    pub(super) async fn leases(
        &self,
        lua: &Lua,
        queue: &str,
        args: impl ToRedisArgs,
    ) -> Result<Vec<(i64, ClaimedJob)>> {
        let number = self.queue_number(queue).await?;
        rows::leases(queue, number, self.run(lua, queue, args).await?)
    }

    /// Reads jobs by id from one queue.
    pub(super) async fn lookup(&self, queue: &str, ids: &[JobId]) -> Result<Vec<JobInfo>> {
        let ids: Vec<String> = ids.iter().map(JobId::to_string).collect();
        rows::infos(queue, self.run(&LOOKUP, queue, ids).await?)
    }

    /// Lists dead jobs, newest failure first.
    pub(super) async fn dead_page(&self, params: DeadListParams<'_>) -> Result<Vec<JobInfo>> {
        if params.limit == 0 {
            return Ok(Vec::new());
        }
        let queues = self.queue_or_all(params.queue).await?;
        // A single queue pages on the server; several are merged here from
        // each queue's first `offset + limit` entries.
        let (start, skip) = match queues.len() {
            1 => (params.offset, 0),
            _ => (0, params.offset),
        };
        let stop = params.offset + params.limit - 1;
        let pages = queues
            .iter()
            .map(|q| self.run(&DEAD_PAGE, q, (start, stop)));
        let mut entries: Vec<(i64, JobId, usize)> = Vec::new();
        for (qi, page) in try_join_all(pages).await?.into_iter().enumerate() {
            let page = rows::dead_entries(page)?;
            entries.extend(page.into_iter().map(|(at, id)| (at, id, qi)));
        }
        entries.sort_by_key(|&(at, id, _)| Reverse((at, id)));
        let chosen: Vec<_> = entries.into_iter().skip(skip).take(params.limit).collect();
        let mut by_queue: HashMap<usize, Vec<JobId>> = HashMap::new();
        for (_, id, qi) in &chosen {
            by_queue.entry(*qi).or_default().push(*id);
        }
        let infos = by_queue
            .iter()
            .map(|(qi, ids)| self.lookup(&queues[*qi], ids));
        let mut by_id: HashMap<JobId, JobInfo> = try_join_all(infos)
            .await?
            .into_iter()
            .flatten()
            .map(|info| (info.id, info))
            .collect();
        Ok(chosen
            .into_iter()
            .filter_map(|(_, id, _)| by_id.remove(&id))
            .collect())
    }

    /// Requeues or purges (`action`) the dead jobs of `selector`.
    pub(super) async fn dead_apply(&self, action: &str, selector: DeadSelector<'_>) -> Result<u64> {
        let counts = match selector {
            DeadSelector::Ids(ids) => {
                let ids: Vec<String> = ids.iter().map(JobId::to_string).collect();
                let queues = match ids.is_empty() {
                    true => Vec::new(),
                    false => self.known_queues().await?,
                };
                let calls = queues.iter().flat_map(|queue| {
                    let chunks = ids.chunks(ACK_CHUNK);
                    chunks.map(move |c| self.run::<i64>(&DEAD, queue, (action, DEAD_BATCH, c)))
                });
                let counts = try_join_all(calls).await?;
                counts.into_iter().map(non_negative).collect()
            }
            DeadSelector::All { queue } => {
                let queues = self.queue_or_all(queue).await?;
                let args = (action, DEAD_BATCH);
                try_join_all(
                    queues
                        .iter()
                        .map(|q| self.drain(&DEAD, q, args, DEAD_BATCH)),
                )
                .await?
            }
        };
        Ok(counts.iter().sum())
    }
}
