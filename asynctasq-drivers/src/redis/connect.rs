//! Connecting: the driver and its one connection type over a single server
//! and a Redis Cluster, so that every script runs through the same code path.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asynctasq_core::wake::WakeHub;
use asynctasq_core::{Error, Result};
use redis::AsyncConnectionConfig;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisFuture, RedisResult, Value};

use super::config::{self, Target};
use super::queues::QueueCache;
use super::rows::driver_err;
use super::wake::{PushSender, Pushes};

/// A driver that keeps jobs in Redis or a Redis Cluster.
///
/// Built from a URL (see the [module docs](super)); `asynctasq_core::connect`
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
    pub(super) inner: Arc<Inner>,
}

/// What the clones of one driver share.
pub(super) struct Inner {
    pub(super) conn: Conn,
    pub(super) target: Target,
    /// The command that scripts publish wake-ups with: sharded pub/sub on a
    /// cluster (the message stays on the queue's shard), plain pub/sub otherwise.
    pub(super) publish: &'static str,
    pub(super) queues: Mutex<QueueCache>,
    pub(super) pushes: Arc<Pushes>,
    /// The wake-up channels subscribed so far.
    pub(super) subscribed: tokio::sync::Mutex<HashSet<String>>,
    /// Where multi-queue claims start among queues of equal priority.
    pub(super) rotation: AtomicUsize,
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

impl RedisDriver {
    /// Connects to the server or cluster named by `url`.
    ///
    /// Fails if the URL is invalid or Redis cannot be reached now; once
    /// connected, the driver reconnects by itself.
    pub async fn connect(url: &str) -> Result<Self> {
        let target = config::parse(url).map_err(Error::Config)?;
        let pushes = Pushes::new(WakeHub::shared(&target.identity), &target.prefix);
        let conn = Conn::open(&target, PushSender(pushes.clone()))
            .await
            .map_err(|e| driver_err(format!("cannot connect to {}: {e}", target.redacted)))?;
        tracing::debug!(url = %target.redacted, prefix = %target.prefix, "redis driver connected");
        Ok(RedisDriver {
            inner: Arc::new(Inner {
                publish: if target.cluster {
                    "SPUBLISH"
                } else {
                    "PUBLISH"
                },
                conn,
                target,
                queues: Mutex::default(),
                pushes,
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

    /// A handle on the shared, multiplexed connection.
    pub(super) fn conn(&self) -> Conn {
        self.inner.conn.clone()
    }
}

/// How long a request may wait for its reply. Generous: a claim of a large batch
/// on a busy server with `appendfsync always` takes a while, and a request that
/// times out after the server applied it only costs a lease expiry.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A multiplexed, auto-reconnecting connection to a server or a cluster.
///
/// Both variants speak RESP3, so the same connection also carries the pub/sub
/// messages that wake waiting workers; both resubscribe after a reconnect.
#[derive(Clone)]
pub(super) enum Conn {
    /// One server, through a [`ConnectionManager`] (reconnects by itself).
    Single(ConnectionManager),
    /// A Redis Cluster; commands are routed by the slot of their first key.
    Cluster(ClusterConnection),
}

impl Conn {
    /// Connects to `target`, delivering its push messages to `pushes`, within
    /// `target.connect_timeout`. A single server is first reached with one
    /// plain connection, so that a refused one fails at once with its cause
    /// (the connection manager retries it several times first).
    pub(super) async fn open(target: &Target, pushes: PushSender) -> RedisResult<Conn> {
        let timeout = target.connect_timeout;
        tokio::time::timeout(timeout, Self::open_unbounded(target, pushes))
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {timeout:?}"),
                )))
            })
    }

    async fn open_unbounded(target: &Target, pushes: PushSender) -> RedisResult<Conn> {
        let certs = match &target.tls_ca {
            Some(path) => Some(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(path).map_err(|e| {
                    let kind = redis::ErrorKind::InvalidClientConfig;
                    redis::RedisError::from((
                        kind,
                        "cannot read the tls_ca file",
                        format!("{path}: {e}"),
                    ))
                })?),
            }),
            None => None,
        };
        if target.tls {
            // rustls needs a process-wide crypto provider; keep one installed by the application.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        if target.cluster {
            let mut builder = ClusterClientBuilder::new(target.nodes.clone())
                .use_protocol(ProtocolVersion::RESP3)
                .push_sender(pushes)
                .connection_timeout(target.connect_timeout)
                .response_timeout(RESPONSE_TIMEOUT);
            if let Some(certs) = certs {
                builder = builder.certs(certs);
            }
            return Ok(Conn::Cluster(
                builder.build()?.get_async_connection().await?,
            ));
        }
        let info = target.nodes[0].as_str().into_connection_info()?;
        let settings = info.redis_settings().clone();
        let info = info.set_redis_settings(settings.set_protocol(ProtocolVersion::RESP3));
        let client = match certs {
            Some(certs) => redis::Client::build_with_tls(info, certs)?,
            None => redis::Client::open(info)?,
        };
        // Bounded by `open`'s timeout, which names the bound.
        let check = AsyncConnectionConfig::new()
            .set_connection_timeout(None)
            .set_response_timeout(None);
        drop(
            client
                .get_multiplexed_async_connection_with_config(&check)
                .await?,
        );
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(target.connect_timeout))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_secs(1))
            .set_number_of_retries(6)
            .set_push_sender(pushes)
            .set_automatic_resubscription();
        let manager = ConnectionManager::new_with_config(client, config).await?;
        Ok(Conn::Single(manager))
    }

    /// Subscribes to wake-up channels (resubscribed automatically after a reconnect).
    pub(super) async fn subscribe(&mut self, channels: &[String]) -> RedisResult<()> {
        match self {
            Conn::Single(c) => c.subscribe(channels).await,
            Conn::Cluster(c) => c.ssubscribe(channels).await,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
