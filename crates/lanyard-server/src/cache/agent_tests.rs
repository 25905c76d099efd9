//! The agent path's use of the cache: single-entry authorization and when a
//! cached node may stand in for the datastore's.

use std::collections::{BTreeSet, HashSet};

use lanyard_spiffe::{SelectorSet, SpiffeId};
use lanyard_store::model::{EntryId, EntrySpec, NewEntry, NodeUpdate};

use super::tests::{Lcg, SERVER, entry, id, node, selectors, sqlite_store};
use super::{EntryCache, EntryIndex};

const AGENT: &str = "spiffe://example.org/spire/agent/t/0";

/// A random forest of entries over a few IDs: aliases, agent children, nested
/// entries, shared SPIFFE IDs and parent cycles.
fn random_index(seed: u64) -> EntryIndex {
    let mut rng = Lcg(seed);
    let mut entries = Vec::new();
    for n in 0..60_u64 {
        let path = format!("spiffe://example.org/w{}", rng.below(12));
        let parent = match rng.below(4) {
            0 => SERVER.to_owned(),
            1 | 2 => format!("spiffe://example.org/w{}", rng.below(12)),
            _ => format!("spiffe://example.org/spire/agent/t/{}", rng.below(3)),
        };
        let node_selector = format!("node:k:{}", rng.below(3));
        entries.push(entry(&format!("e{n}"), &path, &parent, &[&node_selector]));
    }
    EntryIndex::from_records(id(SERVER), entries, [])
}

/// Runs `check` for every random forest, agent and node selector set, with a label
/// for failure messages.
fn for_each_case(mut check: impl FnMut(&EntryIndex, &SpiffeId, &SelectorSet, &str)) {
    let node_selector_sets = [vec![], vec!["node:k:0"], vec!["node:k:1", "node:k:2"]];
    for seed in 1..=20 {
        let index = random_index(seed);
        for agent in 0..3 {
            let agent_id = id(&format!("spiffe://example.org/spire/agent/t/{agent}"));
            for sels in &node_selector_sets {
                let label = format!("seed {seed} agent {agent} selectors {sels:?}");
                check(&index, &agent_id, &selectors(sels), &label);
            }
        }
    }
}

/// The IDs of the 60 entries of a random forest.
fn forest_entry_ids() -> impl Iterator<Item = EntryId> {
    (0..60).map(|n| EntryId::parse(&format!("e{n}")).expect("valid"))
}

#[test]
fn single_entry_authorization_agrees_with_the_authorized_set() {
    let mut checked = 0;
    for_each_case(|index, agent_id, sels, label| {
        let set: BTreeSet<String> = index
            .authorized_entries(agent_id, sels)
            .iter()
            .map(|e| e.id.as_str().to_owned())
            .collect();
        for entry_id in forest_entry_ids() {
            let single = index.authorized_entry(agent_id, sels, &entry_id);
            assert_eq!(
                single.is_some(),
                set.contains(entry_id.as_str()),
                "{label} entry {entry_id}"
            );
            checked += usize::from(single.is_some());
        }
        let missing = EntryId::parse("missing").expect("valid");
        assert!(index.authorized_entry(agent_id, sels, &missing).is_none());
    });
    assert!(
        checked > 100,
        "the random forests authorize too little: {checked}"
    );
}

#[test]
fn every_authorized_entry_hangs_below_a_root_of_its_agent() {
    // What the push-stream dispatcher relies on: walking up from the parent of a
    // changed entry reaches a root of every agent the entry is authorized for.
    let (mut reached, mut spared) = (0, 0);
    for_each_case(|index, agent_id, sels, label| {
        let mut roots: HashSet<SpiffeId> = index
            .node_aliases(sels)
            .iter()
            .map(|alias| alias.spec.spiffe_id.clone())
            .collect();
        roots.insert(agent_id.clone());
        let authorized = index.authorized_entries(agent_id, sels);
        for entry_id in forest_entry_ids() {
            let entry = index.entry(&entry_id).expect("in the forest");
            let above = index.ancestors([&entry.spec.parent_id]);
            let hits = above.iter().any(|id| roots.contains(id));
            if authorized.iter().any(|e| e.id == entry_id) {
                assert!(hits, "{label} entry {entry_id}");
                reached += 1;
            } else if !hits {
                spared += 1;
            }
        }
    });
    assert!(reached > 100, "too few authorized entries: {reached}");
    assert!(
        spared > 100,
        "the walk reaches nearly every agent: {spared}"
    );
}

#[tokio::test]
async fn a_cached_node_is_used_only_when_the_cache_has_every_node_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_store(&dir).await;
    store
        .create_node(&node(AGENT, &["node:k:0"]))
        .await
        .expect("node created");
    let cache = EntryCache::load(&store, id(SERVER))
        .await
        .expect("cache loads");
    let cached = cache.current_node(&store, &id(AGENT)).expect("cached");
    assert!(!cached.banned);

    // An entry the cache has not applied does not hide it: entries are not nodes.
    store
        .create_entry(NewEntry {
            id: None,
            spec: EntrySpec::new(id("spiffe://example.org/w"), id(AGENT), selectors(&["u:1"])),
        })
        .await
        .expect("entry created");
    assert!(cache.applied_seq() < *store.subscribe().borrow());
    assert!(cache.current_node(&store, &id(AGENT)).is_some());

    // A commit the cache has not applied hides the cached record...
    store.ban_node(&id(AGENT)).await.expect("banned");
    assert!(cache.current_node(&store, &id(AGENT)).is_none());
    let read = cache
        .agent_node(&store, &id(AGENT), |n| !n.banned)
        .await
        .expect("read")
        .expect("present");
    assert!(read.banned, "the datastore's record is served instead");

    // ...until the cache has caught up.
    cache.catch_up(&store).await.expect("caught up");
    assert!(
        cache
            .current_node(&store, &id(AGENT))
            .expect("cached")
            .banned
    );

    // An eviction likewise; then a renewed serial is cached like any change.
    store.delete_node(&id(AGENT)).await.expect("evicted");
    assert!(cache.read().node(&id(AGENT)).is_some(), "not yet applied");
    assert!(cache.current_node(&store, &id(AGENT)).is_none());
    cache.catch_up(&store).await.expect("caught up");
    assert!(cache.current_node(&store, &id(AGENT)).is_none());
    store
        .create_node(&node(AGENT, &[]))
        .await
        .expect("node created again");
    let update = NodeUpdate {
        new_cert_serial: Some(Some("2".to_owned())),
        ..NodeUpdate::default()
    };
    store
        .update_node(&id(AGENT), &update)
        .await
        .expect("renewed");
    cache.catch_up(&store).await.expect("caught up");
    let renewed = cache.current_node(&store, &id(AGENT)).expect("cached");
    assert_eq!(renewed.new_cert_serial.as_deref(), Some("2"));
}
