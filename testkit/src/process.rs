//! Real processes for multi-process tests (several nodes, failover, kill -9, SIGSTOP, a Redis
//! restart, a load balancer): the project's own binaries, a private `redis-server` that a test
//! may kill and restart without touching the shared one, and HAProxy.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::wait::eventually;

/// The path of one of this workspace's binaries, built beside the running test (`cargo test
/// --workspace` builds every binary before any test runs).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run the suite with `cargo test --workspace` (scripts/test.sh), \
         or `cargo build --bin {name}` first",
        path.display()
    );
    path
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to `pid`.
pub fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill(1)");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// One of our services as a child process, listening on its own port.
pub struct Service {
    child: Child,
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    http: reqwest::Client,
}

impl Service {
    /// Starts binary `name` with `env` (plus `HTTP_ADDR` on a free port and quiet logs) and
    /// waits until it answers `/health`.
    pub async fn spawn(name: &'static str, env: &[(&str, String)]) -> Service {
        let port = crate::http::free_port();
        let mut command = Command::new(binary(name));
        command
            .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
            // TEST_SERVICE_LOG (e.g. `warn,fred=debug`) makes a failing run tell more.
            .env(
                "RUST_LOG",
                std::env::var("TEST_SERVICE_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let service = Service {
            child,
            name,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        eventually(&format!("{name} answers /health"), || async {
            service
                .http
                .get(format!("{}/health", service.base))
                .send()
                .await
                .is_ok()
        })
        .await;
        service
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    pub fn signal(&self, sig: &str) {
        signal(self.pid(), sig);
    }

    /// `GET path` as JSON, whatever the status; `Null` if it did not answer.
    pub async fn get(&self, path: &str) -> serde_json::Value {
        match self.http.get(format!("{}{path}", self.base)).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        }
    }

    /// Waits until `/ready` says ready.
    pub async fn ready(&self) {
        eventually(
            &format!("{} at {} is ready", self.name, self.base),
            || async { self.get("/ready").await["ready"] == true },
        )
        .await;
    }

    /// SIGKILL, and reaped.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM, then waits (at most 10 s) for a clean exit; true if it exited with success.
    pub async fn terminate(&mut self) -> bool {
        self.signal("TERM");
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => false,
        }
    }
}

/// A `redis-server` of the test's own, on a free port: it may be killed and restarted on the
/// same port without disturbing the Redis every other test shares.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: crate::http::free_port(),
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (Debian's redis-server package; scripts/services.sh)");
        self.child = Some(child);
        let port = self.port;
        eventually("the private redis-server listens", || async move {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
    }

    /// SIGKILL: everything it held is gone, as after a crash.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// HAProxy (Debian's package) in the foreground with a config file of ours; `env` fills the
/// config's `"${NAME}"` placeholders.
pub struct Haproxy {
    _child: Child,
}

impl Haproxy {
    /// Starts it, and waits until `listen` (host:port) accepts connections.
    pub async fn start(config: &std::path::Path, env: &[(&str, String)], listen: &str) -> Haproxy {
        let check = std::process::Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(config)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("haproxy (Debian's haproxy package: scripts/test.sh installs it)");
        assert!(
            check.status.success(),
            "haproxy refuses {}: {}",
            config.display(),
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(config)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("haproxy");
        let listen = listen.to_string();
        eventually("haproxy listens", || {
            let listen = listen.clone();
            async move { tokio::net::TcpStream::connect(listen).await.is_ok() }
        })
        .await;
        Haproxy { _child: child }
    }
}
