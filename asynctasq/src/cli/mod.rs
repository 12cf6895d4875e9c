//! The command line: a worker and admin commands, for your own binary and for
//! the standalone `asynctasq` admin binary.
//!
//! A worker can only run tasks compiled into it, so the worker runs in *your*
//! binary. Make it call [`run`]:
//!
//! ```no_run
//! // src/bin/worker.rs
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     asynctasq::cli::run().await
//! }
//! ```
//!
//! and start it with `cargo run --bin worker -- worker --queues emails,default`.
//! The same binary answers the admin commands (`stats`, `job`, `dead`,
//! `queue`, `migrate`), which the standalone `asynctasq` binary offers too
//! (`cargo install asynctasq`); its `worker` command refuses to start, since
//! it has no tasks.
//!
//! # Which backend
//!
//! The backend URL is taken from, highest precedence first:
//!
//! 1. the `--url` flag;
//! 2. the code: the global client, when the program called
//!    [`asynctasq::init`](crate::init) (or [`set_global`](crate::set_global))
//!    before [`run`];
//! 3. the `ASYNCTASQ_URL` environment variable (with the other
//!    `ASYNCTASQ_*` variables of [`Config::from_env`](asynctasq_core::Config::from_env));
//! 4. the default, the SQLite file `./asynctasq.db`.
//!
//! Passwords in URLs are never printed.
//!
//! # Commands
//!
//! | command | does |
//! |---|---|
//! | `worker [--queues a,b] [--concurrency N] [--lease 60s] [--grace 30s] [--max-jobs N] [--burst] [--database-url URL \| --without-database]` | runs jobs until SIGINT/SIGTERM (a second one stops at once, handing running jobs back), then prints what it did; refuses to start when tasks take sea-orm models and no `--database-url` is given, unless `--without-database` |
//! | `migrate` | creates or upgrades the schema |
//! | `stats [--queue q]...` | job counts per queue: ready, scheduled, running, dead, paused |
//! | `job <id>` | one job: state, attempts, next run, errors |
//! | `dead list [--queue q] [--limit 50]` | dead jobs, newest failure first |
//! | `dead retry <id>... \| --all [--queue q]` | moves dead jobs back to ready |
//! | `dead purge <id>... \| --all [--queue q]` | deletes dead jobs |
//! | `queue pause [--create] <name>` | stops claims from a queue; an unknown queue only with `--create` |
//! | `queue resume\|purge <name>` | resumes claims; deletes waiting jobs |

mod admin;
mod args;
mod backend;
mod table;
mod worker;

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use admin::DeadAction;
use anyhow::bail;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};

use args::examples;
pub use args::{
    Cli, Command, DeadCommand, DeadListArgs, DeadTarget, JobArgs, PauseArgs, QueueArgs,
    QueueCommand, StatsArgs, WorkerArgs,
};
pub(crate) use backend::{Backend, redact_url};

/// Parses the process's arguments and runs the command, printing to stdout.
///
/// Call it from your worker binary's `main`, after [`asynctasq::init`](crate::init)
/// if the backend is configured in code.
///
/// **It exits the process when the command fails**, as command lines do:
/// invalid arguments print clap's usage error, a failing command prints
/// `error: <what happened>: <cause>` (its cause chain, once) to stderr, and
/// both exit with status 2. A failing command is a user or environment error
/// (a bad URL, an unknown job, a database that is down), so it never prints
/// a backtrace, even under `RUST_BACKTRACE=1` (returning an `anyhow::Error`
/// from `main` would print one); panics, which are bugs, still print theirs.
/// `--help` and `--version` print and exit with status 0.
///
/// It therefore returns only when the command succeeded; the `Result` is
/// there so that `main` can keep returning it (`asynctasq::cli::run().await`)
/// and carry on with `?` after it. To get the error instead of an exit (in
/// tests), use [`run_from`].
pub async fn run() -> anyhow::Result<()> {
    let parsed = match parse(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(e) => e.exit(),
    };
    let mut stdout = std::io::stdout();
    match execute(parsed, &mut stdout).await {
        Ok(()) => Ok(()),
        // `… | head` closed the pipe: not worth an error.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => {
            let _ = stdout.flush();
            eprintln!("{}", error_line(&e));
            std::process::exit(USER_ERROR_EXIT)
        }
    }
}

/// The exit status of a failed command, as of a usage error (clap's).
const USER_ERROR_EXIT: i32 = 2;

/// How [`run`] prints a failed command: `error: ` and the cause chain, once.
fn error_line(error: &anyhow::Error) -> String {
    format!("error: {error:#}")
}

/// Parses `args` (the first one is the program name) and runs the command,
/// writing its output to `out`.
///
/// Resolves the backend like [`run`] does (see the [module docs](self)).
/// `--help` and `--version` are written to `out`; invalid arguments and a
/// failing command are returned as an error (where [`run`] prints it and
/// exits with status 2).
pub async fn run_from<I, T>(args: I, out: &mut dyn Write) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match parse(args) {
        Ok(parsed) => execute(parsed, out).await,
        Err(e) if !e.use_stderr() => {
            write!(out, "{}", e.render())?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A parsed command line and whether `--url` came from the command line
/// (rather than from `ASYNCTASQ_URL`, which ranks below the code).
#[derive(Debug)]
struct Parsed {
    cli: Cli,
    url_from_flag: bool,
}

fn parse<I, T>(args: I) -> Result<Parsed, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let bin = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("asynctasq")
        .to_string();
    let matches = Cli::command()
        .after_help(examples(&bin))
        .try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    let url_from_flag = matches.value_source("url") == Some(ValueSource::CommandLine);
    Ok(Parsed { cli, url_from_flag })
}

async fn execute(parsed: Parsed, out: &mut dyn Write) -> anyhow::Result<()> {
    let Parsed { cli, url_from_flag } = parsed;
    let flag_url = cli.url.filter(|_| url_from_flag);
    if flag_url.as_deref().is_some_and(|u| u.trim().is_empty()) {
        bail!("--url is empty: pass a backend URL such as sqlite://jobs.db, or leave it out");
    }
    let backend = Backend::resolve(flag_url)?;
    match cli.command {
        Command::Worker(args) => worker::run(&args, &backend, out).await,
        Command::Migrate => admin::migrate(&backend, out).await,
        Command::Stats(args) => admin::stats(&backend, &args, out).await,
        Command::Job(args) => admin::job(&backend, &args, out).await,
        Command::Dead(DeadCommand::List(args)) => admin::dead_list(&backend, &args, out).await,
        Command::Dead(DeadCommand::Retry(target)) => {
            admin::dead(&backend, DeadAction::Requeue, &target, out).await
        }
        Command::Dead(DeadCommand::Purge(target)) => {
            admin::dead(&backend, DeadAction::Purge, &target, out).await
        }
        Command::Queue(cmd) => admin::queue(&backend, &cmd, out).await,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|e| {
            // Our errors carry their cause in the message, not as a source.
            let cause = e
                .downcast_ref::<asynctasq_core::Error>()
                .and_then(asynctasq_core::Error::cause)
                .map(|c| c as &(dyn std::error::Error + 'static));
            cause.unwrap_or(e).downcast_ref::<std::io::Error>()
        })
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::args::parse_job_id;
    use super::*;

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn debug_output_hides_passwords() {
        let parsed = parse([
            "asynctasq",
            "--url",
            "postgres://app:hunter2@db/jobs",
            "worker",
            "--database-url",
            "postgres://app:hunter3@db/app?password=hunter4",
        ])
        .unwrap();
        let debug = format!("{:?}", parsed.cli);
        assert!(!debug.contains("hunter"), "{debug}");
        assert!(debug.contains("postgres://app:***@db/jobs"), "{debug}");
        assert!(debug.contains("concurrency: 10"), "{debug}");
    }

    #[test]
    fn the_flag_outranks_the_environment() {
        let parsed = parse(["asynctasq", "--url", "memory://", "stats"]).unwrap();
        assert!(parsed.url_from_flag);
        let parsed = parse(["asynctasq", "stats", "--url", "memory://"]).unwrap();
        assert!(
            parsed.url_from_flag,
            "--url is accepted after the subcommand"
        );
        assert_eq!(parsed.cli.url.as_deref(), Some("memory://"));
        let parsed = parse(["asynctasq", "stats"]).unwrap();
        assert!(!parsed.url_from_flag);
    }

    #[test]
    fn examples_use_the_binary_name() {
        let err = parse(["/usr/local/bin/my-worker", "--help"]).unwrap_err();
        let help = err.render().to_string();
        assert!(help.contains("my-worker worker --queues"), "{help}");
        assert!(help.contains("Usage: my-worker"), "{help}");
    }

    #[test]
    fn errors_print_their_chain_once() {
        let error = anyhow::anyhow!("connection refused").context("cannot connect to sqlite://x");
        assert_eq!(
            error_line(&error),
            "error: cannot connect to sqlite://x: connection refused"
        );
    }

    #[test]
    fn job_ids_are_explained() {
        let err = parse_job_id("xyz").unwrap_err();
        assert!(err.starts_with("`xyz` is not a job id (expected a UUID like"));
        assert!(parse_job_id("0190f3a2-7c1e-7b3a-9f4e-2d5c8b1a6e07").is_ok());
    }
}
