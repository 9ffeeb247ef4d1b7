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
//! - [`books`]: each venue's L2 books' health per pair (fresh, stale, resyncing, down,
//!   maintenance) and top of book, for `/status`.
//! - [`publisher`]: one loop that writes ticks, status and metadata to the [`common::bus::Bus`]
//!   it was handed (Redis, or the in-process bus of the all-in-one binary), and resyncs
//!   everything after an outage or a queue overflow.
//! - [`metadata`] and [`jobs`]: pair metadata with fallbacks; hourly refresh and per-minute REST
//!   cross-check on tokio-cron-scheduler.
//! - [`http`]: `/rates`, `/rates/{pair}`, `/status`, `/health`, `/ready`, `/metrics`.
//! - [`Application`]: wires it all together; binds port 0 in tests and reports its address.

pub mod backoff;
pub mod books;
pub mod config;
pub mod connector;
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
use common::shutdown::Shutdown;

pub use config::{Config, FeedKind};
use connector::Connector;
pub use feed::Feed;

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
            &config.redis_url,
            &config.redis_prefix,
            config.redis_command_timeout,
        )?;
        Self::build_with_bus(config, Arc::new(bus)).await
    }

    /// Builds and starts everything, publishing to `bus`.
    pub async fn build_with_bus(config: Config, bus: Arc<dyn Bus>) -> anyhow::Result<Application> {
        common::tls::install_crypto_provider();
        let _ = common::telemetry::prometheus();
        let shutdown = Shutdown::new();

        let connector: Box<dyn Connector> = match config.feed {
            FeedKind::Kraken => venues::kraken::connector(&config)?,
            FeedKind::Sim => Box::new(sim::SimConnector::new(
                config.pairs.clone(),
                config.sim_interval,
            )),
        };
        let (feed, queue) = Feed::new(
            connector.source(),
            &config.pairs,
            config.silent_after,
            config.venue_stale,
            config.publish_queue,
        );

        // Pair metadata before the first tick is published; fallbacks when REST is away.
        let fallbacks = Arc::new(config.fallbacks.clone());
        let mut job_ctx = None;
        match connector.rest() {
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
        let publisher =
            publisher::Publisher::new(bus.clone(), feed.clone(), queue, config.feed_lease_ttl);
        tasks.push(tokio::spawn(publisher.run(shutdown.clone())));
        tasks.push(tokio::spawn(connector.run(feed.clone(), shutdown.clone())));

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

        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.http_addr))?;
        let addr = listener.local_addr()?;
        let app = http::router(
            http::AppState {
                feed: feed.clone(),
                bus: bus.clone(),
            },
            config.metrics_addr.is_none(),
        );
        let app = common::http::harden(app, &config.http_policy);
        tasks.push(tokio::spawn(common::serve::serve(
            listener,
            app,
            config.serve,
            shutdown.clone(),
        )));
        let metrics_addr = match config.metrics_addr {
            Some(at) => {
                let (bound, task) =
                    common::serve::spawn_metrics_listener(at, config.serve, shutdown.clone())
                        .await
                        .with_context(|| format!("cannot listen on METRICS_ADDR {at}"))?;
                tasks.push(task);
                Some(bound)
            }
            None => None,
        };
        tracing::info!(%addr, feed = feed.source(), pairs = config.pairs.len(), prefix = %config.redis_prefix, "exchange-rate-svc listening");
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
