//! One shutdown signal for the whole process.
//!
//! Servers and background tasks each hold a clone of a cancellation token
//! (we use `tokio::sync::watch` to stay dependency-light): [`Shutdown::trigger`] flips it once,
//! and [`Shutdown::wait`] resolves in every holder. [`wait_for_signal`] resolves on SIGTERM or
//! Ctrl-C.

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Cloneable shutdown flag.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: std::sync::Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    pub fn new() -> Self {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            tx: std::sync::Arc::new(tx),
            rx,
        }
    }

    /// Asks everything holding a clone to stop.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once [`Shutdown::trigger`] has been called (at once if it already was).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        // An Err means the sender is gone, which only happens when everything is shutting down.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Triggers `shutdown` on the first Ctrl-C or SIGTERM (spawns a task).
pub fn trigger_on_signal(shutdown: Shutdown) {
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.trigger();
    });
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// What a running service must stop, in order: the shutdown signal, then every task (servers
/// finish in-flight requests, the publisher sends a last status), the scheduler, and last the
/// bus connection the tasks wrote to. Both services stop through it.
pub struct Running {
    pub shutdown: Shutdown,
    pub tasks: Vec<JoinHandle<()>>,
    pub scheduler: Option<tokio_cron_scheduler::JobScheduler>,
    pub bus: std::sync::Arc<dyn crate::bus::Bus>,
}

impl Running {
    /// Waits until shutdown is triggered (a signal, or another holder), then stops everything.
    pub async fn until_stopped(self) {
        self.shutdown.wait().await;
        self.wind_down().await;
    }

    /// Triggers shutdown and waits until everything stopped.
    pub async fn stop(self) {
        self.shutdown.trigger();
        self.wind_down().await;
    }

    async fn wind_down(mut self) {
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(mut s) = self.scheduler.take() {
            let _ = s.shutdown().await;
        }
        self.bus.quit().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger() {
        let s = Shutdown::new();
        let c = s.clone();
        let waiter = tokio::spawn(async move { c.wait().await });
        assert!(!s.is_triggered());
        s.trigger();
        waiter.await.unwrap();
        assert!(s.is_triggered());
        s.wait().await; // already triggered: resolves at once
    }
}
