//! The asynctasq quickstart: define tasks, dispatch jobs, run a worker
//! in-process until the queues drain, print a summary. No server needed:
//! jobs live in an embedded SQLite file.
//!
//! ```console
//! $ cargo run --example quickstart
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use asynctasq::prelude::*;
use asynctasq::{DeadListParams, JobState};
use sea_orm::{ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, Schema, Set};

/// The app's own table: a sea-orm entity.
mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub email: String,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

static EMAILS_SENT: AtomicU32 = AtomicU32::new(0);
static REPORT_CALLS: AtomicU32 = AtomicU32::new(0);

/// Takes a sea-orm model: only its key travels, and the worker re-fetches
/// the row, so the email goes to the address the user has *now*.
#[task(queue = "emails", max_attempts = 5, timeout = "30s")]
async fn send_welcome_email(user: user::Model) -> Result<(), std::io::Error> {
    tokio::time::sleep(Duration::from_millis(5)).await; // pretend to talk to SMTP
    assert!(user.email.ends_with("@example.com"), "{user:?}");
    EMAILS_SENT.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Fails on its first attempt, succeeds on the retry 200 ms later.
#[task(
    queue = "reports",
    max_attempts = 3,
    retry = "fixed",
    retry_delay = "200ms"
)]
async fn build_report(month: String) -> Result<(), String> {
    if REPORT_CALLS.fetch_add(1, Ordering::Relaxed) == 0 {
        return Err(format!("warehouse busy while building the {month} report"));
    }
    Ok(())
}

/// Always declined: a permanent error goes straight to dead-letter.
#[task(queue = "payments", max_attempts = 5)]
async fn charge_card(order_id: u64, cents: u64) -> Result<(), Permanent> {
    Err(Permanent::new(format!(
        "card declined for order {order_id} ({cents} cents)"
    )))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let file = std::env::temp_dir().join(format!("asynctasq-quickstart-{}.db", std::process::id()));
    let url = format!("sqlite://{}", file.display());
    // Jobs: the embedded SQLite driver, no server.
    let client = asynctasq::init(Config::new(&url)).await?;
    println!("asynctasq quickstart — jobs stored in {}", file.display());

    // The app's own database (the same file here; any sea-orm database works).
    let db = Database::connect(ConnectOptions::new(&url).max_connections(4).to_owned()).await?;
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(user::Entity))
        .await?;
    let mut users = Vec::new();
    for i in 1..=31 {
        let user = user::ActiveModel {
            email: Set(format!("user{i}@example.com")),
            name: Set(format!("User {i}")),
            ..Default::default()
        };
        users.push(user.insert(&db).await?);
    }

    let started = Instant::now();
    let later = users.pop().expect("31 users");
    let ids = asynctasq::dispatch_many(users.into_iter().map(send_welcome_email)).await?;
    send_welcome_email(later)
        .delay(Duration::from_secs(1))
        .dispatch()
        .await?;
    build_report("2026-11".into())
        .priority(5)
        .dispatch()
        .await?;
    let declined = charge_card(42, 1999).dispatch().await?;
    println!(
        "dispatched {} jobs (one delayed by 1 s) — first id {}",
        ids.len() + 3,
        ids[0]
    );

    let report = Worker::new(client.clone())
        .database(db.clone()) // where model arguments are re-fetched from
        .queues(["emails", "reports", "payments"])
        .concurrency(8)
        .burst(true)
        .run()
        .await?;

    println!();
    println!("worker drained the queues in {:.2?}", started.elapsed());
    println!("  claimed    {:>3}", report.claimed);
    println!(
        "  completed  {:>3}  ({} welcome emails sent, each to a user re-fetched by id)",
        report.completed,
        EMAILS_SENT.load(Ordering::Relaxed)
    );
    println!(
        "  retried    {:>3}  (build_report failed once, then succeeded)",
        report.retried
    );
    println!("  dead       {:>3}", report.dead);
    for job in client
        .driver()
        .dead_list(DeadListParams {
            queue: None,
            limit: 10,
            offset: 0,
        })
        .await?
    {
        let reason = job.last_error().map(|e| e.message.as_str()).unwrap_or("?");
        println!("    {} {} on `{}`: {reason}", job.id, job.task, job.queue);
    }
    let dead = client.driver().job(declined).await?.map(|j| j.state);
    anyhow::ensure!(
        EMAILS_SENT.load(Ordering::Relaxed) == 31,
        "expected 31 emails"
    );
    anyhow::ensure!(
        report.completed == 32,
        "expected 32 completed jobs, got {}",
        report.completed
    );
    anyhow::ensure!(
        report.retried == 1 && report.dead == 1,
        "unexpected report {report:?}"
    );
    anyhow::ensure!(
        dead == Some(JobState::Dead),
        "charge_card should be dead, is {dead:?}"
    );
    db.close().await?;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    println!("\nall good. Next: docs/tasks.md, docs/orm.md and docs/workers.md");
    Ok(())
}
