//! The embedded SQLite driver (placeholder).

/// The SQLite driver (placeholder).
#[derive(Debug)]
pub struct SqliteDriver;
