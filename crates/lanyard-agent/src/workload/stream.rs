//! Server streams that follow a workload's snapshot: the first message at once, then
//! one per change, each the complete state.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;
use tonic::Status;

use super::WorkloadError;
use crate::cache::WorkloadSnapshot;

/// A boxed stream of messages or the status that ends it.
pub(crate) type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// How long a unary call waits for identities the agent is still minting.
pub(crate) const PENDING_WAIT: Duration = Duration::from_secs(10);

/// Streams `build(snapshot)` for the current snapshot and every later one, skipping a
/// message equal to the previous one and snapshots whose identities are still being
/// minted. The stream ends with the status of the first failure, or when the cache
/// goes away.
pub(crate) fn follow_snapshots<T, F>(
    receiver: watch::Receiver<Arc<WorkloadSnapshot>>,
    build: F,
) -> ResponseStream<T>
where
    T: PartialEq + Clone + Send + Sync + 'static,
    F: Fn(&WorkloadSnapshot) -> Result<T, WorkloadError> + Clone + Send + Sync + 'static,
{
    let state = Some(Follow {
        receiver,
        last: None,
        first: true,
    });
    Box::pin(futures::stream::unfold(state, move |state| {
        let build = build.clone();
        async move {
            let mut follow = state?;
            loop {
                if !follow.first && follow.receiver.changed().await.is_err() {
                    return None;
                }
                follow.first = false;

                let snapshot = follow.receiver.borrow_and_update().clone();
                if snapshot.identities.is_empty() && snapshot.pending > 0 {
                    continue;
                }
                match build(&snapshot) {
                    Ok(message) if follow.last.as_ref() == Some(&message) => {}
                    Ok(message) => {
                        follow.last = Some(message.clone());
                        return Some((Ok(message), Some(follow)));
                    }
                    Err(err) => return Some((Err(err.into_status()), None)),
                }
            }
        }
    }))
}

/// The current snapshot, waiting up to [`PENDING_WAIT`] while matching identities are
/// still being minted.
pub(crate) async fn settled_snapshot(
    mut receiver: watch::Receiver<Arc<WorkloadSnapshot>>,
) -> Arc<WorkloadSnapshot> {
    let deadline = tokio::time::Instant::now() + PENDING_WAIT;
    loop {
        let snapshot = receiver.borrow_and_update().clone();
        if !(snapshot.identities.is_empty() && snapshot.pending > 0) {
            return snapshot;
        }
        match tokio::time::timeout_at(deadline, receiver.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return snapshot,
        }
    }
}

struct Follow<T> {
    receiver: watch::Receiver<Arc<WorkloadSnapshot>>,
    last: Option<T>,
    first: bool,
}
