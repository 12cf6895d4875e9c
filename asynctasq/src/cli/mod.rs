//! The worker and admin command line. Placeholder, filled in next.

/// Runs the command line.
pub async fn run() -> anyhow::Result<()> {
    Ok(())
}
