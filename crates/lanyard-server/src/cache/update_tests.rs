//! What a cache update says about the records it touched.

use lanyard_store::model::{EntryId, EntryMask, EntrySpec, NewEntry};

use super::EntryCache;
use super::tests::{SERVER, id, selectors, sqlite_store};

#[tokio::test]
async fn updates_name_the_parents_entries_had_and_have() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_store(&dir).await;
    let cache = EntryCache::load(&store, id(SERVER))
        .await
        .expect("cache loads");
    let mut updates = cache.subscribe_updates();
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
