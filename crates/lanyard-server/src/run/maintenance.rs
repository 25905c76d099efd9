//! Periodic datastore housekeeping: expired join tokens, expired entries, old
//! change-log rows and, when configured, nodes whose SVID expired long ago.

use std::sync::Arc;
use std::time::Duration;

use lanyard_store::Store;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// How often housekeeping runs.
const INTERVAL: Duration = Duration::from_secs(60);

/// What housekeeping removes, from the server configuration.
#[derive(Debug, Clone, Copy)]
pub(super) struct Retention {
    /// How long change-log rows are kept for caches that fall behind.
    pub(super) changes: Duration,
    /// Nodes whose SVID expired this long ago are deleted (`None`: kept).
    pub(super) expired_nodes: Option<Duration>,
    /// Whether that includes nodes that cannot attest again.
    pub(super) include_tofu_nodes: bool,
}

/// Runs housekeeping every [`INTERVAL`] until `shutdown`.
pub(super) async fn run(store: Arc<Store>, retention: Retention, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        run_once(&store, retention, OffsetDateTime::now_utc()).await;
    }
}

/// One round of housekeeping as of `now`.
pub(super) async fn run_once(store: &Store, retention: Retention, now: OffsetDateTime) {
    let mut results = vec![
        ("join tokens", store.prune_join_tokens(now).await),
        ("entries", store.prune_entries(now).await),
        (
            "change log",
            store.prune_changes(now - before(retention.changes)).await,
        ),
    ];
    if let Some(expired_for) = retention.expired_nodes {
        let pruned = store
            .prune_nodes(now - before(expired_for), retention.include_tofu_nodes)
            .await;
        results.push(("attested nodes", pruned));
    }

    for (what, result) in results {
        match result {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(what, pruned, "pruned expired records"),
            Err(error) => tracing::warn!(what, %error, "housekeeping failed"),
        }
    }
}

/// `age` as a `time` duration; an age too large to represent keeps everything.
fn before(age: Duration) -> time::Duration {
    time::Duration::try_from(age).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use lanyard_spiffe::{SelectorSet, SpiffeId};
    use lanyard_store::StoreConfig;
    use lanyard_store::model::{AttestedNode, NodeFilter, PageRequest};

    use super::*;

    fn node(path: &str, expired_days_ago: i64, can_reattest: bool, banned: bool) -> AttestedNode {
        AttestedNode {
            spiffe_id: SpiffeId::parse(&format!("spiffe://example.org/spire/agent/{path}"))
                .expect("valid ID"),
            attestation_type: "test".to_owned(),
            cert_serial: "1".to_owned(),
            cert_not_after: OffsetDateTime::now_utc() - time::Duration::days(expired_days_ago),
            new_cert_serial: None,
            new_cert_not_after: None,
            can_reattest,
            banned,
            selectors: SelectorSet::default(),
            agent_version: String::new(),
            last_seen: None,
        }
    }

    async fn remaining(store: &Store) -> Vec<String> {
        let mut paths: Vec<String> = store
            .list_nodes(&NodeFilter::default(), &PageRequest::first(100))
            .await
            .expect("list nodes")
            .items
            .into_iter()
            .map(|n| n.spiffe_id.path().to_owned())
            .collect();
        paths.sort();
        paths
    }

    async fn store_with_nodes() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&StoreConfig::sqlite_in(dir.path()))
            .await
            .expect("open store");
        for n in [
            node("fresh", -1, true, false),
            node("old-reattestable", 40, true, false),
            node("old-tofu", 40, false, false),
            node("old-banned", 40, true, true),
            node("recent", 2, true, false),
        ] {
            store.create_node(&n).await.expect("create node");
        }
        (dir, store)
    }

    fn retention(expired_nodes: Option<Duration>, include_tofu_nodes: bool) -> Retention {
        Retention {
            changes: Duration::from_secs(3600),
            expired_nodes,
            include_tofu_nodes,
        }
    }

    const THIRTY_DAYS: Duration = Duration::from_secs(30 * 86_400);

    #[tokio::test]
    async fn keeps_every_node_unless_pruning_is_configured() {
        let (_dir, store) = store_with_nodes().await;

        run_once(&store, retention(None, true), OffsetDateTime::now_utc()).await;

        assert_eq!(remaining(&store).await.len(), 5);
    }

    #[tokio::test]
    async fn prunes_long_expired_nodes_but_never_banned_or_tofu_ones_by_default() {
        let (_dir, store) = store_with_nodes().await;

        run_once(
            &store,
            retention(Some(THIRTY_DAYS), false),
            OffsetDateTime::now_utc(),
        )
        .await;

        assert_eq!(
            remaining(&store).await,
            [
                "/spire/agent/fresh",
                "/spire/agent/old-banned",
                "/spire/agent/old-tofu",
                "/spire/agent/recent",
            ]
        );
    }

    #[tokio::test]
    async fn prune_tofu_nodes_also_removes_nodes_that_cannot_attest_again() {
        let (_dir, store) = store_with_nodes().await;

        run_once(
            &store,
            retention(Some(THIRTY_DAYS), true),
            OffsetDateTime::now_utc(),
        )
        .await;

        assert_eq!(
            remaining(&store).await,
            [
                "/spire/agent/fresh",
                "/spire/agent/old-banned",
                "/spire/agent/recent"
            ]
        );
    }
}
