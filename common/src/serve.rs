//! [`serve`]: the HTTP listener both services use, with the limits a server facing the public
//! needs and `axum::serve` does not set.
//!
//! - **Header read timeout**: a client that opens a connection and sends nothing, or its
//!   headers a byte at a time (slowloris), is closed after `header_read_timeout` (hyper times
//!   the headers from their first byte; the first byte itself must come within the same time).
//! - **Body timeout**: a request body that does not arrive within `body_timeout` fails the
//!   request (408) instead of holding a task and a buffer forever.
//! - **Idle timeout**: a connection on which the client sends nothing for `idle_timeout` is
//!   closed, keep-alive or upgraded alike (Socket.IO clients answer a ping every 25 s, so live
//!   sockets never go that quiet).
//! - **Connection caps**: at most `max_connections` at once, and `max_connections_per_ip` from
//!   one address (0 = no per-address cap: set it behind a load balancer, where every client
//!   has the balancer's address).
//!   A connection over a cap is closed at once and counted.
//! - **Accept errors** (out of file descriptors, ...) back off from 5 ms to 1 s instead of
//!   spinning the accept loop at full speed.
//!
//! - **Unread bodies**: a body the handler did not read (an early 401) is read and discarded
//!   up to `unread_body_max` so the keep-alive connection survives (`crate::drain`).
//!
//! - **hyper's own errors** (a header it cannot parse) answer problem+json like every other
//!   error (`crate::parse_errors`).
//!
//! [`Listeners`] binds a service's ports (the API or feed, and `METRICS_ADDR`) before it does
//! anything else, and serves them all at once when the service is ready.
//!
//! Every connection gets `TCP_NODELAY` (rates are many small frames) and its peer address as
//! axum's `ConnectInfo<SocketAddr>`. On shutdown it stops accepting, lets in-flight requests
//! finish (at most `drain_timeout`) and returns.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::{millis_or, parse_or, ConfigError};
use crate::shutdown::Shutdown;

/// The listener's limits; [`ServeLimits::default`] is what a public deployment wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    pub header_read_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// 0 = no per-address cap.
    pub max_connections_per_ip: usize,
    pub drain_timeout: Duration,
    /// A request body a handler did not read is read and discarded up to this size, so the
    /// connection stays usable after an early answer (`common::drain`); a larger one closes it.
    pub unread_body_max: u64,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            max_connections: 15_000,
            max_connections_per_ip: 1_000,
            drain_timeout: Duration::from_secs(10),
            unread_body_max: 64 * 1024,
        }
    }
}

impl ServeLimits {
    /// Reads `HTTP_HEADER_TIMEOUT_MS`, `HTTP_BODY_TIMEOUT_MS`, `HTTP_IDLE_TIMEOUT_MS`,
    /// `HTTP_MAX_CONNECTIONS`, `HTTP_MAX_CONNECTIONS_PER_IP` and `HTTP_UNREAD_BODY_MAX_BYTES`
    /// over `d`.
    pub fn from_env_over(d: ServeLimits) -> Result<ServeLimits, ConfigError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Ok(ServeLimits {
            header_read_timeout: millis_or(
                "HTTP_HEADER_TIMEOUT_MS",
                ms(d.header_read_timeout),
                100,
            )?,
            body_timeout: millis_or("HTTP_BODY_TIMEOUT_MS", ms(d.body_timeout), 100)?,
            idle_timeout: millis_or("HTTP_IDLE_TIMEOUT_MS", ms(d.idle_timeout), 1_000)?,
            max_connections: parse_or("HTTP_MAX_CONNECTIONS", d.max_connections)?.max(1),
            max_connections_per_ip: parse_or(
                "HTTP_MAX_CONNECTIONS_PER_IP",
                d.max_connections_per_ip,
            )?,
            drain_timeout: d.drain_timeout,
            unread_body_max: parse_or("HTTP_UNREAD_BODY_MAX_BYTES", d.unread_body_max)?,
        })
    }
}

/// Counts open connections per address; a [`PeerSlot`] gives its place back when dropped.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

struct PeerSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<PeerSlot> {
        let mut table = crate::sync::lock(&self.0);
        let n = table.entry(ip).or_insert(0);
        if cap > 0 && *n >= cap {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            table: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut table = crate::sync::lock(&self.table.0);
        if let Some(n) = table.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                table.remove(&self.ip);
            }
        }
    }
}

/// A stream that fails with `TimedOut` when its first byte does not arrive within `first`, or
/// when nothing has been read from it for `idle` after that.
struct IdleTimeout<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    fn new(inner: T, first: Duration, idle: Duration) -> Self {
        IdleTimeout {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(first)),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    let next = Instant::now() + self.idle;
                    self.deadline.as_mut().reset(next);
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                ready!(self.deadline.as_mut().poll(cx));
                metrics::counter!("rategate_http_idle_closed_total").increment(1);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle",
                )))
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves `app` on `listener` with `limits` until `shutdown` (see the module doc).
pub async fn serve(listener: TcpListener, app: Router, limits: ServeLimits, shutdown: Shutdown) {
    let (unread_max, body_timeout) = (limits.unread_body_max, limits.body_timeout);
    let app = app
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            limits.body_timeout,
        ))
        .layer(axum::middleware::from_fn(move |req, next| {
            crate::drain::drain_unread_bodies(unread_max, body_timeout, req, next)
        }));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerIp::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => {
                backoff = Duration::ZERO;
                conn
            }
            Err(e) => {
                // EMFILE and friends: the condition lasts a while; do not spin on it.
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                metrics::counter!("rategate_http_accept_errors_total").increment(1);
                tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed");
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(backoff) => continue,
                }
            }
        };
        let Some((permit, slot)) = admit(&slots, &per_ip, peer.ip(), &limits) else {
            metrics::counter!("rategate_http_connections_refused_total").increment(1);
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let watcher = graceful.watcher();
        serve_one(&builder, watcher, &app, tcp, peer, &limits, (permit, slot));
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout; closing them");
    }
}

/// A service's listeners, bound before it does anything else: a port that is taken fails the
/// start at once, and a process running several services (the all-in-one binary) binds them
/// all before any of them answers, so nothing looks up that is about to exit.
pub struct Listeners {
    /// The API (or the feed's HTTP endpoints).
    pub http: TcpListener,
    /// `/metrics` alone (`METRICS_ADDR`), when set.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds `http` and, when given, `metrics`; the error names the address that failed.
    pub async fn bind(http: SocketAddr, metrics: Option<SocketAddr>) -> anyhow::Result<Listeners> {
        use anyhow::Context as _;
        let http = TcpListener::bind(http)
            .await
            .with_context(|| format!("cannot listen on {http}"))?;
        let metrics = match metrics {
            Some(at) => Some(
                TcpListener::bind(at)
                    .await
                    .with_context(|| format!("cannot listen on METRICS_ADDR {at}"))?,
            ),
            None => None,
        };
        Ok(Listeners { http, metrics })
    }

    /// Serves `app` on the HTTP listener and `/metrics` on the metrics one until `shutdown`:
    /// the bound addresses and the serving tasks.
    pub fn serve(
        self,
        app: Router,
        limits: ServeLimits,
        shutdown: &Shutdown,
    ) -> io::Result<Served> {
        let addr = self.http.local_addr()?;
        let metrics_addr = self
            .metrics
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let mut tasks = vec![tokio::spawn(serve(
            self.http,
            app,
            limits,
            shutdown.clone(),
        ))];
        if let Some(listener) = self.metrics {
            tasks.push(tokio::spawn(serve(
                listener,
                crate::http::metrics_router(),
                limits,
                shutdown.clone(),
            )));
        }
        Ok(Served {
            addr,
            metrics_addr,
            tasks,
        })
    }
}

/// What [`Listeners::serve`] started.
pub struct Served {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn admit(
    slots: &Arc<Semaphore>,
    per_ip: &Arc<PerIp>,
    ip: IpAddr,
    limits: &ServeLimits,
) -> Option<(OwnedSemaphorePermit, PeerSlot)> {
    let permit = slots.clone().try_acquire_owned().ok()?;
    let slot = per_ip.take(ip, limits.max_connections_per_ip)?;
    Some((permit, slot))
}

fn serve_one(
    builder: &Arc<hyper_util::server::conn::auto::Builder<TokioExecutor>>,
    watcher: hyper_util::server::graceful::Watcher,
    app: &Router,
    tcp: TcpStream,
    peer: SocketAddr,
    limits: &ServeLimits,
    held: (OwnedSemaphorePermit, PeerSlot),
) {
    let service = app.clone().map_request(
        move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        },
    );
    let service = hyper_util::service::TowerToHyperService::new(service);
    let first = limits.header_read_timeout.min(limits.idle_timeout);
    let io = TokioIo::new(crate::parse_errors::Problems::new(IdleTimeout::new(
        tcp,
        first,
        limits.idle_timeout,
    )));
    let builder = builder.clone();
    tokio::spawn(async move {
        let _held = held;
        let conn = watcher.watch(builder.serve_connection_with_upgrades(io, service));
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_slots_are_capped_and_given_back() {
        let table = Arc::new(PerIp::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = table.take(ip, 2).unwrap();
        let _b = table.take(ip, 2).unwrap();
        assert!(table.take(ip, 2).is_none(), "third from one address");
        assert!(table.take("192.0.2.2".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(
            table.take(ip, 2).is_some(),
            "a closed connection frees its slot"
        );
        assert!(table.take(ip, 0).is_some(), "0 = no cap");
    }
}
