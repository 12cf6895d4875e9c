//! `worker`: runs this binary's tasks until SIGINT/SIGTERM.

use std::io::Write;

use anyhow::Context as _;
use asynctasq_core::{Registry, Worker, WorkerConfig, WorkerReport};

use super::{Backend, WorkerArgs};

/// Checks the registry, connects, runs the worker and prints its report.
pub(crate) async fn run(
    args: &WorkerArgs,
    backend: &Backend,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    init_tracing();
    // Before connecting: a binary without tasks, or with model-argument tasks
    // and no models database, should not touch the database.
    let registry = Registry::from_inventory().context("cannot start the worker")?;
    let has_database = args.database_url.as_deref().is_some_and(|u| !u.is_empty());
    if !has_database && !args.without_database {
        registry
            .require_models_database()
            .context("cannot start the worker")?;
    }
    let tasks = registry.names();
    let client = backend.client().await?;

    let mut queues: Vec<String> = Vec::with_capacity(args.queues.len());
    for q in &args.queues {
        if !queues.contains(q) {
            queues.push(q.clone());
        }
    }
    let config = WorkerConfig {
        queues,
        concurrency: args.concurrency,
        fetch_ahead: args.fetch_ahead,
        lease: args.lease,
        grace: args.grace,
        max_jobs: args.max_jobs,
        burst: args.burst,
        without_database: args.without_database,
        retain_completed: args.retain_completed,
        ..WorkerConfig::default()
    };
    let target = match backend {
        Backend::Code(_) => backend.describe(),
        _ => format!("{} ({} driver)", backend.describe(), client.driver().name()),
    };
    writeln!(
        out,
        "worker {} connected to {target}\n  queues: {}\n  concurrency: {}\n  tasks: {}",
        config.id,
        config.queues.join(", "),
        config.concurrency,
        tasks.join(", "),
    )?;
    if !args.burst && args.max_jobs.is_none() {
        writeln!(out, "press Ctrl-C to stop")?;
    }
    out.flush()?;

    let mut worker = Worker::new(client).config(config).registry(registry);
    if let Some(url) = args.database_url.as_deref().filter(|u| !u.is_empty()) {
        let db = asynctasq_drivers::connect_models_database_pooled(url, args.database_pool)
            .await
            // sea-orm's messages can quote the URL, password included.
            .map_err(|e| {
                anyhow::anyhow!(asynctasq_core::url::redact_in(
                    &asynctasq_core::error::chain(&e),
                    url
                ))
            })
            .with_context(|| {
                format!(
                    "cannot connect to the models database {} (--database-url / ASYNCTASQ_DATABASE_URL)",
                    super::redact_url(url)
                )
            })?;
        writeln!(
            out,
            "  models database: {} (pool {})",
            super::redact_url(url),
            args.database_pool
        )?;
        worker = worker.database(db);
    }
    let report = worker
        .run()
        .await
        .context("the worker stopped on an error")?;
    writeln!(out, "{}", describe_report(&report))?;
    Ok(())
}

/// The filter when `RUST_LOG` is unset: `info`, except sqlx's warning for
/// every pooled connection found dead when it is handed back (sqlx-core
/// 0.9 pings each one on release and cannot be told not to). During an
/// outage that is one line per connection; the worker's own outage lines
/// say it once.
const DEFAULT_LOG_FILTER: &str = "info,sqlx_core::pool::connection=error";

/// Installs a `tracing` subscriber that logs to stderr, filtered by `RUST_LOG`
/// (default [`DEFAULT_LOG_FILTER`]), unless the program installed one
/// already. Colours only on a terminal, so that log files and journals stay
/// plain.
fn init_tracing() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    // An error means a subscriber is already set: the program's own wins.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// One line saying what a worker did.
pub(crate) fn describe_report(report: &WorkerReport) -> String {
    let mut line = format!(
        "worker stopped: claimed {}, completed {}, retried {}, dead {}",
        report.claimed, report.completed, report.retried, report.dead
    );
    if report.released > 0 {
        line.push_str(&format!(
            ", released {} unfinished (they will run again)",
            report.released
        ));
    }
    if report.leases_lost > 0 {
        line.push_str(&format!(
            ", {} stopped because their lease was lost (they were rescued and run again elsewhere; no result written)",
            report.leases_lost
        ));
    }
    if report.stale_acks > 0 {
        line.push_str(&format!(
            ", {} results dropped because their lease had expired (the jobs ran again elsewhere)",
            report.stale_acks
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_as_a_sentence() {
        let report = WorkerReport {
            claimed: 5,
            completed: 3,
            retried: 1,
            dead: 1,
            released: 0,
            stale_acks: 0,
            leases_lost: 0,
        };
        assert_eq!(
            describe_report(&report),
            "worker stopped: claimed 5, completed 3, retried 1, dead 1"
        );
        let report = WorkerReport {
            released: 2,
            stale_acks: 1,
            leases_lost: 3,
            ..report
        };
        assert!(describe_report(&report).contains("released 2 unfinished"));
        assert!(describe_report(&report).contains("3 stopped because their lease was lost"));
        assert!(describe_report(&report).contains("1 results dropped"));
    }
}
