//! The Lua scripts, one `.lua` file each, loaded once per process.
//!
//! Per-queue scripts get `common.lua` prepended. They run through
//! [`redis::Script`]: `EVALSHA`, and on `NOSCRIPT` (a restarted server has an
//! empty script cache) `SCRIPT LOAD` and `EVALSHA` again — on a cluster the
//! load goes to every node.

use std::sync::LazyLock;

use redis::Script;

const COMMON: &str = include_str!("lua/common.lua");

/// A script with its source (kept for `EVAL` inside `MULTI`).
#[derive(Debug)]
pub(crate) struct Lua {
    /// The full source.
    pub(crate) source: String,
    /// The script, invoked by its SHA-1.
    pub(crate) script: Script,
}

impl Lua {
    fn new(source: String) -> Self {
        Lua {
            script: Script::new(&source),
            source,
        }
    }
}

macro_rules! per_queue {
    ($name:ident, $file:literal, $doc:literal) => {
        #[doc = $doc]
        pub(crate) static $name: LazyLock<Lua> =
            LazyLock::new(|| Lua::new(format!("{COMMON}\n{}", include_str!($file))));
    };
}

per_queue!(ENQUEUE, "lua/enqueue.lua", "Inserts jobs.");
per_queue!(CLAIM, "lua/claim.lua", "Leases due jobs.");
per_queue!(
    ACK,
    "lua/ack.lua",
    "Complete, release, extend, retry, bury (fenced)."
);
per_queue!(EXPIRED, "lua/expired.lua", "Reports expired leases.");
per_queue!(PROBE, "lua/probe.lua", "Top due priority, next due time.");
per_queue!(STATS, "lua/stats.lua", "Counts by state.");
per_queue!(LOOKUP, "lua/lookup.lua", "Reads jobs by id.");
per_queue!(DEAD_PAGE, "lua/dead_page.lua", "Pages through dead jobs.");
per_queue!(DEAD, "lua/dead.lua", "Requeues or purges dead jobs.");
per_queue!(PURGE, "lua/purge.lua", "Deletes pending jobs.");
per_queue!(PAUSE, "lua/pause.lua", "Pauses or resumes a queue.");

/// Numbers queues (global keys, not per queue).
pub(crate) static REGISTER: LazyLock<Lua> =
    LazyLock::new(|| Lua::new(include_str!("lua/register.lua").to_string()));

/// Every script, for preloading in `migrate`.
pub(crate) fn all() -> [&'static Lua; 12] {
    [
        &ENQUEUE, &CLAIM, &ACK, &EXPIRED, &PROBE, &STATS, &LOOKUP, &DEAD_PAGE, &DEAD, &PURGE,
        &PAUSE, &REGISTER,
    ]
}
