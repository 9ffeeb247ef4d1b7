//! The floor this benchmark measures against: socketioxide with no application logic.

/// The socketioxide floor: the same axum + socketioxide with our buffer settings and no
/// application logic. It subscribes to `{REDIS_PREFIX}rates` and sends each message to every
/// socket with one namespace-wide `emit`, as it came. Runs in its own process (the bench
/// re-executes itself with `BENCH_ROLE=floor`), so it can be pinned like the real server.
pub async fn floor_server() {
    use fred::prelude::*;
    use socketioxide::SocketIo;
    let prefix = std::env::var("REDIS_PREFIX").expect("REDIS_PREFIX");
    let addr = std::env::var("HTTP_ADDR").expect("HTTP_ADDR");
    let (layer, io) = SocketIo::builder()
        .max_buffer_size(64)
        .ws_read_buffer_size(1024)
        .max_payload(16 * 1024)
        .build_layer();
    io.ns("/", async |_: socketioxide::extract::SocketRef| {});
    let config = Config::from_url(&testkit::services::redis_url()).expect("redis url");
    let subscriber = Builder::from_config(config)
        .with_performance_config(|p| p.broadcast_channel_capacity = 1 << 14)
        .build_subscriber_client()
        .expect("subscriber");
    subscriber.init().await.expect("redis");
    let mut messages = subscriber.message_rx();
    subscriber
        .subscribe(format!("{prefix}rates"))
        .await
        .expect("subscribe");
    let window: u64 = std::env::var("FLOOR_WINDOW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let io2 = io.clone();
    tokio::spawn(async move {
        if window == 0 {
            // Each tick as it came, to every socket: one namespace-wide emit.
            while let Ok(m) = messages.recv().await {
                if let Some(raw) = m.value.as_str().and_then(|t| raw_json(t.to_string())) {
                    let _ = io2.emit("rates:live", &raw).await;
                }
            }
            return;
        }
        // The newest message per pair, sent as one object once per window.
        let mut newest: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
            Default::default();
        let mut every = tokio::time::interval(std::time::Duration::from_millis(window));
        loop {
            tokio::select! {
                m = messages.recv() => {
                    let Ok(m) = m else { break };
                    let Some(text) = m.value.as_str() else { continue };
                    let pair = text
                        .split("\"pair\":\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .unwrap_or_default()
                        .replace('/', "_");
                    if let Some(raw) = raw_json(text.to_string()) {
                        newest.insert(pair, raw);
                    }
                }
                _ = every.tick() => {
                    if !newest.is_empty() {
                        let batch = std::mem::take(&mut newest);
                        let _ = io2.emit("rates:live", &batch).await;
                    }
                }
            }
        }
    });
    let app = axum::Router::new()
        .route("/ready", axum::routing::get(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

fn raw_json(text: String) -> Option<Box<serde_json::value::RawValue>> {
    serde_json::value::RawValue::from_string(text).ok()
}
