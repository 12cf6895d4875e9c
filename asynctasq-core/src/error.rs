//! Errors of the asynctasq core.

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
    /// No driver is registered for the URL scheme.
    #[error(
        "no driver for url scheme `{scheme}` (known: {known}); enable the matching cargo feature of `asynctasq`"
    )]
    UnknownScheme {
        /// The scheme found in the URL.
        scheme: String,
        /// The schemes this binary knows.
        known: String,
    },
    /// A value could not be encoded to msgpack.
    #[error("cannot encode {what}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// The serializer's error.
        #[source]
        source: rmp_serde::encode::Error,
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
    #[error("{driver} driver error")]
    Driver {
        /// The driver's name.
        driver: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
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
    #[error("i/o error")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Wraps a backend error for the driver named `driver`.
    pub fn driver(
        driver: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Driver {
            driver,
            source: source.into(),
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
