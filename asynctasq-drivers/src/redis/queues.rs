//! Queue numbers and receipt tokens. Every queue gets a number on first use
//! (`register.lua`); a receipt's token holds the queue's number and the
//! job's claim counter, so an ack finds its queue without an index.

use std::collections::HashMap;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use asynctasq_core::{Error, Result};

use super::RedisDriver;
use super::rows::driver_err;
use super::scripts;

/// How long a cached queue number is trusted before it is checked again.
const REGISTRY_TTL: Duration = Duration::from_secs(60);
/// Bits of a receipt token that hold the job's claim counter; the bits above
/// hold the queue's number.
const CLAIM_BITS: u32 = 40;
/// Queue numbers must fit the positive bits above [`CLAIM_BITS`].
const MAX_QUEUES: i64 = 1 << (63 - CLAIM_BITS);

/// Queue numbers known to this process, refreshed after [`REGISTRY_TTL`].
#[derive(Default)]
pub(super) struct QueueCache {
    by_name: HashMap<String, (i64, Instant)>,
    by_number: HashMap<i64, (String, Instant)>,
}

/// The token of a receipt for a job of queue `queue_number` claimed `claims` times.
pub(super) fn make_token(queue_number: i64, claims: i64) -> i64 {
    (queue_number << CLAIM_BITS) | (claims & ((1 << CLAIM_BITS) - 1))
}

/// `(queue number, claim counter)` of a token this driver made, or `None`.
pub(super) fn split_token(token: i64) -> Option<(i64, i64)> {
    let number = token >> CLAIM_BITS;
    let claims = token & ((1 << CLAIM_BITS) - 1);
    (token > 0 && number > 0 && claims > 0).then_some((number, claims))
}

/// Refuses queue names that would break the `{…}` hash tags of the key layout.
pub(super) fn validate_queue(queue: &str) -> Result<()> {
    if queue.contains(['{', '}']) {
        return Err(Error::Config(format!(
            "the redis driver does not accept `{{` or `}}` in queue names (`{queue}`): they delimit hash tags"
        )));
    }
    Ok(())
}

impl RedisDriver {
    fn cache(&self) -> MutexGuard<'_, QueueCache> {
        self.inner.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, queue: &str, number: i64) {
        let now = Instant::now();
        let mut cache = self.cache();
        cache.by_name.insert(queue.to_string(), (number, now));
        cache.by_number.insert(number, (queue.to_string(), now));
    }

    /// The number of `queue`, registering the queue on first use.
    pub(super) async fn queue_number(&self, queue: &str) -> Result<i64> {
        if let Some(&(n, at)) = self.cache().by_name.get(queue)
            && at.elapsed() < REGISTRY_TTL
        {
            return Ok(n);
        }
        let number: i64 = scripts::REGISTER
            .script
            .key(self.global_key("queues"))
            .key(self.global_key("queue_names"))
            .key(self.global_key("queue_seq"))
            .arg(queue)
            .invoke_async(&mut self.conn())
            .await
            .map_err(driver_err)?;
        if !(1..MAX_QUEUES).contains(&number) {
            return Err(driver_err(format!(
                "queue `{queue}` got number {number}; at most {} queues fit in receipt tokens",
                MAX_QUEUES - 1
            )));
        }
        self.remember(queue, number);
        Ok(number)
    }

    /// The queue with `number`, if there is one.
    pub(super) async fn queue_named(&self, number: i64) -> Result<Option<String>> {
        if let Some((name, at)) = self.cache().by_number.get(&number)
            && at.elapsed() < REGISTRY_TTL
        {
            return Ok(Some(name.clone()));
        }
        let name: Option<String> = redis::cmd("HGET")
            .arg(self.global_key("queue_names"))
            .arg(number)
            .query_async(&mut self.conn())
            .await
            .map_err(driver_err)?;
        if let Some(name) = &name {
            self.remember(name, number);
        }
        Ok(name)
    }

    /// Every queue that ever held a job or was paused, sorted by name.
    pub(super) async fn known_queues(&self) -> Result<Vec<String>> {
        let all: HashMap<String, i64> = redis::cmd("HGETALL")
            .arg(self.global_key("queues"))
            .query_async(&mut self.conn())
            .await
            .map_err(driver_err)?;
        let mut names: Vec<String> = all.keys().cloned().collect();
        for (name, number) in all {
            self.remember(&name, number);
        }
        names.sort_unstable();
        Ok(names)
    }

    /// `[queue]`, or every known queue.
    pub(super) async fn queue_or_all(&self, queue: Option<&str>) -> Result<Vec<String>> {
        match queue {
            Some(q) => Ok(vec![q.to_string()]),
            None => self.known_queues().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_foreign_values() {
        let t = make_token(3, 17);
        assert_eq!(split_token(t), Some((3, 17)));
        assert_eq!(
            split_token(make_token(MAX_QUEUES - 1, (1 << CLAIM_BITS) - 1)).map(|p| p.0),
            Some(MAX_QUEUES - 1)
        );
        assert_eq!(split_token(0), None);
        assert_eq!(split_token(-5), None);
        assert_eq!(split_token(17), None, "no queue number");
        assert_eq!(split_token(3 << CLAIM_BITS), None, "no claim counter");
    }
}
