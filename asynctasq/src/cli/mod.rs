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
//!    `ASYNCTASQ_*` variables of [`Config::from_env`]);
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
mod table;
mod worker;

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use admin::DeadAction;
use anyhow::{Context as _, bail};
use asynctasq_core::{Client, Config, JobId};
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// The parsed command line. [`run`] and [`run_from`] parse and execute it;
/// build it with [`clap::Parser::try_parse_from`] to check arguments.
#[derive(Parser)]
#[command(
    name = "asynctasq",
    version,
    about = "Run asynctasq workers and manage their queues.",
    long_about = "Run asynctasq workers and manage their queues.\n\n\
        The worker runs the #[task] functions compiled into this binary; the admin\n\
        commands (stats, job, dead, queue, migrate) work from any binary, including\n\
        the standalone `asynctasq`.",
    after_help = examples("asynctasq"),
    max_term_width = 100
)]
pub struct Cli {
    /// Backend URL, e.g. sqlite://jobs.db or memory://
    ///
    /// Where the backend is found, highest precedence first:
    ///   1. this flag;
    ///   2. the client the program configured with asynctasq::init() before cli::run();
    ///   3. the ASYNCTASQ_URL environment variable;
    ///   4. the default, sqlite://asynctasq.db (a file in the working directory).
    ///
    /// Passwords in URLs are never printed.
    #[arg(
        verbatim_doc_comment,
        long,
        global = true,
        help_heading = "Global Options",
        env = "ASYNCTASQ_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub url: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a worker: claim jobs from queues and run this binary's tasks
    ///
    /// Runs until SIGINT (Ctrl-C) or SIGTERM, then stops claiming, logs the jobs still
    /// running, lets them finish within --grace and hands the rest back to their
    /// queues; a second Ctrl-C or SIGTERM hands them back at once. Prints what it did
    /// when it stops. Refuses to start when tasks take sea-orm models and no
    /// --database-url is given (--without-database to start anyway). Logs go to
    /// stderr: set RUST_LOG to change the level (default info).
    #[command(verbatim_doc_comment)]
    Worker(WorkerArgs),
    /// Create or upgrade the database schema
    ///
    /// Idempotent: running it on an up-to-date schema changes nothing. Workers and
    /// clients also migrate on connect unless ASYNCTASQ_AUTO_MIGRATE=false.
    #[command(verbatim_doc_comment)]
    Migrate,
    /// Show job counts per queue: ready, scheduled, running, dead, paused
    Stats(StatsArgs),
    /// Show one job: state, attempts, next run and errors
    ///
    /// Completed jobs are deleted, so only waiting, running and dead jobs are found.
    #[command(verbatim_doc_comment)]
    Job(JobArgs),
    /// List, requeue or delete dead jobs (the dead-letter queue)
    #[command(subcommand)]
    Dead(DeadCommand),
    /// Pause, resume or purge a queue
    #[command(subcommand)]
    Queue(QueueCommand),
}

/// Arguments of `worker`.
#[derive(Args)]
pub struct WorkerArgs {
    /// Queues to claim from, comma-separated or repeated
    #[arg(
        long,
        short,
        value_name = "QUEUE,...",
        value_delimiter = ',',
        default_value = "default",
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub queues: Vec<String>,

    /// Jobs run at once
    #[arg(long, short, value_name = "N", default_value = "10", value_parser = parse_positive)]
    pub concurrency: usize,

    /// How long a claimed job stays leased without news from this worker
    ///
    /// The worker extends the lease every third of it while a job runs; if the worker
    /// dies, the job runs again once its lease expires. Accepts 90, 90s, 1m 30s, 500ms.
    #[arg(
        verbatim_doc_comment,
        long,
        value_name = "DURATION",
        default_value = "60s",
        value_parser = parse_duration
    )]
    pub lease: Duration,

    /// On shutdown, how long running jobs may take before they are handed back
    ///
    /// A second Ctrl-C or SIGTERM hands them back at once. Accepts 30, 30s, 2m, 500ms.
    #[arg(
        verbatim_doc_comment,
        long,
        value_name = "DURATION",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub grace: Duration,

    /// Stop after this many jobs, once they have finished
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_jobs: Option<u64>,

    /// Stop once the queues hold no ready, scheduled or running job
    #[arg(long)]
    pub burst: bool,

    /// Database that sea-orm model arguments are re-fetched from
    ///
    /// Any sea-orm URL (sqlite://app.db, postgres://…); it may be the jobs database or
    /// another one. Needed only by tasks that take sea-orm models.
    #[arg(
        verbatim_doc_comment,
        long,
        value_name = "URL",
        env = "ASYNCTASQ_DATABASE_URL"
    )]
    pub database_url: Option<String>,

    /// Start even though tasks take sea-orm models and no --database-url is given
    ///
    /// Without it such a worker refuses to start, naming the tasks: their jobs would
    /// fail, retry and go dead. With it, they do.
    #[arg(verbatim_doc_comment, long)]
    pub without_database: bool,
}

impl std::fmt::Debug for Cli {
    /// Shows the URL without its credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cli")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("command", &self.command)
            .finish()
    }
}

impl std::fmt::Debug for WorkerArgs {
    /// Shows the models database URL without its credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            queues,
            concurrency,
            lease,
            grace,
            max_jobs,
            burst,
            database_url,
            without_database,
        } = self;
        f.debug_struct("WorkerArgs")
            .field("queues", queues)
            .field("concurrency", concurrency)
            .field("lease", lease)
            .field("grace", grace)
            .field("max_jobs", max_jobs)
            .field("burst", burst)
            .field("database_url", &database_url.as_deref().map(redact_url))
            .field("without_database", without_database)
            .finish()
    }
}

/// Arguments of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only this queue (repeat for several); default: every queue
    #[arg(long, short, value_name = "QUEUE")]
    pub queue: Vec<String>,
}

/// Arguments of `job`.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// The job's id, as returned by dispatch() and shown by `dead list`
    #[arg(value_name = "ID", value_parser = parse_job_id)]
    pub id: JobId,
}

/// The `dead` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeadCommand {
    /// List dead jobs, newest failure first
    List(DeadListArgs),
    /// Move dead jobs back to ready, with a fresh attempt count
    Retry(DeadTarget),
    /// Delete dead jobs for good
    Purge(DeadTarget),
}

/// Arguments of `dead list`.
#[derive(Debug, Args)]
pub struct DeadListArgs {
    /// Only dead jobs of this queue
    #[arg(long, short, value_name = "QUEUE")]
    pub queue: Option<String>,

    /// Show at most this many jobs
    #[arg(long, short = 'n', value_name = "N", default_value = "50", value_parser = parse_positive)]
    pub limit: usize,
}

/// Which dead jobs `dead retry` and `dead purge` act on: ids, or `--all`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").args(["ids", "all"]).required(true)))]
pub struct DeadTarget {
    /// Ids of dead jobs, as shown by `dead list`
    #[arg(value_name = "ID", value_parser = parse_job_id)]
    pub ids: Vec<JobId>,

    /// Every dead job (of --queue, when given)
    #[arg(long)]
    pub all: bool,

    /// With --all: only dead jobs of this queue
    #[arg(long, short, value_name = "QUEUE", conflicts_with = "ids")]
    pub queue: Option<String>,
}

/// The `queue` subcommands.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Stop workers from claiming jobs of a queue (running jobs finish)
    ///
    /// Refuses a queue that holds no jobs and was never paused (a typo would
    /// otherwise create a paused queue nothing uses); pass --create to pause a
    /// queue before its first job.
    #[command(verbatim_doc_comment)]
    Pause(PauseArgs),
    /// Let workers claim from a paused queue again
    Resume(QueueArgs),
    /// Delete a queue's ready and scheduled jobs (running and dead jobs stay)
    Purge(QueueArgs),
}

/// Arguments of `queue pause`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The queue's name
    #[arg(value_name = "QUEUE")]
    pub name: String,

    /// Pause the queue even if no job has used it yet (it is created paused)
    #[arg(long)]
    pub create: bool,
}

/// The queue a `queue` subcommand acts on.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// The queue's name
    #[arg(value_name = "QUEUE")]
    pub name: String,
}

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

/// The example block under the top-level help, for the binary named `bin`.
fn examples(bin: &str) -> String {
    format!(
        "Examples:\n  \
         {bin} worker --queues emails,default --concurrency 50\n  \
         {bin} stats\n  \
         {bin} job 0190f3a2-7c1e-7b3a-9f4e-2d5c8b1a6e07\n  \
         {bin} dead list --queue emails\n  \
         {bin} dead retry --all --queue emails\n  \
         {bin} --url sqlite://jobs.db queue pause emails\n\n\
         A worker runs the tasks compiled into its binary: start it from your\n\
         application's binary, whose main calls asynctasq::cli::run()."
    )
}

/// Where the commands find the backend, resolved by precedence.
#[derive(Debug)]
pub(crate) enum Backend {
    /// `--url` on the command line (other settings from the environment).
    Flag(Config),
    /// The global client set by `asynctasq::init` in the program.
    Code(Client),
    /// `ASYNCTASQ_URL`, or the default when it is unset.
    Env(Config),
}

impl Backend {
    /// Fails when an `ASYNCTASQ_*` variable that applies cannot be read
    /// (`ASYNCTASQ_AUTO_MIGRATE=maybe`); with a client configured in code,
    /// the environment is not read.
    fn resolve(flag_url: Option<String>) -> anyhow::Result<Self> {
        if let Some(url) = flag_url {
            let mut config = Config::from_env()?;
            config.url = url;
            return Ok(Backend::Flag(config));
        }
        if let Some(client) = asynctasq_core::try_global() {
            return Ok(Backend::Code(client));
        }
        Ok(Backend::Env(Config::from_env()?))
    }

    /// The backend for messages, without credentials.
    pub(crate) fn describe(&self) -> String {
        match self {
            Backend::Flag(c) | Backend::Env(c) => redact_url(&c.url),
            Backend::Code(client) => format!(
                "the {} backend configured in code (asynctasq::init)",
                client.driver().name()
            ),
        }
    }

    /// Connects, creating the schema when the configuration says so.
    pub(crate) async fn client(&self) -> anyhow::Result<Client> {
        match self {
            Backend::Code(client) => Ok(client.clone()),
            Backend::Flag(config) | Backend::Env(config) => self.connect(config).await,
        }
    }

    /// Connects without creating the schema (for `migrate`, which does it itself).
    pub(crate) async fn client_without_migrating(&self) -> anyhow::Result<Client> {
        match self {
            Backend::Code(client) => Ok(client.clone()),
            Backend::Flag(config) | Backend::Env(config) => {
                self.connect(&config.clone().auto_migrate(false)).await
            }
        }
    }

    async fn connect(&self, config: &Config) -> anyhow::Result<Client> {
        let hint = match self {
            Backend::Flag(_) => "check the URL given with --url",
            _ if std::env::var_os("ASYNCTASQ_URL").is_some_and(|v| !v.is_empty()) => {
                "check the ASYNCTASQ_URL environment variable, or pass --url"
            }
            _ => "this is the default URL; set ASYNCTASQ_URL or pass --url to choose the backend",
        };
        Client::connect(config)
            .await
            .with_context(|| format!("cannot connect to {} ({hint})", redact_url(&config.url)))
    }
}

/// The one redactor ([`asynctasq_core::url::redact`]), for the commands.
pub(crate) use asynctasq_core::url::redact as redact_url;

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

fn parse_job_id(text: &str) -> Result<JobId, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "`{text}` is not a job id (expected a UUID like 0190f3a2-7c1e-7b3a-9f4e-2d5c8b1a6e07)"
        )
    })
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    asynctasq_core::config::parse_duration(text)
}

fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a positive whole number")),
    }
}

#[cfg(test)]
mod tests {
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
