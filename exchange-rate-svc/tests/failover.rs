//! Several exchange-rate-svc processes (the real binary) on one Redis and one mock Kraken:
//! exactly one publishes; a leader killed with SIGKILL is replaced by a standby within 3 s and
//! a restarted process stays standby; a leader paused (SIGSTOP) past its lease publishes
//! nothing once it resumes (SIGCONT).

mod support;

use std::time::{Duration, Instant};

use common::bus::{BusKeys, RateMsg};
use kraken_mock::{MockConfig, MockKraken};
use support::{eventually, redis, redis_url};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// How long the feed lease lasts in these tests: takeover in about 1.25 s.
const LEASE_TTL_MS: &str = "1000";

struct FeedProcess {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl FeedProcess {
    async fn spawn(mock: &MockKraken, prefix: &str) -> FeedProcess {
        let port = testkit::http::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_exchange-rate-svc"))
            .env("REDIS_URL", redis_url())
            .env("REDIS_PREFIX", prefix)
            .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("KRAKEN_WS_URL", mock.ws_url())
            .env("KRAKEN_REST_URL", mock.rest_url())
            .env("PAIRS", "BTC/USD")
            .env("FEED_LEASE_TTL_MS", LEASE_TTL_MS)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("the exchange-rate-svc binary");
        let feed = FeedProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        eventually("the process answers /health", || async {
            feed.http
                .get(format!("{}/health", feed.base))
                .send()
                .await
                .is_ok()
        })
        .await;
        feed
    }

    /// `(role, epoch)` from `/status`.
    async fn role(&self) -> (String, String) {
        let status: serde_json::Value = self
            .http
            .get(format!("{}/status", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let text = |k: &str| status[k].as_str().unwrap_or_default().to_string();
        (text("role"), text("epoch"))
    }

    fn pid(&self) -> String {
        self.child.id().unwrap_or_default().to_string()
    }
}

async fn start_mock() -> MockKraken {
    common::telemetry::init_for_tests();
    common::tls::install_crypto_provider();
    MockKraken::start(MockConfig {
        pairs: vec!["BTC/USD".into()],
        rate: 50,
        ..MockConfig::default()
    })
    .await
    .expect("mock kraken")
}

/// The leader and the standby of a pair of processes, once they have settled.
async fn leader_of(a: &FeedProcess, b: &FeedProcess) -> (bool, String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ((ra, ea), (rb, eb)) = (a.role().await, b.role().await);
        match (ra.as_str(), rb.as_str()) {
            ("leader", "standby") => return (true, ea, eb),
            ("standby", "leader") => return (false, eb, ea),
            _ if Instant::now() > deadline => panic!("no single leader: {ra} / {rb}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Epochs of the ticks heard in `window`.
async fn epochs_heard(
    rates: &mut mpsc::UnboundedReceiver<RateMsg>,
    window: Duration,
) -> Vec<String> {
    let end = Instant::now() + window;
    let mut epochs = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout_at(end.into(), rates.recv()).await {
        epochs.push(m.epoch);
    }
    epochs
}

/// Two processes on one mock and one bus prefix, settled: the leader first.
struct Pair {
    mock: MockKraken,
    keys: BusKeys,
    rates: mpsc::UnboundedReceiver<RateMsg>,
    leader: FeedProcess,
    standby: FeedProcess,
    leader_epoch: String,
    standby_epoch: String,
}

async fn start_pair() -> Pair {
    let mock = start_mock().await;
    let keys = BusKeys::new(format!("test:{}:", uuid::Uuid::new_v4().simple()));
    let rates = support::subscribe::<RateMsg>(&keys.rates()).await;
    let a = FeedProcess::spawn(&mock, keys.prefix()).await;
    let b = FeedProcess::spawn(&mock, keys.prefix()).await;
    let (a_leads, leader_epoch, standby_epoch) = leader_of(&a, &b).await;
    let (leader, standby) = if a_leads { (a, b) } else { (b, a) };
    Pair {
        mock,
        keys,
        rates,
        leader,
        standby,
        leader_epoch,
        standby_epoch,
    }
}

impl Pair {
    async fn finish(self) {
        drop((self.leader, self.standby));
        testkit::services::delete_bus_keys(&redis().await, self.keys.prefix()).await;
        self.mock.stop();
    }
}

#[tokio::test]
async fn one_publishes_a_killed_leader_is_replaced_within_3_s_and_a_restart_stands_by() {
    let mut p = start_pair().await;
    let heard = epochs_heard(&mut p.rates, Duration::from_secs(1)).await;
    assert!(!heard.is_empty(), "the leader publishes");
    assert!(
        heard.iter().all(|e| *e == p.leader_epoch),
        "only the leader's epoch on the bus: {heard:?}"
    );

    let killed = Instant::now();
    p.leader.child.kill().await.unwrap();
    let mut taken_over = None;
    while killed.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), p.rates.recv()).await
        {
            if m.epoch == p.standby_epoch {
                taken_over = Some(killed.elapsed());
                break;
            }
        }
    }
    let gap = taken_over.expect("the standby never published");
    println!("failover gap (SIGKILL -> first tick of the new leader): {gap:?}");
    assert!(gap < Duration::from_secs(3), "takeover took {gap:?}");
    assert_eq!(p.standby.role().await.0, "leader");

    // The killed process comes back: it stays standby, and the bus keeps one epoch.
    p.leader = FeedProcess::spawn(&p.mock, p.keys.prefix()).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(p.leader.role().await.0, "standby");
    let heard = epochs_heard(&mut p.rates, Duration::from_secs(1)).await;
    assert!(
        !heard.is_empty() && heard.iter().all(|e| *e == p.standby_epoch),
        "{heard:?}"
    );
    p.finish().await;
}

#[tokio::test]
async fn a_paused_leader_publishes_nothing_after_it_resumes() {
    let mut p = start_pair().await;
    let (paused, standby) = (&p.leader, &p.standby);
    let (paused_epoch, standby_epoch) = (p.leader_epoch.clone(), p.standby_epoch.clone());

    let signal = |sig: &'static str, pid: String| async move {
        let ok = Command::new("kill").args([sig, &pid]).status().await;
        assert!(ok.is_ok_and(|s| s.success()), "kill {sig} {pid}");
    };
    signal("-STOP", paused.pid()).await;
    eventually("the standby takes over", || async {
        standby.role().await.0 == "leader"
    })
    .await;
    // Everything the leader published before the pause has arrived by now: forget it.
    while p.rates.try_recv().is_ok() {}
    // Past its lease, the paused process resumes believing it leads, with ticks queued.
    signal("-CONT", paused.pid()).await;
    let heard = epochs_heard(&mut p.rates, Duration::from_secs(2)).await;
    assert!(
        !heard.contains(&paused_epoch),
        "the resumed leader published after the takeover: {heard:?}"
    );
    assert!(heard.contains(&standby_epoch), "{heard:?}");
    eventually("the resumed process stands by", || async {
        paused.role().await.0 == "standby"
    })
    .await;
    p.finish().await;
}
