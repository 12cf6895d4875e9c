//! Bad input in a real SQLite jobs table — garbage payload bytes, an unknown
//! task name, a panicking handler, a handler that times out — ends in
//! dead-letter with a readable reason, and the worker keeps going.

mod support;

use std::time::Duration;

use asynctasq::{JobId, JobState};
use asynctasq_examples::chaos::{explode, hang, record};
use support::{Scratch, stats, wait_exit};

async fn reason(client: &asynctasq::Client, id: JobId) -> String {
    let job = client.driver().job(id).await.unwrap().expect("job kept");
    assert_eq!(job.state, JobState::Dead, "{job:?}");
    job.last_error().expect("reason recorded").message.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_ends_in_dead_letter_with_reasons() {
    let scratch = Scratch::new();
    let client = scratch.client().await;
    let queue = "bad";

    let corrupt = record(1, scratch.log.clone(), 0)
        .on_queue(queue)
        .dispatch_with(&client)
        .await
        .unwrap();
    let mut unknown = record(2, scratch.log.clone(), 0)
        .on_queue(queue)
        .envelope()
        .unwrap();
    unknown.task = "no_such_task".into();
    client
        .enqueue(std::slice::from_ref(&unknown))
        .await
        .unwrap();
    let panics = explode("boom: the handler panicked".into())
        .on_queue(queue)
        .dispatch_with(&client)
        .await
        .unwrap();
    let slow = hang().on_queue(queue).dispatch_with(&client).await.unwrap();
    let good = record(3, scratch.log.clone(), 0)
        .on_queue(queue)
        .dispatch_with(&client)
        .await
        .unwrap();

    // Garbage straight into the table, behind the driver's back.
    let pool = sqlx::SqlitePool::connect(&scratch.url).await.unwrap();
    let changed = sqlx::query("UPDATE asynctasq_jobs SET payload = X'C1FFC1DEADBEEF' WHERE id = ?")
        .bind(corrupt.to_string())
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1);
    pool.close().await;

    let mut worker = scratch.worker(&["--queues", queue, "--burst"]);
    let status = wait_exit(&mut worker, Duration::from_secs(60));
    assert!(
        status.success(),
        "worker died: {}",
        support::stderr_of(&mut worker)
    );

    assert!(
        reason(&client, corrupt)
            .await
            .starts_with("undecodable payload")
    );
    assert!(
        reason(&client, unknown.id)
            .await
            .contains("unknown task `no_such_task`")
    );
    assert_eq!(
        reason(&client, panics).await,
        "panicked: boom: the handler panicked"
    );
    let panicked = client.driver().job(panics).await.unwrap().unwrap();
    assert_eq!(
        panicked.errors.len(),
        2,
        "the panicking job is retried per its policy"
    );
    assert_eq!(reason(&client, slow).await, "timed out after 200ms");
    assert!(
        client.driver().job(good).await.unwrap().is_none(),
        "the good job did not complete"
    );
    assert_eq!(scratch.done().get(&3), Some(&1));
    let s = stats(&client, queue).await;
    assert_eq!(
        (s.ready, s.scheduled, s.running, s.dead),
        (0, 0, 0, 4),
        "{s:?}"
    );
}
