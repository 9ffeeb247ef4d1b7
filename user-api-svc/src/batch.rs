//! A group-commit queue: jobs that arrive together run as one batch, each answered with its
//! own result.
//!
//! `workers` tasks share one queue. A worker takes the first waiting job, then whatever else
//! is waiting, up to `max` jobs, waiting at most `wait` for more (zero: only what is already
//! queued), and runs the batch while the next worker gathers the next one. At low load a job
//! runs alone at once; under load, the jobs that arrive while a batch runs form the next one,
//! so one commit serves many.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Mutex};

/// How a queue gathers its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Most jobs in one batch.
    pub max: usize,
    /// Longest a gathered batch waits for more jobs before it runs.
    pub wait: Duration,
    /// Batches that run at the same time.
    pub workers: usize,
}

type Slot<J, R> = (J, oneshot::Sender<R>);

/// A batch slower than this is logged: its jobs all waited that long.
const SLOW_BATCH: Duration = Duration::from_millis(200);

/// The submitting side of a queue; the workers end when every handle is dropped.
pub struct Batcher<J, R> {
    tx: mpsc::Sender<Slot<J, R>>,
}

impl<J: Send + 'static, R: Send + 'static> Batcher<J, R> {
    /// Starts `config.workers` workers that run each batch with `run`, which returns one result
    /// per job, in order.
    pub fn start<F, Fut>(name: &'static str, config: BatchConfig, run: F) -> Batcher<J, R>
    where
        F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let max = config.max.max(1);
        let (tx, rx) = mpsc::channel::<Slot<J, R>>(max * config.workers.max(1) * 4);
        let rx = Arc::new(Mutex::new(rx));
        let run = Arc::new(run);
        for _ in 0..config.workers.max(1) {
            let (rx, run) = (Arc::clone(&rx), Arc::clone(&run));
            tokio::spawn(async move {
                while let Some(batch) = gather(&rx, max, config.wait).await {
                    let (jobs, replies): (Vec<J>, Vec<oneshot::Sender<R>>) =
                        batch.into_iter().unzip();
                    let n = jobs.len();
                    let started = std::time::Instant::now();
                    let results = run(jobs).await;
                    let took = started.elapsed();
                    metrics::histogram!("rategate_batch_size", "queue" => name).record(n as f64);
                    metrics::histogram!("rategate_batch_seconds", "queue" => name)
                        .record(took.as_secs_f64());
                    if took > SLOW_BATCH {
                        tracing::warn!(
                            queue = name,
                            jobs = n,
                            ms = took.as_millis() as u64,
                            "a batch took long"
                        );
                    }
                    // A result missing (a bug in `run`) drops its reply: the caller sees the
                    // queue as gone and answers an error, never hangs.
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(result);
                    }
                }
            });
        }
        Batcher { tx }
    }

    /// Queues `job` and waits for its result; `None` if the queue has stopped.
    pub async fn submit(&self, job: J) -> Option<R> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((job, reply)).await.ok()?;
        answer.await.ok()
    }
}

/// The next batch: the first job (waiting for it), then what else arrives within `wait`, up to
/// `max`. `None` once the queue is closed and empty.
async fn gather<J, R>(
    rx: &Mutex<mpsc::Receiver<Slot<J, R>>>,
    max: usize,
    wait: Duration,
) -> Option<Vec<Slot<J, R>>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let mut batch = Vec::with_capacity(max);
    batch.push(first);
    let deadline = tokio::time::Instant::now() + wait;
    while batch.len() < max {
        match rx.try_recv() {
            Ok(slot) => batch.push(slot),
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) if wait.is_zero() => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(slot)) => batch.push(slot),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn jobs_that_arrive_together_share_a_batch_and_each_gets_its_own_result() {
        let batches = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&batches);
        let batcher: Batcher<u32, u32> = Batcher::start(
            "test",
            BatchConfig {
                max: 8,
                wait: Duration::from_millis(50),
                workers: 1,
            },
            move |jobs: Vec<u32>| {
                seen.fetch_add(1, Ordering::SeqCst);
                async move { jobs.into_iter().map(|j| j * 10).collect() }
            },
        );
        let batcher = Arc::new(batcher);
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let b = Arc::clone(&batcher);
                tokio::spawn(async move { b.submit(i).await })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), Some(i as u32 * 10));
        }
        assert_eq!(batches.load(Ordering::SeqCst), 1, "eight jobs, one batch");
    }

    #[tokio::test]
    async fn a_batch_never_exceeds_its_maximum_and_a_short_result_is_an_error_not_a_hang() {
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let batcher: Arc<Batcher<u32, u32>> = Arc::new(Batcher::start(
            "test",
            BatchConfig {
                max: 3,
                wait: Duration::from_millis(20),
                workers: 2,
            },
            move |jobs: Vec<u32>| {
                seen.lock().unwrap().push(jobs.len());
                // Drops the last job's result.
                let n = jobs.len() - 1;
                async move { jobs.into_iter().take(n).collect() }
            },
        ));
        let tasks: Vec<_> = (0..7)
            .map(|i| {
                let b = Arc::clone(&batcher);
                tokio::spawn(async move { b.submit(i).await })
            })
            .collect();
        let mut answered = 0;
        for t in tasks {
            if t.await.unwrap().is_some() {
                answered += 1;
            }
        }
        let sizes = sizes.lock().unwrap().clone();
        assert!(sizes.iter().all(|n| *n <= 3), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 7);
        assert_eq!(
            answered,
            7 - sizes.len(),
            "one job per batch lost its result"
        );
    }
}
