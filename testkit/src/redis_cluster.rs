//! A real Redis Cluster for a test: six `redis-server --cluster-enabled yes` processes (three
//! masters, three replicas) on free ports, joined by `redis-cli --cluster create`, each a child
//! of the test, killed with it. A master can be killed with SIGKILL and the test waits until
//! the cluster has promoted its replica.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// The cluster's node timeout: how long a master may be silent before its replica takes over.
pub const NODE_TIMEOUT_MS: u64 = 1000;

pub struct RedisCluster {
    nodes: Vec<(u16, Option<Child>)>,
    dir: PathBuf,
}

/// One master as `CLUSTER NODES` shows it.
#[derive(Debug, Clone)]
pub struct Master {
    pub port: u16,
    /// Slot ranges, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl Master {
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot))
    }
}

/// A port whose cluster bus port (+10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = crate::http::free_port();
        if port > 55_000 {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// `redis-cli -p port args...`, its output as text.
pub async fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .await
        .expect("redis-cli (Debian's redis-tools package; scripts/services.sh)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl RedisCluster {
    /// Starts six nodes and joins them as three masters with one replica each; returns once
    /// every node says the cluster is ok.
    pub async fn start() -> RedisCluster {
        let dir = std::env::temp_dir().join(format!(
            "rategate-redis-cluster-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..6 {
            let port = free_cluster_port();
            let child = cluster.spawn(port);
            cluster.nodes.push((port, Some(child)));
        }
        for (port, _) in &cluster.nodes {
            let port = *port;
            crate::eventually("a cluster node listens", || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            })
            .await;
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|(p, _)| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .expect("redis-cli --cluster create");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.wait_healthy(3).await;
        // A replica that has not synced once cannot take over: wait for every link.
        cluster.wait_in_sync().await;
        cluster
    }

    fn spawn(&self, port: u16) -> Child {
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).expect("a node's directory");
        let conf = dir.join("nodes.conf");
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .arg("--cluster-config-file")
            .arg(&conf)
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            // A replica syncs at once, not after the default 5 s wait for others.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(dir.join("redis.log"))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (Debian's redis-server package; scripts/services.sh)")
    }

    /// The seed list for `REDIS_CLUSTER_NODES`: every node.
    pub fn seeds(&self) -> String {
        self.nodes
            .iter()
            .map(|(p, _)| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The process id of the node on `port`, while it runs.
    pub fn pid(&self, port: u16) -> Option<u32> {
        self.nodes
            .iter()
            .find(|(p, _)| *p == port)
            .and_then(|(_, c)| c.as_ref()?.id())
    }

    /// The ports of the nodes still running.
    pub fn alive(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(p, _)| *p)
            .collect()
    }

    /// The slot `key` hashes to.
    pub async fn slot_of(&self, key: &str) -> u16 {
        let port = self.alive()[0];
        let out = cli(port, &["CLUSTER", "KEYSLOT", key]).await;
        out.trim()
            .parse()
            .expect("CLUSTER KEYSLOT answers a number")
    }

    /// The masters that are not marked failed, as a running node sees them.
    pub async fn masters(&self) -> Vec<Master> {
        let port = self.alive()[0];
        let nodes = cli(port, &["CLUSTER", "NODES"]).await;
        nodes
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let flags = fields.get(2)?;
                if !flags.contains("master") || flags.contains("fail") {
                    return None;
                }
                let addr = fields.get(1)?.split('@').next()?;
                let port = addr.rsplit(':').next()?.parse().ok()?;
                let slots = fields
                    .iter()
                    .skip(8)
                    .filter(|s| !s.starts_with('['))
                    .filter_map(|s| match s.split_once('-') {
                        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                        None => s.parse().ok().map(|x| (x, x)),
                    })
                    .collect();
                Some(Master { port, slots })
            })
            .filter(|m: &Master| !m.slots.is_empty())
            .collect()
    }

    /// The port of the master serving `key`'s slot now.
    pub async fn master_of(&self, key: &str) -> u16 {
        let slot = self.slot_of(key).await;
        self.masters()
            .await
            .into_iter()
            .find(|m| m.serves(slot))
            .map(|m| m.port)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// Moves `slot` with its keys from the master serving it to the master on `to` (the
    /// manual resharding steps: IMPORTING, MIGRATING, MIGRATE of each key, then the new owner
    /// announced to every master).
    pub async fn move_slot(&self, slot: u16, to: u16) {
        let from = self
            .masters()
            .await
            .into_iter()
            .find(|m| m.serves(slot))
            .map(|m| m.port)
            .expect("a master serves the slot");
        assert_ne!(from, to, "slot {slot} is already on :{to}");
        let id =
            |port: u16| async move { cli(port, &["CLUSTER", "MYID"]).await.trim().to_string() };
        let (from_id, to_id) = (id(from).await, id(to).await);
        let slot = slot.to_string();
        cli(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]).await;
        cli(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]).await;
        loop {
            let keys = cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot, "100"]).await;
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let port = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
            args.extend(keys);
            cli(from, &args).await;
        }
        for m in self.masters().await {
            cli(m.port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]).await;
        }
    }

    /// SIGKILL of the node on `port`.
    pub async fn kill(&mut self, port: u16) {
        for (p, child) in &mut self.nodes {
            if *p == port {
                if let Some(mut c) = child.take() {
                    let _ = c.kill().await;
                }
            }
        }
    }

    /// Starts the node on `port` again (after [`RedisCluster::kill`]) from its own cluster
    /// config: it rejoins, as a replica of whoever took its slots; returns once it is in sync.
    pub async fn restart(&mut self, port: u16) {
        let child = self.spawn(port);
        for (p, c) in &mut self.nodes {
            if *p == port {
                *c = Some(child);
                break;
            }
        }
        self.wait_in_sync().await;
    }

    /// Waits until every running replica's link to its master is up.
    async fn wait_in_sync(&self) {
        for port in self.alive() {
            crate::eventually("every replica in sync with its master", || async move {
                let info = cli(port, &["INFO", "replication"]).await;
                info.contains("role:master") || info.contains("master_link_status:up")
            })
            .await;
        }
    }

    /// Waits until every running node says `cluster_state:ok` and `masters` masters that are
    /// running serve all 16384 slots (after a kill: once the replica is promoted).
    pub async fn wait_healthy(&self, masters: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.is_healthy(masters).await {
                return;
            }
            if Instant::now() > deadline {
                let port = self.alive()[0];
                let logs: Vec<String> = self
                    .alive()
                    .iter()
                    .map(|p| {
                        let log = std::fs::read_to_string(self.dir.join(format!("{p}/redis.log")))
                            .unwrap_or_default();
                        let tail: Vec<&str> = log
                            .lines()
                            .filter(|l| !l.contains("SYNC") && !l.contains("Connecting to MASTER"))
                            .rev()
                            .take(12)
                            .collect();
                        format!("{p}: {}", tail.join("\n  "))
                    })
                    .collect();
                panic!(
                    "the Redis Cluster did not become healthy within 30 s; alive {:?}; as {port} sees it:\n{}\n{}",
                    self.alive(),
                    cli(port, &["CLUSTER", "NODES"]).await,
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn is_healthy(&self, masters: usize) -> bool {
        let alive = self.alive();
        for port in &alive {
            if !cli(*port, &["CLUSTER", "INFO"])
                .await
                .contains("cluster_state:ok")
            {
                return false;
            }
        }
        let serving = self.masters().await;
        let covered: u32 = serving
            .iter()
            .flat_map(|m| m.slots.iter())
            .map(|(a, b)| u32::from(*b) - u32::from(*a) + 1)
            .sum();
        serving.len() == masters
            && covered == 16_384
            && serving.iter().all(|m| alive.contains(&m.port))
    }

    /// The keys under `prefix` held by the master on `port`.
    pub async fn keys_on(&self, port: u16, prefix: &str) -> Vec<String> {
        let out = cli(port, &["--scan", "--pattern", &format!("{prefix}*")]).await;
        out.lines().map(str::to_owned).collect()
    }

    /// The shard channels under `prefix` someone subscribes to on the master on `port`.
    pub async fn shard_channels_on(&self, port: u16, prefix: &str) -> Vec<String> {
        let out = cli(port, &["PUBSUB", "SHARDCHANNELS", &format!("{prefix}*")]).await;
        out.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            if let Some(c) = child.as_mut() {
                let _ = c.start_kill();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
