//! Feed leadership on the real Redis: one holder at a time, renewal only by the holder, a
//! takeover after the TTL, and fenced writes that a deposed holder cannot make.

use std::sync::Arc;
use std::time::Duration;

use common::bus::lease::{Fenced, Lease};
use common::bus::{BusKeys, RateMsg, Update};
use fred::prelude::*;

fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn redis() -> Client {
    let client = Builder::from_config(Config::from_url(&url()).unwrap())
        .build()
        .unwrap();
    client
        .init()
        .await
        .expect("Redis must be running for the tests (scripts/services.sh starts it)");
    client
}

fn keys() -> BusKeys {
    BusKeys::new(format!("test:lease:{}:", uuid::Uuid::new_v4().simple()))
}

fn tick(bid: &str, epoch: &str) -> Arc<RateMsg> {
    testkit::bus::rate("BTC/USD", bid, epoch)
}

#[tokio::test]
async fn one_holder_renews_and_the_other_takes_over_after_the_ttl() {
    let (client, keys) = (redis().await, keys());
    // Generous margins: a loaded machine must not make a renewal late.
    let ttl = Duration::from_millis(1_000);
    let a = Lease::new(client.clone(), keys.clone(), "epoch-a", ttl);
    let b = Lease::new(client.clone(), keys.clone(), "epoch-b", ttl);
    assert!(a.acquire_or_renew().await.unwrap());
    assert!(!b.acquire_or_renew().await.unwrap(), "held by a");
    // a keeps renewing past several TTLs; b never gets it meanwhile.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(a.acquire_or_renew().await.unwrap());
        assert!(!b.acquire_or_renew().await.unwrap());
    }
    // a stops renewing (died, or paused): after the TTL, b takes over.
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert!(b.acquire_or_renew().await.unwrap());
    assert_eq!(a.holder().await.unwrap().as_deref(), Some("epoch-b"));
    assert!(
        !a.acquire_or_renew().await.unwrap(),
        "a comes back as a standby"
    );
    // A clean stop hands over at once; releasing someone else's lease does nothing.
    a.release().await.unwrap();
    assert_eq!(b.holder().await.unwrap().as_deref(), Some("epoch-b"));
    b.release().await.unwrap();
    assert!(a.acquire_or_renew().await.unwrap());
    let _: () = client.del(keys.feed_leader()).await.unwrap();
}

#[tokio::test]
async fn a_deposed_holder_cannot_write_even_late() {
    let (client, keys) = (redis().await, keys());
    let ttl = Duration::from_millis(500);
    let old = Lease::new(client.clone(), keys.clone(), "epoch-old", ttl);
    let new = Lease::new(client.clone(), keys.clone(), "epoch-new", ttl);
    let subscriber = Builder::from_config(Config::from_url(&url()).unwrap())
        .build_subscriber_client()
        .unwrap();
    subscriber.init().await.unwrap();
    let mut heard = subscriber.message_rx();
    subscriber.subscribe(keys.rates()).await.unwrap();

    assert!(old.acquire_or_renew().await.unwrap());
    let written = old.write(Update::rates(&[tick("1.5", "epoch-old")])).await;
    assert_eq!(written.unwrap(), Fenced::Written);
    // The old leader stalls past its TTL; the standby takes over and writes.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(new.acquire_or_renew().await.unwrap());
    let written = new.write(Update::rates(&[tick("2.5", "epoch-new")])).await;
    assert_eq!(written.unwrap(), Fenced::Written);
    // The old leader wakes up and tries to publish: refused, and nothing changed.
    let late = old.write(Update::rates(&[tick("9.9", "epoch-old")])).await;
    assert_eq!(late.unwrap(), Fenced::NotLeader);
    let last: Option<String> = client.hget(keys.rates_last(), "BTC/USD").await.unwrap();
    assert!(
        last.unwrap().contains("\"2.5\""),
        "the hash keeps the new leader's value"
    );
    let mut bids = Vec::new();
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(300), heard.recv()).await {
        bids.push(m.value.as_string().unwrap_or_default());
    }
    assert_eq!(bids.len(), 2, "only the two leaders' own ticks: {bids:?}");
    assert!(
        bids.iter().all(|b| !b.contains(r#""bid":"9.9""#)),
        "{bids:?}"
    );
    let _: () = client
        .del(vec![keys.feed_leader(), keys.rates_last()])
        .await
        .unwrap();
}

#[tokio::test]
async fn without_a_lease_the_same_write_goes_through_unfenced() {
    use common::bus::Bus;
    let (client, keys) = (redis().await, keys());
    let bus = common::bus::redis::RedisBus::connect(
        &common::bus::redis::RedisTarget::Url(url()),
        keys.prefix(),
        Duration::from_secs(2),
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !bus.is_connected() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("Redis must be running for the tests");
    // Someone else's lease does not stop a writer that has none (the in-process feed, a bench).
    let _: () = client
        .set(keys.feed_leader(), "another", None, None, false)
        .await
        .unwrap();
    bus.sink()
        .write(Update::rates(&[tick("3.5", "e")]))
        .await
        .unwrap();
    let last: Option<String> = client.hget(keys.rates_last(), "BTC/USD").await.unwrap();
    assert!(last.unwrap().contains("\"3.5\""));
    bus.quit().await;
    let _: () = client
        .del(vec![keys.feed_leader(), keys.rates_last()])
        .await
        .unwrap();
}
