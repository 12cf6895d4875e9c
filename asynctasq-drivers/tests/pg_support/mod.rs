//! Postgres for tests: the shared server and its test databases, and a
//! private cluster for tests that stop or restart the server (the shared
//! one must stay up for the other tests).

#![allow(dead_code)]

use sqlx::Connection;

/// The shared server (`ASYNCTASQ_TEST_POSTGRES`, default the local one),
/// without a database.
pub fn server() -> String {
    std::env::var("ASYNCTASQ_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// Creates the database `name` on the shared server unless it exists
/// (racing test binaries included) and returns its URL.
pub async fn ensure_database(name: &str) -> String {
    let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", server()))
        .await
        .expect("postgres is not reachable (set ASYNCTASQ_TEST_POSTGRES)");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    if !exists {
        let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await;
        if let Err(e) = created {
            // Another test created it first.
            let code = e
                .as_database_error()
                .and_then(|d| d.code())
                .unwrap_or_default();
            assert!(code == "42P04" || code == "23505", "create database: {e}");
        }
    }
    // Closed: no connection of ours (without hooks) outlives the setup.
    conn.close().await.unwrap();
    format!("{}/{name}", server())
}

/// Whether the test runs as root, which starting a private cluster needs
/// (it runs as the `postgres` user, which only root can switch to).
pub fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// A private Postgres cluster in a temporary directory, run as the
/// `postgres` user (the server refuses to run as root), on a free loopback
/// port. Stopped when dropped.
pub struct PrivateServer {
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    bin: std::path::PathBuf,
}

impl PrivateServer {
    /// Runs `pg_ctl` on the cluster with `args` (`start -w`, `stop -m fast -w`, ...).
    pub fn pg_ctl(&self, args: &[&str]) {
        let data = self.dir.path().join("data");
        let status = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.path().display()
            ))
            .args(args)
            .status()
            .expect("run pg_ctl");
        assert!(status.success(), "pg_ctl {args:?} failed");
    }

    /// Creates the cluster (`initdb`, trust authentication) and starts it.
    pub fn start() -> PrivateServer {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Postgres server binaries in /usr/lib/postgresql")
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .find(|p| p.join("initdb").exists())
            .expect("initdb");
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let chown = std::process::Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success());
        let initdb = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(dir.path().join("data"))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run initdb");
        assert!(initdb.success(), "initdb failed");
        let server = PrivateServer { dir, port, bin };
        server.pg_ctl(&["start", "-w"]);
        server
    }

    /// Stops the server (fast shutdown: sessions are terminated).
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast", "-w"]);
    }

    /// Starts the stopped server again, on the same port.
    pub fn resume(&self) {
        self.pg_ctl(&["start", "-w"]);
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.pg_ctl(&["stop", "-m", "immediate", "-w"])
        }));
    }
}
