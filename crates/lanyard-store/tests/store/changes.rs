//! The change log: what is logged, gapless in-order following under concurrent
//! writers, cross-process wake-ups, pruning.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lanyard_store::model::{BundleRecord, EntryMask, NewEntry};
use lanyard_store::{ChangeKind, ChangesSince, Store};
use time::OffsetDateTime;

use crate::common::{TestDb, conformance, id, new_entry, node, selectors, spec, td};

conformance!(
    writes_that_agents_see_are_logged,
    pruned_log_asks_for_reload
);

/// A stalled follower is a failure, not a hang.
const STALL_LIMIT: Duration = Duration::from_secs(120);

async fn logged_since(store: &Store, last: &mut u64) -> Vec<(ChangeKind, String)> {
    let ChangesSince::Changes(changes) = store.changes_since(*last, 0).await.unwrap() else {
        panic!("reload required at {last}");
    };
    for change in &changes {
        assert_eq!(change.seq, *last + 1);
        *last = change.seq;
    }
    changes.into_iter().map(|c| (c.kind, c.key)).collect()
}

async fn writes_that_agents_see_are_logged(store: Arc<Store>) {
    let mut last = store.last_change_seq().await.unwrap();
    let entry = store
        .create_entry(new_entry(spec("/w", "/p", &["k:v"])))
        .await
        .unwrap();
    let key = entry.id.to_string();
    assert_eq!(
        logged_since(&store, &mut last).await,
        [(ChangeKind::Entry, key.clone())]
    );

    let mask = EntryMask {
        hint: true,
        ..EntryMask::default()
    };
    store
        .update_entry(&entry.id, &entry.spec, &mask)
        .await
        .unwrap();
    assert_eq!(
        logged_since(&store, &mut last).await,
        [(ChangeKind::Entry, key.clone())]
    );

    let node = node("/spire/agent/join_token/n", &["node:type:compute"]);
    let node_key = node.spiffe_id.to_string();
    store.create_node(&node).await.unwrap();
    assert_eq!(
        logged_since(&store, &mut last).await,
        [(ChangeKind::Node, node_key.clone())]
    );
    store
        .set_node_selectors(&node.spiffe_id, &selectors(&["node:type:mgmt"]))
        .await
        .unwrap();
    store.ban_node(&node.spiffe_id).await.unwrap();
    store.delete_node(&node.spiffe_id).await.unwrap();
    assert_eq!(
        logged_since(&store, &mut last).await,
        [
            (ChangeKind::Node, node_key.clone()),
            (ChangeKind::Node, node_key.clone()),
            (ChangeKind::Node, node_key),
        ]
    );

    store
        .set_bundle(&BundleRecord::new(td("example.org")))
        .await
        .unwrap();
    assert_eq!(
        logged_since(&store, &mut last).await,
        [(ChangeKind::Bundle, "example.org".to_owned())]
    );

    // Writes agents cannot see, and writes that change nothing, are not logged.
    store
        .set_bundle(&BundleRecord::new(td("example.org")))
        .await
        .unwrap();
    store
        .create_join_token("t", OffsetDateTime::now_utc(), &selectors(&[]))
        .await
        .unwrap();
    store.save_ca_journal("s", b"j").await.unwrap();
    assert_eq!(logged_since(&store, &mut last).await, []);

    // A failed batch item leaves no trace in the log.
    let batch = [
        new_entry(spec("/w", "/p", &["k:v"])),
        NewEntry {
            id: None,
            spec: spec("/other", "/p", &["k:v"]),
        },
    ];
    let results = store.create_entries(&batch).await.unwrap();
    assert!(results[0].is_err());
    let created = results[1].as_ref().unwrap().id.to_string();
    assert_eq!(
        logged_since(&store, &mut last).await,
        [(ChangeKind::Entry, created)]
    );

    store.delete_entry(&entry.id).await.unwrap();
    assert_eq!(
        logged_since(&store, &mut last).await,
        [(ChangeKind::Entry, key)]
    );
    assert_eq!(*store.subscribe().borrow(), last);
}

async fn pruned_log_asks_for_reload(store: Arc<Store>) {
    for i in 0..3 {
        store
            .create_entry(new_entry(spec(&format!("/e{i}"), "/p", &["k:v"])))
            .await
            .unwrap();
    }
    let last = store.last_change_seq().await.unwrap();
    assert_eq!(last, 3);

    let later = OffsetDateTime::now_utc() + time::Duration::days(1);
    assert_eq!(store.prune_changes(later).await.unwrap(), 3);
    assert_eq!(
        store.changes_since(0, 0).await.unwrap(),
        ChangesSince::ReloadRequired
    );
    assert_eq!(
        store.changes_since(2, 0).await.unwrap(),
        ChangesSince::ReloadRequired
    );
    assert_eq!(
        store.changes_since(last, 0).await.unwrap(),
        ChangesSince::Changes(vec![])
    );
    assert_eq!(
        store.changes_since(last + 5, 0).await.unwrap(),
        ChangesSince::ReloadRequired
    );

    let snapshot = store.snapshot().await.unwrap();
    assert_eq!(snapshot.seq, last);
    assert_eq!(snapshot.entries.len(), 3);

    // Sequence numbers continue after pruning.
    store
        .create_entry(new_entry(spec("/e3", "/p", &["k:v"])))
        .await
        .unwrap();
    let ChangesSince::Changes(next) = store.changes_since(last, 0).await.unwrap() else {
        panic!("reload required");
    };
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].seq, last + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_follower_sees_every_change_in_order() {
    let db = TestDb::sqlite().await;
    follow_concurrent_writers(db.store.clone(), db.store.clone()).await;
    db.finish().await;
}

/// The follower uses a second store on the same database, as another server
/// process would, so only LISTEN/NOTIFY wakes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_follower_sees_every_change_in_order() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let follower = db.open_again().await;
    follow_concurrent_writers(db.store.clone(), follower.clone()).await;
    follower.close().await;
    db.finish().await;
}

#[tokio::test]
async fn sqlite_node_change_position_skips_entry_commits() {
    let db = TestDb::sqlite().await;
    node_change_position_skips_entry_commits(db.store.clone(), db.store.clone()).await;
    db.finish().await;
}

/// The follower is another process's view: it learns kinds only from NOTIFY.
#[tokio::test]
async fn postgres_node_change_position_skips_entry_commits() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let follower = db.open_again().await;
    node_change_position_skips_entry_commits(db.store.clone(), follower.clone()).await;
    follower.close().await;
    db.finish().await;
}

/// A node commit moves the node-change position; an entry commit moves only the
/// committed position.
async fn node_change_position_skips_entry_commits(writer: Arc<Store>, follower: Arc<Store>) {
    let reached = |seq: u64| {
        let mut published = follower.subscribe();
        async move {
            tokio::time::timeout(STALL_LIMIT, published.wait_for(|p| *p >= seq))
                .await
                .expect("the follower hears of the commit")
                .expect("store open");
        }
    };

    let mut node = node("/spire/agent/join_token/position", &[]);
    writer.create_node(&node).await.unwrap();
    let node_seq = writer.last_change_seq().await.unwrap();
    reached(node_seq).await;
    assert_eq!(follower.last_node_change_seq(), node_seq);

    writer
        .create_entry(new_entry(spec("/position", "/p", &["k:v"])))
        .await
        .unwrap();
    let entry_seq = writer.last_change_seq().await.unwrap();
    reached(entry_seq).await;
    assert!(entry_seq > node_seq);
    assert_eq!(follower.last_node_change_seq(), node_seq);

    node.spiffe_id = id("/spire/agent/join_token/position2");
    writer.create_node(&node).await.unwrap();
    let second = writer.last_change_seq().await.unwrap();
    reached(second).await;
    assert_eq!(follower.last_node_change_seq(), second);
}

/// Many writers commit concurrently while a follower reads the log in small
/// batches as fast as it can: it must see every sequence number, consecutively,
/// and every write.
async fn follow_concurrent_writers(writer: Arc<Store>, follower: Arc<Store>) {
    const WRITERS: usize = 8;
    const PER_WRITER: usize = 30;
    const EXPECTED: usize = WRITERS * PER_WRITER * 2;
    let start = follower.last_change_seq().await.unwrap();

    let follow = tokio::spawn(async move {
        let mut wake = follower.subscribe();
        let mut last = start;
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut total = 0;
        while total < EXPECTED {
            match follower.changes_since(last, 5).await.unwrap() {
                ChangesSince::Changes(batch) if batch.is_empty() => {
                    wake.wait_for(|published| *published > last).await.unwrap();
                }
                ChangesSince::Changes(batch) => {
                    for change in batch {
                        assert_eq!(change.seq, last + 1, "the follower skipped or reordered");
                        last = change.seq;
                        *seen.entry(change.key).or_default() += 1;
                        total += 1;
                    }
                }
                ChangesSince::ReloadRequired => panic!("reload required at {last}"),
            }
        }
        seen
    });

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = writer.clone();
            tokio::spawn(async move {
                let mask = EntryMask {
                    hint: true,
                    ..EntryMask::default()
                };
                let mut ids = Vec::new();
                for i in 0..PER_WRITER {
                    let mut s = spec(&format!("/w{w}/{i}"), "/p", &["k:v"]);
                    let entry = store.create_entry(new_entry(s.clone())).await.unwrap();
                    s.hint = format!("rev {i}");
                    store.update_entry(&entry.id, &s, &mask).await.unwrap();
                    ids.push(entry.id.to_string());
                }
                ids
            })
        })
        .collect();
    let mut written = Vec::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }

    let seen = tokio::time::timeout(STALL_LIMIT, follow)
        .await
        .expect("the follower stalled")
        .unwrap();
    assert_eq!(seen.len(), written.len());
    for id in &written {
        assert_eq!(seen.get(id), Some(&2), "entry {id}");
    }
    assert_eq!(
        writer.last_change_seq().await.unwrap(),
        start + EXPECTED as u64
    );
}
