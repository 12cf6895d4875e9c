//! The stored form of [`AttemptError`]s: one codec for every driver.
//!
//! An entry is a JSON object `{"at":"2026-01-02T03:04:05.006Z","attempt":2,"message":"…"}`
//! with `at` in RFC 3339, UTC, to the millisecond. A driver keeps a job's
//! entries oldest first, either as a JSON array (the SQL drivers' `errors`
//! column) or one entry per line (Redis).
//!
//! Reading never fails a lookup: [`AttemptError::from_stored_list`] accepts
//! both containers, an `at` stored as epoch milliseconds (what Redis wrote
//! before this codec), and keeps anything else as a readable message under
//! one rule: an entry that is not an attempt error becomes
//! `AttemptError { at: fallback_at, attempt: 0, message }`, where `message`
//! is the entry's text (a JSON string's content, any other JSON as written,
//! a line that is not JSON as it stands) and `fallback_at` is what the driver
//! passes, the job's `created_at`.

use chrono::SecondsFormat;

use crate::job::{AttemptError, Timestamp, from_millis, to_millis};

impl AttemptError {
    /// The stored entry: a JSON object on one line (newlines in the message
    /// are escaped), `at` in RFC 3339 UTC with milliseconds.
    pub fn to_stored(&self) -> String {
        serde_json::json!({
            "at": at::text(self.at),
            "attempt": self.attempt,
            "message": self.message,
        })
        .to_string()
    }

    /// This error as a driver reads it back: `at` to the millisecond. A
    /// driver that keeps errors in memory stores this.
    pub fn as_stored(&self) -> AttemptError {
        AttemptError {
            at: from_millis(to_millis(self.at)),
            ..self.clone()
        }
    }

    /// Reads a job's stored entries, oldest first: a JSON array of entries,
    /// or one entry per line; blank text is no errors. Foreign entries are
    /// kept as messages dated `fallback_at` (the job's `created_at`), see the
    /// [module docs](crate::stored_error).
    pub fn from_stored_list(raw: &str, fallback_at: Timestamp) -> Vec<AttemptError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Vec::new();
        }
        if let Ok(serde_json::Value::Array(items)) = serde_json::from_str(raw) {
            return items
                .into_iter()
                .map(|item| from_value(item, fallback_at))
                .collect();
        }
        raw.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| match serde_json::from_str(line) {
                Ok(value) => from_value(value, fallback_at),
                Err(_) => foreign(line.to_string(), fallback_at),
            })
            .collect()
    }
}

/// One stored JSON entry, or a foreign one kept as its text.
fn from_value(value: serde_json::Value, fallback_at: Timestamp) -> AttemptError {
    match serde_json::from_value::<AttemptError>(value.clone()) {
        Ok(error) => error,
        Err(_) => foreign(
            match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            },
            fallback_at,
        ),
    }
}

fn foreign(message: String, fallback_at: Timestamp) -> AttemptError {
    AttemptError {
        at: fallback_at,
        attempt: 0,
        message,
    }
}

/// Serde for [`AttemptError::at`]: written as RFC 3339 UTC with
/// milliseconds; read from RFC 3339 (any precision or offset) or epoch
/// milliseconds.
pub(crate) mod at {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use super::*;

    /// The stored text of a time.
    pub(crate) fn text(at: Timestamp) -> String {
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub(crate) fn serialize<S: Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&text(*at))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Text(String),
        Millis(i64),
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        match Stored::deserialize(d)? {
            Stored::Millis(ms) => Ok(from_millis(ms)),
            Stored::Text(text) => chrono::DateTime::parse_from_rfc3339(&text)
                .map(|t| t.to_utc())
                .map_err(|e| D::Error::custom(format!("`{text}` is not an RFC 3339 time: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(ms: i64, attempt: u32, message: &str) -> AttemptError {
        AttemptError {
            at: from_millis(ms),
            attempt,
            message: message.into(),
        }
    }

    #[test]
    fn an_entry_is_one_line_with_the_time_to_the_millisecond() {
        let e = AttemptError {
            at: from_millis(1_767_323_045_006) + chrono::Duration::microseconds(789),
            attempt: 2,
            message: "line one\nline \"two\" é".into(),
        };
        let stored = e.to_stored();
        assert_eq!(
            stored,
            r#"{"at":"2026-01-02T03:04:05.006Z","attempt":2,"message":"line one\nline \"two\" é"}"#
        );
        assert_eq!(serde_json::to_string(&e).unwrap(), stored, "serde agrees");
        let back = AttemptError::from_stored_list(&stored, from_millis(0));
        assert_eq!(
            back,
            [error(1_767_323_045_006, 2, "line one\nline \"two\" é")]
        );
        assert_eq!(back, [e.as_stored()]);
    }

    #[test]
    fn arrays_and_lines_read_the_same() {
        let (a, b) = (error(1_000, 1, "a\nb"), error(2_000, 2, "lease expired"));
        let array = format!("[{},{}]", a.to_stored(), b.to_stored());
        let lines = format!("{}\n{}\n", a.to_stored(), b.to_stored());
        let expected = vec![a, b];
        assert_eq!(
            AttemptError::from_stored_list(&array, from_millis(0)),
            expected
        );
        assert_eq!(
            AttemptError::from_stored_list(&lines, from_millis(0)),
            expected
        );
        assert!(AttemptError::from_stored_list("", from_millis(0)).is_empty());
        assert!(AttemptError::from_stored_list(" []\n", from_millis(0)).is_empty());
    }

    #[test]
    fn older_forms_still_read() {
        // What Redis stored before this codec: `at` in epoch milliseconds.
        let redis = "{\"at\":1700000000000,\"attempt\":1,\"message\":\"a\\nb\"}\n\
                     {\"at\":1700000000001,\"attempt\":2,\"message\":\"lease expired\"}";
        let e = AttemptError::from_stored_list(redis, from_millis(0));
        assert_eq!(
            e,
            [
                error(1_700_000_000_000, 1, "a\nb"),
                error(1_700_000_000_001, 2, "lease expired")
            ]
        );
        // Postgres' jsonb and hand-written rows: other precisions and offsets.
        let sql = r#"[{"at":"2026-01-02T04:04:05+01:00","attempt":3,"message":"x"},
                      {"at":"2026-01-02T03:04:05.006789Z","attempt":4,"message":"y"}]"#;
        let e = AttemptError::from_stored_list(sql, from_millis(0));
        assert_eq!(to_millis(e[0].at), 1_767_323_045_000);
        assert_eq!(to_millis(e[1].at), 1_767_323_045_006);
        assert_eq!((e[0].attempt, e[1].attempt), (3, 4));
    }

    #[test]
    fn foreign_entries_become_messages_dated_by_the_fallback() {
        let at = from_millis(42);
        let e = AttemptError::from_stored_list(
            r#"["text", 7, {"x":1}, {"at":"soon","attempt":1,"message":"m"}]"#,
            at,
        );
        let got: Vec<(&str, u32, Timestamp)> = e
            .iter()
            .map(|e| (e.message.as_str(), e.attempt, e.at))
            .collect();
        assert_eq!(
            got,
            [
                ("text", 0, at),
                ("7", 0, at),
                (r#"{"x":1}"#, 0, at),
                (r#"{"at":"soon","attempt":1,"message":"m"}"#, 0, at)
            ]
        );
        assert_eq!(
            AttemptError::from_stored_list("not json", at),
            [error(42, 0, "not json")]
        );
        let mixed = format!("{}\noops", error(5, 1, "ok").to_stored());
        assert_eq!(
            AttemptError::from_stored_list(&mixed, at),
            [error(5, 1, "ok"), error(42, 0, "oops")]
        );
    }
}
