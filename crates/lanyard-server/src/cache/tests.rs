use std::sync::Arc;

use lanyard_spiffe::{Selector, SelectorSet, SpiffeId};
use lanyard_store::model::{
    AttestedNode, EntryId, EntryMask, EntrySpec, NewEntry, RegistrationEntry,
};
use lanyard_store::{Store, StoreConfig};
use time::OffsetDateTime;

use super::{EntryCache, EntryIndex};

pub(super) const SERVER: &str = "spiffe://example.org/spire/server";

pub(super) fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).expect("valid id")
}

pub(super) fn selectors(list: &[&str]) -> SelectorSet {
    list.iter()
        .map(|s| Selector::parse(s).expect("valid selector"))
        .collect()
}

pub(super) fn entry(
    entry_id: &str,
    spiffe_id: &str,
    parent_id: &str,
    sels: &[&str],
) -> RegistrationEntry {
    RegistrationEntry {
        id: EntryId::parse(entry_id).expect("valid entry id"),
        revision_number: 0,
        created_at: OffsetDateTime::UNIX_EPOCH,
        spec: EntrySpec::new(id(spiffe_id), id(parent_id), selectors(sels)),
    }
}

pub(super) fn node(agent_id: &str, sels: &[&str]) -> AttestedNode {
    AttestedNode {
        spiffe_id: id(agent_id),
        attestation_type: "join_token".to_owned(),
        cert_serial: "1".to_owned(),
        cert_not_after: OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000),
        new_cert_serial: None,
        new_cert_not_after: None,
        can_reattest: false,
        banned: false,
        selectors: selectors(sels),
        agent_version: String::new(),
        last_seen: None,
    }
}

pub(super) fn ids(found: &[Arc<RegistrationEntry>]) -> Vec<&str> {
    found.iter().map(|e| e.id.as_str()).collect()
}

#[test]
fn node_belongs_to_aliases_whose_selectors_are_all_present() {
    let index = EntryIndex::from_records(
        id(SERVER),
        [
            entry(
                "a-compute",
                "spiffe://example.org/compute",
                SERVER,
                &["node:type:compute"],
            ),
            entry(
                "b-cabinet",
                "spiffe://example.org/x1000",
                SERVER,
                &["node:type:compute", "node:cabinet:x1000"],
            ),
            entry(
                "c-mgmt",
                "spiffe://example.org/mgmt",
                SERVER,
                &["node:type:mgmt"],
            ),
            // Same selectors, but not parented to the server: not an alias.
            entry(
                "d-other",
                "spiffe://example.org/d",
                "spiffe://example.org/x",
                &["node:type:compute"],
            ),
        ],
        [],
    );

    let node_selectors = selectors(&["node:type:compute", "node:cabinet:x1000", "unix:uid:0"]);
    assert_eq!(
        ids(&index.node_aliases(&node_selectors)),
        ["a-compute", "b-cabinet"]
    );
    assert_eq!(
        ids(&index.node_aliases(&selectors(&["node:cabinet:x1000"]))),
        Vec::<&str>::new()
    );
    assert_eq!(
        ids(&index.node_aliases(&SelectorSet::new())),
        Vec::<&str>::new()
    );
}

#[test]
fn authorized_entries_are_descendants_of_agent_and_aliases() {
    let agent = "spiffe://example.org/spire/agent/join_token/n1";
    let other_agent = "spiffe://example.org/spire/agent/join_token/n2";
    let index = EntryIndex::from_records(
        id(SERVER),
        [
            entry(
                "alias",
                "spiffe://example.org/compute",
                SERVER,
                &["node:type:compute"],
            ),
            entry(
                "mgmt",
                "spiffe://example.org/mgmt",
                SERVER,
                &["node:type:mgmt"],
            ),
            entry(
                "w-alias",
                "spiffe://example.org/job",
                "spiffe://example.org/compute",
                &["u:1"],
            ),
            entry("w-agent", "spiffe://example.org/heartbeat", agent, &["u:2"]),
            entry(
                "w-nested",
                "spiffe://example.org/inner",
                "spiffe://example.org/job",
                &["u:3"],
            ),
            entry(
                "w-deeper",
                "spiffe://example.org/deeper",
                "spiffe://example.org/inner",
                &["u:4"],
            ),
            entry(
                "w-mgmt",
                "spiffe://example.org/mgmt-job",
                "spiffe://example.org/mgmt",
                &["u:5"],
            ),
            entry(
                "w-other",
                "spiffe://example.org/other",
                other_agent,
                &["u:6"],
            ),
        ],
        [node(agent, &["node:type:compute"])],
    );

    let expected = ["w-agent", "w-alias", "w-deeper", "w-nested"];
    assert_eq!(
        ids(&index.authorized_entries(&id(agent), &selectors(&["node:type:compute"]))),
        expected
    );
    assert_eq!(
        ids(&index.authorized_entries_for_agent(&id(agent))),
        expected
    );
    assert_eq!(
        ids(&index.authorized_entries_for_agent(&id(other_agent))),
        ["w-other"]
    );
}

#[test]
fn parent_cycles_end_the_walk() {
    let agent = "spiffe://example.org/spire/agent/join_token/n1";
    let index = EntryIndex::from_records(
        id(SERVER),
        [
            entry("e0", "spiffe://example.org/x", agent, &["u:0"]),
            entry(
                "e1",
                "spiffe://example.org/y",
                "spiffe://example.org/x",
                &["u:1"],
            ),
            entry(
                "e2",
                "spiffe://example.org/x",
                "spiffe://example.org/y",
                &["u:2"],
            ),
            entry(
                "self",
                "spiffe://example.org/z",
                "spiffe://example.org/z",
                &["u:3"],
            ),
            entry(
                "to-self",
                "spiffe://example.org/z",
                "spiffe://example.org/y",
                &["u:4"],
            ),
        ],
        [],
    );

    assert_eq!(
        ids(&index.authorized_entries(&id(agent), &SelectorSet::new())),
        ["e0", "e1", "e2", "self", "to-self"]
    );
    assert!(
        index
            .descendants([&id("spiffe://example.org/nobody")])
            .is_empty()
    );
}

#[test]
fn removing_an_entry_drops_every_index_posting() {
    let mut index = EntryIndex::new(id(SERVER));
    let empty = index.clone();
    index.upsert_entry(entry(
        "a",
        "spiffe://example.org/a",
        SERVER,
        &["node:x:1", "node:y:2"],
    ));
    index.upsert_node(node("spiffe://example.org/spire/agent/x/1", &["node:x:1"]));
    assert_eq!(
        index
            .with_selector(&Selector::parse("node:x:1").expect("valid"))
            .len(),
        1
    );

    assert!(index.remove_entry(&EntryId::parse("a").expect("valid")));
    assert!(index.remove_node(&id("spiffe://example.org/spire/agent/x/1")));
    assert!(!index.remove_entry(&EntryId::parse("a").expect("valid")));
    assert_eq!(index, empty);
}

pub(super) async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
    Store::open(&StoreConfig::sqlite_in(dir.path()))
        .await
        .expect("sqlite store opens")
}

async fn fresh_index(store: &Store) -> EntryIndex {
    let snapshot = store.snapshot().await.expect("snapshot");
    EntryIndex::from_records(id(SERVER), snapshot.entries, snapshot.nodes)
}

/// A small deterministic generator, so a failure can be replayed.
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn incremental_updates_equal_a_fresh_full_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_store(&dir).await;
    store
        .create_entry(NewEntry {
            id: None,
            spec: EntrySpec::new(
                id("spiffe://example.org/before"),
                id(SERVER),
                selectors(&["n:a"]),
            ),
        })
        .await
        .expect("entry before load");
    let cache = EntryCache::load(&store, id(SERVER))
        .await
        .expect("cache loads");

    let mut rng = Lcg(7);
    let mut live: Vec<EntryId> = Vec::new();
    for step in 0..120_u64 {
        let path = format!("spiffe://example.org/w{}", rng.below(10));
        let parent = match rng.below(3) {
            0 => SERVER.to_owned(),
            1 => format!("spiffe://example.org/w{}", rng.below(10)),
            _ => format!("spiffe://example.org/spire/agent/t/{}", rng.below(3)),
        };
        let sels = [format!("n:{}", rng.below(4)), format!("u:{step}")];
        let spec = EntrySpec::new(
            id(&path),
            id(&parent),
            sels.iter()
                .map(|s| Selector::parse(s).expect("valid"))
                .collect(),
        );
        let agent = format!("spiffe://example.org/spire/agent/t/{}", rng.below(3));

        match rng.below(6) {
            0 | 1 => {
                let created = store
                    .create_entry(NewEntry { id: None, spec })
                    .await
                    .expect("create");
                live.push(created.id);
            }
            2 if !live.is_empty() => {
                let target = live[rng.below(live.len() as u64) as usize].clone();
                store
                    .update_entry(&target, &spec, &EntryMask::ALL)
                    .await
                    .expect("update");
            }
            3 if !live.is_empty() => {
                let target = live.swap_remove(rng.below(live.len() as u64) as usize);
                store.delete_entry(&target).await.expect("delete");
            }
            4 => {
                let _ = store.delete_node(&id(&agent)).await;
                store
                    .create_node(&node(&agent, &[&format!("n:{}", rng.below(4))]))
                    .await
                    .expect("create node");
            }
            _ => {
                let _ = store
                    .set_node_selectors(&id(&agent), &selectors(&["n:1", "n:2"]))
                    .await;
            }
        }
        if rng.below(4) == 0 {
            cache.catch_up(&store).await.expect("catch up");
        }
    }
    cache.catch_up(&store).await.expect("catch up");

    assert_eq!(
        cache.applied_seq(),
        store.last_change_seq().await.expect("seq")
    );
    let fresh = fresh_index(&store).await;
    assert_eq!(*cache.read(), fresh);
}

#[tokio::test]
async fn a_pruned_log_forces_a_reload_that_matches_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_store(&dir).await;
    let cache = EntryCache::load(&store, id(SERVER))
        .await
        .expect("cache loads");
    let mut updates = cache.subscribe_updates();

    for n in 0..3 {
        store
            .create_entry(NewEntry {
                id: None,
                spec: EntrySpec::new(
                    id(&format!("spiffe://example.org/p{n}")),
                    id(SERVER),
                    selectors(&["n:a"]),
                ),
            })
            .await
            .expect("create");
    }
    store
        .prune_changes(OffsetDateTime::now_utc() + time::Duration::minutes(1))
        .await
        .expect("prune");

    cache.catch_up(&store).await.expect("catch up");
    let update = updates.try_recv().expect("one update");
    assert!(update.reloaded);
    assert_eq!(cache.read().entry_count(), 3);
    let fresh = fresh_index(&store).await;
    assert_eq!(*cache.read(), fresh);
}

#[test]
fn expired_entries_and_what_hangs_below_them_are_not_authorized() {
    let agent = "spiffe://example.org/spire/agent/join_token/n1";
    let expiring = |mut e: RegistrationEntry, seconds: i64| {
        e.spec.expires_at = Some(OffsetDateTime::now_utc() + time::Duration::seconds(seconds));
        e
    };
    let index = EntryIndex::from_records(
        id(SERVER),
        [
            expiring(
                entry(
                    "old-alias",
                    "spiffe://example.org/old",
                    SERVER,
                    &["node:type:compute"],
                ),
                -1,
            ),
            entry(
                "below-old",
                "spiffe://example.org/o1",
                "spiffe://example.org/old",
                &["u:1"],
            ),
            expiring(
                entry("expired", "spiffe://example.org/e", agent, &["u:2"]),
                -60,
            ),
            entry(
                "below-expired",
                "spiffe://example.org/e1",
                "spiffe://example.org/e",
                &["u:3"],
            ),
            expiring(
                entry("later", "spiffe://example.org/l", agent, &["u:4"]),
                3600,
            ),
            entry("plain", "spiffe://example.org/p", agent, &["u:5"]),
        ],
        [node(agent, &["node:type:compute"])],
    );
    let node_selectors = selectors(&["node:type:compute"]);

    assert_eq!(
        ids(&index.authorized_entries(&id(agent), &node_selectors)),
        ["later", "plain"]
    );
    assert!(index.node_aliases(&node_selectors).is_empty());
    for refused in ["old-alias", "below-old", "expired", "below-expired"] {
        let entry_id = EntryId::parse(refused).expect("valid entry id");
        assert!(
            index
                .authorized_entry(&id(agent), &node_selectors, &entry_id)
                .is_none(),
            "{refused}"
        );
    }
    let later = EntryId::parse("later").expect("valid entry id");
    assert!(
        index
            .authorized_entry(&id(agent), &node_selectors, &later)
            .is_some()
    );
}
