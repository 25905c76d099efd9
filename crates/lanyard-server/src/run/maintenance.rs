//! Periodic datastore housekeeping: expired join tokens, expired entries and old
//! change-log rows.

use std::sync::Arc;
use std::time::Duration;

use lanyard_store::Store;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// How often housekeeping runs.
const INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Runs housekeeping every [`INTERVAL`] until `shutdown`; `change_retention` is
/// how long change-log rows are kept for caches that fall behind.
pub(super) async fn run(
    store: Arc<Store>,
    change_retention: Duration,
    shutdown: CancellationToken,
) {
    let retention = time::Duration::try_from(change_retention).unwrap_or(time::Duration::hours(12));
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = OffsetDateTime::now_utc();
        let results = [
            ("join tokens", store.prune_join_tokens(now).await),
            ("entries", store.prune_entries(now).await),
            ("change log", store.prune_changes(now - retention).await),
        ];
        for (what, result) in results {
            match result {
                Ok(0) => {}
                Ok(pruned) => tracing::debug!(what, pruned, "pruned expired records"),
                Err(error) => tracing::warn!(what, %error, "housekeeping failed"),
            }
        }
    }
}
