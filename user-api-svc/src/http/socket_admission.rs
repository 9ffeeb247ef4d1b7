//! Engine.IO sessions are capped, in all and per client address, on both transports.
//!
//! Every Engine.IO handshake (a `GET /socket.io/` without `sid`: the first long-polling request,
//! or a WebSocket opened directly) takes a [`SessionSlot`](crate::socket_sessions::SessionSlot) before socketioxide sees it. The slot
//! rides in the request's extensions, which engineioxide keeps with the session's opening
//! request for as long as the session lives, so it is given back exactly when the session is
//! dropped, however it ends (closed, timed out, never connected to a namespace). Over
//! `SOCKET_SESSIONS_PER_IP` the handshake gets 429, over `SOCKET_SESSIONS_MAX` 503, both
//! problem+json with `Retry-After`; sessions already open are untouched. The per-connection cap
//! of `common::serve` does not see sessions: one keep-alive connection can open thousands.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;
use crate::socket_sessions::Refused;
use crate::state::AppState;

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
    let ip = super::extract::client_ip(&state, req.headers(), req.extensions());
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
