//! The `#[task]` attribute of [asynctasq](https://docs.rs/asynctasq).
//!
//! Use it through the `asynctasq` crate (`asynctasq::task`), never directly:
//! the generated code reaches the runtime through `::asynctasq::__private`.
//!
//! This crate stays thin: [`task`] hands its input to ordinary modules that
//! parse the options (`options`), check the function (`checks`) and
//! generate code (`expand`).

mod checks;
mod expand;
mod options;

use proc_macro::TokenStream;

/// Declares a task: a function that runs on a worker, dispatched through a
/// queue.
///
/// Put it on an `async fn` (or a plain `fn`). The function keeps its name,
/// but calling it no longer runs it: it returns a
/// `PendingDispatch` builder, which enqueues a job when you call
/// `.dispatch().await`. A worker that has the task linked in decodes the
/// job's arguments and runs the body.
///
/// # Options
///
/// All are optional; the builder can override most of them per dispatch.
///
/// | option | default | meaning |
/// |---|---|---|
/// | `queue = "emails"` | `"default"` | the queue jobs go to (`.on_queue(..)` overrides) |
/// | `name = "send_email"` | the function's name | the stable name that travels in the payload |
/// | `max_attempts = 5` | `3` | total attempts, counting the first; at least 1 (`.max_attempts(..)`) |
/// | `retry = "fixed"` | `"exponential"` | backoff between attempts: `"fixed"` or `"exponential"` |
/// | `retry_delay = "2s"` | `"1s"` | the first (or every, when fixed) retry delay |
/// | `timeout = "30s"` | none | per-attempt timeout (`.timeout(..)`) |
/// | `priority = 5` | `0` | an `i16`; higher runs first (`.priority(..)`) |
///
/// Durations use [humantime](https://docs.rs/humantime) syntax (`"500ms"`,
/// `"30s"`, `"1h 30m"`) and are checked at compile time.
///
/// The name defaults to the bare function name, not its module path, so
/// moving a task between modules does not orphan the jobs already queued.
/// Two tasks with one name make the worker refuse to start, naming both
/// places; give one of them `name = "..."`.
///
/// # What the function may look like
///
/// - Arguments are plain names (`mut` is fine) whose types are
///   `Serialize + DeserializeOwned + Send + 'static`: they are encoded one by
///   one into the job's payload, as a map from argument name to value. So
///   they are owned (`String`, not `&str`), and a function cannot be generic,
///   take `self` or `impl Trait`. Adding an `Option` argument later is
///   compatible with jobs already queued: a missing argument decodes as `None`.
/// - It returns `()` or `Result<T, E>` with `E: Display`. An `Err` fails the
///   attempt, which is retried until `max_attempts`; return (or wrap your
///   error in) `asynctasq::Permanent` to send the job straight to
///   dead-letter. A panic or a timeout is a failed attempt too.
/// - An `async fn`'s future must be `Send` (the worker is multi-threaded).
/// - A plain `fn` runs on tokio's blocking pool, so it may block. A timeout
///   fails the attempt but cannot stop the thread, which runs to its end.
/// - It cannot be `unsafe`, `const`, `extern` or variadic.
///
/// Each violation is a compile error at the offending tokens.
///
/// Attributes on the function: docs and `#[deprecated]` go on the builder,
/// `#[cfg]` on everything generated, lint levels on the body (and as `allow`
/// on the builder), and anything else, such as `#[tracing::instrument]`, on
/// the function that holds the body.
///
/// # What it generates
///
/// For
///
/// ```text
/// /// Sends the welcome email.
/// #[task(queue = "emails", max_attempts = 5, retry_delay = "2s", timeout = "30s")]
/// pub async fn send_welcome_email(to: String, name: String) -> Result<(), MailError> {
///     mailer().send(&to, &format!("Welcome, {name}!")).await
/// }
/// ```
///
/// the macro emits, in outline:
///
/// ```text
/// /// Arguments of the `send_welcome_email` task.
/// pub struct send_welcome_email { pub to: String, pub name: String }
///
/// /// Sends the welcome email.
/// pub fn send_welcome_email(to: String, name: String) -> PendingDispatch<send_welcome_email> {
///     PendingDispatch::new(send_welcome_email { to, name })
/// }
///
/// const _: () = {
///     impl send_welcome_email {
///         /// Runs the task's body right here, without a queue.
///         pub async fn run(self) -> Result<(), MailError> { .. }
///         // the original body, as a hidden associated function
///         async fn send_welcome_email(to: String, name: String) -> Result<(), MailError> { .. }
///     }
///     impl Task for send_welcome_email { const NAME = "send_welcome_email"; fn options() ..; fn encode_args() .. }
///     // each argument's codec, chosen once by autoref (a model reference or serde)
///     fn __asynctasq_codec0() -> Codec<String> { (&&Arg::<String>::new()).codec() }
///     fn __asynctasq_codec1() -> Codec<String> { (&&Arg::<String>::new()).codec() }
///     // the arguments whose codec fetches sea-orm models (none here)
///     fn __asynctasq_model_arguments() -> Vec<&'static str> { .. }
///     fn __asynctasq_handler(ctx: JobContext) -> HandlerFuture {
///         // decode `to` and `name` from ctx.args (a failure is permanent),
///         // run the body, map its result with IntoTaskResult
///     }
///     inventory::submit! {
///         TaskRegistration { name, location: "file:line", handler, model_arguments }
///     }
/// };
/// ```
///
/// The struct and the builder share a name without clashing: a braced struct
/// lives in the type namespace and a function in the value namespace. So
/// `send_welcome_email(..)` is a call and `send_welcome_email { .. }` the
/// arguments, and in a test you can run the body without any queue:
///
/// ```text
/// send_welcome_email("a@x.io".into(), "Ada".into()).into_task().run().await?;
/// ```
///
/// The `asynctasq` crate's documentation has a complete, compiled example.
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::task(attr.into(), item.into()).into()
}
