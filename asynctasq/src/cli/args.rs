//! The command line's clap types: what each command accepts.

use std::time::Duration;

use asynctasq_core::JobId;
use clap::{Args, Parser, Subcommand};

use super::redact_url;

/// The parsed command line. [`run`](super::run) and [`run_from`](super::run_from) parse and execute it;
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

    /// Jobs that may wait for their sea-orm models without holding a slot
    ///
    /// While a job's rows are fetched, its slot runs other jobs; the job takes a
    /// slot again when its rows arrive. Default: twice --concurrency; 0 keeps
    /// each job's slot through its fetch. See docs/orm.md.
    #[arg(verbatim_doc_comment, long, value_name = "N")]
    pub fetch_ahead: Option<usize>,

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

    /// Connections in the models database's pool
    ///
    /// Jobs fetch their models together (one statement per entity for many jobs),
    /// so a few connections per entity are enough; see docs/orm.md.
    #[arg(
        verbatim_doc_comment,
        long,
        value_name = "N",
        env = "ASYNCTASQ_DATABASE_POOL",
        default_value_t = asynctasq_drivers::MODELS_POOL,
        value_parser = parse_pool
    )]
    pub database_pool: u32,

    /// Start even though tasks take sea-orm models and no --database-url is given
    ///
    /// Without it such a worker refuses to start, naming the tasks: their jobs would
    /// fail, retry and go dead. With it, they do.
    #[arg(verbatim_doc_comment, long)]
    pub without_database: bool,

    /// Keep completed jobs this long instead of deleting them (Postgres, MySQL)
    ///
    /// For auditing and `job <id>` lookups; the worker deletes them once the period
    /// has passed. Accepts 30m, 12h, 7d.
    #[arg(
        verbatim_doc_comment,
        long,
        value_name = "DURATION",
        value_parser = parse_duration,
        env = "ASYNCTASQ_RETAIN_COMPLETED"
    )]
    pub retain_completed: Option<Duration>,
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
            fetch_ahead,
            lease,
            grace,
            max_jobs,
            burst,
            database_url,
            database_pool,
            without_database,
            retain_completed,
        } = self;
        f.debug_struct("WorkerArgs")
            .field("queues", queues)
            .field("concurrency", concurrency)
            .field("fetch_ahead", fetch_ahead)
            .field("lease", lease)
            .field("grace", grace)
            .field("max_jobs", max_jobs)
            .field("burst", burst)
            .field("database_url", &database_url.as_deref().map(redact_url))
            .field("database_pool", database_pool)
            .field("without_database", without_database)
            .field("retain_completed", retain_completed)
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

/// The example block under the top-level help, for the binary named `bin`.
pub(super) fn examples(bin: &str) -> String {
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

pub(super) fn parse_job_id(text: &str) -> Result<JobId, String> {
    text.trim().parse().map_err(|_| {
        format!(
            "`{text}` is not a job id (expected a UUID like 0190f3a2-7c1e-7b3a-9f4e-2d5c8b1a6e07)"
        )
    })
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    asynctasq_core::config::parse_duration(text)
}

fn parse_pool(text: &str) -> Result<u32, String> {
    let n = parse_positive(text)?;
    u32::try_from(n).map_err(|_| format!("`{text}` is more connections than a pool can hold"))
}

fn parse_positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a positive whole number")),
    }
}
