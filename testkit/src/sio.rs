//! A real Socket.IO client: npm `socket.io-client` run by Node (`tests/js/sio-client.mjs`),
//! driven over stdio. One process per client; lines in and out are JSON.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// npm socket.io-client, run by Node, driven over stdio.
pub struct SioClient {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    next_id: u64,
}

impl SioClient {
    pub async fn connect(base: &str, token: Option<&str>) -> Result<SioClient, String> {
        SioClient::spawn(base, token.map(str::to_string), "websocket").await
    }

    /// The same client on HTTP long-polling only (no upgrade to WebSocket).
    pub async fn connect_polling(base: &str, token: Option<&str>) -> Result<SioClient, String> {
        SioClient::spawn(base, token.map(str::to_string), "polling").await
    }

    /// A client that reconnects on its own after losing its server (socket.io-client's
    /// default, off in the other constructors so a test sees every disconnect), on
    /// `transport` (`websocket` or `polling`).
    pub async fn connect_reconnecting(base: &str, transport: &str) -> Result<SioClient, String> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/js");
        let mut cmd = Command::new("node");
        cmd.arg(format!("{root}/sio-client.mjs"))
            .arg(base)
            .env("SIO_TRANSPORT", transport)
            .env("SIO_RECONNECT", "1");
        SioClient::start(cmd).await
    }

    /// python-socketio instead of the npm client, on `transport` (`websocket` or `polling`),
    /// speaking the same line protocol (`tests/py/sio_client.py`).
    pub async fn connect_python(base: &str, transport: &str) -> Result<SioClient, String> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let python = std::env::var("RATEGATE_PYTHON")
            .unwrap_or_else(|_| format!("{root}/target/py-venv/bin/python"));
        assert!(
            std::path::Path::new(&python).exists(),
            "python-socketio is not installed at {python}: run scripts/test.sh (it installs \
             tests/py/requirements.txt into target/py-venv), or set RATEGATE_PYTHON"
        );
        let mut cmd = Command::new(python);
        cmd.arg(format!("{root}/tests/py/sio_client.py"))
            .arg(base)
            .env("SIO_TRANSPORT", transport);
        SioClient::start(cmd).await
    }

    /// Connects with any JSON as the handshake's `auth` (e.g. `{"token": 42}`).
    pub async fn connect_with_auth(base: &str, auth: &Value) -> Result<SioClient, String> {
        SioClient::spawn(base, Some(format!("json:{auth}")), "websocket").await
    }

    async fn spawn(
        base: &str,
        token: Option<String>,
        transport: &str,
    ) -> Result<SioClient, String> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/js");
        assert!(
            std::path::Path::new(&format!("{root}/node_modules/socket.io-client")).exists(),
            "npm socket.io-client is not installed: run `npm ci --prefix tests/js` (scripts/test.sh does)"
        );
        let mut cmd = Command::new("node");
        cmd.arg(format!("{root}/sio-client.mjs"))
            .arg(base)
            .env("SIO_TRANSPORT", transport);
        if let Some(t) = token {
            cmd.arg(t);
        }
        SioClient::start(cmd).await
    }

    /// Runs a client process that speaks the line protocol, until it connected (or failed).
    async fn start(mut cmd: Command) -> Result<SioClient, String> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the Socket.IO client (node or python) must start");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        let mut client = SioClient {
            child,
            stdin,
            lines,
            next_id: 0,
        };
        let first = client
            .next(|v| v["type"] == "connect" || v["type"] == "connect_error")
            .await;
        if first["type"] == "connect_error" {
            return Err(first["message"].as_str().unwrap_or("").to_string());
        }
        Ok(client)
    }

    /// The next line matching `pred` (others are skipped); panics after 10 s.
    pub async fn next(&mut self, pred: impl FnMut(&Value) -> bool) -> Value {
        self.next_within(Duration::from_secs(10), pred)
            .await
            .expect("socket client: nothing matching within 10 s")
    }

    /// The next line matching `pred` within `within` (others are skipped), or `None`.
    pub async fn next_within(
        &mut self,
        within: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(v)) if pred(&v) => return Some(v),
                Ok(Some(_)) => continue,
                Ok(None) => panic!("socket client exited"),
                Err(_) => return None,
            }
        }
    }

    /// The next `rates:live` payload whose entry for `key` satisfies `pred`.
    pub async fn rate(&mut self, key: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let v = self
            .next(|v| {
                v["type"] == "event"
                    && v["event"] == "rates:live"
                    && !v["data"][key].is_null()
                    && pred(&v["data"][key])
            })
            .await;
        v["data"][key].clone()
    }

    /// Everything received within `window`.
    pub async fn drain(&mut self, window: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(Some(v)) = tokio::time::timeout_at(deadline, self.lines.recv()).await {
            out.push(v);
        }
        out
    }

    pub async fn emit_with_ack(&mut self, event: &str, data: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let line =
            json!({"cmd": "emit", "event": event, "data": data, "id": id}).to_string() + "\n";
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.next(|v| v["type"] == "ack" && v["id"] == id).await["data"].clone()
    }

    /// Emits with an ack callback but does not wait for the ack (it may never come).
    pub async fn emit_no_wait(&mut self, event: &str, data: Value) {
        self.next_id += 1;
        let line = json!({"cmd": "emit", "event": event, "data": data, "id": self.next_id})
            .to_string()
            + "\n";
        self.stdin.write_all(line.as_bytes()).await.unwrap();
    }

    /// Freezes the client's event loop for `ms` (it reads nothing meanwhile).
    pub async fn pause(&mut self, ms: u64) {
        let line = json!({"cmd": "pause", "ms": ms}).to_string() + "\n";
        self.stdin.write_all(line.as_bytes()).await.unwrap();
    }

    pub async fn close(mut self) {
        let _ = self.stdin.write_all(b"{\"cmd\":\"close\"}\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
    }
}
