//! The worker binary of the reliability tests: the asynctasq CLI with the
//! tasks of `asynctasq_examples::chaos` linked in.

use asynctasq_examples as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    asynctasq::cli::run().await
}
