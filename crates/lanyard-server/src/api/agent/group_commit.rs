//! Group commit for the writes of a boot storm.
//!
//! Every attestation redeems a join token and records a node. Done one
//! transaction at a time, a storm waits on the datastore's single writer and
//! on one commit per write. Instead, concurrent callers hand their item to one
//! task, which writes whatever has queued up since its last commit in a single
//! transaction and then answers each caller with its own result. A caller is
//! answered only after the commit that holds its item, so an acknowledged
//! attestation is as durable as before; under no load a batch has one item and
//! costs what a lone transaction did.

use std::sync::{Arc, OnceLock};

use lanyard_attest::BoxFuture;
use lanyard_store::StoreError;
use tokio::sync::{mpsc, oneshot};

/// Most items one transaction carries.
const MAX_BATCH: usize = 256;

/// Items that may wait for the writer before callers are held back.
const QUEUE_CAPACITY: usize = 4096;

/// Writes a batch in one transaction: one result per item, in order; the outer
/// error means nothing was written. The batch is shared so that it can be written
/// again item by item after a failure without copying it beforehand.
pub(crate) type WriteBatch<I, O> =
    dyn Fn(Arc<[I]>) -> BoxFuture<'static, BatchResults<O>> + Send + Sync;

/// What a batch write returns (see [`WriteBatch`]).
pub(crate) type BatchResults<O> = Result<Vec<Result<O, StoreError>>, StoreError>;

/// One caller's item and where its result goes.
type Job<I, O> = (I, oneshot::Sender<Result<O, StoreError>>);

/// Batches items of type `I` into shared transactions (see the module
/// documentation). The writing task starts with the first item and ends when
/// this handle is dropped.
pub(crate) struct GroupCommit<I, O> {
    write: Arc<WriteBatch<I, O>>,
    queue: OnceLock<mpsc::Sender<Job<I, O>>>,
}

impl<I, O> GroupCommit<I, O>
where
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    pub(crate) fn new(write: Arc<WriteBatch<I, O>>) -> Self {
        Self {
            write,
            queue: OnceLock::new(),
        }
    }

    /// Writes `item` with whatever else is queued; returns once it is committed
    /// (or refused).
    pub(crate) async fn submit(&self, item: I) -> Result<O, StoreError> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
            tokio::spawn(run(receiver, self.write.clone()));
            sender
        });
        let (answer, result) = oneshot::channel();
        if queue.send((item.clone(), answer)).await.is_err() {
            return write_alone(&*self.write, item).await;
        }
        match result.await {
            Ok(result) => result,
            // The writing task is gone (the runtime is shutting down).
            Err(_) => write_alone(&*self.write, item).await,
        }
    }
}

/// Writes `item` in a transaction of its own.
async fn write_alone<I, O>(write: &WriteBatch<I, O>, item: I) -> Result<O, StoreError> {
    let mut results = write(Arc::from([item])).await?;
    if results.len() == 1 {
        results.remove(0)
    } else {
        Err(StoreError::InvalidArgument(
            "a batch write returned no result",
        ))
    }
}

/// The writing task: takes what has queued up, writes it, answers, repeats.
async fn run<I, O>(mut receiver: mpsc::Receiver<Job<I, O>>, write: Arc<WriteBatch<I, O>>)
where
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (items, answers): (Vec<I>, Vec<_>) = jobs.drain(..).unzip();
        let items: Arc<[I]> = items.into();
        tracing::debug!(items = items.len(), "writing a batch");
        match write(items.clone()).await {
            Ok(results) if results.len() == answers.len() => {
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            }
            // Either the transaction failed or the writer broke its contract: write
            // each item alone so that every caller gets its own, real error.
            outcome => {
                if let Err(error) = &outcome {
                    tracing::debug!(%error, "batch write failed; writing items alone");
                }
                for (answer, item) in answers.into_iter().zip(items.iter()) {
                    let _ = answer.send(write_alone(&*write, item.clone()).await);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A writer that records the batch sizes it saw and doubles each item;
    /// odd items fail alone, and a batch holding 99 fails as a whole. Each write
    /// first waits for `gate`, so callers can pile up behind a write.
    fn doubling(
        sizes: Arc<Mutex<Vec<usize>>>,
        gate: Arc<tokio::sync::RwLock<()>>,
    ) -> Arc<WriteBatch<u32, u32>> {
        Arc::new(move |items: Arc<[u32]>| {
            let sizes = sizes.clone();
            let gate = gate.clone();
            Box::pin(async move {
                let _open = gate.read().await;
                sizes.lock().unwrap().push(items.len());
                if items.len() > 1 && items.contains(&99) {
                    return Err(StoreError::Conflict("batch refused"));
                }
                Ok(items
                    .iter()
                    .map(|&i| {
                        if i % 2 == 1 {
                            Err(StoreError::NotFound("odd"))
                        } else {
                            Ok(i * 2)
                        }
                    })
                    .collect())
            })
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_items_share_batches_and_keep_their_own_results() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let group = Arc::new(GroupCommit::new(doubling(sizes.clone(), gate.clone())));

        let closed = gate.write().await;
        let tasks: Vec<_> = (100..600u32)
            .map(|i| {
                let group = group.clone();
                tokio::spawn(async move { (i, group.submit(i).await) })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(closed);
        for task in tasks {
            let (i, result) = task.await.unwrap();
            if i % 2 == 1 {
                assert!(matches!(result, Err(StoreError::NotFound("odd"))), "{i}");
            } else {
                assert_eq!(result.unwrap(), i * 2);
            }
        }

        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 500);
        assert!(sizes.iter().all(|&n| n <= MAX_BATCH));
        assert!(sizes.len() < 500, "no two items shared a batch: {sizes:?}");
    }

    #[tokio::test]
    async fn a_failed_batch_is_retried_item_by_item() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::RwLock::new(()));
        let group = Arc::new(GroupCommit::new(doubling(sizes.clone(), gate)));

        // Queue three items before the writer runs so they land in one batch.
        let tasks: Vec<_> = [4u32, 99, 6]
            .into_iter()
            .map(|i| {
                let group = group.clone();
                tokio::spawn(async move { group.submit(i).await })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }

        assert_eq!(results[0].as_ref().unwrap(), &8);
        assert!(matches!(results[1], Err(StoreError::NotFound("odd"))));
        assert_eq!(results[2].as_ref().unwrap(), &12);
        assert_eq!(*sizes.lock().unwrap(), vec![3, 1, 1, 1]);
    }
}
