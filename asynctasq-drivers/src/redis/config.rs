//! The driver's configuration, parsed from its URLs: `redis://`, `rediss://`, `redis+cluster://` and
//! `rediss+cluster://`, with the driver's own query parameters taken out before
//! the rest goes to the `redis` crate.

use std::fmt;
use std::time::Duration;

use asynctasq_core::url::{REDIS, normalize_scheme, percent_decode, redact, split_options};

/// The key prefix used when the URL names none.
pub(crate) const DEFAULT_PREFIX: &str = "asynctasq";

/// How long connecting may take when the URL does not say
/// (`?connect_timeout=`); the same default as the SQL drivers'.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where and how to connect, parsed from a URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// A Redis Cluster (seed nodes in `nodes`) rather than one server.
    pub(crate) cluster: bool,
    /// TLS (`rediss`).
    pub(crate) tls: bool,
    /// URLs in the `redis` crate's syntax: one for a single node, the seeds of a cluster.
    pub(crate) nodes: Vec<String>,
    /// The key prefix (`?prefix=`).
    pub(crate) prefix: String,
    /// A PEM file with the CA certificates that sign the server's certificate (`?tls_ca=`).
    pub(crate) tls_ca: Option<String>,
    /// How long connecting (and each reconnection attempt) may take
    /// (`?connect_timeout=`, default 2 s).
    pub(crate) connect_timeout: Duration,
    /// The URL as [`redact`] shows it, for logs and errors.
    pub(crate) redacted: String,
    /// The nodes and the prefix without credentials: which wake-up hub the
    /// driver shares with the other drivers of the process.
    pub(crate) identity: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.redacted)
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Parses a driver URL (its scheme in any case). Errors never contain the password.
pub(crate) fn parse(url: &str) -> Result<Target, String> {
    let redacted = redact(url);
    let url = normalize_scheme(url);
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("`{redacted}` is not a redis url"));
    };
    let (cluster, tls) = match scheme {
        "redis" => (false, false),
        "rediss" => (false, true),
        "redis+cluster" => (true, false),
        "rediss+cluster" => (true, true),
        other => {
            return Err(format!(
                "unsupported url scheme `{other}` for the redis driver (expected one of {})",
                REDIS.schemes.join(", ")
            ));
        }
    };
    let split = split_options(rest, &["prefix", "tls_ca", "connect_timeout"]);
    let mut prefix = DEFAULT_PREFIX.to_string();
    let mut tls_ca = None;
    let mut connect_timeout = DEFAULT_CONNECT_TIMEOUT;
    for (key, value) in &split.options {
        match key.as_str() {
            "prefix" => prefix = percent_decode(value)?,
            "tls_ca" => tls_ca = Some(percent_decode(value)?),
            "connect_timeout" => {
                connect_timeout = asynctasq_core::config::parse_duration(value)
                    .map_err(|e| format!("redis url option `connect_timeout`: {e}"))?
            }
            _ => {}
        }
    }
    let (authority_path, suffix) = split.database_url.split_at(
        split
            .database_url
            .find(['?', '#'])
            .unwrap_or(split.database_url.len()),
    );
    validate_prefix(&prefix)?;
    let hosts = authority_path
        .rsplit_once('@')
        .map_or(authority_path, |(_, h)| h);
    let identity = format!(
        "{scheme}://{}?prefix={prefix}",
        hosts.trim_end_matches("/0").trim_end_matches('/')
    );
    if tls_ca.is_some() && !tls {
        return Err("`tls_ca` needs a `rediss` url".into());
    }
    let node_scheme = if tls { "rediss" } else { "redis" };
    let nodes = if cluster {
        let (authority, path) = match authority_path.split_once('/') {
            Some((a, p)) => (a, p),
            None => (authority_path, ""),
        };
        if !matches!(path, "" | "0") {
            return Err(format!(
                "`{redacted}`: Redis Cluster has only database 0 (the path must be empty or `/0`)"
            ));
        }
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (format!("{u}@"), h),
            None => (String::new(), authority),
        };
        let hosts: Vec<&str> = hosts.split(',').filter(|h| !h.is_empty()).collect();
        if hosts.is_empty() {
            return Err(format!("`{redacted}` names no cluster node"));
        }
        hosts
            .iter()
            .map(|h| format!("{node_scheme}://{userinfo}{h}/{suffix}"))
            .collect()
    } else {
        if authority_path.contains(',') {
            return Err(format!(
                "`{redacted}` names several hosts; use `{scheme}+cluster://` for a Redis Cluster"
            ));
        }
        vec![format!("{node_scheme}://{authority_path}{suffix}")]
    };
    Ok(Target {
        cluster,
        tls,
        nodes,
        prefix,
        tls_ca,
        connect_timeout,
        redacted,
        identity,
    })
}

/// Rejects prefixes that would break the `{…}` hash tags of the key layout.
fn validate_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("the redis key prefix must not be empty".into());
    }
    if prefix.contains(['{', '}']) {
        return Err(format!(
            "the redis key prefix `{prefix}` must not contain `{{` or `}}` (they delimit hash tags)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_with_prefix_and_db() {
        let t = parse("redis://:secret@127.0.0.1:6380/2?prefix=app%3Ajobs&protocol=resp3").unwrap();
        assert!(!t.cluster && !t.tls);
        assert_eq!(t.prefix, "app:jobs");
        assert_eq!(t.nodes, ["redis://:secret@127.0.0.1:6380/2?protocol=resp3"]);
        assert_eq!(
            t.redacted,
            "redis://:***@127.0.0.1:6380/2?prefix=app%3Ajobs&protocol=resp3"
        );
        assert!(!format!("{t:?}").contains("secret"));
        assert_eq!(t.identity, "redis://127.0.0.1:6380/2?prefix=app:jobs");
        assert_eq!(
            parse("redis://u:p@w@h:1/0").unwrap().identity,
            parse("redis://h:1/").unwrap().identity
        );
    }

    #[test]
    fn schemes_in_any_case() {
        let t = parse("Rediss+Cluster://:pw@a:1,b:2").unwrap();
        assert!(t.cluster && t.tls);
        assert_eq!(t.nodes, ["rediss://:pw@a:1/", "rediss://:pw@b:2/"]);
        assert_eq!(t.identity, "rediss+cluster://a:1,b:2?prefix=asynctasq");
        assert_eq!(t.redacted, "Rediss+Cluster://:***@a:1,b:2");
        assert_eq!(parse("REDIS://h").unwrap().nodes, ["redis://h"]);
    }

    #[test]
    fn errors_and_debug_hide_passwords_with_special_characters() {
        for url in [
            "redis://u:p/ss@a:1,b:2",
            "redis+cluster://u:p@/?#%x@a:1/3",
            "redis://u:p%2Fss@h?prefix=",
        ] {
            let err = parse(url).unwrap_err();
            assert!(
                !err.contains("p/ss") && !err.contains("p@/") && !err.contains("p%2F"),
                "{err}"
            );
        }
        let t = parse("redis://u:p/ss?w@h:1/0").unwrap();
        assert!(!format!("{t:?}").contains("p/ss"), "{t:?}");
    }

    #[test]
    fn defaults() {
        let t = parse("redis://localhost").unwrap();
        assert_eq!(t.prefix, DEFAULT_PREFIX);
        assert_eq!(t.nodes, ["redis://localhost"]);
        assert_eq!(t.tls_ca, None);
        assert_eq!(t.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    }

    #[test]
    fn connect_timeout_is_a_driver_option() {
        let t = parse("redis://h:1/0?connect_timeout=500ms&protocol=resp3").unwrap();
        assert_eq!(t.connect_timeout, Duration::from_millis(500));
        assert_eq!(t.nodes, ["redis://h:1/0?protocol=resp3"]);
        let err = parse("redis://h?connect_timeout=soon").unwrap_err();
        assert!(err.contains("connect_timeout"), "{err}");
    }

    #[test]
    fn cluster_seeds_share_credentials_and_options() {
        let t =
            parse("rediss+cluster://app:pw@a:7000,b:7001/?prefix=p&tls_ca=/etc/ca.pem#insecure")
                .unwrap();
        assert!(t.cluster && t.tls);
        assert_eq!(t.tls_ca.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(
            t.nodes,
            [
                "rediss://app:pw@a:7000/#insecure",
                "rediss://app:pw@b:7001/#insecure"
            ]
        );
        assert_eq!(
            t.redacted,
            "rediss+cluster://app:***@a:7000,b:7001/?prefix=p&tls_ca=/etc/ca.pem#insecure"
        );
    }

    #[test]
    fn rejects_bad_urls() {
        assert!(
            parse("redis+cluster://a:1/3").is_err(),
            "cluster has db 0 only"
        );
        assert!(
            parse("redis://a:1,b:2").is_err(),
            "several hosts need +cluster"
        );
        assert!(
            parse("redis://a?prefix=%7Bx%7D").is_err(),
            "braces in prefix"
        );
        assert!(parse("redis://a?prefix=").is_err(), "empty prefix");
        assert!(parse("redis://a?tls_ca=/x").is_err(), "tls_ca without tls");
        assert!(parse("postgres://a").is_err());
        let err = parse("mysql://u:hunter2@h").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
