//! The load: rates published straight on the bus, as exchange-rate-svc would.

/// Publishes straight on the bus under `prefix`, through the same Redis sink exchange-rate-svc
/// uses: `pairs` each ticking `hz` times a second, spread evenly (`ts` = publish time, so a
/// client's age of a value is publish → receive), a status every second, the metadata up
/// front. Stops when the returned sender is dropped or set.
pub fn publish(prefix: &str, pairs: &[&str], hz: u64) -> tokio::sync::watch::Sender<bool> {
    use common::bus::{Bus, FeedState, PairMeta, PairState, RateMsg, StatusMsg};
    use common::{Decimal, Pair};
    use std::sync::Arc;
    let bus = common::bus::redis::RedisBus::connect(
        &common::bus::redis::RedisTarget::Url(testkit::services::redis_url()),
        prefix,
        std::time::Duration::from_secs(2),
    )
    .expect("redis");
    let pairs: Vec<Pair> = pairs
        .iter()
        .map(|p| Pair::parse(p).expect("pair"))
        .collect();
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let sink = bus.sink();
        let epoch = uuid::Uuid::new_v4().simple().to_string();
        let meta: Vec<PairMeta> = pairs
            .iter()
            .map(|p| {
                PairMeta::new(
                    p.clone(),
                    Decimal::new(1, 2),
                    Decimal::new(1, 8),
                    Decimal::new(1, 4),
                )
            })
            .collect();
        let status = StatusMsg {
            v: 1,
            source: "bench".into(),
            state: FeedState::Online,
            since: chrono::Utc::now(),
            pairs: pairs.iter().map(|p| (p.clone(), PairState::Ok)).collect(),
            epoch: epoch.clone(),
            role: common::bus::FeedRole::Leader,
            venues: Default::default(),
        };
        while !bus.is_connected() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let _ = sink.publish_status(&status, Some(&meta)).await;
        // Ticks spread evenly, one pair at a time (as an exchange sends them), each pair `hz`
        // times a second.
        let every = 1_000_000 / (hz.max(1) * pairs.len().max(1) as u64);
        let mut tick = tokio::time::interval(std::time::Duration::from_micros(every.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut beat = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut seq = 0u64;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = beat.tick() => { let _ = sink.publish_status(&status, None).await; }
                _ = tick.tick() => {
                    let pair = &pairs[seq as usize % pairs.len()];
                    seq += 1;
                    let now = chrono::Utc::now();
                    let bid = Decimal::new(6_500_000 + (seq % 1000) as i64, 2);
                    let msg = Arc::new(RateMsg {
                        v: 1,
                        source: "bench".into(),
                        pair: pair.clone(),
                        bid,
                        ask: bid + Decimal::new(1, 2),
                        last: None,
                        ts: now,
                        received_at: now,
                        seq,
                        epoch: epoch.clone(),
                        venues: vec![],
                    });
                    let _ = sink.publish_rates(&[msg], None).await;
                }
            }
        }
        bus.quit().await;
    });
    stop_tx
}
