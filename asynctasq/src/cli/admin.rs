//! The admin commands: `migrate`, `stats`, `job`, `dead …` and `queue …`.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use asynctasq_core::{
    Client, DeadListParams, DeadSelector, JobId, JobInfo, JobState, QueueStats, Timestamp,
};

use super::table::{Align, Table, truncate};
use super::{Backend, DeadListArgs, DeadTarget, JobArgs, QueueCommand, StatsArgs};

/// How much of the last error `dead list` shows.
const ERROR_WIDTH: usize = 60;

/// What is known about an id the backend does not store.
const NOT_STORED: &str = "it is not in this backend's database: it completed and was deleted \
     (or pruned after its retention), it was purged, or it is a job of another backend";

/// `migrate`: creates or upgrades the schema.
pub(crate) async fn migrate(backend: &Backend, out: &mut dyn Write) -> anyhow::Result<()> {
    let client = backend.client_without_migrating().await?;
    let driver = client.driver();
    driver
        .migrate()
        .await
        .with_context(|| format!("cannot migrate {}", backend.describe()))?;
    writeln!(
        out,
        "migrated {}: the {} schema is up to date",
        backend.describe(),
        driver.name()
    )?;
    Ok(())
}

/// `stats`: one row per queue.
pub(crate) async fn stats(
    backend: &Backend,
    args: &StatsArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let client = backend.client().await?;
    let filter = (!args.queue.is_empty()).then_some(args.queue.as_slice());
    let mut stats = client
        .driver()
        .stats(filter)
        .await
        .with_context(|| format!("cannot read queue stats from {}", backend.describe()))?;
    stats.sort_by(|a, b| a.queue.cmp(&b.queue));
    write_stats(&stats, &args.queue, out)?;
    Ok(())
}

fn write_stats(stats: &[QueueStats], asked: &[String], out: &mut dyn Write) -> std::io::Result<()> {
    if stats.is_empty() {
        return if asked.is_empty() {
            writeln!(
                out,
                "no queues yet: a queue appears when a job is dispatched to it"
            )
        } else {
            writeln!(out, "no jobs in {}", queue_names(asked))
        };
    }
    let mut table = Table::new(&[
        ("QUEUE", Align::Left),
        ("READY", Align::Right),
        ("SCHEDULED", Align::Right),
        ("RUNNING", Align::Right),
        ("DEAD", Align::Right),
        ("PAUSED", Align::Left),
    ]);
    for s in stats {
        table.row(vec![
            s.queue.clone(),
            s.ready.to_string(),
            s.scheduled.to_string(),
            s.running.to_string(),
            s.dead.to_string(),
            if s.paused { "yes" } else { "no" }.to_string(),
        ]);
    }
    table.write(out)
}

/// `job <id>`: everything stored about one job.
pub(crate) async fn job(
    backend: &Backend,
    args: &JobArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let client = backend.client().await?;
    let Some(info) = find(&client, args.id).await? else {
        bail!("no job with id {}: {NOT_STORED}", args.id);
    };
    write_job(&info, now(), out)?;
    Ok(())
}

fn write_job(info: &JobInfo, now: Timestamp, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "id:        {}", info.id)?;
    writeln!(out, "task:      {}", info.task)?;
    writeln!(out, "queue:     {}", info.queue)?;
    writeln!(out, "state:     {}", info.state)?;
    writeln!(out, "attempts:  {} of {}", info.attempt, info.max_attempts)?;
    writeln!(out, "priority:  {}", info.priority)?;
    let run_at_label = match info.state {
        JobState::Scheduled | JobState::Ready => "runs at:  ",
        JobState::Running => "started:  ",
        JobState::Dead | JobState::Completed => "was due:  ",
    };
    if info.state != JobState::Running {
        writeln!(out, "{run_at_label} {}", when(info.run_at, now))?;
    }
    writeln!(out, "created:   {}", when(info.created_at, now))?;
    if info.errors.is_empty() {
        writeln!(out, "errors:    none")?;
    } else {
        writeln!(out, "errors:")?;
        for e in &info.errors {
            writeln!(out, "  attempt {}, {}:", e.attempt, when(e.at, now))?;
            for line in e.message.trim_end().lines() {
                writeln!(out, "    {line}")?;
            }
        }
    }
    Ok(())
}

/// `dead list`: dead jobs, newest failure first.
pub(crate) async fn dead_list(
    backend: &Backend,
    args: &DeadListArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let client = backend.client().await?;
    let jobs = client
        .driver()
        .dead_list(DeadListParams {
            queue: args.queue.as_deref(),
            limit: args.limit,
            offset: 0,
        })
        .await
        .with_context(|| format!("cannot list dead jobs in {}", backend.describe()))?;
    write_dead_list(&jobs, args, now(), out)?;
    Ok(())
}

fn write_dead_list(
    jobs: &[JobInfo],
    args: &DeadListArgs,
    now: Timestamp,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let scope = match &args.queue {
        Some(q) => format!(" in queue `{q}`"),
        None => String::new(),
    };
    if jobs.is_empty() {
        return writeln!(out, "no dead jobs{scope}");
    }
    let mut table = Table::new(&[
        ("ID", Align::Left),
        ("TASK", Align::Left),
        ("QUEUE", Align::Left),
        ("ATTEMPTS", Align::Right),
        ("FAILED", Align::Right),
        ("LAST ERROR", Align::Left),
    ]);
    for job in jobs {
        let last = job.last_error();
        table.row(vec![
            job.id.to_string(),
            job.task.clone(),
            job.queue.clone(),
            format!("{}/{}", job.attempt, job.max_attempts),
            last.map_or_else(|| "-".into(), |e| ago(e.at, now)),
            last.map_or_else(|| "-".into(), |e| truncate(&e.message, ERROR_WIDTH)),
        ]);
    }
    table.write(out)?;
    if jobs.len() >= args.limit {
        writeln!(
            out,
            "showing the {} most recent dead jobs{scope}; pass --limit to see more",
            jobs.len()
        )?;
    }
    Ok(())
}

/// What `dead retry` and `dead purge` do to the jobs they select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeadAction {
    /// Back to ready with a fresh attempt count.
    Requeue,
    /// Deleted.
    Purge,
}

impl DeadAction {
    fn done(self) -> &'static str {
        match self {
            DeadAction::Requeue => "requeued",
            DeadAction::Purge => "purged",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            DeadAction::Requeue => "requeue",
            DeadAction::Purge => "purge",
        }
    }

    async fn apply(self, client: &Client, selector: DeadSelector<'_>) -> anyhow::Result<u64> {
        let driver = client.driver();
        let result = match self {
            DeadAction::Requeue => driver.dead_requeue(selector).await,
            DeadAction::Purge => driver.dead_purge(selector).await,
        };
        result.with_context(|| format!("cannot {} dead jobs", self.verb()))
    }
}

/// `dead retry` and `dead purge`: applies `action` to the dead jobs `target`
/// names, saying what was done.
///
/// Given ids that are not dead jobs are named and skipped; the others are
/// still acted on, and the command then fails, like `rm` with a missing file.
pub(crate) async fn dead(
    backend: &Backend,
    action: DeadAction,
    target: &DeadTarget,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let client = backend.client().await?;
    if target.all {
        let selector = DeadSelector::All {
            queue: target.queue.as_deref(),
        };
        let n = action.apply(&client, selector).await?;
        let scope = match &target.queue {
            Some(q) => format!(" from queue `{q}`"),
            None => String::new(),
        };
        writeln!(out, "{} {}{scope}", action.done(), jobs(n))?;
        return Ok(());
    }

    let mut dead = Vec::new();
    let mut skipped = 0usize;
    for &id in &target.ids {
        if dead.contains(&id) {
            continue;
        }
        match find(&client, id).await? {
            Some(info) if info.state == JobState::Dead => dead.push(id),
            Some(info) => {
                skipped += 1;
                writeln!(out, "skipped {id}: it is {}, not dead", info.state)?;
            }
            None => {
                skipped += 1;
                writeln!(out, "skipped {id}: {NOT_STORED}")?;
            }
        }
    }
    let n = if dead.is_empty() {
        0
    } else {
        action.apply(&client, DeadSelector::Ids(&dead)).await?
    };
    writeln!(out, "{} {}", action.done(), jobs(n))?;
    if skipped > 0 {
        let what = if skipped == 1 {
            "is not a dead job"
        } else {
            "are not dead jobs"
        };
        bail!("{skipped} of the given ids {what}; `dead list` shows the dead ones");
    }
    Ok(())
}

/// `queue pause|resume|purge <name>`.
pub(crate) async fn queue(
    backend: &Backend,
    command: &QueueCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let client = backend.client().await?;
    let driver = client.driver();
    match command {
        QueueCommand::Pause(q) => {
            if !q.create {
                refuse_unknown_queue(&client, &q.name).await?;
            }
            driver
                .queue_pause(&q.name)
                .await
                .with_context(|| format!("cannot pause queue `{}`", q.name))?;
            writeln!(
                out,
                "paused queue `{0}`: workers claim none of its jobs until `queue resume {0}` \
                 (running jobs finish)",
                q.name
            )?;
        }
        QueueCommand::Resume(q) => {
            driver
                .queue_resume(&q.name)
                .await
                .with_context(|| format!("cannot resume queue `{}`", q.name))?;
            writeln!(
                out,
                "resumed queue `{}`: workers claim its jobs again",
                q.name
            )?;
        }
        QueueCommand::Purge(q) => {
            let n = driver
                .queue_purge(&q.name)
                .await
                .with_context(|| format!("cannot purge queue `{}`", q.name))?;
            writeln!(
                out,
                "purged {} (ready and scheduled) from queue `{}`; running and dead jobs stay",
                jobs(n),
                q.name
            )?;
        }
    }
    Ok(())
}

/// Fails unless `name` is a queue the backend knows: one that `stats` lists
/// (it holds jobs, or it was paused before). Catches `queue pause emials`,
/// which would otherwise create a paused queue that nothing uses.
async fn refuse_unknown_queue(client: &Client, name: &str) -> anyhow::Result<()> {
    let known = client
        .driver()
        .stats(None)
        .await
        .with_context(|| format!("cannot list the queues to check that `{name}` exists"))?;
    if known.iter().any(|s| s.queue == name) {
        return Ok(());
    }
    let names: Vec<String> = known.iter().map(|s| format!("`{}`", s.queue)).collect();
    let known = if names.is_empty() {
        "there are no queues yet".to_string()
    } else {
        format!("known queues: {}", names.join(", "))
    };
    bail!(
        "no queue named `{name}`: it holds no jobs and was never paused ({known}). \
         To pause it before its first job, pass --create: `queue pause --create {name}`"
    )
}

async fn find(client: &Client, id: JobId) -> anyhow::Result<Option<JobInfo>> {
    client
        .driver()
        .job(id)
        .await
        .with_context(|| format!("cannot look up job {id}"))
}

/// `1 job`, `3 jobs`.
fn jobs(n: u64) -> String {
    if n == 1 {
        "1 job".into()
    } else {
        format!("{n} jobs")
    }
}

/// `emails` or `emails, default` as a phrase: "queue `emails`", "queues `a`, `b`".
fn queue_names(names: &[String]) -> String {
    let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    if list.len() == 1 {
        format!("queue {}", list[0])
    } else {
        format!("queues {}", list.join(", "))
    }
}

fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    asynctasq_core::job::from_millis(ms)
}

/// An absolute time with how far it is from now: `2025-01-02 03:04:05 UTC (5m ago)`.
fn when(t: Timestamp, now: Timestamp) -> String {
    format!(
        "{} ({})",
        t.format("%Y-%m-%d %H:%M:%S UTC"),
        relative(t, now)
    )
}

/// How long ago `t` was, for a column: `42s ago`, `5m ago`, `3h ago`, `2d ago`.
fn ago(t: Timestamp, now: Timestamp) -> String {
    relative(t, now)
}

fn relative(t: Timestamp, now: Timestamp) -> String {
    let ms = now.timestamp_millis() - t.timestamp_millis();
    let span = span(ms.unsigned_abs() / 1000);
    match ms {
        ..=-1000 => format!("in {span}"),
        -999..=999 => "now".into(),
        _ => format!("{span} ago"),
    }
}

fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3_600 => format!("{}m", secs / 60),
        3_600..172_800 => format!("{}h", secs / 3_600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asynctasq_core::AttemptError;
    use asynctasq_core::job::from_millis;

    const NOW: i64 = 1_750_000_000_000;

    fn render(f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn id(n: u64) -> JobId {
        format!("0190f3a2-7c1e-7b3a-9f4e-{n:012x}").parse().unwrap()
    }

    fn dead_job(n: u64, message: &str) -> JobInfo {
        JobInfo {
            id: id(n),
            task: "app::send_email".into(),
            queue: "emails".into(),
            state: JobState::Dead,
            attempt: 3,
            max_attempts: 3,
            priority: 0,
            run_at: from_millis(NOW - 60_000),
            created_at: from_millis(NOW - 3_600_000),
            errors: vec![
                AttemptError {
                    at: from_millis(NOW - 600_000),
                    attempt: 2,
                    message: "timed out after 30s".into(),
                },
                AttemptError {
                    at: from_millis(NOW - 300_000),
                    attempt: 3,
                    message: message.into(),
                },
            ],
        }
    }

    #[test]
    fn stats_without_queues_say_so() {
        let text = render(|out| write_stats(&[], &[], out));
        assert_eq!(
            text,
            "no queues yet: a queue appears when a job is dispatched to it\n"
        );
        let text = render(|out| write_stats(&[], &["a".into(), "b".into()], out));
        assert_eq!(text, "no jobs in queues `a`, `b`\n");
    }

    #[test]
    fn stats_are_a_table() {
        let stats = [
            QueueStats {
                queue: "default".into(),
                ready: 12,
                scheduled: 3,
                running: 0,
                dead: 1,
                paused: false,
            },
            QueueStats {
                queue: "emails".into(),
                ready: 0,
                scheduled: 0,
                running: 7,
                dead: 120,
                paused: true,
            },
        ];
        let text = render(|out| write_stats(&stats, &[], out));
        assert_eq!(
            text,
            "QUEUE    READY  SCHEDULED  RUNNING  DEAD  PAUSED\n\
             default     12          3        0     1  no\n\
             emails       0          0        7   120  yes\n"
        );
    }

    #[test]
    fn dead_list_shows_the_last_error_truncated() {
        let long = "connection refused: ".repeat(10);
        let jobs = [
            dead_job(1, "smtp said no\nbacktrace..."),
            dead_job(2, &long),
        ];
        let args = DeadListArgs {
            queue: None,
            limit: 50,
        };
        let text = render(|out| write_dead_list(&jobs, &args, from_millis(NOW), out));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID  "), "{text}");
        assert!(lines[0].ends_with("LAST ERROR"), "{text}");
        assert!(
            lines[1].starts_with("0190f3a2-7c1e-7b3a-9f4e-000000000001  app::send_email  emails"),
            "{text}"
        );
        assert!(lines[1].contains("3/3"), "{text}");
        assert!(lines[1].contains("5m ago"), "{text}");
        assert!(lines[1].ends_with("smtp said no…"), "{text}");
        assert!(lines[2].ends_with('…'), "{text}");
        assert!(!text.contains("backtrace"), "{text}");
    }

    #[test]
    fn dead_list_hints_at_the_limit() {
        let jobs = [dead_job(1, "boom")];
        let args = DeadListArgs {
            queue: Some("emails".into()),
            limit: 1,
        };
        let text = render(|out| write_dead_list(&jobs, &args, from_millis(NOW), out));
        assert!(
            text.ends_with(
                "showing the 1 most recent dead jobs in queue `emails`; pass --limit to see more\n"
            ),
            "{text}"
        );
        let text = render(|out| write_dead_list(&[], &args, from_millis(NOW), out));
        assert_eq!(text, "no dead jobs in queue `emails`\n");
    }

    #[test]
    fn a_job_shows_its_errors() {
        let job = dead_job(1, "smtp said no\n  at line 3");
        let text = render(|out| write_job(&job, from_millis(NOW), out));
        assert!(text.contains("state:     dead\n"), "{text}");
        assert!(text.contains("attempts:  3 of 3\n"), "{text}");
        assert!(
            text.contains("created:   2025-06-15 14:06:40 UTC (1h ago)\n"),
            "{text}"
        );
        assert!(
            text.contains("  attempt 3, 2025-06-15 15:01:40 UTC (5m ago):\n    smtp said no\n      at line 3\n"),
            "{text}"
        );
    }

    #[test]
    fn relative_times() {
        let now = from_millis(NOW);
        assert_eq!(relative(from_millis(NOW - 500), now), "now");
        assert_eq!(relative(from_millis(NOW - 42_000), now), "42s ago");
        assert_eq!(relative(from_millis(NOW + 90_000), now), "in 1m");
        assert_eq!(relative(from_millis(NOW - 7_200_000), now), "2h ago");
        assert_eq!(relative(from_millis(NOW - 3 * 86_400_000), now), "3d ago");
    }
}
