//! How far the change log is known to be committed, as this process learns it:
//! from its own commits, and on PostgreSQL from every process's NOTIFY.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// What one commit appended to the log: its last sequence number, and whether any
/// of its changes was a node's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Appended {
    pub(crate) last: u64,
    pub(crate) nodes: bool,
}

impl Appended {
    /// A position whose changes are not known, as for another process's commits
    /// learnt from the counter: it may hold node changes.
    pub(crate) fn unknown(last: u64) -> Self {
        Self { last, nodes: true }
    }

    /// The NOTIFY payload: the sequence number, then a marker when no change was a
    /// node's (a bare number, as older servers send, may hold node changes).
    pub(crate) fn to_payload(self) -> String {
        if self.nodes {
            self.last.to_string()
        } else {
            format!("{} {NO_NODES}", self.last)
        }
    }

    /// Reads [`Self::to_payload`]; `None` when it is not one.
    pub(crate) fn from_payload(payload: &str) -> Option<Self> {
        let (seq, marker) = match payload.split_once(' ') {
            Some((seq, marker)) => (seq, Some(marker)),
            None => (payload, None),
        };
        Some(Self {
            last: seq.parse().ok()?,
            nodes: marker != Some(NO_NODES),
        })
    }
}

const NO_NODES: &str = "no-nodes";

/// How far the log is known to be committed: the last sequence number, which
/// subscribers watch, and the last one that may hold a node change. Shared by the
/// store and its change listener; both only ever grow.
#[derive(Clone)]
pub(crate) struct Published {
    changes: watch::Sender<u64>,
    node_changes: Arc<AtomicU64>,
}

impl Published {
    pub(crate) fn new() -> Self {
        Self {
            changes: watch::channel(0).0,
            node_changes: Arc::default(),
        }
    }

    /// Raises the positions to `appended` where it is ahead.
    pub(crate) fn raise(&self, appended: Appended) {
        // The node position first: whoever sees the new position has its node
        // changes counted too.
        if appended.nodes {
            self.node_changes.fetch_max(appended.last, Ordering::AcqRel);
        }
        self.changes.send_if_modified(|current| {
            if appended.last > *current {
                *current = appended.last;
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn last_node_change(&self) -> u64 {
        self.node_changes.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_say_whether_a_commit_changed_nodes() {
        for nodes in [true, false] {
            let appended = Appended { last: 42, nodes };
            assert_eq!(
                Appended::from_payload(&appended.to_payload()),
                Some(appended)
            );
        }
        assert_eq!(Appended::from_payload("7"), Some(Appended::unknown(7)));
        assert_eq!(
            Appended::from_payload("7 something-else"),
            Some(Appended::unknown(7))
        );
        assert_eq!(Appended::from_payload("seven"), None);
        assert_eq!(Appended::from_payload(""), None);
    }

    #[test]
    fn only_node_changes_move_the_node_position() {
        let published = Published::new();
        let changes = published.subscribe();

        published.raise(Appended {
            last: 3,
            nodes: true,
        });
        published.raise(Appended {
            last: 9,
            nodes: false,
        });
        assert_eq!(*changes.borrow(), 9);
        assert_eq!(published.last_node_change(), 3);

        published.raise(Appended::unknown(5));
        assert_eq!(*changes.borrow(), 9, "positions never go back");
        assert_eq!(published.last_node_change(), 5);
    }
}
