//! Storage drivers for asynctasq, one module per backend behind a cargo feature.
//!
//! | driver | feature | URL |
//! |---|---|---|
//! | [`MemoryDriver`] | (always) | `memory://` |
//! | [`SqliteDriver`] | `sqlite` | `sqlite://path/to/file.db` |
//! | [`PgDriver`] | `postgres` | `postgres://user:pass@host/db` |
//! | [`MySqlDriver`] | `mysql` | `mysql://user:pass@host/db` (MariaDB: `mariadb://…`) |
//! | [`RedisDriver`] | `redis` | `redis://host:6379/0?prefix=app`, `rediss://…`, `redis+cluster://h1:7000,h2:7001` |
//!
//! Each driver registers its URL schemes with [`asynctasq_core::connect`], so
//! `ASYNCTASQ_URL` picks the backend at run time.

mod models;
pub use models::{MODELS_POOL, connect_models_database, connect_models_database_pooled};

/// The in-process driver lives in core (its tests need a driver); it is
/// re-exported here with the others.
pub use asynctasq_core::memory::MemoryDriver;

#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteDriver;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod txn;

#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "redis")]
pub use self::redis::RedisDriver;

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::PgDriver;

#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "mysql")]
pub use mysql::MySqlDriver;

#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "redis"
))]
mod support;

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod nodelay;

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod sql_connect;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use sql_connect::PoolConfig;
