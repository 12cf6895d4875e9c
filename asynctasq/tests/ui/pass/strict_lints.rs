//! Generated code stays quiet in a crate with strict lints.
#![deny(
    warnings,
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    unused,
    non_local_definitions,
    unsafe_code
)]

/// Tasks in a private module: nothing generated may be `pub`.
mod tasks {
    use asynctasq::Permanent;

    /// Every option.
    #[asynctasq::task(
        name = "strict.send",
        queue = "emails",
        max_attempts = 5,
        retry = "fixed",
        retry_delay = "250ms",
        timeout = "1m",
        priority = -2
    )]
    pub(crate) async fn send(to: String, mut attempts: u8) -> Result<(), Permanent> {
        attempts += 1;
        let _ = (to, attempts);
        Ok(())
    }

    /// A blocking task with no arguments.
    #[asynctasq::task]
    pub(crate) fn tick() {}
}

/// Public tasks need docs only on the function.
pub mod public {
    /// Documented once, here.
    #[asynctasq::task(queue = "reports")]
    pub async fn report(day: u32, recipients: Vec<String>) -> anyhow::Result<u32> {
        Ok(day + recipients.len() as u32)
    }
}

fn main() {
    let _ = tasks::send("a@x.io".into(), 0);
    let _ = tasks::tick();
    let _ = public::report(1, vec![]);
}
