//! exchange-rate-svc: live exchange rates into Redis.
//!
//! A guided tour, in the order a tick travels:
//! - [`connector`]: the seam. A [`connector::Connector`] streams one exchange into the feed and
//!   may bring an [`connector::ExchangeRest`] for pair metadata and the cross-check; nothing
//!   outside an exchange's folder names the exchange.
//! - [`venues`]: one folder per exchange. [`venues::kraken`] is the Kraken WebSocket v2
//!   connector (`wire` parses frames exactly, `connector` keeps the connection alive, `rest`
//!   reads `AssetPairs` and `Ticker`, `book` keeps a checksummed L2 book);
//!   [`venues::coinbase`] and [`venues::bitstamp`] parse those venues' L2 frames into books.
//!   [`sim`] is the labelled offline alternative, with no REST side.
//! - [`feed`]: validates ticks (crossed or non-positive ones are dropped and counted), stamps
//!   `seq`/`epoch`, keeps per-pair state and the last value of each pair.
//! - [`books`]: each venue's L2 books (top levels) and health per pair (fresh, stale,
//!   resyncing, down, maintenance, excluded), and the merge of the healthy ones.
//! - [`consolidator`]: one price per pair from the venues' books (at least `MIN_VENUES`), a
//!   rate when the best prices or venues change, and the consolidated book to publish.
//! - [`publisher`]: one loop that writes ticks, status and metadata to the [`common::bus::Bus`]
//!   it was handed (Redis, or the in-process bus of the all-in-one binary), and resyncs
//!   everything after an outage or a queue overflow.
//! - [`metadata`] and [`jobs`]: pair metadata with fallbacks; hourly refresh and per-minute REST
//!   cross-check on tokio-cron-scheduler.
//! - [`http`]: `/rates`, `/rates/{pair}`, `/status`, `/health`, `/ready`, `/metrics`;
//!   [`error`]: its one error type, as problem+json.
//! - [`config`]: every setting, from the environment; [`backoff`]: the reconnects' jittered
//!   exponential backoff.
//! - [`Application`]: wires it all together; binds port 0 in tests and reports its address.

pub mod backoff;
pub mod books;
pub mod config;
pub mod connector;
pub mod consolidator;
pub mod error;
pub mod feed;
pub mod http;
pub mod jobs;
pub mod metadata;
pub mod publisher;
pub mod sim;
pub mod venues;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use common::bus::redis::RedisBus;
use common::bus::Bus;
use common::serve::Listeners;
use common::shutdown::Shutdown;

pub use config::{Config, FeedKind};
use connector::Connector;
pub use feed::Feed;

/// The connectors `config` asks for: the simulation; Kraken's ticker alone
/// (`RATES_FROM=ticker`); or one per venue of `VENUES`, Kraken first when listed (its REST side
/// gives the pair metadata).
fn connectors(config: &Config) -> anyhow::Result<Vec<Box<dyn Connector>>> {
    use common::book::Venue;
    if config.feed == FeedKind::Sim {
        return Ok(vec![Box::new(sim::SimConnector::new(
            config.pairs.clone(),
            config.sim_interval,
        ))]);
    }
    if config.rates_from == config::RatesFrom::Ticker {
        return Ok(vec![venues::kraken::connector(config)?]);
    }
    let mut out: Vec<Box<dyn Connector>> = Vec::new();
    for venue in &config.venues {
        out.push(match venue {
            Venue::Kraken => venues::kraken::connector(config)?,
            Venue::Coinbase => Box::new(venues::session::VenueConnector::new(
                venues::coinbase::connector::Coinbase::new(&config.coinbase_ws_url, &config.pairs),
                config.session_settings(),
            )),
            Venue::Bitstamp => Box::new(venues::session::VenueConnector::new(
                venues::bitstamp::connector::Bitstamp::new(
                    &config.bitstamp_ws_url,
                    &config.bitstamp_rest_url,
                    &config.pairs,
                    config.rest_timeout,
                )?,
                config.session_settings(),
            )),
        });
    }
    // Pair metadata comes from Kraken's REST API even when Kraken's books are not read.
    if !config.venues.contains(&Venue::Kraken) {
        out.insert(0, venues::kraken::rest_only(config)?);
    }
    Ok(out)
}

/// Rebuilds every consolidated book twenty times per `VENUE_STALE_MS` (75 ms at the default),
/// so a venue that went quiet leaves the price within about that time of its last sign of
/// life even when no other update comes. A rebuild of a pair costs a few µs (BENCHMARKS.md).
async fn sweep(feed: Feed, venue_stale: std::time::Duration, shutdown: Shutdown) {
    let every = (venue_stale / 20).clamp(
        std::time::Duration::from_millis(5),
        std::time::Duration::from_millis(100),
    );
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tick.tick() => feed.rebuild_all(),
        }
    }
}

/// A running exchange-rate-svc.
pub struct Application {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    feed: Feed,
    running: common::shutdown::Running,
    bus: Arc<dyn Bus>,
    jobs: Option<jobs::JobContext>,
}

impl Application {
    /// Builds and starts everything on the Redis bus `REDIS_URL` names; returns once the HTTP
    /// listener is bound. Nothing waits for Redis: the feed runs without it and the publisher
    /// catches up.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let bus = RedisBus::connect(
            &config.redis_target()?,
            &config.redis_prefix,
            config.redis_command_timeout,
        )?;
        Self::build_with_bus(config, Arc::new(bus)).await
    }

    /// Builds and starts everything, publishing to `bus`.
    pub async fn build_with_bus(config: Config, bus: Arc<dyn Bus>) -> anyhow::Result<Application> {
        let listeners = Listeners::bind(config.http_addr, config.metrics_addr).await?;
        Self::build_on(config, bus, listeners).await
    }

    /// Builds and starts everything on listeners bound beforehand (by the all-in-one binary,
    /// before its API answers), publishing to `bus`.
    pub async fn build_on(
        config: Config,
        bus: Arc<dyn Bus>,
        listeners: Listeners,
    ) -> anyhow::Result<Application> {
        common::tls::install_crypto_provider();
        let _ = common::telemetry::prometheus();
        let shutdown = Shutdown::new();

        let consolidation = config.consolidation();
        let connectors = connectors(&config)?;
        let source = match (config.feed, consolidation) {
            (FeedKind::Sim, _) => "sim",
            (FeedKind::Kraken, Some(_)) => "consolidated",
            (FeedKind::Kraken, None) => "kraken",
        };
        let (feed, queue) = Feed::new(
            source,
            &config.pairs,
            config.silent_after,
            config.book_rules(),
            consolidation,
            config.publish_queue,
        );

        // Every venue read shows in /status from the start (`down` until it connects).
        if feed.consolidates() && config.feed == FeedKind::Kraken {
            for venue in &config.venues {
                for pair in &config.pairs {
                    feed.books().expect(*venue, pair);
                }
            }
        }

        // Pair metadata before the first tick is published; fallbacks when REST is away.
        let fallbacks = Arc::new(config.fallbacks.clone());
        let mut job_ctx = None;
        match connectors.iter().find_map(|c| c.rest()) {
            Some(rest) => {
                let ctx = jobs::JobContext {
                    rest,
                    feed: feed.clone(),
                    fallbacks: fallbacks.clone(),
                    max_bps: config.crosscheck_max_bps,
                };
                ctx.refresh_metadata().await;
                job_ctx = Some(ctx);
            }
            None => {
                feed.set_meta(
                    config
                        .pairs
                        .iter()
                        .map(|p| metadata::fallback(p, &fallbacks))
                        .collect(),
                );
            }
        }

        let mut tasks = Vec::new();
        let publisher = publisher::Publisher::new(
            bus.clone(),
            feed.clone(),
            queue,
            config.feed_lease_ttl,
            std::time::Duration::from_secs(1) / config.book_publish_hz.max(1),
        );
        tasks.push(tokio::spawn(publisher.run(shutdown.clone())));
        for connector in connectors {
            tasks.push(tokio::spawn(connector.run(feed.clone(), shutdown.clone())));
        }
        if feed.consolidates() {
            tasks.push(tokio::spawn(sweep(
                feed.clone(),
                config.venue_stale,
                shutdown.clone(),
            )));
        }

        let scheduler = match &job_ctx {
            Some(ctx) => Some(
                jobs::start(ctx.clone(), &config.metadata_cron, &config.crosscheck_cron)
                    .await
                    .context(
                        "cannot start the job scheduler (check METADATA_CRON / CROSSCHECK_CRON)",
                    )?,
            ),
            None => None,
        };

        let app = http::router(
            http::AppState {
                feed: feed.clone(),
                bus: bus.clone(),
            },
            listeners.metrics.is_none(),
        );
        let app = common::http::harden(app, &config.http_policy);
        let served = listeners.serve(app, config.serve, &shutdown)?;
        tasks.extend(served.tasks);
        let (addr, metrics_addr) = (served.addr, served.metrics_addr);
        tracing::info!(%addr, feed = feed.source(), venues = ?config.venues, pairs = config.pairs.len(), prefix = %config.redis_prefix, "exchange-rate-svc listening");
        Ok(Application {
            addr,
            metrics_addr,
            feed,
            running: common::shutdown::Running {
                shutdown,
                tasks,
                scheduler,
                bus: bus.clone(),
            },
            bus,
            jobs: job_ctx,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `/metrics` listener's address, when `METRICS_ADDR` gave it one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn feed(&self) -> &Feed {
        &self.feed
    }

    /// The shutdown handle: trigger it to stop the application.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.running.shutdown.clone()
    }

    /// The name our Redis connection carries in `CLIENT LIST` (empty on the in-process bus).
    pub fn redis_client_name(&self) -> String {
        self.bus.client_name().unwrap_or_default()
    }

    /// Runs the cross-check now (tests and operators; normally the scheduler does).
    pub async fn crosscheck_now(&self) -> bool {
        match &self.jobs {
            Some(j) => j.crosscheck().await,
            None => false,
        }
    }

    /// Waits until shutdown is triggered, then stops everything in order: connector (closing
    /// upstream), publisher (a last status), HTTP (in-flight requests finish), scheduler, bus.
    pub async fn run_until_stopped(self) {
        self.running.until_stopped().await
    }

    /// Triggers shutdown and waits for every task to finish.
    pub async fn stop(self) {
        self.running.stop().await
    }
}
