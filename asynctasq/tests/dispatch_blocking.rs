//! `dispatch_blocking()` enqueues from synchronous code without a runtime of
//! the caller's, and refuses (instead of deadlocking) inside one.

use std::sync::Arc;

use asynctasq::drivers::MemoryDriver;
use asynctasq::{Client, Error, JobState, task};

#[task(queue = "sync")]
fn resize(path: String) -> std::io::Result<()> {
    let _ = path;
    Ok(())
}

#[test]
fn dispatch_blocking_from_sync_code_and_its_refusal_inside_a_runtime() {
    let client = Client::new(Arc::new(MemoryDriver::new()));
    asynctasq::set_global(client.clone()).unwrap();

    let id = resize("a.png".into())
        .dispatch_blocking()
        .expect("dispatched");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let job = runtime
        .block_on(client.driver().job(id))
        .unwrap()
        .expect("stored");
    assert_eq!(
        (job.state, job.queue.as_str(), job.task.as_str()),
        (JobState::Ready, "sync", "resize")
    );

    let inside = runtime.block_on(async { resize("b.png".into()).dispatch_blocking() });
    assert!(matches!(inside, Err(Error::BlockingInAsync)), "{inside:?}");
}
