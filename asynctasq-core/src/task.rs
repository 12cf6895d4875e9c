//! Tasks: the trait the `#[task]` macro implements, the registry of handlers,
//! and how a handler's return value becomes an attempt's outcome.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::cancel::{CancelReason, Cancellation};
use crate::error::{Error, Result};
use crate::job::JobId;
use crate::retry::RetryPolicy;

/// The defaults a task was declared with (`#[task(queue = ..., ...)]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskOptions {
    /// The queue, `"default"` unless set.
    pub queue: &'static str,
    /// Total attempts, 3 unless set.
    pub max_attempts: u32,
    /// Backoff between attempts.
    pub retry: RetryPolicy,
    /// Per-attempt timeout, none unless set.
    pub timeout: Option<Duration>,
    /// Priority, 0 unless set; higher runs first.
    pub priority: i16,
}

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions {
            queue: "default",
            max_attempts: 3,
            retry: RetryPolicy::default(),
            timeout: None,
            priority: 0,
        }
    }
}

/// A dispatchable task with its arguments. Implemented by `#[task]`; you do
/// not implement it by hand.
pub trait Task: Send + 'static {
    /// The stable task name that travels on the wire.
    const NAME: &'static str;
    /// The declared defaults.
    fn options() -> TaskOptions;
    /// Encodes the arguments as a msgpack map from parameter name to value.
    fn encode_args(&self) -> Result<rmpv::Value>;
}

/// What a running job knows about itself. Passed to handlers by the worker.
#[derive(Clone, Debug)]
pub struct JobContext {
    /// The job's id.
    pub id: JobId,
    /// The task name.
    pub task: String,
    /// The queue it was claimed from.
    pub queue: String,
    /// This attempt's number, starting at 1.
    pub attempt: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// The encoded arguments.
    pub args: rmpv::Value,
    /// The database that sea-orm model arguments are fetched from, if the
    /// worker was given one.
    pub db: Option<sea_orm::DatabaseConnection>,
    /// Raised when this attempt no longer counts (its lease was lost): see
    /// [`cancelled`](Self::cancelled). [`Cancellation::never`] outside a worker.
    pub cancellation: Cancellation,
}

impl JobContext {
    /// Resolves once the worker tells this job to stop, with the reason
    /// (today [`CancelReason::LeaseLost`]: the lease expired and the job was
    /// rescued, so it may be running on another worker). The handler is not
    /// aborted: it should stop soon, and whatever it returns is discarded.
    pub async fn cancelled(&self) -> CancelReason {
        self.cancellation.cancelled().await
    }

    /// Whether the worker told this job to stop (see [`cancelled`](Self::cancelled)).
    pub fn is_cancelled(&self) -> bool {
        self.cancellation.is_cancelled()
    }
}

/// Why an attempt did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFailure {
    /// A readable reason (stored with the job).
    pub message: String,
    /// `true` when retrying cannot help: the job goes straight to dead-letter.
    pub permanent: bool,
}

impl TaskFailure {
    /// A failure that may succeed on retry.
    pub fn retryable(message: impl Into<String>) -> Self {
        TaskFailure {
            message: message.into(),
            permanent: false,
        }
    }

    /// A failure that no retry can fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        TaskFailure {
            message: message.into(),
            permanent: true,
        }
    }
}

/// The future a registered handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), TaskFailure>> + Send>>;

/// One registered task handler, submitted to `inventory` by `#[task]`.
#[derive(Debug)]
pub struct TaskRegistration {
    /// The task name.
    pub name: &'static str,
    /// Where the task was declared (`file:line`), for error messages.
    pub location: &'static str,
    /// Decodes the arguments and runs the function.
    pub handler: fn(JobContext) -> HandlerFuture,
    /// The parameters whose codec fetches sea-orm models (a model,
    /// `Option<Model>`, `Vec<Model>`), in declaration order: the worker's
    /// models database is needed to run this task. `#[task]` derives it from
    /// the codec each argument uses; `Vec::new` for none.
    pub model_arguments: fn() -> Vec<&'static str>,
}

inventory::collect!(TaskRegistration);

/// An error that must not be retried: return it (or wrap your error in it)
/// and the job goes straight to dead-letter.
///
/// ```
/// use asynctasq_core::Permanent;
///
/// fn charge(card: &str) -> Result<(), Permanent> {
///     if card.is_empty() {
///         return Err(Permanent::new("card number is empty"));
///     }
///     Ok(())
/// }
/// assert!(charge("").is_err());
/// ```
///
/// Handlers returning `anyhow::Result` can `return Err(Permanent::new(..).into())`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permanent {
    message: String,
}

impl Permanent {
    /// Marks `error` as permanent.
    pub fn new(error: impl fmt::Display) -> Self {
        Permanent {
            message: error.to_string(),
        }
    }
}

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Permanent {}

/// The return types a task function may have: `()` or `Result<T, E>` with
/// `E: Display`. An `Err` is a failed attempt.
#[diagnostic::on_unimplemented(
    message = "a #[task] function must return `()` or `Result<T, E>` where `E: Display`",
    note = "`{Self}` is not a supported return type"
)]
pub trait IntoTaskResult {
    /// Converts to the attempt's outcome.
    fn into_task_result(self) -> Result<(), TaskFailure>;
}

impl IntoTaskResult for () {
    fn into_task_result(self) -> Result<(), TaskFailure> {
        Ok(())
    }
}

impl<T, E: fmt::Display + 'static> IntoTaskResult for Result<T, E> {
    fn into_task_result(self) -> Result<(), TaskFailure> {
        match self {
            Ok(_) => Ok(()),
            Err(error) => Err(failure_from(&error)),
        }
    }
}

fn failure_from<E: fmt::Display + 'static>(error: &E) -> TaskFailure {
    let any: &dyn Any = error;
    if any.is::<Permanent>() {
        return TaskFailure::permanent(error.to_string());
    }
    if let Some(e) = any.downcast_ref::<anyhow::Error>() {
        let message = format!("{e:#}");
        return if e.downcast_ref::<Permanent>().is_some() {
            TaskFailure::permanent(message)
        } else {
            TaskFailure::retryable(message)
        };
    }
    if let Some(e) = any.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>() {
        return TaskFailure {
            message: error.to_string(),
            permanent: e.is::<Permanent>(),
        };
    }
    TaskFailure::retryable(error.to_string())
}

/// The handlers linked into this binary, by name.
#[derive(Debug)]
pub struct Registry {
    tasks: HashMap<&'static str, &'static TaskRegistration>,
    /// The tasks with sea-orm model arguments (decided once, asked per job).
    taking_models: HashSet<&'static str>,
}

impl Registry {
    /// Collects every `#[task]` linked into the binary.
    ///
    /// Fails when two tasks share a name (naming both places) or when no task
    /// is registered at all — usually a crate of tasks that the binary never
    /// references, which the linker then drops.
    pub fn from_inventory() -> Result<Registry> {
        Self::from_registrations(inventory::iter::<TaskRegistration>)
    }

    /// Builds a registry from an explicit list (tests).
    pub fn from_registrations(
        registrations: impl IntoIterator<Item = &'static TaskRegistration>,
    ) -> Result<Registry> {
        let mut tasks: HashMap<&'static str, &'static TaskRegistration> = HashMap::new();
        for reg in registrations {
            if let Some(previous) = tasks.insert(reg.name, reg) {
                return Err(Error::Registry(format!(
                    "two tasks are named `{}`: one at {}, one at {}; give one of them `#[task(name = \"...\")]`",
                    reg.name, previous.location, reg.location
                )));
            }
        }
        if tasks.is_empty() {
            return Err(Error::Registry(
                "no tasks are registered in this binary, so a worker would have nothing to run. \
                 If your #[task] functions live in another crate, reference it from the worker \
                 binary (for example `use my_tasks as _;`), otherwise the linker drops it"
                    .into(),
            ));
        }
        let taking_models = tasks
            .values()
            .filter(|reg| !(reg.model_arguments)().is_empty())
            .map(|reg| reg.name)
            .collect();
        Ok(Registry {
            tasks,
            taking_models,
        })
    }

    /// Whether the task `name` takes sea-orm model arguments.
    pub fn takes_models(&self, name: &str) -> bool {
        self.taking_models.contains(name)
    }

    /// The handler for `name`.
    pub fn get(&self, name: &str) -> Option<&'static TaskRegistration> {
        self.tasks.get(name).copied()
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.tasks.keys().copied().collect();
        names.sort_unstable();
        names
    }

    /// Fails when tasks take sea-orm models, naming them (at most ten) and
    /// how to give the worker its models database. A worker that has none
    /// calls it before starting, unless told to start without one
    /// ([`WorkerConfig::without_database`](crate::WorkerConfig::without_database)):
    /// otherwise every such job would fail, retry and go dead.
    pub fn require_models_database(&self) -> Result<()> {
        const SHOWN: usize = 10;
        let tasks = self.tasks_taking_models();
        if tasks.is_empty() {
            return Ok(());
        }
        let mut named: Vec<String> = tasks
            .iter()
            .take(SHOWN)
            .map(|(task, arguments)| {
                let arguments: Vec<String> = arguments.iter().map(|a| format!("`{a}`")).collect();
                let noun = if arguments.len() == 1 {
                    "argument"
                } else {
                    "arguments"
                };
                format!("`{task}` ({noun} {})", arguments.join(", "))
            })
            .collect();
        if tasks.len() > SHOWN {
            named.push(format!("and {} more", tasks.len() - SHOWN));
        }
        let (subject, verb) = if tasks.len() == 1 {
            ("task", "takes")
        } else {
            ("tasks", "take")
        };
        Err(Error::Config(format!(
            "{subject} {} {verb} sea-orm models, which the worker fetches from its models \
             database, but it has none: pass --database-url or set ASYNCTASQ_DATABASE_URL \
             (command line), or call Worker::database(db) (code). To start without it \
             anyway (those jobs then fail, retry and go dead), pass --without-database \
             (command line) or set WorkerConfig::without_database (code)",
            named.join(", ")
        )))
    }

    /// The tasks that take sea-orm models, sorted by name, each with its
    /// model parameters: they need the worker's models database.
    pub fn tasks_taking_models(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        self.names()
            .into_iter()
            .filter_map(|name| {
                let arguments = (self.tasks[name].model_arguments)();
                (!arguments.is_empty()).then_some((name, arguments))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_map_to_failures() {
        assert_eq!(().into_task_result(), Ok(()));
        assert_eq!(Ok::<u8, String>(1).into_task_result(), Ok(()));
        assert_eq!(
            Err::<(), _>("boom".to_string()).into_task_result(),
            Err(TaskFailure::retryable("boom"))
        );
        assert_eq!(
            Err::<(), _>(Permanent::new("bad card")).into_task_result(),
            Err(TaskFailure::permanent("bad card"))
        );
        let wrapped: anyhow::Result<()> =
            Err(anyhow::Error::new(Permanent::new("gone")).context("charging"));
        assert_eq!(
            wrapped.into_task_result(),
            Err(TaskFailure::permanent("charging: gone"))
        );
        let plain: anyhow::Result<()> = Err(anyhow::anyhow!("flaky"));
        assert_eq!(
            plain.into_task_result(),
            Err(TaskFailure::retryable("flaky"))
        );
    }

    fn nothing(_: JobContext) -> HandlerFuture {
        Box::pin(async { Ok(()) })
    }

    static FIRST: TaskRegistration = TaskRegistration {
        name: "send_email",
        location: "src/mail.rs:10",
        handler: nothing,
        model_arguments: Vec::new,
    };
    static SECOND: TaskRegistration = TaskRegistration {
        name: "send_email",
        location: "src/legacy.rs:42",
        handler: nothing,
        model_arguments: Vec::new,
    };

    #[test]
    fn duplicate_names_are_refused_with_both_locations() {
        let error = Registry::from_registrations([&FIRST, &SECOND])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("two tasks are named `send_email`"),
            "{error}"
        );
        assert!(
            error.contains("src/mail.rs:10") && error.contains("src/legacy.rs:42"),
            "{error}"
        );
    }

    fn models() -> Vec<&'static str> {
        vec!["user", "orders"]
    }

    static WITH_MODELS: TaskRegistration = TaskRegistration {
        name: "welcome",
        location: "src/mail.rs:20",
        handler: nothing,
        model_arguments: models,
    };

    #[test]
    fn tasks_taking_models_require_a_database() {
        let plain = Registry::from_registrations([&FIRST]).unwrap();
        assert!(plain.tasks_taking_models().is_empty());
        plain.require_models_database().unwrap();

        let registry = Registry::from_registrations([&FIRST, &WITH_MODELS]).unwrap();
        assert_eq!(
            registry.tasks_taking_models(),
            vec![("welcome", vec!["user", "orders"])]
        );
        assert!(registry.takes_models("welcome"));
        assert!(!registry.takes_models(FIRST.name));
        assert!(!registry.takes_models("no-such-task"));
        let error = registry.require_models_database().unwrap_err().to_string();
        assert!(
            error.starts_with(
                "invalid configuration: task `welcome` (arguments `user`, `orders`) takes \
                 sea-orm models, which the worker fetches from its models database, but it has none"
            ),
            "{error}"
        );
        for hint in [
            "--database-url",
            "ASYNCTASQ_DATABASE_URL",
            "Worker::database(db)",
            "--without-database",
        ] {
            assert!(error.contains(hint), "{hint} missing: {error}");
        }
        assert!(!error.contains("send_email"), "{error}");
    }

    #[test]
    fn an_empty_registry_explains_the_linking_trap() {
        let error = Registry::from_registrations([]).unwrap_err().to_string();
        assert!(error.contains("no tasks are registered"), "{error}");
        assert!(error.contains("use my_tasks as _;"), "{error}");
        let one = Registry::from_registrations([&FIRST]).unwrap();
        assert_eq!(one.names(), vec!["send_email"]);
        assert!(one.get("send_email").is_some() && one.get("other").is_none());
    }
}
