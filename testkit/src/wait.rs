//! Waiting for behaviour with deadlines (15 s), never bare sleeps.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(15);

/// Polls `check` every 50 ms until it holds; panics naming `what` after 15 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Receives until a message matches `pred`; panics after 15 s.
pub async fn recv_until<T, F>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str, mut pred: F) -> T
where
    F: FnMut(&T) -> bool,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) if pred(&m) => return m,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("channel closed waiting for: {what}"),
            Err(_) => panic!("timed out waiting for: {what}"),
        }
    }
}
