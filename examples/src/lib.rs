//! Tasks shared by the examples and the process-level reliability tests.
//!
//! The `chaos-worker` binary links this crate with `use asynctasq_examples as _;`,
//! which is exactly how an application's worker binary links its task crate.

pub mod chaos;
