//! The job envelope and its msgpack codec (see `docs/wire-format.md`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::{JobId, NewJob, from_millis};
use crate::retry::RetryPolicy;

/// The version of the envelope format this build writes.
pub const ENVELOPE_VERSION: u8 = 1;

/// Everything a worker needs to run one job, as it travels through a driver.
///
/// Encoded as a msgpack map with named fields (never positional arrays), so
/// fields can be added without breaking older readers. `attempt` is not part
/// of the envelope: the driver counts attempts, and the envelope stays
/// immutable from dispatch to completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version; readers reject versions they do not know.
    pub v: u8,
    /// The job's id.
    pub id: JobId,
    /// The registered task name.
    pub task: String,
    /// The queue it was dispatched to.
    pub queue: String,
    /// The arguments: a msgpack map from parameter name to value.
    pub args: rmpv::Value,
    /// Total attempts allowed.
    pub max_attempts: u32,
    /// How failed attempts are retried.
    pub retry: RetryPolicy,
    /// Per-attempt timeout in milliseconds; `None` runs without a limit.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Higher runs first.
    #[serde(default)]
    pub priority: i16,
    /// When it may first run, in milliseconds since the Unix epoch.
    pub run_at: i64,
    /// When it was dispatched, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Free-form metadata: correlation ids, trace context.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Envelope {
    /// An envelope of `task` on `queue`, due now, with no arguments and the
    /// defaults of a `#[task]` without options (3 attempts, the default
    /// retry policy, no timeout, priority 0). For drivers' tests, tools and
    /// replays; applications dispatch through their `#[task]` functions.
    /// Change fields with struct update syntax:
    ///
    /// ```
    /// use asynctasq_core::Envelope;
    ///
    /// let envelope = Envelope { max_attempts: 50, ..Envelope::new("reports.build", "default") };
    /// assert_eq!(envelope.run_at, envelope.created_at);
    /// assert_eq!(Envelope::decode(&envelope.encode()?)?, envelope);
    /// # Ok::<(), asynctasq_core::Error>(())
    /// ```
    pub fn new(task: impl Into<String>, queue: impl Into<String>) -> Envelope {
        let now = crate::job::to_millis(chrono::Utc::now());
        let defaults = crate::task::TaskOptions::default();
        Envelope {
            v: ENVELOPE_VERSION,
            id: JobId::new(),
            task: task.into(),
            queue: queue.into(),
            args: rmpv::Value::Map(Vec::new()),
            max_attempts: defaults.max_attempts,
            retry: defaults.retry,
            timeout_ms: None,
            priority: defaults.priority,
            run_at: now,
            created_at: now,
            headers: BTreeMap::new(),
        }
    }

    /// Encodes the envelope as a named msgpack map.
    pub fn encode(&self) -> Result<Vec<u8>> {
        rmp_serde::to_vec_named(self).map_err(|cause| Error::Encode {
            what: format!("envelope of task `{}`", self.task),
            cause,
        })
    }

    /// Decodes an envelope. Never panics: malformed bytes, or a version this
    /// build does not know, give an [`Error::Decode`].
    pub fn decode(bytes: &[u8]) -> Result<Envelope> {
        let envelope: Envelope =
            rmp_serde::from_slice(bytes).map_err(|e| Error::decode("job envelope", e))?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(Error::decode(
                "job envelope",
                format_args!(
                    "unsupported envelope version {} (this build reads {ENVELOPE_VERSION})",
                    envelope.v
                ),
            ));
        }
        Ok(envelope)
    }

    /// The row a driver stores for this envelope, with `payload` = its encoding.
    pub fn to_new_job(&self) -> Result<NewJob> {
        Ok(NewJob {
            id: self.id,
            task: self.task.clone(),
            queue: self.queue.clone(),
            priority: self.priority,
            run_at: from_millis(self.run_at),
            max_attempts: self.max_attempts,
            payload: self.encode()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample() -> Envelope {
        Envelope {
            v: 1,
            id: JobId("0190f3a2-7c1e-7abc-8def-0123456789ab".parse().unwrap()),
            task: "emails::send_welcome".into(),
            queue: "emails".into(),
            args: rmpv::Value::Map(vec![(rmpv::Value::from("to"), rmpv::Value::from("a@x.io"))]),
            max_attempts: 5,
            retry: RetryPolicy::exponential(Duration::from_secs(2)),
            timeout_ms: Some(30_000),
            priority: 5,
            run_at: 1_700_000_000_000,
            created_at: 1_700_000_000_000,
            headers: BTreeMap::from([("correlation_id".to_string(), "req-1".to_string())]),
        }
    }

    /// The exact bytes of a version-1 envelope. If this test fails, the wire
    /// format changed: bump `ENVELOPE_VERSION`, keep a reader for version 1,
    /// and update `docs/wire-format.md`.
    #[test]
    fn golden_bytes() {
        let bytes = sample().encode().unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, GOLDEN_V1);
        assert_eq!(Envelope::decode(&bytes).unwrap(), sample());
    }

    const GOLDEN_V1: &str = concat!(
        "8ca17601a26964c4100190f3a27c1e7abc8def0123456789aba47461736bb4656d61696c733a3a73",
        "656e645f77656c636f6d65a57175657565a6656d61696c73a46172677381a2746fa66140782e696f",
        "ac6d61785f617474656d70747305a5726574727984a76261636b6f6666ab6578706f6e656e746961",
        "6ca864656c61795f6d73cd07d0ac6d61785f64656c61795f6d73ce0036ee80a66a6974746572c3aa",
        "74696d656f75745f6d73cd7530a87072696f7269747905a672756e5f6174cf0000018bcfe56800aa",
        "637265617465645f6174cf0000018bcfe56800a76865616465727381ae636f7272656c6174696f6e",
        "5f6964a57265712d31",
    );

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = sample().encode().unwrap();
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xc1],
            b"not msgpack at all".to_vec(),
            vec![0xdf, 0xff, 0xff, 0xff, 0xff],
            vec![0xdb, 0xff, 0xff, 0xff, 0xff],
        ];
        for cut in 0..good.len() {
            inputs.push(good[..cut].to_vec());
        }
        for i in 0..good.len() {
            let mut flipped = good.clone();
            flipped[i] ^= 0xff;
            inputs.push(flipped);
        }
        for input in inputs {
            // Every input must return (Ok or Err); none may panic.
            let _ = Envelope::decode(&input);
        }
        assert!(Envelope::decode(b"garbage").is_err());
    }

    #[test]
    fn unknown_version_is_rejected() {
        let mut e = sample();
        e.v = 2;
        let err = Envelope::decode(&e.encode().unwrap()).unwrap_err();
        assert!(
            err.to_string().contains("unsupported envelope version 2"),
            "{err}"
        );
    }
}
