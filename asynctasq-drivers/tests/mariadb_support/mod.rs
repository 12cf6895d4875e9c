//! A private MariaDB server for tests that stop and restart it (the shared
//! one must stay up for the other tests): an empty data directory, grant
//! tables skipped (any user, no password), a free loopback port.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A `mariadbd` on 127.0.0.1 that this test owns. Stopped when dropped.
#[derive(Debug)]
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    /// Its port.
    pub port: u16,
    child: Mutex<Option<Child>>,
}

impl PrivateMariaDb {
    /// Starts a server with a database `test`.
    pub fn start() -> PrivateMariaDb {
        let dir = tempfile::Builder::new()
            .prefix("asynctasq-mariadb-")
            .tempdir()
            .expect("temp dir");
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::create_dir(dir.path().join("data").join("test")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = PrivateMariaDb {
            dir,
            port,
            child: Mutex::new(None),
        };
        server.resume();
        server
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    pub fn resume(&self) {
        let log = std::fs::File::create(self.path("log")).unwrap();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.path("data").display()))
            .arg(format!("--socket={}", self.path("sock").display()))
            .arg(format!("--pid-file={}", self.path("pid").display()))
            .arg(format!("--port={}", self.port))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-grant-tables",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=8M",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mariadbd");
        *self.child.lock().unwrap() = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "mariadbd on port {} did not start: {}",
                self.port,
                std::fs::read_to_string(self.path("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGTERM: a clean shutdown) and waits until it exited.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    /// The URL of the database `test`.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/test", self.port)
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
