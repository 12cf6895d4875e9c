//! Argument encoding: how each parameter of a task travels and comes back.
//!
//! The code `#[task]` generates picks every argument's [`Codec`] once,
//! through the marker [`Arg<T>`], with *autoref specialization*: the method
//! call `(&&Arg::<T>::new()).codec()` resolves at compile time to the first
//! codec trait whose bounds hold, in this order (the model codecs are
//! implemented on `&Arg<T>`, so their `&self` is `&&Arg<T>` and they are
//! tried before the serde codec, implemented on `Arg<T>`):
//!
//! - [`ModelArg`] when `T` is a sea-orm model: the model travels as a
//!   reference `{orm, class, pk}` and the worker re-fetches it;
//! - [`OptionModelArg`] / [`VecModelArg`] for `Option<Model>` / `Vec<Model>`
//!   (a `Vec` is fetched with one `IN` query, in order);
//! - [`SerdeArg`] for any other `Serialize + DeserializeOwned` value, which
//!   travels as itself.
//!
//! The chosen codec encodes, decodes, and says whether decoding fetches
//! from the worker's models database ([`Codec::fetches_model`]), so the
//! worker can refuse to start without one. Nothing is resolved from a string
//! in the payload: the handler's own parameter types decide which entity is
//! fetched, and the `class` on the wire is only checked against it.

mod loader;
mod model;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use loader::ModelLoader;
pub use loader::{IN_FLIGHT, MAX_GATHER};
pub use model::{ModelArg, OptionModelArg, Snapshot, VecModelArg, entity_class};

use crate::error::{Error, Result};
use crate::task::{JobContext, TaskFailure};

/// A boxed, sendable future, as argument decoders return.
pub type ArgFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ArgError>> + Send + 'a>>;

/// The compile-time marker through which generated code encodes and decodes
/// an argument of type `T`. See the [module docs](self).
#[derive(Debug)]
pub struct Arg<T>(PhantomData<fn() -> T>);

impl<T> Arg<T> {
    /// The marker.
    pub const fn new() -> Self {
        Arg(PhantomData)
    }
}

impl<T> Default for Arg<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Why an argument could not be turned back into a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// The bytes do not decode as the parameter's type: retrying cannot help.
    #[error("argument `{name}` cannot be decoded: {message}")]
    Decode {
        /// The parameter.
        name: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// A referenced model names another entity than the parameter's type.
    #[error("argument `{name}` refers to `{found}` but the task takes `{expected}`")]
    ClassMismatch {
        /// The parameter.
        name: &'static str,
        /// The entity the task's parameter type belongs to.
        expected: String,
        /// The class on the wire.
        found: String,
    },
    /// The referenced row no longer exists.
    #[error("model not found: `{class}` with primary key {pk}")]
    ModelNotFound {
        /// The entity (`schema.table` or `table`).
        class: String,
        /// The primary key, as debug text.
        pk: String,
    },
    /// The task takes models but the worker has no database connection.
    #[error(
        "argument `{name}` is a sea-orm model but the worker has no database connection \
         (pass --database-url / ASYNCTASQ_DATABASE_URL, or Worker::database)"
    )]
    NoDatabase {
        /// The parameter.
        name: &'static str,
    },
    /// Fetching a model failed (the database is down, a query error).
    #[error("fetching argument `{name}` failed: {message}")]
    Database {
        /// The parameter.
        name: &'static str,
        /// The database error.
        message: String,
    },
}

impl ArgError {
    /// The attempt's failure: decoding problems are permanent (the same
    /// bytes will never decode), the rest follow the task's retry policy.
    pub fn into_failure(self) -> TaskFailure {
        let permanent = matches!(
            self,
            ArgError::Decode { .. } | ArgError::ClassMismatch { .. }
        );
        TaskFailure {
            message: self.to_string(),
            permanent,
        }
    }
}

/// How one argument travels: chosen once per argument by the codec traits
/// (see the [module docs](self)).
pub struct Codec<T> {
    /// Encodes the value (parameter name, value) as it travels.
    pub encode: fn(&'static str, &T) -> Result<rmpv::Value>,
    /// Decodes it back from a job's arguments (and fetches it, for models).
    pub decode: for<'a> fn(&'a JobContext, &'static str) -> ArgFuture<'a, T>,
    /// Whether decoding fetches rows from the worker's models database
    /// (a sea-orm model, `Option` or `Vec` of models).
    pub fetches_model: bool,
}

impl<T> std::fmt::Debug for Codec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("fetches_model", &self.fetches_model)
            .finish_non_exhaustive()
    }
}

/// The codec of any `Serialize + DeserializeOwned` value: it travels as itself.
pub trait SerdeArg<T> {
    /// The codec.
    fn codec(&self) -> Codec<T>;
}

impl<T: Serialize + DeserializeOwned + Send + 'static> SerdeArg<T> for Arg<T> {
    fn codec(&self) -> Codec<T> {
        Codec {
            encode: encode_value::<T>,
            decode: decode_serde::<T>,
            fetches_model: false,
        }
    }
}

fn decode_serde<'a, T: DeserializeOwned + Send + 'static>(
    ctx: &'a JobContext,
    name: &'static str,
) -> ArgFuture<'a, T> {
    let decoded = decode_value(&ctx.args, name);
    Box::pin(async move { decoded })
}

/// Encodes a value with named msgpack (structs as maps).
pub(crate) fn encode_value<T: Serialize + ?Sized>(
    name: &'static str,
    value: &T,
) -> Result<rmpv::Value> {
    let bytes = rmp_serde::to_vec_named(value).map_err(|cause| Error::Encode {
        what: format!("argument `{name}`"),
        cause,
    })?;
    rmpv::decode::read_value(&mut bytes.as_slice())
        .map_err(|e| Error::decode(format!("argument `{name}`"), e))
}

/// Decodes parameter `name` from an argument map. A missing argument decodes
/// as msgpack `nil`, so an `Option` parameter added later reads as `None`.
pub(crate) fn decode_value<T: DeserializeOwned>(
    args: &rmpv::Value,
    name: &'static str,
) -> Result<T, ArgError> {
    let decode_error = |message: String| ArgError::Decode { name, message };
    let map = args
        .as_map()
        .ok_or_else(|| decode_error("the job's arguments are not a map".into()))?;
    let value = map
        .iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(_, v)| v);
    let mut bytes = Vec::new();
    rmpv::encode::write_value(&mut bytes, value.unwrap_or(&rmpv::Value::Nil))
        .map_err(|e| decode_error(e.to_string()))?;
    rmp_serde::from_slice(&bytes).map_err(|e| match value {
        None => decode_error("missing from the payload".into()),
        Some(_) => decode_error(e.to_string()),
    })
}

/// Builds the argument map from `(name, value)` pairs.
pub fn args_map(pairs: Vec<(&'static str, rmpv::Value)>) -> rmpv::Value {
    rmpv::Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (rmpv::Value::from(k), v))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobId;

    fn ctx(args: rmpv::Value) -> JobContext {
        JobContext {
            id: JobId::new(),
            task: "t".into(),
            queue: "q".into(),
            attempt: 1,
            max_attempts: 1,
            args,
            db: None,
            cancellation: crate::cancel::Cancellation::never(),
        }
    }

    fn encode<T: Serialize + DeserializeOwned + Send + 'static>(
        name: &'static str,
        value: &T,
    ) -> rmpv::Value {
        (Arg::<T>::new().codec().encode)(name, value).unwrap()
    }

    async fn decode<T: Serialize + DeserializeOwned + Send + 'static>(
        ctx: &JobContext,
        name: &'static str,
    ) -> Result<T, ArgError> {
        (Arg::<T>::new().codec().decode)(ctx, name).await
    }

    #[tokio::test]
    async fn serde_args_round_trip_and_report_bad_input() {
        #[derive(Serialize, serde::Deserialize, PartialEq, Debug)]
        struct User {
            name: String,
            age: u8,
        }
        let user = User {
            name: "Ada".into(),
            age: 36,
        };
        let map = args_map(vec![
            ("user", encode::<User>("user", &user)),
            ("n", encode::<u64>("n", &7)),
        ]);
        let ctx = ctx(map);
        assert_eq!(decode::<User>(&ctx, "user").await.unwrap(), user);
        assert_eq!(decode::<u64>(&ctx, "n").await.unwrap(), 7);
        let later = decode::<Option<String>>(&ctx, "later").await;
        assert_eq!(later.unwrap(), None);
        let missing = decode::<String>(&ctx, "later").await.unwrap_err();
        assert_eq!(
            missing.to_string(),
            "argument `later` cannot be decoded: missing from the payload"
        );
        assert!(missing.into_failure().permanent);
        let wrong = decode::<User>(&ctx, "n").await.unwrap_err();
        assert!(
            wrong
                .to_string()
                .starts_with("argument `n` cannot be decoded"),
            "{wrong}"
        );
        let not_a_map = self::ctx(rmpv::Value::from(3));
        assert!(decode::<u8>(&not_a_map, "n").await.is_err());
        assert!(!Arg::<User>::new().codec().fetches_model);
    }
}
