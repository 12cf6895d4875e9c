//! Model-argument scenarios shared by the SQLite and Postgres test files:
//! each takes the models' database and a jobs client, dispatches, runs a
//! real worker, and checks what the task received.

#![allow(dead_code)]

pub mod entities;

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use asynctasq::{Client, JobId, JobState, Worker, WorkerReport, task};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait,
};

use entities::{account, document, membership, tag, user};

/// What tasks received, by run id.
static SEEN: LazyLock<Mutex<HashMap<String, Vec<String>>>> = LazyLock::new(Default::default);

fn record(run: &str, what: String) {
    SEEN.lock()
        .unwrap()
        .entry(run.to_string())
        .or_default()
        .push(what);
}

pub fn seen(run: &str) -> Vec<String> {
    SEEN.lock().unwrap().get(run).cloned().unwrap_or_default()
}

/// A fresh run id, also used as the queue name.
pub fn run_id(label: &str) -> String {
    format!(
        "orm-{label}-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    )
}

/// A primary key nobody else uses.
pub fn fresh_id() -> i32 {
    (rand::random::<u32>() >> 1) as i32
}

#[task(queue = "orm", max_attempts = 2, retry = "fixed", retry_delay = "50ms")]
#[allow(clippy::too_many_arguments)]
async fn every_key(
    run: String,
    user: user::Model,
    tag: tag::Model,
    document: document::Model,
    membership: membership::Model,
    coupon: Option<tag::Model>,
    nobody: Option<user::Model>,
    team: Vec<user::Model>,
) -> Result<(), String> {
    record(&run, format!("{user:?}"));
    record(&run, format!("{tag:?}"));
    record(&run, format!("{document:?}"));
    record(&run, format!("{membership:?}"));
    record(&run, format!("{coupon:?}"));
    record(&run, format!("{nobody:?}"));
    record(&run, format!("{team:?}"));
    Ok(())
}

#[task(queue = "orm", max_attempts = 2, retry = "fixed", retry_delay = "50ms")]
pub async fn greet(run: String, user: user::Model) -> Result<(), String> {
    record(&run, user.name);
    Ok(())
}

#[task(queue = "orm", max_attempts = 2, retry = "fixed", retry_delay = "50ms")]
async fn greet_team(run: String, team: Vec<user::Model>) -> Result<(), String> {
    record(&run, format!("{}", team.len()));
    Ok(())
}

#[task(queue = "orm", max_attempts = 1)]
async fn greet_tagged(run: String, user: user::Model, tag: tag::Model) -> Result<(), String> {
    record(&run, format!("{} {}", user.name, tag.label));
    Ok(())
}

#[task(queue = "orm", missing = "skip")]
async fn greet_if_present(run: String, user: user::Model) -> Result<(), String> {
    record(&run, user.name);
    Ok(())
}

#[task(queue = "orm")]
async fn audit_account(run: String, account: account::Model) -> Result<(), String> {
    record(&run, format!("{account:?}"));
    Ok(())
}

/// Takes a model as a snapshot and plain values: nothing to fetch.
#[task(queue = "orm")]
async fn archive(run: String, user: asynctasq::core::args::Snapshot<user::Model>) {
    record(&run, format!("{:?}", user.into_inner()));
}

/// The registry knows which tasks take models, from the codec each argument
/// uses (a `Snapshot` travels by value: it fetches nothing).
pub fn registry_knows_which_tasks_take_models() {
    let registry = asynctasq::Registry::from_inventory().unwrap();
    assert!(registry.get("archive").is_some());
    assert_eq!(
        registry.tasks_taking_models(),
        vec![
            ("audit_account", vec!["account"]),
            (
                "every_key",
                vec![
                    "user",
                    "tag",
                    "document",
                    "membership",
                    "coupon",
                    "nobody",
                    "team"
                ]
            ),
            ("greet", vec!["user"]),
            ("greet_if_present", vec!["user"]),
            ("greet_tagged", vec!["user", "tag"]),
            ("greet_team", vec!["team"]),
        ]
    );
}

/// Creates the test tables (not `app.accounts`) if missing.
pub async fn create_tables(db: &DatabaseConnection) {
    let schema = sea_orm::Schema::new(db.get_database_backend());
    macro_rules! create {
        ($($entity:path),*) => {$(
            let mut statement = schema.create_table_from_entity($entity);
            statement.if_not_exists();
            db.execute(&statement).await.expect("create table");
        )*};
    }
    create!(
        user::Entity,
        tag::Entity,
        document::Entity,
        membership::Entity
    );
}

pub async fn insert_user(db: &impl ConnectionTrait, name: &str) -> user::Model {
    let id = fresh_id();
    user::ActiveModel {
        id: Set(id),
        name: Set(name.into()),
        email: Set(format!("{id}@example.com")),
    }
    .insert(db)
    .await
    .expect("insert user")
}

/// Runs a burst worker over `queue` with `db` for model fetches.
pub async fn drain(client: &Client, db: &DatabaseConnection, queue: &str) -> WorkerReport {
    drain_with(client, db.clone(), queue, 4).await
}

/// [`drain`] with `concurrency` (a claim takes up to that many jobs).
pub async fn drain_with(
    client: &Client,
    db: DatabaseConnection,
    queue: &str,
    concurrency: usize,
) -> WorkerReport {
    let worker = Worker::new(client.clone())
        .database(db)
        .queues([queue])
        .concurrency(concurrency)
        .burst(true);
    run_to_drain(worker).await
}

/// Runs a burst `worker` until its queues drain (at most 30 s).
pub async fn run_to_drain(worker: Worker) -> WorkerReport {
    tokio::time::timeout(
        Duration::from_secs(30),
        worker.run_until(std::future::pending()),
    )
    .await
    .expect("worker drained within 30 s")
    .expect("worker")
}

pub async fn dead_reason(client: &Client, id: JobId) -> (String, usize) {
    let job = client.driver().job(id).await.unwrap().expect("job kept");
    assert_eq!(job.state, JobState::Dead, "{job:?}");
    (job.last_error().unwrap().message.clone(), job.errors.len())
}

/// Int, string, UUID and composite keys, `Option` (some and none) and
/// `Vec` (order kept) arrive as fresh rows; only keys travel.
pub async fn every_key_kind_round_trips_fresh(db: &DatabaseConnection, client: &Client) {
    let run = run_id("keys");
    let ada = insert_user(db, "Ada").await;
    let bob = insert_user(db, "Bob").await;
    let slug = format!("vip-{}", fresh_id());
    let vip = tag::ActiveModel {
        slug: Set(slug.clone()),
        label: Set("VIP".into()),
    }
    .insert(db)
    .await
    .unwrap();
    let doc = document::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        title: Set("Terms".into()),
    }
    .insert(db)
    .await
    .unwrap();
    let member = membership::ActiveModel {
        org_id: Set(fresh_id()),
        login: Set("ada".into()),
        role: Set("owner".into()),
    }
    .insert(db)
    .await
    .unwrap();

    let job = every_key(
        run.clone(),
        ada.clone(),
        vip.clone(),
        doc.clone(),
        member.clone(),
        Some(vip.clone()),
        None,
        vec![bob.clone(), ada.clone()],
    )
    .on_queue(&run);
    let envelope = job.envelope().unwrap();
    let args = envelope.args.as_map().unwrap();
    let arg = |name: &str| {
        args.iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .unwrap()
            .1
            .clone()
    };
    let user_ref = arg("user");
    let fields: HashMap<String, String> = user_ref
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.to_string()))
        .collect();
    assert_eq!(fields["orm"], "\"sea-orm\"");
    assert_eq!(fields["class"], "\"users\"");
    assert_eq!(fields["pk"], ada.id.to_string());
    assert_eq!(
        arg("membership").as_map().unwrap()[2].1.to_string(),
        format!("[{}, \"ada\"]", member.org_id)
    );
    assert_eq!(arg("nobody"), asynctasq::__private::rmpv::Value::Nil);

    job.dispatch_with(client).await.unwrap();
    // The worker sees the row as of execution, not dispatch.
    let mut renamed: user::ActiveModel = ada.clone().into();
    renamed.name = Set("Ada Lovelace".into());
    let ada = renamed.update(db).await.unwrap();

    let report = drain(client, db, &run).await;
    assert_eq!(report.completed, 1, "{report:?}");
    assert_eq!(
        seen(&run),
        vec![
            format!("{ada:?}"),
            format!("{vip:?}"),
            format!("{doc:?}"),
            format!("{member:?}"),
            format!("{:?}", Some(vip.clone())),
            "None".to_string(),
            format!("{:?}", vec![bob, ada]),
        ]
    );
}

/// Int, string, UUID and composite keys, `Option` and `Vec`, in several jobs
/// of one claim batch: one SELECT per table for all of them, and each job
/// gets exactly its own rows, in its order.
pub async fn every_key_kind_batches_across_jobs(db: &DatabaseConnection, client: &Client) {
    let queue = run_id("keys-batch");
    let mut expected = Vec::new();
    for i in 0..3 {
        let run = format!("{queue}-{i}");
        let a = insert_user(db, &format!("A{i}")).await;
        let b = insert_user(db, &format!("B{i}")).await;
        let tag = tag::ActiveModel {
            slug: Set(format!("t{i}-{}", fresh_id())),
            label: Set(format!("Tag {i}")),
        }
        .insert(db)
        .await
        .unwrap();
        let doc = document::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            title: Set(format!("Doc {i}")),
        }
        .insert(db)
        .await
        .unwrap();
        let member = membership::ActiveModel {
            org_id: Set(fresh_id()),
            login: Set(format!("login{i}")),
            role: Set("member".into()),
        }
        .insert(db)
        .await
        .unwrap();
        let coupon = (i % 2 == 0).then(|| tag.clone());
        every_key(
            run.clone(),
            a.clone(),
            tag.clone(),
            doc.clone(),
            member.clone(),
            coupon.clone(),
            None,
            vec![b.clone(), a.clone()],
        )
        .on_queue(&queue)
        .dispatch_with(client)
        .await
        .unwrap();
        expected.push((
            run,
            vec![
                format!("{a:?}"),
                format!("{tag:?}"),
                format!("{doc:?}"),
                format!("{member:?}"),
                format!("{coupon:?}"),
                "None".to_string(),
                format!("{:?}", vec![b, a]),
            ],
        ));
    }
    let tables = &["users", "tags", "documents", "memberships"];
    let (counted, selects) = counting_selects(db, tables);
    let report = drain_with(client, counted, queue.as_str(), 8).await;
    assert_eq!((report.completed, report.dead), (3, 0), "{report:?}");
    for (run, rows) in expected {
        assert_eq!(seen(&run), rows, "job {run}");
    }
    let selects = selects.lock().unwrap().clone();
    for table in tables {
        assert_eq!(
            selects.get(table),
            Some(&1),
            "one SELECT on `{table}` for the batch of 3 jobs: {selects:?}"
        );
    }
}

/// The SELECTs that `db` runs on each of `tables`, counted from now on
/// (sea-orm's metric callback, on a clone of the connection).
pub fn counting_selects(
    db: &DatabaseConnection,
    tables: &'static [&'static str],
) -> (
    DatabaseConnection,
    std::sync::Arc<Mutex<HashMap<&'static str, usize>>>,
) {
    let counts = std::sync::Arc::new(Mutex::new(HashMap::new()));
    let mut counted = db.clone();
    let seen = counts.clone();
    counted.set_metric_callback(move |info| {
        let sql = &info.statement.sql;
        if !sql.trim_start().to_ascii_uppercase().starts_with("SELECT") {
            return;
        }
        for table in tables {
            let quoted = [format!("\"{table}\""), format!("`{table}`")];
            if quoted.iter().any(|q| sql.contains(q.as_str())) {
                *seen.lock().unwrap().entry(*table).or_default() += 1;
            }
        }
    });
    (counted, counts)
}

/// The jobs of one claim batch fetch each entity with one statement, shared
/// by jobs that ask for the same rows and for different ones; each still
/// sees its rows as they are after the claim (a change made after dispatch
/// is seen), and a row missing for one job fails only that job.
pub async fn a_claim_batch_fetches_each_entity_once(db: &DatabaseConnection, client: &Client) {
    let run = run_id("batch");
    let users = [
        insert_user(db, "Ada").await,
        insert_user(db, "Bob").await,
        insert_user(db, "Cy").await,
    ];
    let gone = insert_user(db, "Gone").await;
    let slug = format!("vip-{}", fresh_id());
    let vip = tag::ActiveModel {
        slug: Set(slug),
        label: Set("VIP".into()),
    }
    .insert(db)
    .await
    .unwrap();
    for i in 0..12 {
        greet_tagged(run.clone(), users[i % 3].clone(), vip.clone())
            .on_queue(&run)
            .dispatch_with(client)
            .await
            .unwrap();
    }
    let doomed = greet_tagged(run.clone(), gone.clone(), vip.clone())
        .on_queue(&run)
        .dispatch_with(client)
        .await
        .unwrap();
    // After dispatch: one row renamed, one deleted.
    let mut ada: user::ActiveModel = users[0].clone().into();
    ada.name = Set("Ada Lovelace".into());
    ada.update(db).await.unwrap();
    user::Entity::delete_by_id(gone.id).exec(db).await.unwrap();

    let (counted, selects) = counting_selects(db, &["users", "tags"]);
    // One claim takes all 13 jobs.
    let report = drain_with(client, counted, run.as_str(), 16).await;
    assert_eq!((report.completed, report.dead), (12, 1), "{report:?}");
    let (reason, _) = dead_reason(client, doomed).await;
    assert_eq!(
        reason,
        format!("model not found: `users` with primary key {}", gone.id)
    );
    let mut greeted = seen(&run);
    greeted.sort();
    let expected: Vec<String> = ["Ada Lovelace VIP", "Bob VIP", "Cy VIP"]
        .iter()
        .flat_map(|g| std::iter::repeat_n(g.to_string(), 4))
        .collect();
    assert_eq!(greeted, expected);
    let selects = selects.lock().unwrap().clone();
    assert_eq!(
        (selects.get("users"), selects.get("tags")),
        (Some(&1), Some(&1)),
        "one SELECT per entity for the whole batch of 13 jobs: {selects:?}"
    );
}

/// A model deleted after dispatch is a typed failure that follows the retry
/// policy and ends in dead-letter with `model not found`.
pub async fn deleted_model_ends_in_dead_letter(db: &DatabaseConnection, client: &Client) {
    let run = run_id("deleted");
    let gone = insert_user(db, "Gone").await;
    let id = greet(run.clone(), gone.clone())
        .on_queue(&run)
        .dispatch_with(client)
        .await
        .unwrap();
    user::Entity::delete_by_id(gone.id).exec(db).await.unwrap();
    let report = drain(client, db, &run).await;
    assert_eq!((report.retried, report.dead), (1, 1), "{report:?}");
    let (reason, attempts) = dead_reason(client, id).await;
    assert_eq!(
        reason,
        format!("model not found: `users` with primary key {}", gone.id)
    );
    assert_eq!(attempts, 2);
    assert!(seen(&run).is_empty());
}

/// `missing = "skip"` completes the job silently when the row is gone.
pub async fn missing_skip_completes_silently(db: &DatabaseConnection, client: &Client) {
    let run = run_id("skip");
    let gone = insert_user(db, "Gone").await;
    let id = greet_if_present(run.clone(), gone.clone())
        .on_queue(&run)
        .dispatch_with(client)
        .await
        .unwrap();
    user::Entity::delete_by_id(gone.id).exec(db).await.unwrap();
    let report = drain(client, db, &run).await;
    assert_eq!(
        (report.completed, report.retried, report.dead),
        (1, 0, 0),
        "{report:?}"
    );
    assert!(client.driver().job(id).await.unwrap().is_none());
    assert!(seen(&run).is_empty());
}

/// A `Vec` with one missing row fails like a missing single model.
pub async fn vec_with_a_missing_row_fails(db: &DatabaseConnection, client: &Client) {
    let run = run_id("vec-missing");
    let a = insert_user(db, "A").await;
    let b = insert_user(db, "B").await;
    let id = greet_team(run.clone(), vec![a, b.clone()])
        .on_queue(&run)
        .dispatch_with(client)
        .await
        .unwrap();
    user::Entity::delete_by_id(b.id).exec(db).await.unwrap();
    drain(client, db, &run).await;
    let (reason, _) = dead_reason(client, id).await;
    assert_eq!(
        reason,
        format!("model not found: `users` with primary key {}", b.id)
    );
}

/// A payload whose `class` names another entity is dead at once, without a fetch.
pub async fn wrong_class_is_refused(db: &DatabaseConnection, client: &Client) {
    let run = run_id("class");
    let user = insert_user(db, "Eve").await;
    let mut envelope = greet(run.clone(), user).on_queue(&run).envelope().unwrap();
    let args = envelope.args.as_map().unwrap().clone();
    let forged: Vec<_> = args
        .into_iter()
        .map(|(k, v)| {
            if k.as_str() == Some("user") {
                let fields = v
                    .as_map()
                    .unwrap()
                    .iter()
                    .map(|(fk, fv)| {
                        let fv = if fk.as_str() == Some("class") {
                            "tags".into()
                        } else {
                            fv.clone()
                        };
                        (fk.clone(), fv)
                    })
                    .collect();
                (k, asynctasq::__private::rmpv::Value::Map(fields))
            } else {
                (k, v)
            }
        })
        .collect();
    envelope.args = asynctasq::__private::rmpv::Value::Map(forged);
    client
        .enqueue(std::slice::from_ref(&envelope))
        .await
        .unwrap();
    let report = drain(client, db, &run).await;
    assert_eq!((report.retried, report.dead), (0, 1), "{report:?}");
    let (reason, attempts) = dead_reason(client, envelope.id).await;
    assert_eq!(
        reason,
        "argument `user` refers to `sea-orm:tags` but the task takes `sea-orm:users`"
    );
    assert_eq!(attempts, 1, "a class mismatch is permanent");
}

/// A model from a schema-qualified table travels as `schema.table`.
pub async fn schema_qualified_table(db: &DatabaseConnection, client: &Client) {
    let run = run_id("schema");
    let account = account::ActiveModel {
        id: Set(fresh_id().into()),
        owner: Set("ada".into()),
    }
    .insert(db)
    .await
    .expect("insert into app.accounts");
    let job = audit_account(run.clone(), account.clone()).on_queue(&run);
    let args = job.envelope().unwrap().args;
    assert!(
        args.to_string().contains("\"class\": \"app.accounts\""),
        "{args}"
    );
    job.dispatch_with(client).await.unwrap();
    let report = drain(client, db, &run).await;
    assert_eq!(report.completed, 1, "{report:?}");
    assert_eq!(seen(&run), vec![format!("{account:?}")]);
}

/// A job dispatched in a transaction is invisible until the commit, then runs.
pub async fn dispatch_in_exists_once_the_transaction_commits(
    db: &DatabaseConnection,
    client: &Client,
) {
    let run = run_id("commit");
    let txn = db.begin().await.unwrap();
    let user = insert_user(&txn, "Committed").await;
    let id = greet(run.clone(), user)
        .on_queue(&run)
        .dispatch_in_with(client, &txn)
        .await
        .unwrap();
    assert!(
        client.driver().job(id).await.unwrap().is_none(),
        "visible before commit"
    );
    txn.commit().await.unwrap();
    assert!(
        client.driver().job(id).await.unwrap().is_some(),
        "missing after commit"
    );
    let report = drain(client, db, &run).await;
    assert_eq!(report.completed, 1);
    assert_eq!(seen(&run), vec!["Committed".to_string()]);
}

/// A rollback removes the job with the business row.
pub async fn dispatch_in_vanishes_with_a_rollback(db: &DatabaseConnection, client: &Client) {
    let run = run_id("rollback");
    let txn = db.begin().await.unwrap();
    let user = insert_user(&txn, "Rolled back").await;
    let id = greet(run.clone(), user.clone())
        .on_queue(&run)
        .dispatch_in_with(client, &txn)
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert!(client.driver().job(id).await.unwrap().is_none());
    let gone = entities::user::Entity::find_by_id(user.id)
        .one(db)
        .await
        .unwrap();
    assert!(gone.is_none(), "the business row rolled back too");
    assert_eq!(drain(client, db, &run).await.claimed, 0);
}

/// Dropping the transaction without a commit removes the job too.
pub async fn dispatch_in_vanishes_when_the_transaction_is_dropped(
    db: &DatabaseConnection,
    client: &Client,
) {
    let run = run_id("drop");
    let id = {
        let txn = db.begin().await.unwrap();
        let user = insert_user(&txn, "Dropped").await;
        greet(run.clone(), user)
            .on_queue(&run)
            .dispatch_in_with(client, &txn)
            .await
            .unwrap()
    };
    assert!(client.driver().job(id).await.unwrap().is_none());
    assert_eq!(drain(client, db, &run).await.claimed, 0);
}

/// A transaction on a database other than the client's jobs database is
/// refused before anything is written: the job is stored nowhere, and the
/// error says which database the transaction is on. `has_schema` tells
/// whether `elsewhere` has an asynctasq schema of its own (from an earlier
/// `migrate`), which is the case a table check alone would miss.
pub async fn dispatch_in_elsewhere_is_refused(
    client: &Client,
    elsewhere: &DatabaseConnection,
    has_schema: bool,
) {
    let run = run_id("elsewhere");
    let user = user::Model {
        id: fresh_id(),
        name: "Elsewhere".into(),
        email: "elsewhere@example.com".into(),
    };
    let txn = elsewhere.begin().await.unwrap();
    let error = greet(run.clone(), user)
        .on_queue(&run)
        .dispatch_in_with(client, &txn)
        .await
        .expect_err("a transaction on another database must be refused");
    let message = error.to_string();
    assert!(
        message.contains("this transaction is not on the jobs database"),
        "{message}"
    );
    let why = if has_schema {
        "whose asynctasq schema belongs to another jobs database"
    } else {
        "it has no asynctasq tables"
    };
    assert!(message.contains(why), "{message}");
    assert!(!message.contains("no such table"), "{message}");
    txn.rollback().await.unwrap();
    let stats = client
        .driver()
        .stats(Some(std::slice::from_ref(&run)))
        .await
        .unwrap();
    assert!(
        stats
            .iter()
            .all(|s| s.ready + s.scheduled + s.running + s.dead == 0),
        "nothing reached the jobs database: {stats:?}"
    );
}
