//! Recorded attempt errors: every driver stores them in the one form of
//! [`stored_error`](crate::stored_error) and reads back what it was given.

use std::sync::Arc;

use chrono::Utc;

use super::{claim_one_queue, dead_page, job, unique_queue};
use crate::driver::Driver;
use crate::job::{AttemptError, Burial, Retry, from_millis};

/// A retry's and then a bury's error read back identically (message,
/// attempt, `at` to the millisecond), oldest first, from a lookup and from
/// the dead-letter list.
pub async fn retry_and_bury_errors_read_back_exactly(driver: &Arc<dyn Driver>) {
    let q = unique_queue("errors");
    driver.enqueue(&[job(&q)]).await.unwrap();
    let first = claim_one_queue(driver, &q, 1).await.remove(0);
    // Sub-millisecond digits, an old date, and a message that needs escaping
    // in JSON and in a line-based store.
    let retried = AttemptError {
        at: from_millis(1_767_323_045_006) + chrono::Duration::microseconds(789),
        attempt: first.attempt,
        message: "line one\nline \"two\"\t\\ é ✓ {\"json\": [1]}".into(),
    };
    let retry = Retry {
        receipt: first.receipt,
        run_at: Utc::now(),
        error: retried.clone(),
    };
    assert_eq!(driver.retry(&[retry]).await.unwrap(), 1);
    let info = driver.job(first.receipt.id).await.unwrap().expect("job");
    assert_eq!(info.errors, [retried.as_stored()], "the retry's error");

    let second = claim_one_queue(driver, &q, 1).await.remove(0);
    assert_eq!(second.attempt, first.attempt + 1);
    let buried = AttemptError::now(second.attempt, "card declined: insufficient funds");
    let burial = Burial {
        receipt: second.receipt,
        error: buried.clone(),
    };
    assert_eq!(driver.bury(&[burial]).await.unwrap(), 1);
    let expected = [retried.as_stored(), buried.as_stored()];
    let info = driver.job(first.receipt.id).await.unwrap().expect("job");
    assert_eq!(info.errors, expected, "a lookup after the bury");
    let dead = dead_page(driver, &q, 10, 0).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].errors, expected, "the dead-letter list");
}
