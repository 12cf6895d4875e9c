//! Reading a `sqlite:` URL: which database it names, and the URLs that
//! would silently give every pooled connection a database of its own.

use sqlx::sqlite::SqliteConnectOptions;
use std::str::FromStr;

use asynctasq_core::url::{normalize_scheme, query_param, redact};
use asynctasq_core::{Error, Result};

/// The URL forms to suggest in errors.
const ACCEPTED: &str = "name a file, as in `sqlite://jobs.db` (relative to the working directory) \
     or `sqlite:///var/lib/app/jobs.db`, or use `sqlite::memory:` for an in-memory database";

/// What a `sqlite:` URL asks for.
#[derive(Debug)]
pub(super) struct SqliteUrl {
    /// sqlx's options for it.
    pub(super) options: SqliteConnectOptions,
    /// The `mode=` parameter, if any (`ro`, `rw`, `rwc`, `memory`).
    pub(super) mode: Option<String>,
    /// An in-memory database (`:memory:` or `mode=memory`).
    pub(super) memory: bool,
}

/// Parses `url` (its scheme in any case), refusing an empty path
/// (`sqlite://`, `sqlite:`, `sqlite://?mode=rwc`): SQLite opens a private
/// temporary database for each connection there, so jobs would go to
/// databases that no other connection sees. An in-memory database with
/// `cache=private` is refused for the same reason.
pub(super) fn parse(url: &str) -> Result<SqliteUrl> {
    let url = normalize_scheme(url);
    let shown = redact(&url);
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(&url);
    let path = rest.find(['?', '#']).map_or(rest, |end| &rest[..end]);
    if path.trim().is_empty() {
        return Err(Error::Config(format!(
            "`{shown}` names no database file, so every pooled connection would open its own \
             temporary database; {ACCEPTED}"
        )));
    }
    let mode = query_param(&url, "mode").map(str::to_string);
    let memory = mode.as_deref() == Some("memory") || path == ":memory:";
    if memory && query_param(&url, "cache") == Some("private") {
        return Err(Error::Config(format!(
            "`{shown}` gives every pooled connection its own in-memory database; \
             leave out `cache=private` (the pool's connections then share one)"
        )));
    }
    let options = SqliteConnectOptions::from_str(&url)
        .map_err(|e| Error::Config(format!("invalid sqlite url `{shown}`: {e}")))?;
    Ok(SqliteUrl {
        options,
        mode,
        memory,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_path_is_refused_with_the_accepted_forms() {
        for url in [
            "sqlite:",
            "sqlite://",
            "sqlite://?mode=rwc",
            "sqlite:?mode=ro",
            "sqlite://?mode=memory",
            "SQLite://",
            "sqlite://  ",
            "sqlite://#x",
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(
                err.contains("names no database file, so every pooled connection would open its own temporary database"),
                "{url}: {err}"
            );
            assert!(
                err.contains("`sqlite://jobs.db`") && err.contains("`sqlite::memory:`"),
                "{url}: {err}"
            );
        }
    }

    #[test]
    fn files_and_shared_memory_are_accepted() {
        for (url, memory) in [
            ("sqlite://jobs.db", false),
            ("Sqlite://jobs.db", false),
            ("sqlite:jobs.db", false),
            ("sqlite:///tmp/x/jobs.db?mode=rwc", false),
            ("sqlite::memory:", true),
            ("sqlite://:memory:", true),
            ("sqlite://shared?mode=memory", true),
        ] {
            let parsed = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(parsed.memory, memory, "{url}");
        }
        assert_eq!(
            parse("SQLITE://jobs.db?mode=ro").unwrap().mode.as_deref(),
            Some("ro")
        );
    }

    #[test]
    fn a_private_in_memory_database_is_refused() {
        let err = parse("sqlite::memory:?cache=private")
            .unwrap_err()
            .to_string();
        assert!(err.contains("its own in-memory database"), "{err}");
    }

    #[test]
    fn bad_parameters_are_configuration_errors() {
        let err = parse("sqlite://jobs.db?mode=sometimes").unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("invalid sqlite url `sqlite://jobs.db?mode=sometimes`"),
            "{err}"
        );
    }
}
