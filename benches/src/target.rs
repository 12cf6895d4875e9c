//! The backend a run measures: its URL, a client over it, what makes the run
//! unique (a fresh SQLite file, a Redis key prefix, queue names) and the
//! clean-up afterwards.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use asynctasq::core::DeadSelector;
use asynctasq::{Client, Config};
use clap::ValueEnum;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::timing::{TimingDriver, Timings};

/// The backends the harness knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DriverKind {
    /// An embedded SQLite file (fresh per run, deleted afterwards).
    Sqlite,
    /// PostgreSQL (default `postgres://postgres@127.0.0.1:5432/asynctasq_bench`).
    Postgres,
    /// MySQL / MariaDB (default `mysql://root@127.0.0.1:3306/asynctasq_bench`).
    Mysql,
    /// One Redis server (default `redis://127.0.0.1:6379`).
    Redis,
    /// A Redis Cluster (a private 3-master cluster unless `--url` is given).
    RedisCluster,
}

impl DriverKind {
    /// The name used in reports and file names.
    pub fn name(self) -> &'static str {
        match self {
            DriverKind::Sqlite => "sqlite",
            DriverKind::Postgres => "postgres",
            DriverKind::Mysql => "mysql",
            DriverKind::Redis => "redis",
            DriverKind::RedisCluster => "redis-cluster",
        }
    }

    /// Whether the backend is Redis (single node or cluster).
    pub fn is_redis(self) -> bool {
        matches!(self, DriverKind::Redis | DriverKind::RedisCluster)
    }
}

/// The default Postgres server (the database is created when missing).
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/asynctasq_bench";
/// The default MySQL / MariaDB server (the database is created when missing).
pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/asynctasq_bench";
/// The default Redis server.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// One backend prepared for one run.
#[derive(Debug)]
pub struct Target {
    /// The driver.
    pub kind: DriverKind,
    /// The run's id (part of every queue name, key prefix and file name).
    pub run_id: String,
    /// The URL asynctasq connects to.
    pub url: String,
    /// A client over the driver, wrapped in a [`TimingDriver`]; also the
    /// global client that `dispatch()` uses.
    pub client: Client,
    /// What the timing wrapper records.
    pub timings: Arc<Timings>,
    /// The server URL without asynctasq's query parameters (for the peer
    /// and for direct connections).
    pub server_url: String,
    sqlite_file: Option<PathBuf>,
    redis_prefix: Option<String>,
    redis_nodes: Vec<String>,
    cluster: Option<PrivateCluster>,
}

impl Target {
    /// Prepares `kind` (at `url`, or the default server) for run `run_id`:
    /// a fresh SQLite file, a Redis prefix, a created database; connects,
    /// migrates and installs the global client.
    pub async fn open(kind: DriverKind, url: Option<&str>, run_id: &str) -> anyhow::Result<Self> {
        let mut sqlite_file = None;
        let mut redis_prefix = None;
        let mut redis_nodes = Vec::new();
        let mut cluster = None;
        let (url, server_url) = match kind {
            DriverKind::Sqlite => {
                let file = match url {
                    Some(u) => PathBuf::from(u.trim_start_matches("sqlite://")),
                    None => std::env::temp_dir().join(format!("asynctasq-bench-{run_id}.db")),
                };
                let url = format!("sqlite://{}", file.display());
                sqlite_file = Some(file);
                (url.clone(), url)
            }
            DriverKind::Postgres | DriverKind::Mysql => {
                let default = if kind == DriverKind::Postgres {
                    POSTGRES_URL
                } else {
                    MYSQL_URL
                };
                let url = url.unwrap_or(default).to_string();
                ensure_database(&url).await?;
                (url.clone(), url)
            }
            DriverKind::Redis => {
                let server = url.unwrap_or(REDIS_URL).trim_end_matches('/').to_string();
                let prefix = format!("atqbench-{run_id}");
                redis_nodes.push(server.clone());
                let url = with_prefix(&server, &prefix);
                redis_prefix = Some(prefix);
                (url, server)
            }
            DriverKind::RedisCluster => {
                let seeds = match url {
                    Some(u) => u.to_string(),
                    None => {
                        let c = PrivateCluster::start(run_id)?;
                        let seeds = format!(
                            "redis+cluster://{}",
                            c.ports
                                .iter()
                                .map(|p| format!("127.0.0.1:{p}"))
                                .collect::<Vec<_>>()
                                .join(",")
                        );
                        cluster = Some(c);
                        seeds
                    }
                };
                let seeds = seeds.trim_end_matches('/').to_string();
                redis_nodes = cluster_masters(&seeds).await?;
                let prefix = format!("atqbench-{run_id}");
                let url = with_prefix(&seeds, &prefix);
                redis_prefix = Some(prefix);
                (url, seeds)
            }
        };
        let plain = Client::connect(&Config::new(&url))
            .await
            .with_context(|| format!("connecting to {}", redact(&url)))?;
        let (driver, timings) = TimingDriver::wrap(plain.driver().clone());
        let client = Client::new(driver);
        // `dispatch()` goes through the global client, as in an application.
        asynctasq::set_global(client.clone())?;
        Ok(Target {
            kind,
            run_id: run_id.to_string(),
            url,
            client,
            timings,
            server_url,
            sqlite_file,
            redis_prefix,
            redis_nodes,
            cluster,
        })
    }

    /// A queue name unique to this run and scenario.
    pub fn queue(&self, scenario: &str) -> String {
        format!("bench-{scenario}-{}", self.run_id)
    }

    /// Redis `used_memory` summed over the servers (masters) that hold the
    /// run's keys, or `None` for other backends.
    pub async fn redis_used_memory(&self) -> anyhow::Result<Option<u64>> {
        if !self.kind.is_redis() {
            return Ok(None);
        }
        let mut total = 0;
        for node in &self.redis_nodes {
            let mut conn = redis_conn(node).await?;
            let info: String = redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut conn)
                .await?;
            total += info_field(&info, "used_memory").unwrap_or(0);
        }
        Ok(Some(total))
    }

    /// Deletes what one scenario left in its queue (ready, scheduled and
    /// dead jobs; completed jobs are already gone).
    pub async fn purge_queue(&self, queue: &str) -> anyhow::Result<()> {
        let driver = self.client.driver();
        driver.queue_purge(queue).await?;
        driver
            .dead_purge(DeadSelector::All { queue: Some(queue) })
            .await?;
        Ok(())
    }

    /// Vacuums the Postgres job tables, asynctasq's and the apalis peer's,
    /// so that every system and round starts without the dead rows of the
    /// previous one (autovacuum may be off, as it is on the machine the
    /// published runs come from). Other drivers need nothing.
    pub async fn settle(&self) -> anyhow::Result<()> {
        if self.kind != DriverKind::Postgres {
            return Ok(());
        }
        let db = Database::connect(&self.server_url).await?;
        db.execute_unprepared("VACUUM (ANALYZE) asynctasq_jobs")
            .await?;
        let apalis: Option<sea_orm::QueryResult> = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT 1 FROM pg_tables WHERE schemaname = 'apalis' AND tablename = 'jobs'",
            ))
            .await?;
        if apalis.is_some() {
            db.execute_unprepared("VACUUM (ANALYZE) apalis.jobs")
                .await?;
        }
        db.close().await?;
        Ok(())
    }

    /// Removes everything the run created: the SQLite file, the Redis keys
    /// under the run's prefix, the private cluster.
    pub async fn cleanup(self) -> anyhow::Result<()> {
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let Some(prefix) = &self.redis_prefix
            && self.cluster.is_none()
        {
            for node in &self.redis_nodes {
                delete_keys(node, &format!("*{prefix}*")).await?;
            }
        }
        drop(self.cluster);
        Ok(())
    }

    /// `sqlite_version()`, `version()`, or Redis `redis_version`.
    pub async fn server_version(&self) -> String {
        let result: anyhow::Result<String> = async {
            match self.kind {
                DriverKind::Redis | DriverKind::RedisCluster => {
                    let mut conn = redis_conn(&self.redis_nodes[0]).await?;
                    let info: String = redis::cmd("INFO")
                        .arg("server")
                        .query_async(&mut conn)
                        .await?;
                    Ok(format!(
                        "Redis {}",
                        info.lines()
                            .find_map(|l| l.strip_prefix("redis_version:"))
                            .unwrap_or("?")
                            .trim()
                    ))
                }
                DriverKind::Sqlite => {
                    sql_version(&self.server_url, "SELECT 'SQLite ' || sqlite_version()").await
                }
                DriverKind::Postgres => sql_version(&self.server_url, "SELECT version()").await,
                DriverKind::Mysql => {
                    sql_version(
                        &self.server_url,
                        "SELECT CONCAT('MySQL/MariaDB ', version())",
                    )
                    .await
                }
            }
        }
        .await;
        result.unwrap_or_else(|e| format!("unknown ({e})"))
    }
}

async fn sql_version(url: &str, query: &str) -> anyhow::Result<String> {
    let db = Database::connect(url).await?;
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(backend, query))
        .await?
        .context("no row")?;
    let version: String = row.try_get_by_index(0)?;
    db.close().await?;
    Ok(version.split(" on ").next().unwrap_or(&version).to_string())
}

/// Creates the URL's database when it does not exist (Postgres, MySQL).
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let (server, rest) = url
        .rsplit_once('/')
        .context("the database URL names no database")?;
    let name = rest.split('?').next().unwrap_or(rest);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("unexpected database name `{name}` in the URL");
    }
    let (admin, exists_sql, create_sql) = if url.starts_with("postgres") {
        (
            format!("{server}/postgres"),
            format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
            format!("CREATE DATABASE {name}"),
        )
    } else {
        (
            server.to_string(),
            format!("SELECT 1 FROM information_schema.schemata WHERE schema_name = '{name}'"),
            format!("CREATE DATABASE IF NOT EXISTS {name}"),
        )
    };
    let db = Database::connect(&admin)
        .await
        .with_context(|| format!("connecting to {}", redact(&admin)))?;
    let backend = db.get_database_backend();
    let exists = db
        .query_one_raw(Statement::from_string(backend, exists_sql))
        .await?
        .is_some();
    if !exists {
        // Two runs may race to create it; the loser's error is harmless.
        let _ = db
            .execute_raw(Statement::from_string(backend, create_sql))
            .await;
    }
    db.close().await?;
    Ok(())
}

/// `url` with `prefix=` added to its query string.
fn with_prefix(url: &str, prefix: &str) -> String {
    if url.contains('?') {
        format!("{url}&prefix={prefix}")
    } else if url
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'))
    {
        format!("{url}?prefix={prefix}")
    } else {
        format!("{url}/?prefix={prefix}")
    }
}

/// Hides credentials in a URL: the one redactor, [`asynctasq::core::url::redact`].
pub use asynctasq::core::url::redact;

fn info_field(info: &str, field: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

async fn redis_conn(node: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let url = if node.contains("://") {
        node.to_string()
    } else {
        format!("redis://{node}")
    };
    let client = redis::Client::open(url.as_str())?;
    Ok(client.get_multiplexed_async_connection().await?)
}

/// Deletes every key matching `pattern` on one server.
pub async fn delete_keys(node: &str, pattern: &str) -> anyhow::Result<u64> {
    let mut conn = redis_conn(node).await?;
    let mut cursor: u64 = 0;
    let mut deleted = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let n: u64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

/// The masters of a cluster, as `host:port`, from `CLUSTER NODES` on a seed.
async fn cluster_masters(seeds: &str) -> anyhow::Result<Vec<String>> {
    let hosts = seeds
        .split_once("://")
        .map_or(seeds, |(_, h)| h)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let seed = hosts.split(',').next().context("no seed host")?;
    let mut conn = redis_conn(seed).await?;
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut conn)
        .await?;
    let masters: Vec<String> = nodes
        .lines()
        .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("master")))
        .filter_map(|l| l.split(' ').nth(1))
        .map(|addr| addr.split('@').next().unwrap_or(addr).to_string())
        .collect();
    if masters.is_empty() {
        bail!("CLUSTER NODES on {seed} lists no master");
    }
    Ok(masters)
}

/// Watches the harness; `$1` is the harness's pid, `$2` the directory to
/// delete, the rest are `redis-server` arguments. Kills the server when the
/// harness is gone, however it exited.
const WATCHDOG: &str = r#"
owner=$1; dir=$2; shift 2
redis-server "$@" >"$dir/server.log" 2>&1 &
srv=$!
while kill -0 "$owner" 2>/dev/null && kill -0 "$srv" 2>/dev/null; do sleep 0.2; done
kill -9 "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
rm -rf "$dir"
"#;

/// A private Redis Cluster of three masters on free loopback ports, gone
/// when dropped (or when the harness dies).
#[derive(Debug)]
pub struct PrivateCluster {
    /// The masters' ports.
    pub ports: Vec<u16>,
    watchdogs: Vec<Child>,
    dirs: Vec<PathBuf>,
}

impl PrivateCluster {
    /// Starts three masters and creates the cluster.
    pub fn start(run_id: &str) -> anyhow::Result<Self> {
        let mut cluster = PrivateCluster {
            ports: Vec::new(),
            watchdogs: Vec::new(),
            dirs: Vec::new(),
        };
        for i in 0..3 {
            let port = free_port()?;
            let dir = std::env::temp_dir().join(format!("asynctasq-bench-{run_id}-node{i}"));
            std::fs::create_dir_all(&dir)?;
            let args = [
                "--port".to_string(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                dir.display().to_string(),
                "--save".into(),
                "".into(),
                "--appendonly".into(),
                "no".into(),
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-config-file".into(),
                "nodes.conf".into(),
                "--cluster-node-timeout".into(),
                "2000".into(),
            ];
            let child = Command::new("sh")
                .arg("-c")
                .arg(WATCHDOG)
                .arg("sh")
                .arg(std::process::id().to_string())
                .arg(&dir)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting redis-server")?;
            cluster.ports.push(port);
            cluster.watchdogs.push(child);
            cluster.dirs.push(dir);
        }
        let started = Instant::now();
        for port in &cluster.ports {
            while cli(*port, &["ping"]).trim() != "PONG" {
                if started.elapsed() > Duration::from_secs(10) {
                    bail!("redis-server on port {port} did not start");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let addrs: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .context("redis-cli --cluster create")?;
        if !out.status.success() {
            bail!(
                "cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        while !cluster
            .ports
            .iter()
            .all(|p| cli(*p, &["cluster", "info"]).contains("cluster_state:ok"))
        {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("the cluster never reached cluster_state:ok");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(cluster)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        for port in &self.ports {
            let _ = cli(*port, &["shutdown", "nosave"]);
        }
        for child in &mut self.watchdogs {
            let _ = child.wait();
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A port `p` where `p` and `p + 10000` (the cluster bus) are both free.
fn free_port() -> anyhow::Result<u16> {
    for _ in 0..100 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port pair found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_parse() {
        let info = "# Memory\r\nused_memory:1234\r\nused_memory_human:1.2K\r\n";
        assert_eq!(info_field(info, "used_memory"), Some(1234));
    }
}
