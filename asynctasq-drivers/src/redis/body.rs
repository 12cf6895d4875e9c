//! A job's body: the one string key that holds everything about a job that
//! never changes once it is dispatched.
//!
//! Five MessagePack values — task, priority, max_attempts, run_at (ms),
//! created (ms) — followed by the payload as a MessagePack `bin`. The
//! scripts read the five header values with `cmsgpack.unpack_limit` (and
//! only on the rare paths: retry, release, rescue, lookup), never the
//! payload; a claim hands the whole body back and the driver decodes it here.

use asynctasq_core::NewJob;
use asynctasq_core::job::to_millis;

/// The body of `job`, created at `created_ms` (the dispatcher's clock).
pub(super) fn encode(job: &NewJob, created_ms: i64) -> Vec<u8> {
    let mut body = Vec::with_capacity(job.task.len() + job.payload.len() + 32);
    // Writing to a Vec cannot fail.
    let _ = rmp::encode::write_str(&mut body, &job.task);
    let _ = rmp::encode::write_sint(&mut body, job.priority.into());
    let _ = rmp::encode::write_uint(&mut body, job.max_attempts.max(1).into());
    let _ = rmp::encode::write_sint(&mut body, to_millis(job.run_at));
    let _ = rmp::encode::write_sint(&mut body, created_ms);
    let _ = rmp::encode::write_bin(&mut body, &job.payload);
    body
}

/// What a worker needs from a claimed job's body.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Claimed {
    pub(super) task: String,
    pub(super) max_attempts: u32,
    pub(super) payload: Vec<u8>,
}

/// Decodes a body written by [`encode`]. A key holding something else (a
/// body this driver never wrote) comes back as an unnamed one-attempt job
/// whose payload is those bytes: the worker buries it as undecodable, with
/// the reason, instead of the claim failing for the whole batch.
pub(super) fn claimed(body: Vec<u8>) -> Claimed {
    decode(&body).unwrap_or(Claimed {
        task: String::new(),
        max_attempts: 1,
        payload: body,
    })
}

/// Decodes a body written by [`encode`], or `None`.
fn decode(body: &[u8]) -> Option<Claimed> {
    let mut rest = body;
    let task_len = rmp::decode::read_str_len(&mut rest).ok()? as usize;
    let task = std::str::from_utf8(take(&mut rest, task_len)?).ok()?;
    let _priority: i64 = rmp::decode::read_int(&mut rest).ok()?;
    let max_attempts: u32 = rmp::decode::read_int(&mut rest).ok()?;
    let _run_at: i64 = rmp::decode::read_int(&mut rest).ok()?;
    let _created: i64 = rmp::decode::read_int(&mut rest).ok()?;
    let payload_len = rmp::decode::read_bin_len(&mut rest).ok()? as usize;
    Some(Claimed {
        task: task.to_owned(),
        max_attempts,
        payload: take(&mut rest, payload_len)?.to_vec(),
    })
}

/// The next `n` bytes of `rest`, which then starts after them.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, tail) = (rest.len() >= n).then(|| rest.split_at(n))?;
    *rest = tail;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use asynctasq_core::JobId;

    #[test]
    fn round_trips_and_rejects_truncation() {
        let job = NewJob {
            id: JobId::new(),
            task: "send_email".into(),
            queue: "q".into(),
            priority: -3,
            run_at: chrono::Utc::now(),
            max_attempts: 7,
            payload: vec![0, 1, 2, 255],
        };
        let body = encode(&job, 1_700_000_000_000);
        let decoded = decode(&body).unwrap();
        assert_eq!(decoded.task, "send_email");
        assert_eq!(decoded.max_attempts, 7);
        assert_eq!(decoded.payload, vec![0, 1, 2, 255]);
        assert!(decode(&body[..body.len() - 1]).is_none());
        assert!(decode(b"not msgpack").is_none());
        let foreign = claimed(b"not msgpack".to_vec());
        assert_eq!((foreign.task.as_str(), foreign.max_attempts), ("", 1));
        assert_eq!(foreign.payload, b"not msgpack");
    }
}
