//! `#[task]`: the generated struct, builder, `Task` impl and registered
//! handler, exercised without a queue.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asynctasq::core::TaskFailure;
use asynctasq::{Backoff, JobContext, JobId, Permanent, Registry, RetryPolicy, Task, TaskOptions};
use serde::{Deserialize, Serialize};

/// Side effects of the tasks below, keyed by test so tests can run in parallel.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn log(line: String) {
    LOG.lock().unwrap().push(line);
}

fn logged(prefix: &str) -> Vec<String> {
    LOG.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with(prefix))
        .cloned()
        .collect()
}

/// The mailer's error.
#[derive(Debug, thiserror::Error)]
#[error("mailer is down")]
pub struct MailError;

/// Sends the welcome email.
#[asynctasq::task(
    queue = "emails",
    max_attempts = 5,
    retry = "exponential",
    retry_delay = "2s",
    timeout = "30s"
)]
pub async fn send_welcome_email(to: String, name: String) -> Result<(), MailError> {
    tokio::task::yield_now().await;
    if to.is_empty() {
        return Err(MailError);
    }
    log(format!("welcome: {name} <{to}>"));
    Ok(())
}

/// Every option away from its default, and a name that is not the function's.
#[asynctasq::task(
    name = "billing.charge",
    queue = "billing",
    max_attempts = 1,
    retry = "fixed",
    retry_delay = "1m 30s",
    priority = -7
)]
pub async fn charge(
    customer: Customer,
    cents: u64,
    note: Option<String>,
) -> Result<u64, Permanent> {
    if cents == 0 {
        return Err(Permanent::new("nothing to charge"));
    }
    log(format!(
        "charge: {} {cents} {}",
        customer.email,
        note.unwrap_or_default()
    ));
    Ok(cents)
}

/// A customer, travelling as a named map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Where to send the receipt.
    pub email: String,
    /// Loyalty tier.
    pub tier: u8,
}

/// No options, no arguments, no return value.
#[asynctasq::task]
async fn ping() {
    log("ping: pong".to_string());
}

/// A blocking task: runs on tokio's blocking pool.
#[asynctasq::task(priority = 3)]
fn resize(mut width: u32, r#type: String) -> Result<u32, String> {
    std::thread::sleep(Duration::from_millis(5));
    width /= 2;
    if r#type == "bad" {
        return Err(format!("cannot resize {type}", type = r#type));
    }
    log(format!("resize: {type} {width}", type = r#type));
    Ok(width)
}

/// A blocking task that panics.
#[asynctasq::task]
fn explode(message: String) {
    panic!("{message}");
}

/// An anyhow task that fails permanently through a wrapped `Permanent`.
#[asynctasq::task]
async fn import(rows: Vec<u32>) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Err(anyhow::Error::new(Permanent::new("empty file")).context("importing"));
    }
    anyhow::bail!("database busy")
}

/// Re-dispatches itself from its own body: the bare name is the builder.
#[asynctasq::task]
async fn countdown(n: u32) -> asynctasq::Result<()> {
    if n > 0 {
        let next = countdown(n - 1);
        assert_eq!(next.into_task().n, n - 1);
    }
    log(format!("countdown: {n}"));
    Ok(())
}

fn context(task: &str, args: rmpv::Value) -> JobContext {
    JobContext {
        id: JobId::new(),
        task: task.to_string(),
        queue: "test".into(),
        attempt: 1,
        max_attempts: 3,
        args,
        db: None,
        cancellation: asynctasq::Cancellation::never(),
    }
}

/// Runs `task` the way a worker would: encode, look up by name, call the handler.
async fn through_handler<T: Task>(task: T) -> Result<(), TaskFailure> {
    let registry = Registry::from_inventory().unwrap();
    let registration = registry.get(T::NAME).expect("the task is registered");
    assert!(
        registration.location.contains("task_macro.rs:"),
        "{}",
        registration.location
    );
    (registration.handler)(context(T::NAME, task.encode_args().unwrap())).await
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn names_default_to_the_function_name() {
    assert_eq!(send_welcome_email::NAME, "send_welcome_email");
    assert_eq!(charge::NAME, "billing.charge");
    assert_eq!(ping::NAME, "ping");
    assert_eq!(resize::NAME, "resize");
    let registry = Registry::from_inventory().unwrap();
    assert_eq!(
        registry.names(),
        [
            "billing.charge",
            "countdown",
            "explode",
            "import",
            "ping",
            "resize",
            "send_welcome_email"
        ]
    );
}

#[test]
fn options_reflect_the_attribute() {
    assert_eq!(
        send_welcome_email::options(),
        TaskOptions {
            queue: "emails",
            max_attempts: 5,
            retry: RetryPolicy::exponential(Duration::from_secs(2)),
            timeout: Some(Duration::from_secs(30)),
            priority: 0,
        }
    );
    let charge = charge::options();
    assert_eq!(charge.queue, "billing");
    assert_eq!(charge.max_attempts, 1);
    assert_eq!(charge.retry, RetryPolicy::fixed(Duration::from_secs(90)));
    assert_eq!(charge.retry.backoff, Backoff::Fixed);
    assert_eq!(charge.timeout, None);
    assert_eq!(charge.priority, -7);
    assert_eq!(ping::options(), TaskOptions::default());
    assert_eq!(resize::options().priority, 3);
}

#[test]
fn the_builder_holds_the_arguments() {
    let pending = send_welcome_email("a@x.io".into(), "Ada".into());
    let args = pending.into_task();
    assert_eq!((args.to.as_str(), args.name.as_str()), ("a@x.io", "Ada"));
    // Debug never requires the arguments to be Debug.
    assert_eq!(format!("{args:?}"), "send_welcome_email { .. }");
}

#[test]
fn the_envelope_takes_defaults_from_the_attribute() {
    let before = now_millis();
    let envelope = send_welcome_email("a@x.io".into(), "Ada".into())
        .envelope()
        .unwrap();
    assert_eq!(envelope.task, "send_welcome_email");
    assert_eq!(envelope.queue, "emails");
    assert_eq!(envelope.max_attempts, 5);
    assert_eq!(envelope.timeout_ms, Some(30_000));
    assert_eq!(envelope.priority, 0);
    assert_eq!(
        envelope.retry,
        RetryPolicy::exponential(Duration::from_secs(2))
    );
    assert!(envelope.run_at >= before && envelope.run_at <= now_millis());
    let args = envelope.args.as_map().unwrap();
    let keys: Vec<_> = args.iter().map(|(k, _)| k.as_str().unwrap()).collect();
    assert_eq!(keys, ["to", "name"]);
}

#[test]
fn the_builder_overrides_the_attribute() {
    let before = now_millis();
    let envelope = send_welcome_email("a@x.io".into(), "Ada".into())
        .on_queue("vip")
        .priority(9)
        .delay(Duration::from_secs(60))
        .max_attempts(2)
        .timeout(Duration::from_millis(1500))
        .header("trace", "abc")
        .envelope()
        .unwrap();
    assert_eq!(envelope.queue, "vip");
    assert_eq!(envelope.priority, 9);
    assert!(envelope.run_at >= before + 60_000 && envelope.run_at <= now_millis() + 60_000);
    assert_eq!(envelope.max_attempts, 2);
    assert_eq!(envelope.timeout_ms, Some(1500));
    assert_eq!(envelope.headers["trace"], "abc");
}

#[tokio::test]
async fn run_calls_the_body_directly() {
    send_welcome_email("run@x.io".into(), "Run".into())
        .into_task()
        .run()
        .await
        .unwrap();
    assert_eq!(logged("welcome: Run"), ["welcome: Run <run@x.io>"]);
    assert!(
        send_welcome_email(String::new(), "Nobody".into())
            .into_task()
            .run()
            .await
            .is_err()
    );
    ping().into_task().run().await;
    assert!(!logged("ping:").is_empty());
    // A blocking task's `run` is blocking too.
    let halved = resize(100, "run".into()).into_task().run();
    assert_eq!(halved, Ok(50));
    countdown(2).into_task().run().await.unwrap();
    assert_eq!(logged("countdown: 2"), ["countdown: 2"]);
}

#[tokio::test]
async fn arguments_round_trip_through_the_handler() {
    let customer = Customer {
        email: "c@x.io".into(),
        tier: 2,
    };
    let args = charge(customer.clone(), 1250, Some("handler".into())).into_task();
    through_handler(args).await.unwrap();
    assert_eq!(logged("charge: c@x.io"), ["charge: c@x.io 1250 handler"]);

    through_handler(send_welcome_email("h@x.io".into(), "Handler".into()).into_task())
        .await
        .unwrap();
    assert_eq!(logged("welcome: Handler"), ["welcome: Handler <h@x.io>"]);

    through_handler(resize(64, "handler".into()).into_task())
        .await
        .unwrap();
    assert_eq!(logged("resize: handler"), ["resize: handler 32"]);
}

#[tokio::test]
async fn errors_become_failures() {
    let failure = through_handler(send_welcome_email(String::new(), "X".into()).into_task())
        .await
        .unwrap_err();
    assert_eq!(failure, TaskFailure::retryable("mailer is down"));

    let customer = Customer {
        email: "zero@x.io".into(),
        tier: 0,
    };
    let failure = through_handler(charge(customer, 0, None).into_task())
        .await
        .unwrap_err();
    assert_eq!(failure, TaskFailure::permanent("nothing to charge"));

    let failure = through_handler(resize(10, "bad".into()).into_task())
        .await
        .unwrap_err();
    assert_eq!(failure, TaskFailure::retryable("cannot resize bad"));

    let failure = through_handler(import(vec![]).into_task())
        .await
        .unwrap_err();
    assert_eq!(failure, TaskFailure::permanent("importing: empty file"));
    let failure = through_handler(import(vec![1]).into_task())
        .await
        .unwrap_err();
    assert_eq!(failure, TaskFailure::retryable("database busy"));
}

#[tokio::test]
async fn malformed_arguments_fail_permanently() {
    let registry = Registry::from_inventory().unwrap();
    let handler = registry.get("send_welcome_email").unwrap().handler;

    let wrong_type = rmpv::Value::Map(vec![
        ("to".into(), 42.into()),
        ("name".into(), "Ada".into()),
    ]);
    let failure = handler(context("send_welcome_email", wrong_type))
        .await
        .unwrap_err();
    assert!(failure.permanent, "{failure:?}");
    assert!(failure.message.contains("argument `to`"), "{failure:?}");

    let missing = rmpv::Value::Map(vec![("to".into(), "a@x.io".into())]);
    let failure = handler(context("send_welcome_email", missing))
        .await
        .unwrap_err();
    assert!(failure.permanent, "{failure:?}");
    assert!(
        failure.message.contains("argument `name`") && failure.message.contains("missing"),
        "{failure:?}"
    );

    let not_a_map = rmpv::Value::from("nope");
    let failure = handler(context("send_welcome_email", not_a_map))
        .await
        .unwrap_err();
    assert!(failure.permanent, "{failure:?}");

    // An `Option` argument that is missing decodes as `None`: adding one is compatible.
    let older = rmpv::Value::Map(vec![
        (
            "customer".into(),
            (asynctasq::core::args::SerdeArg::codec(
                &asynctasq::core::args::Arg::<Customer>::new(),
            )
            .encode)(
                "customer",
                &Customer {
                    email: "old@x.io".into(),
                    tier: 1,
                },
            )
            .unwrap(),
        ),
        ("cents".into(), 5.into()),
    ]);
    let charge = registry.get("billing.charge").unwrap().handler;
    charge(context("billing.charge", older)).await.unwrap();
    assert_eq!(logged("charge: old@x.io"), ["charge: old@x.io 5 "]);
}

#[tokio::test]
async fn a_panicking_blocking_task_panics_through_the_handler() {
    let join = tokio::spawn(through_handler(explode("kaboom".into()).into_task()))
        .await
        .unwrap_err();
    assert!(join.is_panic());
    let payload = join.into_panic();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "kaboom");
}

#[tokio::test]
async fn raw_identifiers_travel_without_the_prefix() {
    let envelope = resize(8, "png".into()).envelope().unwrap();
    let keys: Vec<_> = envelope
        .args
        .as_map()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["width", "type"]);
}
