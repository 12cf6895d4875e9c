//! **limit**: the backend alone, next to the framework, in one run.
//!
//! N no-op jobs are enqueued with `dispatch_many`, then drained by a loop
//! with no framework: claim 100 (the driver's statement shape: a leased
//! update of the highest-priority due jobs of one queue), then acknowledge
//! them by id and lease token, through the client crate the driver uses
//! (sqlx, redis-rs). Then the same N jobs are enqueued again and drained
//! by an asynctasq worker (the `drain` scenario). Reported: both rates and
//! `drain_over_limit`, the fraction of its backend's limit the framework
//! reaches on the same machine at the same moment.
//!
//! The SQL loops run on the tables asynctasq created; the Redis loop keeps
//! its own keys (a sorted set of due ids, a lease set, and a body and a
//! lease token per job, claimed and acknowledged, fenced by the token, by
//! one Lua script each, like the driver's).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use futures::future::BoxFuture;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{self, Row};

use super::{Opts, enqueue_noops};
use crate::report::{Better, Report};
use crate::target::{DriverKind, Target};

/// Jobs per claim of the raw loop.
const CLAIM: i64 = 100;

/// How long a raw claim leases its jobs.
const LEASE_MS: i64 = 30_000;

/// Runs the scenario.
pub async fn run(target: &Target, opts: &Opts) -> anyhow::Result<Report> {
    let queue = target.queue("limit");
    let mut report = Report::new("limit", target.kind.name());
    report.param("jobs", opts.jobs);
    report.param("claim", CLAIM);

    let limit_rate = match target.kind {
        DriverKind::Redis => redis_loop(target, &queue, opts.jobs).await?,
        _ => {
            enqueue_noops(&target.client, &queue, opts.jobs, opts.bulk_batch).await?;
            let url = target.server_url.as_str();
            let wall = match target.kind {
                // The driver's settings: WAL, `synchronous = NORMAL`.
                DriverKind::Sqlite => {
                    let options = url
                        .parse::<SqliteConnectOptions>()?
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .busy_timeout(Duration::from_secs(5));
                    on_connection(&options, &queue, sqlite_pass).await?
                }
                DriverKind::Postgres => on_connection(&url.parse()?, &queue, postgres_pass).await?,
                DriverKind::Mysql => on_connection(&url.parse()?, &queue, mysql_pass).await?,
                other => bail!("no raw loop for {}", other.name()),
            };
            ensure!(
                wall.drained == opts.jobs,
                "the raw loop drained {} jobs of {}",
                wall.drained,
                opts.jobs
            );
            opts.jobs as f64 / wall.elapsed.as_secs_f64()
        }
    };
    target.purge_queue(&queue).await?;
    target.settle().await?;
    let drain = super::drain::run(target, opts).await?;
    let drain_rate = drain
        .get("jobs_per_sec")
        .ok_or_else(|| anyhow::anyhow!("the drain reported no rate"))?;

    report.metric("limit_jobs_per_sec", limit_rate, "jobs/s", Better::Info);
    report.metric("drain_jobs_per_sec", drain_rate, "jobs/s", Better::Higher);
    report.metric(
        "drain_over_limit",
        drain_rate / limit_rate,
        "ratio",
        Better::Higher,
    );
    Ok(report)
}

/// Connects with `options`, runs `pass` until the queue is empty, closes.
async fn on_connection<C: sqlx::Connection>(
    options: &C::Options,
    queue: &str,
    pass: Pass<C>,
) -> anyhow::Result<Drained> {
    let mut conn = C::connect_with(options).await?;
    let drained = timed(&mut conn, queue, pass).await?;
    conn.close().await?;
    Ok(drained)
}

/// A fresh lease token.
fn lease_token() -> i64 {
    uuid::Uuid::now_v7().as_u64_pair().1 as i64
}

/// What a raw loop did.
struct Drained {
    drained: u64,
    elapsed: Duration,
}

/// One pass of a raw loop on `C`: claim a batch of the queue and
/// acknowledge it; how many jobs it acknowledged (0: none were due).
type Pass<C> = for<'a> fn(&'a mut C, &'a str) -> BoxFuture<'a, anyhow::Result<u64>>;

/// Runs `pass` on `conn` until a pass finds nothing, timed.
async fn timed<C>(conn: &mut C, queue: &str, pass: Pass<C>) -> anyhow::Result<Drained> {
    let started = Instant::now();
    let mut drained = 0;
    loop {
        match pass(conn, queue).await? {
            0 => break,
            n => drained += n,
        }
    }
    Ok(Drained {
        drained,
        elapsed: started.elapsed(),
    })
}

/// SQLite: the claim as one `UPDATE … WHERE rowid IN (SELECT … LIMIT 100)
/// RETURNING`, the ack as one `DELETE` over `json_each`; each its own
/// transaction.
fn sqlite_pass<'a>(
    conn: &'a mut sqlx::SqliteConnection,
    queue: &'a str,
) -> BoxFuture<'a, anyhow::Result<u64>> {
    Box::pin(async move {
        let now = chrono::Utc::now().timestamp_millis();
        let token = lease_token();
        let rows = sqlx::query(
            "UPDATE asynctasq_jobs SET state = 'running', attempt = attempt + 1, \
             lease_token = ?1, lease_until = ?2, worker = 'limit' WHERE rowid IN ( \
               SELECT rowid FROM asynctasq_jobs WHERE state = 'pending' AND queue = ?3 \
               AND run_at <= ?4 ORDER BY priority DESC, run_at, id LIMIT ?5) \
             RETURNING id, task, payload",
        )
        .bind(token)
        .bind(now + LEASE_MS)
        .bind(queue)
        .bind(now)
        .bind(CLAIM)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        let done = sqlx::query(
            "DELETE FROM asynctasq_jobs WHERE id IN (SELECT value FROM json_each(?1)) \
             AND lease_token = ?2",
        )
        .bind(serde_json::json!(ids).to_string())
        .bind(token)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected())
    })
}

/// Postgres: the claim as one `UPDATE … WHERE id = ANY(ARRAY(SELECT … FOR
/// UPDATE SKIP LOCKED))`, the ack as one `DELETE … = ANY($1)`.
fn postgres_pass<'a>(
    conn: &'a mut sqlx::PgConnection,
    queue: &'a str,
) -> BoxFuture<'a, anyhow::Result<u64>> {
    Box::pin(async move {
        let token = lease_token();
        let rows = sqlx::query(
            "UPDATE asynctasq_jobs SET state = 'running', attempt = attempt + 1, \
             lease_token = $1, lease_until = now() + $2 * interval '1 millisecond', \
             worker = 'limit' WHERE id = ANY(ARRAY( \
               SELECT id FROM asynctasq_jobs WHERE state = 'pending' AND queue = $3 \
               AND run_at <= now() ORDER BY priority DESC, run_at, id LIMIT $4 \
               FOR UPDATE SKIP LOCKED)) \
             RETURNING id, task, payload",
        )
        .bind(token)
        .bind(LEASE_MS)
        .bind(queue)
        .bind(CLAIM)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.get(0)).collect();
        let done =
            sqlx::query("DELETE FROM asynctasq_jobs WHERE id = ANY($1) AND lease_token = $2")
                .bind(ids)
                .bind(token)
                .execute(&mut *conn)
                .await?;
        Ok(done.rows_affected())
    })
}

/// MySQL/MariaDB: a `READ COMMITTED` transaction that locks the due jobs
/// (`FOR UPDATE SKIP LOCKED`) and marks them running, then one `DELETE`.
fn mysql_pass<'a>(
    conn: &'a mut sqlx::MySqlConnection,
    queue: &'a str,
) -> BoxFuture<'a, anyhow::Result<u64>> {
    Box::pin(async move {
        let token = lease_token();
        let now = chrono::Utc::now().timestamp_millis();
        sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED; START TRANSACTION")
            .execute(&mut *conn)
            .await?;
        let rows = sqlx::query(
            "SELECT id, task, payload FROM asynctasq_jobs FORCE INDEX (asynctasq_jobs_claim) \
             WHERE state = 'pending' AND queue = ? AND priority = 0 AND run_at <= ? \
             ORDER BY run_at, id LIMIT ? FOR UPDATE SKIP LOCKED",
        )
        .bind(queue)
        .bind(now)
        .bind(CLAIM)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
            return Ok(0);
        }
        let ids: Vec<Vec<u8>> = rows.iter().map(|r| r.get(0)).collect();
        let list = vec!["?"; ids.len()].join(", ");
        let update = format!(
            "UPDATE asynctasq_jobs SET state = 'running', attempt = attempt + 1, \
             lease_token = ?, lease_until = ?, worker = 'limit' WHERE id IN ({list})"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(update))
            .bind(token)
            .bind(now + LEASE_MS);
        ids.iter()
            .fold(query, |q, id| q.bind(id.as_slice()))
            .execute(&mut *conn)
            .await?;
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
        let delete = format!("DELETE FROM asynctasq_jobs WHERE lease_token = ? AND id IN ({list})");
        let query = sqlx::query(sqlx::AssertSqlSafe(delete)).bind(token);
        let done = ids
            .iter()
            .fold(query, |q, id| q.bind(id.as_slice()))
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected())
    })
}

/// Claims up to `ARGV[2]` due ids of `KEYS[1]` for `ARGV[1]` ms under the
/// lease token `ARGV[3]`: removes them, stores the token of each (prefix
/// `KEYS[4]`), leases them in `KEYS[2]`, returns id and body (prefix
/// `KEYS[3]`) of each.
const REDIS_CLAIM: &str = r"
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms, 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return {} end
redis.call('ZREM', KEYS[1], unpack(ids))
local bodies, tokens, leases = {}, {}, {}
for i, id in ipairs(ids) do
  bodies[i] = KEYS[3] .. id
  tokens[#tokens + 1] = KEYS[4] .. id
  tokens[#tokens + 1] = ARGV[3]
  leases[#leases + 1] = ms + tonumber(ARGV[1])
  leases[#leases + 1] = id
end
bodies = redis.call('MGET', unpack(bodies))
redis.call('MSET', unpack(tokens))
redis.call('ZADD', KEYS[2], unpack(leases))
local out = {}
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = bodies[i]
end
return out
";

/// Acknowledges the ids `ARGV[2..]` still held under the lease token
/// `ARGV[1]` (prefix `KEYS[3]`): drops their leases from `KEYS[1]`, their
/// bodies (prefix `KEYS[2]`) and tokens; returns how many it acknowledged.
const REDIS_ACK: &str = r"
local keys = {}
for i = 2, #ARGV do keys[#keys + 1] = KEYS[3] .. ARGV[i] end
local tokens = redis.call('MGET', unpack(keys))
local held, gone = {}, {}
for i = 2, #ARGV do
  if tokens[i - 1] == ARGV[1] then
    held[#held + 1] = ARGV[i]
    gone[#gone + 1] = KEYS[2] .. ARGV[i]
    gone[#gone + 1] = KEYS[3] .. ARGV[i]
  end
end
if #held == 0 then return 0 end
redis.call('ZREM', KEYS[1], unpack(held))
redis.call('DEL', unpack(gone))
return #held
";

/// The Redis raw loop's connection, keys and scripts.
struct RedisRaw {
    conn: redis::aio::MultiplexedConnection,
    due: String,
    leased: String,
    body: String,
    token_of: String,
    claim: redis::Script,
    ack: redis::Script,
}

/// Redis: its own keys under the run's prefix; bodies of the size of the
/// framework's no-op job, enqueued in pipelines of `dispatch_many`'s size.
async fn redis_loop(target: &Target, queue: &str, jobs: u64) -> anyhow::Result<f64> {
    let client = redis::Client::open(target.server_url.as_str())?;
    let prefix = format!("atqbench-{}:limit:{queue}:", target.run_id);
    let mut raw = RedisRaw {
        conn: client.get_multiplexed_async_connection().await?,
        due: format!("{prefix}due"),
        leased: format!("{prefix}leased"),
        body: format!("{prefix}job:"),
        token_of: format!("{prefix}token:"),
        claim: redis::Script::new(REDIS_CLAIM),
        ack: redis::Script::new(REDIS_ACK),
    };
    let payload = vec![0x5au8; 96];
    for chunk in (0..jobs).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            let id = uuid::Uuid::now_v7().to_string();
            pipe.zadd(&raw.due, &id, *i as f64).ignore();
            pipe.set(format!("{}{id}", raw.body), payload.as_slice())
                .ignore();
        }
        pipe.query_async::<()>(&mut raw.conn).await?;
    }
    let wall = timed(&mut raw, queue, redis_pass).await?;
    ensure!(
        wall.drained == jobs,
        "the raw loop drained {} jobs of {jobs}",
        wall.drained
    );
    Ok(jobs as f64 / wall.elapsed.as_secs_f64())
}

/// Redis: one Lua claim, one Lua ack.
fn redis_pass<'a>(raw: &'a mut RedisRaw, _queue: &'a str) -> BoxFuture<'a, anyhow::Result<u64>> {
    Box::pin(async move {
        let token = lease_token();
        let out: Vec<redis::Value> = raw
            .claim
            .key(&raw.due)
            .key(&raw.leased)
            .key(&raw.body)
            .key(&raw.token_of)
            .arg(LEASE_MS)
            .arg(CLAIM)
            .arg(token)
            .invoke_async(&mut raw.conn)
            .await?;
        if out.is_empty() {
            return Ok(0);
        }
        let ids: Vec<String> = out
            .iter()
            .step_by(2)
            .map(redis::from_redis_value_ref)
            .collect::<Result<_, _>>()?;
        Ok(raw
            .ack
            .key(&raw.leased)
            .key(&raw.body)
            .key(&raw.token_of)
            .arg(token)
            .arg(&ids)
            .invoke_async(&mut raw.conn)
            .await?)
    })
}
