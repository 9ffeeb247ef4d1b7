//! Engine.IO sessions are capped, in all and per client address, on both transports.
//!
//! Every Engine.IO handshake (a `GET /socket.io/` without `sid`: the first long-polling request,
//! or a WebSocket opened directly) takes a [`SessionSlot`] before socketioxide sees it. The slot
//! rides in the request's extensions, which engineioxide keeps with the session's opening
//! request for as long as the session lives, so it is given back exactly when the session is
//! dropped, however it ends (closed, timed out, never connected to a namespace). Over
//! `SOCKET_SESSIONS_PER_IP` the handshake gets 429, over `SOCKET_SESSIONS_MAX` 503, both
//! problem+json with `Retry-After`; sessions already open are untouched. The per-connection cap
//! of `common::serve` does not see sessions: one keep-alive connection can open thousands.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;
use crate::state::AppState;

/// Sessions allowed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub total: usize,
    pub per_ip: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// The open sessions, counted.
#[derive(Clone, Default)]
pub struct SessionTable(Arc<Mutex<Counts>>);

/// One open session's place; given back when dropped.
pub struct SessionSlot {
    table: SessionTable,
    ip: IpAddr,
}

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooManyFromAddress,
    Full,
}

impl SessionTable {
    /// A place for one more session from `ip`, or why not.
    pub fn admit(&self, ip: IpAddr, limits: SessionLimits) -> Result<SessionSlot, Refused> {
        let mut counts = common::sync::lock(&self.0);
        if counts.total >= limits.total {
            return Err(Refused::Full);
        }
        let from_ip = counts.by_ip.entry(ip).or_insert(0);
        if *from_ip >= limits.per_ip {
            return Err(Refused::TooManyFromAddress);
        }
        *from_ip += 1;
        counts.total += 1;
        metrics::gauge!("rategate_socket_sessions").set(counts.total as f64);
        Ok(SessionSlot {
            table: self.clone(),
            ip,
        })
    }

    /// Sessions open now.
    pub fn open(&self) -> usize {
        common::sync::lock(&self.0).total
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut counts = common::sync::lock(&self.table.0);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_ip.remove(&self.ip);
            }
        }
        metrics::gauge!("rategate_socket_sessions").set(counts.total as f64);
    }
}

/// Whether `req` opens an Engine.IO session (a `GET` under `/socket.io` without a `sid`).
pub fn is_handshake(req: &Request) -> bool {
    req.method() == axum::http::Method::GET
        && req.uri().path().starts_with("/socket.io")
        && !req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .any(|kv| kv.starts_with("sid="))
}

/// The middleware: a handshake takes a slot (kept in its extensions) or is refused.
pub async fn admit_sessions(state: AppState, mut req: Request, next: Next) -> Response {
    if !is_handshake(&req) {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let ip = crate::http::auth::client_ip(&state, req.headers(), peer);
    match state.sessions.admit(ip, state.config.socket_sessions) {
        Ok(slot) => {
            req.extensions_mut().insert(Arc::new(slot));
            next.run(req).await
        }
        Err(why) => {
            let reason = match why {
                Refused::TooManyFromAddress => "per_ip",
                Refused::Full => "total",
            };
            metrics::counter!("rategate_socket_sessions_refused_total", "cap" => reason)
                .increment(1);
            tracing::debug!(%ip, reason, "Socket.IO handshake refused: too many sessions");
            match why {
                Refused::TooManyFromAddress => ApiError::TooManyRequests {
                    what: "Socket.IO sessions from this address",
                    secs: 10,
                },
                Refused::Full => ApiError::Busy(10),
            }
            .into_response()
        }
    }
}

/// Socket.IO keeps every connection's request head for the connection's life. hyper parses
/// the header values and the URI as slices of its read buffer (8 to 16 KiB), so keeping the
/// head would keep the whole buffer: about 16 KiB per idle socket, most of its cost. A
/// Socket.IO request's head is copied here (a few hundred bytes) and the buffer goes free.
pub async fn detach_head(mut req: axum::extract::Request) -> axum::extract::Request {
    use axum::http::{HeaderMap, HeaderName, HeaderValue, Uri};
    if !req.uri().path().starts_with("/socket.io") {
        return req;
    }
    let mut fresh = HeaderMap::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        // `from_bytes` copies; both succeed for what was already a valid header.
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            fresh.append(n, v);
        }
    }
    *req.headers_mut() = fresh;
    if let Ok(uri) = Uri::try_from(req.uri().to_string()) {
        *req.uri_mut() = uri;
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_address_and_given_back() {
        let table = SessionTable::default();
        let limits = SessionLimits {
            total: 3,
            per_ip: 2,
        };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = table.admit(a, limits).unwrap();
        let _second = table.admit(a, limits).unwrap();
        assert_eq!(
            table.admit(a, limits).err(),
            Some(Refused::TooManyFromAddress)
        );
        let _third = table.admit(b, limits).unwrap();
        assert_eq!(table.admit(b, limits).err(), Some(Refused::Full));
        assert_eq!(table.open(), 3);
        drop(first);
        assert_eq!(table.open(), 2);
        assert!(
            table.admit(a, limits).is_ok(),
            "a closed session frees its place"
        );
    }

    #[test]
    fn only_session_openings_are_handshakes() {
        let req = |method: &str, uri: &str| {
            Request::builder()
                .method(method)
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert!(is_handshake(&req(
            "GET",
            "/socket.io/?EIO=4&transport=polling"
        )));
        assert!(is_handshake(&req(
            "GET",
            "/socket.io/?EIO=4&transport=websocket"
        )));
        assert!(!is_handshake(&req(
            "GET",
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        )));
        assert!(!is_handshake(&req(
            "POST",
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        )));
        assert!(!is_handshake(&req("GET", "/api/rates")));
    }
}
