//! What a cache update says about the records it touched.

use std::sync::Arc;

use lanyard_store::Store;
use lanyard_store::model::{EntryId, EntryMask, EntrySpec, NewEntry};
use tokio::sync::broadcast;

use super::tests::{SERVER, id, ids, node, selectors, sqlite_store};
use super::{CacheUpdate, EntryCache};

#[tokio::test]
async fn updates_name_the_changed_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, cache, mut updates) = followed(&dir).await;

    let created = store
        .create_entry(NewEntry {
            id: Some(EntryId::parse("fixed-id").expect("valid")),
            spec: EntrySpec::new(
                id("spiffe://example.org/w"),
                id(SERVER),
                selectors(&["n:a"]),
            ),
        })
        .await
        .expect("create");
    store
        .create_node(&node("spiffe://example.org/spire/agent/t/1", &["n:a"]))
        .await
        .expect("node");
    cache.catch_up(&store).await.expect("catch up");

    let update = updates.try_recv().expect("one update");
    assert_eq!(update.entries, [created.id]);
    assert_eq!(update.nodes, [id("spiffe://example.org/spire/agent/t/1")]);
    assert!(!update.reloaded);
    assert_eq!(
        ids(&cache.authorized_entries_for_agent(&id("spiffe://example.org/spire/agent/t/1"))),
        Vec::<&str>::new(),
        "the alias itself is not one of its descendants"
    );
}

#[tokio::test]
async fn updates_name_the_parents_entries_had_and_have() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, cache, mut updates) = followed(&dir).await;
    let first = id("spiffe://example.org/spire/agent/t/1");
    let second = id("spiffe://example.org/spire/agent/t/2");

    let created = store
        .create_entry(NewEntry {
            id: Some(EntryId::parse("moving").expect("valid")),
            spec: EntrySpec::new(
                id("spiffe://example.org/w"),
                first.clone(),
                selectors(&["u:1"]),
            ),
        })
        .await
        .expect("create");
    cache.catch_up(&store).await.expect("catch up");
    let update = updates.try_recv().expect("created");
    assert_eq!(update.parents, std::slice::from_ref(&first));

    let mut spec = created.spec.clone();
    spec.parent_id = second.clone();
    store
        .update_entry(&created.id, &spec, &EntryMask::ALL)
        .await
        .expect("moved");
    cache.catch_up(&store).await.expect("catch up");
    let update = updates.try_recv().expect("moved");
    assert_eq!(
        update.parents,
        [first, second.clone()],
        "old and new parent"
    );

    store.delete_entry(&created.id).await.expect("deleted");
    cache.catch_up(&store).await.expect("catch up");
    let update = updates.try_recv().expect("deleted");
    assert_eq!(update.entries, [created.id]);
    assert_eq!(update.parents, [second], "a deleted entry's parent");
    assert!(updates.try_recv().is_err());
}

/// An empty store, its cache, and a subscription to the cache's updates.
async fn followed(
    dir: &tempfile::TempDir,
) -> (Store, EntryCache, broadcast::Receiver<Arc<CacheUpdate>>) {
    let store = sqlite_store(dir).await;
    let cache = EntryCache::load(&store, id(SERVER))
        .await
        .expect("cache loads");
    let updates = cache.subscribe_updates();
    (store, cache, updates)
}
