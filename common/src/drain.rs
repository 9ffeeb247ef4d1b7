//! Request bodies a handler did not read are read and thrown away, so that an early answer
//! does not cost the client its keep-alive connection.
//!
//! A handler that refuses a request before reading its body (a 401 from the token check, a 404,
//! a 415) drops the body. hyper then reads what has already arrived and, if more is still on
//! its way, closes the connection after the response: a client that sent the headers, read the
//! 401 and then sent the body finds its socket closed on the next request. [`DrainOnDrop`]
//! turns that drop into a background read of at most `limit` bytes within `timeout`, after
//! which hyper reads the next request on the same connection. A body declared larger than the
//! limit is not read: its response says `Connection: close` instead, so the client knows.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

/// Whether a request's body was abandoned unread and too large to drain (its response must then
/// close the connection).
#[derive(Clone, Default)]
struct Abandoned(Arc<AtomicBool>);

/// A request body that drains itself in the background when dropped before its end.
pub struct DrainOnDrop {
    inner: Option<Body>,
    done: bool,
    limit: u64,
    timeout: Duration,
    abandoned: Abandoned,
}

impl HttpBody for DrainOnDrop {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            self.done = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else {
            return;
        };
        if self.done || body.is_end_stream() {
            return;
        }
        // Declared larger than we are willing to read: let hyper close the connection.
        if body.size_hint().lower() > self.limit {
            self.abandoned.0.store(true, Ordering::Relaxed);
            return;
        }
        let (limit, timeout) = (self.limit, self.timeout);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let read = axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX));
                let _ = tokio::time::timeout(timeout, read).await;
            });
        }
    }
}

/// Wraps every request's body in a [`DrainOnDrop`] (`axum::middleware::from_fn` with
/// [`drain_unread_bodies`]'s limits bound in).
pub async fn drain_unread_bodies(
    limit: u64,
    timeout: Duration,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let abandoned = Abandoned::default();
    // HTTP/2 streams end on their own; only HTTP/1 shares a connection between requests.
    let http1 = request.version() <= axum::http::Version::HTTP_11;
    let request = request.map(|inner| {
        Body::new(DrainOnDrop {
            inner: Some(inner),
            done: false,
            limit,
            timeout,
            abandoned: abandoned.clone(),
        })
    });
    let mut response = next.run(request).await;
    if http1 && abandoned.0.load(Ordering::Relaxed) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
