//! Backend URLs, for every driver: which built-in driver a scheme names, the
//! scheme read case-insensitively, the driver's own options taken out of the
//! query string, and [`redact`], the one function that hides credentials
//! before a URL reaches a message, a log line or a `Debug` output.

use std::borrow::Cow;

/// A driver that asynctasq ships, with the URL schemes it answers to.
///
/// This table is the one place where the built-in schemes are listed:
/// drivers register with [`SQLITE`]`.schemes` (and so on), and
/// [`connect`](crate::connect) uses it to tell an unknown scheme from the
/// scheme of a driver whose cargo feature is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuiltinDriver {
    /// The driver's name in messages (`"postgres"`).
    pub name: &'static str,
    /// The URL schemes it handles, lowercase, the usual one first.
    pub schemes: &'static [&'static str],
    /// The cargo feature of the `asynctasq` crate that compiles it in.
    pub feature: &'static str,
    /// A URL to show in messages.
    pub example: &'static str,
}

/// The embedded SQLite driver.
pub const SQLITE: BuiltinDriver = BuiltinDriver {
    name: "sqlite",
    schemes: &["sqlite"],
    feature: "sqlite",
    example: "sqlite://jobs.db",
};

/// The in-process memory driver (tests and examples).
pub const MEMORY: BuiltinDriver = BuiltinDriver {
    name: "memory",
    schemes: &["memory"],
    feature: "memory",
    example: "memory://",
};

/// The PostgreSQL driver.
pub const POSTGRES: BuiltinDriver = BuiltinDriver {
    name: "postgres",
    schemes: &["postgres", "postgresql"],
    feature: "postgres",
    example: "postgres://user:password@localhost/app",
};

/// The MySQL / MariaDB driver.
pub const MYSQL: BuiltinDriver = BuiltinDriver {
    name: "mysql",
    schemes: &["mysql", "mariadb"],
    feature: "mysql",
    example: "mysql://user:password@localhost/app",
};

/// The Redis driver (one server, or a Redis Cluster with `+cluster`).
pub const REDIS: BuiltinDriver = BuiltinDriver {
    name: "redis",
    schemes: &["redis", "rediss", "redis+cluster", "rediss+cluster"],
    feature: "redis",
    example: "redis://127.0.0.1:6379",
};

/// Every built-in driver.
pub const BUILTIN: &[BuiltinDriver] = &[SQLITE, MEMORY, POSTGRES, MYSQL, REDIS];

/// The built-in driver that handles `scheme` (compared case-insensitively).
pub fn builtin(scheme: &str) -> Option<&'static BuiltinDriver> {
    BUILTIN
        .iter()
        .find(|d| d.schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)))
}

/// The scheme of `url` as written (`Sqlite` in `Sqlite://x.db`), or `None`
/// when `url` does not start with one: a letter, then letters, digits, `+`,
/// `-` or `.`, then `:` (RFC 3986, section 3.1).
pub fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// `url` with its scheme in lowercase (schemes are case-insensitive, and
/// drivers compare them as lowercase), unchanged when it has no scheme.
///
/// ```
/// assert_eq!(asynctasq_core::url::normalize_scheme("SQLite://Jobs.db"), "sqlite://Jobs.db");
/// ```
pub fn normalize_scheme(url: &str) -> Cow<'_, str> {
    match scheme(url) {
        Some(s) if s.bytes().any(|b| b.is_ascii_uppercase()) => {
            Cow::Owned(format!("{}{}", s.to_ascii_lowercase(), &url[s.len()..]))
        }
        _ => Cow::Borrowed(url),
    }
}

/// What a string with no scheme probably meant, as a URL to suggest:
/// `redis//h:6379` → `redis://h:6379` (a typo of a known scheme),
/// `shop.db` → `sqlite://shop.db` (a file path), otherwise `None`.
pub(crate) fn suggest(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let typo = BUILTIN
        .iter()
        .flat_map(|d| d.schemes.iter().map(move |s| (d, *s)))
        .filter(|(_, s)| {
            lower
                .strip_prefix(s)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', ':']))
        })
        .max_by_key(|(_, s)| s.len());
    if let Some((driver, s)) = typo {
        let rest = text[s.len()..].trim_start_matches([':', '/']);
        return Some(if rest.is_empty() {
            driver.example.to_string()
        } else {
            format!("{s}://{rest}")
        });
    }
    let path_like = !text.is_empty() && !text.contains(['@', ':', '?', ' ']);
    path_like.then(|| format!("sqlite://{text}"))
}

/// A database URL split into what the database client understands and the
/// driver's own options found in its query string.
#[derive(Debug, PartialEq, Eq)]
pub struct DriverUrl {
    /// The URL without the driver's options (query and fragment otherwise
    /// kept), for the database client.
    pub database_url: String,
    /// `(key, value)` pairs of recognized driver options, in URL order,
    /// as written (not percent-decoded).
    pub options: Vec<(String, String)>,
}

/// Splits `url`'s query string: keys in `known` are driver options, the rest
/// stay in the URL (before its `#fragment`, if any) for the database client.
pub fn split_options(url: &str, known: &[&str]) -> DriverUrl {
    let (rest, fragment) = match url.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (url, None),
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut kept = Vec::new();
    let mut options = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if known.contains(&key) {
            options.push((key.to_string(), value.to_string()));
        } else {
            kept.push(pair);
        }
    }
    let mut database_url = base.to_string();
    if !kept.is_empty() {
        database_url.push('?');
        database_url.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        database_url.push('#');
        database_url.push_str(f);
    }
    DriverUrl {
        database_url,
        options,
    }
}

/// The value of `key` in `url`'s query string, as written.
pub fn query_param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Parses the value of the driver option `key`, naming it in the error:
/// `postgres url option `listen=maybe` is invalid: …`.
pub fn parse_option<T>(
    driver: &'static str,
    key: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> crate::Result<T> {
    parse(value).map_err(|e| {
        crate::Error::Config(format!(
            "{driver} url option `{key}={value}` is invalid: {e}"
        ))
    })
}

/// Decodes `%XX` escapes and `+` (a space, as in query strings).
pub fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent-encoding in `{text}`"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{text}` is not utf-8 once decoded"))
}

/// Words that make a `key=value` parameter secret when its key contains
/// one (case-insensitively): `password`, `sslpassword`, `pwd`, `api_key`,
/// `access_token`, `auth`, `client_secret`, …
const SECRET_WORDS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "auth",
    "key",
    "credential",
    "signature",
];

/// `text` with every credential replaced by `***`, for messages, logs and
/// `Debug` output. Use it on anything that may be a URL, even a malformed
/// one: it hides
///
/// * the password of the user info, with or without a user
///   (`redis://:***@host`, `postgres://app:***@db/jobs`), including a
///   password that holds unescaped `@ / ? # %`: the user info ends at the
///   *last* `@`, so a URL with an `@` further on (in its query) is
///   over-redacted rather than leaked;
/// * the value of every `key=value` parameter whose key names a secret
///   (`password=`, `pwd=`, `token=`, `secret=`, `auth=`, `api_key=` …), in
///   the query string and in non-URL strings such as
///   `host=db password=x`.
///
/// User names, hosts (every host of a cluster URL), ports, paths and other
/// parameters are kept.
///
/// ```
/// use asynctasq_core::url::redact;
///
/// assert_eq!(redact("postgres://app:p/ss?w@db/jobs"), "postgres://app:***@db/jobs");
/// assert_eq!(redact("redis://h:6379/0?token=abc&prefix=app"), "redis://h:6379/0?token=***&prefix=app");
/// ```
pub fn redact(text: &str) -> String {
    let (head, rest) = match text.find("://") {
        Some(i) if scheme(text).is_some_and(|s| s.len() == i) => text.split_at(i + 3),
        _ => ("", text),
    };
    let mut out = String::with_capacity(text.len());
    out.push_str(head);
    let rest = match rest.rfind('@') {
        Some(at) => {
            let info = &rest[..at];
            match password_start(info, head.is_empty()) {
                Some(start) => {
                    out.push_str(&info[..start]);
                    out.push_str("***@");
                    &rest[at + 1..]
                }
                // A user name alone is kept; `/ ? #` before the `@` mean
                // that it is not a user info at all.
                None if !info.contains(['/', '?', '#', ' ']) => {
                    out.push_str(&rest[..=at]);
                    &rest[at + 1..]
                }
                None => rest,
            }
        }
        None => rest,
    };
    redact_parameters(rest, &mut out);
    out
}

/// `text` (a message from a library that echoes the URL it was given, such
/// as sea-orm's "the connection string '…' cannot be parsed") with every
/// copy of `url` shown as [`redact`] shows it.
///
/// ```
/// use asynctasq_core::url::redact_in;
///
/// let message = "The connection string 'postgres://u:pw@h:x/db' cannot be parsed.";
/// assert_eq!(
///     redact_in(message, "postgres://u:pw@h:x/db"),
///     "The connection string 'postgres://u:***@h:x/db' cannot be parsed."
/// );
/// ```
pub fn redact_in(text: &str, url: &str) -> String {
    if url.is_empty() {
        return text.to_string();
    }
    text.replace(url, &redact(url))
}

/// Where the password of the user info `info` starts (just after its `:`).
/// In a string without `scheme://`, a leading known scheme (`redis:u:pw`)
/// is not taken for a user name.
fn password_start(info: &str, schemeless: bool) -> Option<usize> {
    let colon = info.find(':')?;
    if schemeless && builtin(&info[..colon]).is_some() {
        let second = info[colon + 1..].find(':')?;
        return Some(colon + 1 + second + 1);
    }
    Some(colon + 1)
}

/// Appends `text` to `out` with the values of secret `key=value`
/// parameters replaced by `***`. Parameters are separated by `? & ; #` or
/// white space.
fn redact_parameters(text: &str, out: &mut String) {
    let is_separator = |c: char| matches!(c, '?' | '&' | ';' | '#') || c.is_whitespace();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(is_separator).unwrap_or(rest.len());
        let (token, tail) = rest.split_at(end);
        match token.split_once('=') {
            Some((key, _)) if is_secret_key(key) => {
                out.push_str(key);
                out.push_str("=***");
            }
            _ => out.push_str(token),
        }
        let sep_len = tail.chars().next().map_or(0, char::len_utf8);
        out.push_str(&tail[..sep_len]);
        rest = &tail[sep_len..];
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = percent_decode(key)
        .unwrap_or_else(|_| key.to_string())
        .to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| key.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_the_password_of_the_user_info() {
        for (url, redacted) in [
            (
                "postgres://app:s3cret@db.internal:5432/jobs",
                "postgres://app:***@db.internal:5432/jobs",
            ),
            (
                "redis://:hunter2@localhost:6379/0",
                "redis://:***@localhost:6379/0",
            ),
            ("redis://:pw@h", "redis://:***@h"),
            ("mysql://u:@h/x", "mysql://u:***@h/x"),
            // Unescaped `@ / ? # %` in the password: the last `@` ends it.
            ("mysql://u:p@ss@h/x", "mysql://u:***@h/x"),
            (
                "postgres://app:p/a?s@s@db/jobs",
                "postgres://app:***@db/jobs",
            ),
            ("postgres://app:pa/ss@db/jobs", "postgres://app:***@db/jobs"),
            ("postgres://app:pa?ss@db/jobs", "postgres://app:***@db/jobs"),
            ("postgres://app:pa#ss@db/jobs", "postgres://app:***@db/jobs"),
            ("postgres://app:100%@db/jobs", "postgres://app:***@db/jobs"),
            ("redis://u:a@/?#%b@h:1/0", "redis://u:***@h:1/0"),
            // Percent-encoded passwords.
            (
                "postgres://app:s3cr%40t%2F%3F@db:5432/jobs?sslmode=require",
                "postgres://app:***@db:5432/jobs?sslmode=require",
            ),
            // Upper-case schemes and TLS/cluster schemes.
            ("Postgres://app:pw@db/jobs", "Postgres://app:***@db/jobs"),
            (
                "rediss+cluster://app:pw@a:7000,b:7001/?prefix=p&tls_ca=/etc/ca.pem#insecure",
                "rediss+cluster://app:***@a:7000,b:7001/?prefix=p&tls_ca=/etc/ca.pem#insecure",
            ),
            (
                "redis+cluster://:pw@a:1,b:2,c:3",
                "redis+cluster://:***@a:1,b:2,c:3",
            ),
        ] {
            assert_eq!(redact(url), redacted, "{url}");
        }
    }

    #[test]
    fn keeps_what_is_not_secret() {
        for url in [
            "postgres://app@db/jobs",
            "mysql://db/jobs",
            "sqlite://asynctasq.db",
            "sqlite:///var/lib/app/jobs.db?mode=rwc",
            "sqlite::memory:",
            "memory://",
            "redis://h:1",
            "redis://127.0.0.1:6379/2?prefix=app%3Ajobs&protocol=resp3",
            "postgres://h/db?sslmode=disable&max_connections=4&listen=false",
            "rediss://h/#insecure",
            "not a url",
            "shop.db",
            "",
        ] {
            assert_eq!(redact(url), url);
        }
    }

    #[test]
    fn hides_secret_query_parameters() {
        for (url, redacted) in [
            (
                "postgres://db/jobs?user=a&password=b&sslmode=require",
                "postgres://db/jobs?user=a&password=***&sslmode=require",
            ),
            (
                "mysql://h/x?pwd=1&PASSWORD=2",
                "mysql://h/x?pwd=***&PASSWORD=***",
            ),
            (
                "redis://h/0?token=t&auth=a&secret=s&api_key=k&key=k2&prefix=p",
                "redis://h/0?token=***&auth=***&secret=***&api_key=***&key=***&prefix=p",
            ),
            (
                "postgres://u:pw@h/db?sslpassword=x;access_token=y#frag",
                "postgres://u:***@h/db?sslpassword=***;access_token=***#frag",
            ),
            ("redis://h/?pass%77ord=x", "redis://h/?pass%77ord=***"),
            ("redis://h/?prefix=p#auth=x", "redis://h/?prefix=p#auth=***"),
        ] {
            assert_eq!(redact(url), redacted, "{url}");
        }
    }

    #[test]
    fn hides_credentials_in_strings_that_are_not_urls() {
        for (text, redacted) in [
            (
                "host=db user=app password=secret",
                "host=db user=app password=***",
            ),
            ("user:secret@localhost/db", "user:***@localhost/db"),
            ("user:pa:ss@localhost/db", "user:***@localhost/db"),
            ("redis//u:pw@127.0.0.1:6379", "redis//u:***@127.0.0.1:6379"),
            ("redis:u:pw@h", "redis:u:***@h"),
            (
                "Server=db;Password=x;Database=app",
                "Server=db;Password=***;Database=app",
            ),
        ] {
            assert_eq!(redact(text), redacted, "{text}");
        }
    }

    #[test]
    fn an_at_sign_in_the_query_is_over_redacted_never_leaked() {
        // Ambiguous: `password=x@y` might be a user info with a `?` in it.
        let r = redact("postgres://h:5432/db?password=x@y");
        assert!(!r.contains("x@") && !r.contains("=x"), "{r}");
        let r = redact("postgres://h/db?password=x@y");
        assert_eq!(r, "postgres://h/db?password=***");
    }

    #[test]
    fn schemes_are_recognized_and_normalized() {
        assert_eq!(scheme("Sqlite://shop.db"), Some("Sqlite"));
        assert_eq!(scheme("sqlite::memory:"), Some("sqlite"));
        assert_eq!(scheme("redis+cluster://a"), Some("redis+cluster"));
        assert_eq!(scheme("shop.db"), None);
        assert_eq!(scheme("redis//127.0.0.1:6379"), None);
        assert_eq!(scheme("1x://a"), None);
        assert_eq!(scheme(":x"), None);
        assert_eq!(normalize_scheme("REDIS://H:1/0"), "redis://H:1/0");
        assert_eq!(normalize_scheme("shop.db"), "shop.db");
        assert_eq!(builtin("PostgreSQL"), Some(&POSTGRES));
        assert_eq!(builtin("mongodb"), None);
    }

    #[test]
    fn every_builtin_scheme_is_lowercase_and_listed_once() {
        let mut all: Vec<&str> = BUILTIN
            .iter()
            .flat_map(|d| d.schemes.iter().copied())
            .collect();
        assert!(all.iter().all(|s| *s == s.to_ascii_lowercase()));
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        for d in BUILTIN {
            assert!(d.example.starts_with(d.schemes[0]), "{d:?}");
        }
    }

    #[test]
    fn suggestions_for_strings_without_a_scheme() {
        assert_eq!(
            suggest("redis//127.0.0.1:6379").as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(suggest("postgres/db").as_deref(), Some("postgres://db"));
        assert_eq!(suggest("shop.db").as_deref(), Some("sqlite://shop.db"));
        assert_eq!(
            suggest("data/jobs.db").as_deref(),
            Some("sqlite://data/jobs.db")
        );
        assert_eq!(suggest("sqlite.db").as_deref(), Some("sqlite://sqlite.db"));
        assert_eq!(suggest("redis").as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(suggest("user:pw@host"), None);
        assert_eq!(suggest(""), None);
    }

    #[test]
    fn splits_driver_options_from_the_url() {
        let u = split_options(
            "postgres://h/db?sslmode=disable&max_connections=4&listen=false",
            &["max_connections", "listen"],
        );
        assert_eq!(u.database_url, "postgres://h/db?sslmode=disable");
        assert_eq!(
            u.options,
            vec![
                ("max_connections".to_string(), "4".to_string()),
                ("listen".to_string(), "false".to_string())
            ]
        );
        let u = split_options("postgres://h/db?listen=0", &["listen"]);
        assert_eq!(u.database_url, "postgres://h/db");
        let u = split_options("rediss://h/?prefix=p&protocol=resp3#insecure", &["prefix"]);
        assert_eq!(u.database_url, "rediss://h/?protocol=resp3#insecure");
        assert_eq!(u.options, vec![("prefix".to_string(), "p".to_string())]);
        assert_eq!(query_param("sqlite://x.db?mode=ro#f", "mode"), Some("ro"));
        assert_eq!(query_param("sqlite://x.db", "mode"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("app%3Ajobs+x").unwrap(), "app:jobs x");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%ff").is_err());
    }
}
