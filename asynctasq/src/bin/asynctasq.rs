//! The standalone `asynctasq` admin binary: `stats`, `job`, `dead`, `queue`
//! and `migrate` against any backend URL.
//!
//! It has no tasks compiled in, so its `worker` command refuses to start: run
//! workers from your application's binary through `asynctasq::cli::run()`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    asynctasq::cli::run().await
}
