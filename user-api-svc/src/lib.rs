//! user-api-svc: spread-adjusted rates, accounts, spreads and trading for people.
//!
//! Layout, one line a module (each module's own doc says more):
//! - [`rates`]: the bus subscription, the [`rates::book::RateBook`] that prices raw rates with
//!   spreads and judges staleness, and [`rates::fanout`], which delivers `rates:live` to sockets
//!   with latest-value semantics.
//! - [`pricing`]: spread arithmetic, tick rounding in the house's favour, prices at the tick.
//! - [`money`]: the money rules (amounts, totals, legs, asset scales), trading budgets, and
//!   the desk that files quotes and places orders ([`money::desk`]).
//! - [`batch`]: the group-commit queue the desk's quotes and orders go through.
//! - [`candles`]: minute OHLC of the mid, rolled up.
//! - [`spreads`]: admin spreads with an append-only audit trail.
//! - [`auth`]: accounts, passwords, tokens and sessions, two-factor sign-in, throttling.
//! - [`socket`]: the Socket.IO namespace (handshake auth, snapshot, subscribe, private rooms).
//! - [`socket_sessions`]: Engine.IO sessions counted in all and per client address.
//! - [`cluster`]: what nodes share beyond the rates (private events, session ends, leases).
//! - [`store`]: storage behind a trait; [`store::mysql`] for MySQL/MariaDB, [`store::sqlite`]
//!   for the all-in-one binary.
//! - [`jobs`]: scheduled jobs (purges, candle closing, peer-fault summaries).
//! - [`http`]: every endpoint, one file per resource, the extractors, [`http::error::ApiError`]
//!   (the one error type at the HTTP edge), Engine.IO admission, the OpenAPI document and the
//!   pages.
//! - [`config`]: every setting, from the environment.
//! - [`state`]: [`state::AppState`], what every handler and socket shares.
//! - [`Application`] (here): wires it together; binds port 0 in tests and reports its address.

pub mod auth;
pub mod batch;
pub mod candles;
pub mod cluster;
pub mod config;
pub mod http;
pub mod jobs;
pub mod money;
pub mod pricing;
pub mod rates;
pub mod socket;
pub mod socket_sessions;
pub mod spreads;
pub mod state;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use common::bus::redis::RedisBus;
use common::bus::Bus;
use common::serve::Listeners;
use common::shutdown::Shutdown;

pub use config::Config;
use state::{AppShared, AppState};
use store::Store;

/// Largest Socket.IO message a client may send, on any transport (a subscribe of 64 pairs is
/// about 1 KiB).
pub const MAX_SOCKET_PAYLOAD: usize = 16 * 1024;

/// A running user-api-svc.
pub struct Application {
    addr: SocketAddr,
    /// Where `/metrics` is served when it has a listener of its own.
    metrics_addr: Option<SocketAddr>,
    state: AppState,
    running: common::shutdown::Running,
}

impl Application {
    /// Opens the store `DATABASE_URL` names (MySQL/MariaDB or SQLite; created and migrated if
    /// needed) and builds the app.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = store::open(&config.database_url, config.db_max_connections)
            .await
            .context("cannot open the database (DATABASE_URL)")?;
        // Nothing waits for Redis: rates are stale until it answers, the rest works.
        let bus = RedisBus::connect(
            &config.redis_target()?,
            &config.redis_prefix,
            Duration::from_secs(2),
        )?;
        Self::build_with(config, store, Arc::new(bus)).await
    }

    /// Builds the app on a given store and bus.
    pub async fn build_with(
        config: Config,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
    ) -> anyhow::Result<Application> {
        common::tls::install_crypto_provider();
        let _ = common::telemetry::prometheus();
        let listeners = Listeners::bind(config.http_addr, config.metrics_addr).await?;
        let shutdown = Shutdown::new();
        let audit = auth::audit_emails(store.as_ref())
            .await
            .context("checking existing accounts' emails")?;
        if audit != auth::EmailAudit::default() {
            tracing::info!(
                keyed = audit.keyed,
                refused = audit.refused.len(),
                lookalikes = audit.lookalikes.len(),
                unnormalized = audit.unnormalized.len(),
                "existing accounts' emails checked"
            );
        }
        if let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) {
            auth::ensure_admin(store.as_ref(), email, password).await?;
        }

        // Subscribed before anything is published to the hub, so no tick is missed.
        let subscription = bus.subscribe().context("cannot subscribe to the bus")?;
        let hub = Arc::new(rates::RateHub::new(
            &config.pairs,
            config.stale_after,
            config.fanout,
        ));
        hub.book()
            .set_max_depth_fraction(config.quote_max_depth_fraction);
        let cluster = cluster::Cluster::new(bus.as_ref())?;
        let (quotes, orders) = (config.quote_budget, config.order_budget);
        let (throttle, budgets) = match cluster.redis() {
            Some((client, keys)) => (
                auth::throttle::LoginThrottle::shared(
                    config.throttle,
                    client.clone(),
                    keys.clone(),
                ),
                money::budget::AccountBudgets::shared(quotes, orders, client.clone(), keys.clone()),
            ),
            None => (
                auth::throttle::LoginThrottle::new(config.throttle),
                money::budget::AccountBudgets::new(quotes, orders),
            ),
        };
        let precision = money::AssetPrecision::default();
        let desk = money::desk::Desk::start(
            Arc::clone(&store),
            config.group_commit,
            http::orders::answer_renderer(precision.clone(), Arc::clone(&hub)),
        );
        // Reads gather only what already waits (no request waits for others to arrive), and
        // more of them run at once than writes: nothing orders them.
        let reads = batch::BatchConfig {
            wait: Duration::ZERO,
            workers: 8,
            ..config.group_commit
        };
        let session_check = auth::SessionCheck::start(Arc::clone(&store), reads);
        let state = AppState(Arc::new(AppShared {
            session_check,
            keys: auth::tokens::TokenKeys::new(
                &config.jwt_secret,
                &config.jwt_issuer,
                &config.jwt_audience,
                config.access_ttl,
            ),
            throttle,
            sessions: Default::default(),
            budgets,
            cluster,
            hashing: auth::password::HashGate::new(config.hash_concurrency, config.hash_max_wait),
            store,
            hub: hub.clone(),
            bus: bus.clone(),
            node_id: uuid::Uuid::new_v4().to_string(),
            io: std::sync::OnceLock::new(),
            precision,
            desk,
            config,
        }));
        state
            .reload_spreads()
            .await
            .map_err(|e| anyhow::anyhow!("loading spreads: {e}"))?;
        state
            .reload_pair_limits()
            .await
            .map_err(|e| anyhow::anyhow!("loading pair limits: {e}"))?;

        let mut tasks = Vec::new();
        {
            let (state2, hub, stop) = (state.clone(), hub.clone(), shutdown.clone());
            tasks.push(tokio::spawn(async move {
                let reload = |node: String| {
                    let state = state2.clone();
                    async move {
                        if node != state.node_id {
                            // Spreads and pair limits share the announcement: both are
                            // admin settings every node prices with.
                            if let Err(e) = state.reload_spreads().await {
                                tracing::warn!(error = %e, "reloading spreads after another node's change failed");
                            }
                            if let Err(e) = state.reload_pair_limits().await {
                                tracing::warn!(error = %e, "reloading pair limits after another node's change failed");
                            }
                        }
                    }
                };
                rates::subscription::follow(subscription, hub, stop, reload).await;
            }));
        }
        {
            let (hub, stop) = (hub.clone(), shutdown.clone());
            tasks.push(tokio::spawn(
                async move { hub.run_housekeeping(stop).await },
            ));
        }
        let scheduler = jobs::start(state.clone())
            .await
            .context("cannot start the job scheduler")?;

        let (layer, io) = socketioxide::SocketIo::builder()
            .with_adapter::<cluster::NodeAdapter>(state.cluster.adapter_state())
            .with_state(state.clone())
            // Clients only send pings and small subscribe requests: small read buffers keep an
            // idle connection cheap. 64 queued packets per socket, then latest-value coalescing.
            // The same small payload limit on every transport: polling (max_payload) and
            // WebSocket (message and frame size), so nobody can make us buffer megabytes.
            .max_buffer_size(64)
            .ws_read_buffer_size(1024)
            .max_payload(MAX_SOCKET_PAYLOAD as u64)
            .ws_max_message_size(MAX_SOCKET_PAYLOAD)
            .ws_max_frame_size(MAX_SOCKET_PAYLOAD)
            .build_layer();
        socket::register(&io).await?;
        hub.fanout.attach(io.clone());
        let _ = state.io.set(io);
        // Socket.IO answers its own protocol (engine.io errors included) outside the API layers.
        let admission = state.clone();
        let app = common::http::harden(http::router(state.clone()), &state.config.http_policy)
            .layer(layer)
            .layer(axum::middleware::from_fn(move |req, next| {
                http::socket_admission::admit_sessions(admission.clone(), req, next)
            }))
            .layer(axum::middleware::map_request(
                http::socket_admission::detach_head,
            ));
        let served = listeners.serve(app, state.config.serve, &shutdown)?;
        tasks.extend(served.tasks);
        let (addr, metrics_addr) = (served.addr, served.metrics_addr);
        tracing::info!(%addr, bus = state.bus.describe(), "user-api-svc listening");
        Ok(Application {
            addr,
            metrics_addr,
            running: common::shutdown::Running {
                shutdown,
                tasks,
                scheduler: Some(scheduler),
                bus: state.bus.clone(),
            },
            state,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `/metrics` listener's address, when `METRICS_ADDR` gave it one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn shutdown_handle(&self) -> Shutdown {
        self.running.shutdown.clone()
    }

    /// Waits for shutdown, then stops: HTTP finishes in-flight requests, tasks end, the bus
    /// closes.
    pub async fn run_until_stopped(self) {
        self.running.until_stopped().await;
        self.state.cluster.quit().await;
    }

    /// Triggers shutdown and waits for every task to finish.
    pub async fn stop(self) {
        self.running.stop().await;
        self.state.cluster.quit().await;
        // Socket handlers hold the state, so the pool would outlive the app: close it.
        self.state.store.close().await;
    }
}
