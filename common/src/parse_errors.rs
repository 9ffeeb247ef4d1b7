//! hyper's own error answers, as problem+json like every other error.
//!
//! A request hyper cannot parse (a control character in a header, a malformed request line,
//! headers too large) never reaches the router: hyper answers it itself with an empty body
//! (`HTTP/1.1 400 Bad Request`, `connection: close`, `content-length: 0`) and closes. [`Problems`]
//! wraps the connection's stream and recognises exactly that head (an error status, no
//! `content-type`, no body, closing): every answer of ours carries `application/problem+json`,
//! so nothing else matches. It writes a problem+json answer with the same status instead.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream whose hyper-made error answers are rewritten as problem+json.
pub struct Problems<T> {
    inner: T,
    /// A rewritten answer still to be written (hyper was told its own bytes went out).
    pending: Vec<u8>,
}

impl<T> Problems<T> {
    pub fn new(inner: T) -> Self {
        Problems {
            inner,
            pending: Vec::new(),
        }
    }
}

/// The problem+json answer for hyper's own error head `head`, or `None` if `head` is not one.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    // Every write of every connection passes here (WebSocket frames of the fan-out too): only
    // an error status line is looked at further.
    if !(head.starts_with(b"HTTP/1.1 4") || head.starts_with(b"HTTP/1.1 5")) {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let status: u16 = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let lower = head.to_ascii_lowercase();
    let canned = (400..600).contains(&status)
        && rest.is_empty()
        && lower.contains("\r\ncontent-length: 0")
        && lower.contains("\r\nconnection: close")
        && !lower.contains("\r\ncontent-type:");
    if !canned {
        return None;
    }
    let status = StatusCode::from_u16(status).ok()?;
    let (code, detail) = match status {
        StatusCode::BAD_REQUEST => (
            "bad_request",
            "the request could not be parsed: a malformed request line or header, or a control character in a header",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "headers_too_large",
            "the request's headers are too large",
        ),
        StatusCode::URI_TOO_LONG => ("uri_too_long", "the request's URI is too long"),
        _ => ("bad_request", "the request could not be handled"),
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let body = crate::http::problem_json(status, code, title, detail);
    let date = head
        .split("\r\n")
        .find(|l| l.to_ascii_lowercase().starts_with("date:"));
    let mut out = format!(
        "HTTP/1.1 {} {title}\r\ncontent-type: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
        status.as_u16(),
        crate::http::PROBLEM_JSON,
        body.len()
    );
    if let Some(date) = date {
        out.push_str(date);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<T: AsyncWrite + Unpin> Problems<T> {
    /// Writes what is pending; `Ready(Ok)` once nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Problems<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Problems<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        if let Some(answer) = rewrite(buf) {
            self.pending = answer;
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        // hyper writes an answer's head as one slice; only a head alone can be its own error.
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(first), None) = (nonempty.next(), nonempty.next()) {
            if let Some(answer) = rewrite(first) {
                self.pending = answer;
                let _ = self.poll_pending(cx)?;
                return Poll::Ready(Ok(first.len()));
            }
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_closing_error_heads_are_rewritten() {
        let canned = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Thu, 03 Dec 2026 16:15:14 GMT\r\n\r\n";
        let answer = String::from_utf8(rewrite(canned).unwrap()).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(answer.contains("content-type: application/problem+json\r\n"));
        assert!(answer.contains("date: Thu, 03 Dec 2026 16:15:14 GMT\r\n"));
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["code"], "bad_request");
        assert_eq!(problem["status"], 400);
        for ours in [
            // Our own problems carry a content type and a body.
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"[..],
            // Success with no body.
            b"HTTP/1.1 204 No Content\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            // Keep-alive.
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            // A head with a body after it.
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\nx",
            b"garbage",
        ] {
            assert!(rewrite(ours).is_none(), "{}", String::from_utf8_lossy(ours));
        }
    }
}
