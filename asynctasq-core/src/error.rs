//! Errors of the asynctasq core.
//!
//! Every message carries its cause once: an error that wraps another shows
//! the other's text (and that one's sources, each once) in its own message
//! and does not return it from [`source`](std::error::Error::source), so
//! `{}`, anyhow's `{:#}` and `{:?}` all print each cause exactly once.

/// A `Result` whose error defaults to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in asynctasq outside a task's own code.
///
/// Failures *inside* a task (an `Err` returned by the handler, a panic, a
/// timeout) are not errors of this type: they are recorded on the job as an
/// [`AttemptError`](crate::AttemptError) and drive retries and dead-letter.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is incomplete or contradictory.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The URL does not start with a scheme, so no driver can be chosen.
    #[error(
        "`{url}` is not a backend url: it has no scheme{}; backend urls look like \
         sqlite://jobs.db, postgres://user:password@localhost/app or redis://127.0.0.1:6379",
        did_you_mean(.suggestion)
    )]
    MissingScheme {
        /// The string given, with credentials hidden.
        url: String,
        /// What it probably meant (`sqlite://shop.db` for `shop.db`).
        suggestion: Option<String>,
    },
    /// No driver in this build handles the URL's scheme, and asynctasq
    /// ships none for it.
    #[error("unknown url scheme `{scheme}` (known: {known})")]
    UnknownScheme {
        /// The scheme found in the URL, in lowercase.
        scheme: String,
        /// Every scheme this build or asynctasq knows.
        known: String,
    },
    /// The URL names a driver that asynctasq ships, but its cargo feature
    /// is off in this build.
    #[error(
        "no driver for url scheme `{scheme}` in this build (compiled in: {compiled}); \
         enable the `{feature}` cargo feature of `asynctasq`"
    )]
    DriverNotCompiled {
        /// The scheme found in the URL, in lowercase.
        scheme: String,
        /// The cargo feature that compiles the driver in.
        feature: &'static str,
        /// The schemes of the drivers compiled into this build.
        compiled: String,
    },
    /// A value could not be encoded to msgpack.
    #[error("cannot encode {what}: {}", chain(.cause))]
    Encode {
        /// What was being encoded.
        what: String,
        /// The serializer's error (shown in the message; also [`Error::cause`]).
        cause: rmp_serde::encode::Error,
    },
    /// Bytes could not be decoded: a malformed payload or argument.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// An encoded payload is larger than the driver accepts.
    #[error("payload of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The size of the encoded job.
        size: usize,
        /// The configured maximum.
        limit: usize,
    },
    /// The storage backend failed (connection lost, query error, ...).
    #[error("{driver} driver error: {}", chain(.cause.as_ref()))]
    Driver {
        /// The driver's name.
        driver: &'static str,
        /// The backend's error (shown in the message; also [`Error::cause`]).
        cause: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The database was migrated by a newer asynctasq than this build.
    #[error(
        "the {driver} database schema is at version {found}, newer than this build of \
         asynctasq supports ({supported}); upgrade asynctasq, or point this build at a \
         database of its own"
    )]
    SchemaTooNew {
        /// The driver's name.
        driver: &'static str,
        /// The schema version found in the database.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The worker cannot start: no task is registered, two tasks share a name, ...
    #[error("{0}")]
    Registry(String),
    /// The driver cannot do this.
    #[error("the {driver} driver does not support {operation}")]
    Unsupported {
        /// The driver's name.
        driver: &'static str,
        /// What was asked.
        operation: &'static str,
    },
    /// Blocking dispatch was called from inside an async runtime.
    #[error(
        "dispatch_blocking() was called inside an async runtime; use `.dispatch().await` there"
    )]
    BlockingInAsync,
    /// An I/O error (signals, files).
    #[error("i/o error: {}", chain(.0))]
    Io(std::io::Error),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl Error {
    /// Wraps a backend error for the driver named `driver`.
    pub fn driver(
        driver: &'static str,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Driver {
            driver,
            cause: cause.into(),
        }
    }

    /// The underlying error of a [`Driver`](Error::Driver),
    /// [`Encode`](Error::Encode) or [`Io`](Error::Io) error, for code that
    /// branches on it (`err.cause().and_then(|c| c.downcast_ref::<sqlx::Error>())`).
    ///
    /// Its text is already part of this error's message, so
    /// [`source`](std::error::Error::source) does not return it again
    /// (printing an error chain shows every cause once).
    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            Error::Driver { cause, .. } => Some(cause.as_ref()),
            Error::Encode { cause, .. } => Some(cause),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }

    /// A decoding error about `what`.
    pub fn decode(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Error::Decode {
            what: what.into(),
            message: message.to_string(),
        }
    }
}

/// `error`'s message followed by those of its sources, each once: a
/// source whose text the message already contains (many errors repeat their
/// source's text) is not appended again.
///
/// ```
/// let io = std::io::Error::other("connection refused");
/// assert_eq!(asynctasq_core::error::chain(&io), "connection refused");
/// ```
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !more.is_empty() && !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_deref()
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose message does not include its source, like many
    /// client libraries' errors.
    #[derive(Debug, thiserror::Error)]
    #[error("connection failed")]
    struct Outer(#[source] std::io::Error);

    fn occurrences(text: &str, needle: &str) -> usize {
        text.matches(needle).count()
    }

    #[test]
    fn a_driver_error_shows_its_cause_once() {
        let err = Error::driver("sqlite", Outer(std::io::Error::other("disk on fire")));
        assert_eq!(
            err.to_string(),
            "sqlite driver error: connection failed: disk on fire"
        );
        assert!(std::error::Error::source(&err).is_none());
        let any = anyhow::Error::new(err).context("cannot connect to sqlite://jobs.db");
        for text in [format!("{any}"), format!("{any:#}"), format!("{any:?}")] {
            assert!(occurrences(&text, "disk on fire") <= 1, "{text}");
        }
        let alternate = format!("{any:#}");
        assert_eq!(
            alternate,
            "cannot connect to sqlite://jobs.db: sqlite driver error: connection failed: disk on fire"
        );
        assert_eq!(occurrences(&format!("{any:?}"), "disk on fire"), 1);
    }

    #[test]
    fn a_cause_that_repeats_its_source_is_not_doubled() {
        // `sqlx::Error::Io` displays as "error communicating with database: {io}"
        // and also returns the io error as its source.
        #[derive(Debug, thiserror::Error)]
        #[error("error communicating with database: {0}")]
        struct Repeats(#[source] std::io::Error);
        let err = Error::driver("postgres", Repeats(std::io::Error::other("broken pipe")));
        assert_eq!(
            err.to_string(),
            "postgres driver error: error communicating with database: broken pipe"
        );
        let err = Error::driver("redis", "connection refused");
        assert_eq!(err.to_string(), "redis driver error: connection refused");
        assert!(err.cause().is_some());
    }

    #[test]
    fn io_and_encode_errors_show_their_cause() {
        let err = Error::from(std::io::Error::other("no such signal"));
        assert_eq!(err.to_string(), "i/o error: no such signal");
        assert!(std::error::Error::source(&err).is_none());
        assert!(
            err.cause()
                .unwrap()
                .downcast_ref::<std::io::Error>()
                .is_some()
        );
        let err = Error::Encode {
            what: "argument `x`".into(),
            cause: rmp_serde::encode::Error::Syntax("bad map".into()),
        };
        assert_eq!(err.to_string(), "cannot encode argument `x`: bad map");
    }

    #[test]
    fn url_errors_read_well() {
        let err = Error::MissingScheme {
            url: "shop.db".into(),
            suggestion: Some("sqlite://shop.db".into()),
        };
        assert!(
            err.to_string().starts_with(
                "`shop.db` is not a backend url: it has no scheme (did you mean `sqlite://shop.db`?); backend urls look like sqlite://jobs.db, "
            ),
            "{err}"
        );
    }
}
