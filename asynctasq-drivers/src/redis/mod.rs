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
//! | `{p:q}:wake` | channel | published when the queue may have claimable work: ms until due |
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
//! resubscribes by itself; its push messages go straight into the process's
//! wake-up hub. The core waiter also sleeps no longer than the next
//! scheduled job's due time ([`Driver::next_due`], by the server's clock).
//!
//! See `docs/drivers.md` (section Redis) for the full description.

mod body;
mod config;
mod connect;
mod driver;
mod queues;
mod rows;
mod scripts;
mod wake;

use std::sync::Arc;

use asynctasq_core::{Driver, DriverFactory};

pub use connect::RedisDriver;

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
