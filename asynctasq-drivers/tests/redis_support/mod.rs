//! Private `redis-server` processes for tests: a free loopback port, a temp
//! directory, and a watchdog that kills the server and deletes the directory
//! once the test process is gone, so no server outlives `cargo test`, even
//! after a panic, an abort or a SIGKILL.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Watches the test process; `$1` is the pid file, `$2` the test's pid, `$3`
/// the directory to delete, the rest are `redis-server` arguments.
const WATCHDOG: &str = r#"
pidfile=$1; owner=$2; dir=$3; shift 3
redis-server "$@" >"$dir/server.log" 2>&1 &
srv=$!
echo $srv > "$pidfile"
while kill -0 "$owner" 2>/dev/null && kill -0 "$srv" 2>/dev/null; do sleep 0.2; done
kill -9 "$srv" 2>/dev/null
wait "$srv" 2>/dev/null
kill -0 "$owner" 2>/dev/null || rm -rf "$dir"
"#;

/// A `redis-server` on 127.0.0.1 that this test process owns.
#[derive(Debug)]
pub struct Server {
    /// Its port.
    pub port: u16,
    /// Its working directory (AOF, cluster config, log).
    pub dir: PathBuf,
    args: Vec<String>,
    cli_args: Vec<String>,
    watchdog: Mutex<Option<Child>>,
}

/// A port `p` where `p` and `p + 10000` (the cluster bus) are both free.
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl Server {
    /// Starts a server with `extra` arguments and waits until it answers.
    pub fn start(extra: &[&str]) -> Server {
        Self::start_in(new_dir(), extra, Vec::new(), false)
    }

    /// Starts a TLS-only server with a certificate signed by a private CA
    /// (`<dir>/ca.crt`), for `127.0.0.1`.
    pub fn start_tls() -> Server {
        let dir = new_dir();
        make_certificates(&dir);
        let file = |name: &str| dir.join(name).display().to_string();
        let extra = [
            "--tls-cert-file".to_string(),
            file("server.crt"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.crt"),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let cli = vec!["--tls".to_string(), "--cacert".into(), file("ca.crt")];
        Self::start_in(dir, &extra, cli, true)
    }

    fn start_in(dir: PathBuf, extra: &[&str], cli_args: Vec<String>, tls: bool) -> Server {
        let port = free_port();
        let (plain, tls_port) = if tls {
            ("0".to_string(), port.to_string())
        } else {
            (port.to_string(), "0".to_string())
        };
        let mut args: Vec<String> = vec![
            "--port".into(),
            plain,
            "--tls-port".into(),
            tls_port,
            "--bind".into(),
            "127.0.0.1".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--daemonize".into(),
            "no".into(),
            "--save".into(),
            "".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let server = Server {
            port,
            dir,
            args,
            cli_args,
            watchdog: Mutex::new(None),
        };
        server.spawn();
        server
    }

    fn pidfile(&self) -> PathBuf {
        self.dir.join("server.pid")
    }

    fn spawn(&self) {
        let _ = std::fs::remove_file(self.pidfile());
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(self.pidfile())
            .arg(std::process::id().to_string())
            .arg(&self.dir)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh (to start redis-server)");
        *self.watchdog.lock().unwrap() = Some(child);
        let started = Instant::now();
        while !self.answers() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server on port {} did not start: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis-cli` against this server.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.cli_args)
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn answers(&self) -> bool {
        self.cli(&["ping"]).trim() == "PONG"
    }

    /// SIGKILLs the server and waits until its port is closed.
    pub fn kill(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.pidfile()) {
            let _ = Command::new("kill").args(["-9", pid.trim()]).status();
        }
        let started = Instant::now();
        while self.answers() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The watchdog notices the dead server within 0.2 s and exits.
        if let Some(mut child) = self.watchdog.lock().unwrap().take() {
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and directory.
    pub fn restart(&self) {
        self.spawn();
    }

    /// The URL of this server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn new_dir() -> PathBuf {
    tempfile::Builder::new()
        .prefix("asynctasq-redis-")
        .tempdir()
        .expect("temp dir")
        .keep()
}

/// Writes `ca.crt`, and `server.crt` / `server.key` for 127.0.0.1 signed by it.
fn make_certificates(dir: &std::path::Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=asynctasq test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
}

/// A Redis Cluster of three masters, created with `redis-cli --cluster create`.
#[derive(Debug)]
pub struct Cluster {
    /// The masters.
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// Starts three masters, creates the cluster and waits for `cluster_state:ok`.
    pub fn start() -> Cluster {
        let nodes: Vec<Server> = (0..3)
            .map(|_| {
                Server::start(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--appendonly",
                    "no",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let started = Instant::now();
        while !nodes
            .iter()
            .all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok"))
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the cluster never reached cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Cluster { nodes }
    }

    /// `redis+cluster://` URL with every node as a seed.
    pub fn url(&self, prefix: &str) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}/?prefix={prefix}", hosts.join(","))
    }
}
