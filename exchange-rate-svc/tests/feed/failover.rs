//! Several exchange-rate-svc processes (the real binary) on one Redis and one mock Kraken:
//! exactly one publishes; a leader killed with SIGKILL is replaced by a standby within 3 s and
//! a restarted process stays standby; a leader paused (SIGSTOP) past its lease publishes
//! nothing once it resumes (SIGCONT).

use std::time::{Duration, Instant};

use crate::support::{eventually, redis, redis_url};
use common::bus::{BusKeys, RateMsg};
use kraken_mock::{MockConfig, MockKraken};
use testkit::process::Service;
use tokio::sync::mpsc;

/// How long the feed lease lasts in these tests: takeover in about 1.25 s.
const LEASE_TTL_MS: &str = "1000";

/// A feed node: the real binary on the mock and the test's bus prefix.
async fn spawn_feed(mock: &MockKraken, prefix: &str) -> Service {
    Service::spawn(
        "exchange-rate-svc",
        &[
            ("REDIS_URL", redis_url()),
            ("REDIS_PREFIX", prefix.to_string()),
            ("KRAKEN_WS_URL", mock.ws_url()),
            ("RATES_FROM", "ticker".into()),
            ("KRAKEN_REST_URL", mock.rest_url()),
            ("PAIRS", "BTC/USD".into()),
            ("FEED_LEASE_TTL_MS", LEASE_TTL_MS.into()),
        ],
    )
    .await
}

/// `(role, epoch)` from a feed node's `/status`.
async fn role(feed: &Service) -> (String, String) {
    let status = feed.get("/status").await;
    let text = |k: &str| status[k].as_str().unwrap_or_default().to_string();
    (text("role"), text("epoch"))
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
async fn leader_of(a: &Service, b: &Service) -> (bool, String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ((ra, ea), (rb, eb)) = (role(a).await, role(b).await);
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
    leader: Service,
    standby: Service,
    leader_epoch: String,
    standby_epoch: String,
}

async fn start_pair() -> Pair {
    let mock = start_mock().await;
    let keys = BusKeys::new(format!("test:{}:", uuid::Uuid::new_v4().simple()));
    let rates = crate::support::subscribe::<RateMsg>(&keys.rates()).await;
    let a = spawn_feed(&mock, keys.prefix()).await;
    let b = spawn_feed(&mock, keys.prefix()).await;
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
    p.leader.kill().await;
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
    assert_eq!(role(&p.standby).await.0, "leader");

    // The killed process comes back: it stays standby, and the bus keeps one epoch.
    p.leader = spawn_feed(&p.mock, p.keys.prefix()).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(role(&p.leader).await.0, "standby");
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

    paused.signal("STOP");
    eventually("the standby takes over", || async {
        role(standby).await.0 == "leader"
    })
    .await;
    // Everything the leader published before the pause has arrived by now: forget it.
    while p.rates.try_recv().is_ok() {}
    // Past its lease, the paused process resumes believing it leads, with ticks queued.
    paused.signal("CONT");
    let heard = epochs_heard(&mut p.rates, Duration::from_secs(2)).await;
    assert!(
        !heard.contains(&paused_epoch),
        "the resumed leader published after the takeover: {heard:?}"
    );
    assert!(heard.contains(&standby_epoch), "{heard:?}");
    eventually("the resumed process stands by", || async {
        role(paused).await.0 == "standby"
    })
    .await;
    p.finish().await;
}
