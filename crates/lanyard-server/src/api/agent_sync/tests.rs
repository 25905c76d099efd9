use std::sync::Arc;

use lanyard_spiffe::{Selector, SelectorSet, SpiffeId, TrustDomain};
use lanyard_store::Snapshot;
use lanyard_store::model::{
    AttestedNode, BundleRecord, EntryId, EntrySpec, JwtAuthority, RegistrationEntry,
};
use time::OffsetDateTime;

use super::Resumable;
use super::touched::Touched;
use super::view::View;
use crate::cache::{CacheUpdate, EntryCache};

const SERVER: &str = "spiffe://example.org/spire/server";
const AGENT: &str = "spiffe://example.org/spire/agent/join_token/a";
const OTHER_AGENT: &str = "spiffe://example.org/spire/agent/join_token/b";

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).expect("valid id")
}

fn td(name: &str) -> TrustDomain {
    TrustDomain::new(name).expect("valid trust domain")
}

fn selectors(list: &[&str]) -> SelectorSet {
    list.iter()
        .map(|s| Selector::parse(s).expect("valid selector"))
        .collect()
}

fn entry(entry_id: &str, spiffe_id: &str, parent_id: &str, sels: &[&str]) -> RegistrationEntry {
    RegistrationEntry {
        id: EntryId::parse(entry_id).expect("valid entry id"),
        revision_number: 0,
        created_at: OffsetDateTime::UNIX_EPOCH,
        spec: EntrySpec::new(id(spiffe_id), id(parent_id), selectors(sels)),
    }
}

fn federating(mut e: RegistrationEntry, with: &str) -> RegistrationEntry {
    e.spec.federates_with.insert(td(with));
    e
}

fn node(agent_id: &str, sels: &[&str]) -> AttestedNode {
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

fn bundle(name: &str, key_id: &str) -> BundleRecord {
    let mut record = BundleRecord::new(td(name));
    record.jwt_authorities.push(JwtAuthority {
        key_id: key_id.to_owned(),
        public_key_der: vec![1, 2, 3],
        expires_at: None,
        tainted: false,
    });
    record.sequence_number = 1;
    record
}

fn cache(seq: u64, entries: Vec<RegistrationEntry>, bundles: Vec<BundleRecord>) -> EntryCache {
    EntryCache::from_snapshot(
        id(SERVER),
        Snapshot {
            seq,
            entries,
            nodes: vec![node(AGENT, &["node:type:compute"])],
            bundles,
        },
    )
}

fn view_of(cache: &EntryCache) -> View {
    View::compute(
        cache,
        &id(AGENT),
        &selectors(&["node:type:compute"]),
        &td("example.org"),
    )
}

fn base_entries() -> Vec<RegistrationEntry> {
    vec![
        entry(
            "alias",
            "spiffe://example.org/compute",
            SERVER,
            &["node:type:compute"],
        ),
        entry(
            "direct",
            "spiffe://example.org/w/direct",
            AGENT,
            &["unix:uid:1"],
        ),
        federating(
            entry(
                "via-alias",
                "spiffe://example.org/w/alias",
                "spiffe://example.org/compute",
                &["unix:uid:2"],
            ),
            "peer.org",
        ),
        entry(
            "elsewhere",
            "spiffe://example.org/w/other",
            OTHER_AGENT,
            &["unix:uid:3"],
        ),
    ]
}

fn names(ids: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
    let mut names: Vec<String> = ids.into_iter().map(|s| s.as_ref().to_owned()).collect();
    names.sort();
    names
}

fn touching(seq: u64, entries: &[&str]) -> CacheUpdate {
    CacheUpdate {
        seq,
        entries: entries
            .iter()
            .map(|e| EntryId::parse(e).expect("entry id"))
            .collect(),
        ..CacheUpdate::default()
    }
}

#[test]
fn the_first_batch_lists_the_authorized_set_and_the_bundles_it_needs() {
    let cache = cache(
        5,
        base_entries(),
        vec![
            bundle("example.org", "own"),
            bundle("peer.org", "peer"),
            bundle("unused.org", "x"),
        ],
    );
    let view = view_of(&cache);
    assert_eq!(view.seq, 5);

    let delta = view.delta_from(None);
    assert!(delta.full);
    assert_eq!(
        names(delta.upserted.iter().map(|e| e.id.as_str())),
        ["direct", "via-alias"]
    );
    assert_eq!(
        delta.bundle.as_ref().map(|b| b.trust_domain.clone()),
        Some(td("example.org"))
    );
    assert_eq!(
        names(delta.federated.iter().map(|b| b.trust_domain.as_str())),
        ["peer.org"]
    );
    assert!(!delta.is_empty());
}

#[test]
fn a_delta_names_only_what_changed() {
    let bundles = vec![bundle("example.org", "own"), bundle("peer.org", "peer")];
    let before = view_of(&cache(5, base_entries(), bundles.clone()));

    // Same content in a fresh cache: nothing to send.
    let again = view_of(&cache(6, base_entries(), bundles));
    assert!(again.delta_from(Some(&before)).is_empty());

    // An entry added under the agent, one changed, one removed, the own bundle rotated
    // and the federated bundle no longer needed.
    let mut entries = base_entries();
    entries.retain(|e| e.id.as_str() != "via-alias");
    entries[1].revision_number = 1;
    entries[1].spec.hint = "changed".to_owned();
    entries.push(entry(
        "added",
        "spiffe://example.org/w/added",
        AGENT,
        &["unix:uid:4"],
    ));
    let after = view_of(&cache(
        9,
        entries,
        vec![bundle("example.org", "rotated"), bundle("peer.org", "peer")],
    ));

    let delta = after.delta_from(Some(&before));
    assert!(!delta.full);
    assert_eq!(
        names(delta.upserted.iter().map(|e| e.id.as_str())),
        ["added", "direct"]
    );
    assert_eq!(
        names(delta.removed.iter().map(EntryId::as_str)),
        ["via-alias"]
    );
    assert!(delta.bundle.is_some(), "the rotated bundle is sent");
    assert!(delta.federated.is_empty());
    assert_eq!(
        names(delta.removed_federated.iter().map(TrustDomain::as_str)),
        ["peer.org"]
    );
}

#[test]
fn only_updates_that_can_reach_the_agent_wake_its_stream() {
    let mut entries = base_entries();
    entries.push(entry(
        "added",
        "spiffe://example.org/w/added",
        AGENT,
        &["unix:uid:4"],
    ));
    entries.push(entry(
        "grandchild",
        "spiffe://example.org/w/deeper",
        "spiffe://example.org/w/direct",
        &["unix:uid:5"],
    ));
    entries.push(entry(
        "new-alias",
        "spiffe://example.org/any",
        SERVER,
        &["node:type:x"],
    ));
    entries.push(entry(
        "other-2",
        "spiffe://example.org/w/o2",
        OTHER_AGENT,
        &["unix:uid:6"],
    ));
    let held = view_of(&cache(
        5,
        base_entries(),
        vec![bundle("example.org", "own")],
    ));
    let now = cache(9, entries, vec![bundle("example.org", "own")]);
    let agent = id(AGENT);
    let own = td("example.org");
    let wakes =
        |update: &CacheUpdate| held.may_change(update, &Touched::of(update, &now), &agent, &own);

    assert!(wakes(&touching(9, &["added"])), "new child of the agent");
    assert!(
        wakes(&touching(9, &["grandchild"])),
        "child of an authorized entry"
    );
    assert!(wakes(&touching(9, &["direct"])), "an authorized entry");
    assert!(wakes(&touching(9, &["new-alias"])), "a node alias");
    assert!(wakes(&touching(9, &["alias"])), "the agent's node alias");
    assert!(wakes(&touching(9, &["gone-now", "added"])));
    assert!(!wakes(&touching(9, &["other-2"])), "another agent's entry");
    assert!(!wakes(&touching(9, &["elsewhere"])));
    assert!(!wakes(&touching(9, &["never-existed"])));

    let bundles = |names: &[&str]| CacheUpdate {
        seq: 9,
        bundles: names.iter().map(|n| td(n)).collect(),
        ..CacheUpdate::default()
    };
    assert!(wakes(&bundles(&["example.org"])), "own bundle");
    assert!(
        wakes(&bundles(&["peer.org"])),
        "a federated bundle it needs"
    );
    assert!(!wakes(&bundles(&["unused.org"])));

    let node_update = |who: &str| CacheUpdate {
        seq: 9,
        nodes: vec![id(who)],
        ..CacheUpdate::default()
    };
    assert!(wakes(&node_update(AGENT)));
    assert!(!wakes(&node_update(OTHER_AGENT)));
    assert!(wakes(&CacheUpdate {
        reloaded: true,
        ..CacheUpdate::default()
    }));
}

#[test]
fn a_reconnect_resumes_only_from_the_last_batch_sent() {
    let resumable = Resumable::default();
    let agent = id(AGENT);
    let view = Arc::new(view_of(&cache(
        7,
        base_entries(),
        vec![bundle("example.org", "own")],
    )));
    resumable.remember(&agent, view);
    for seq in 8..12 {
        let newer = view_of(&cache(
            seq,
            base_entries(),
            vec![bundle("example.org", "own")],
        ));
        resumable.remember(&agent, Arc::new(newer));
    }

    assert_eq!(resumable.resume(&agent, 11).map(|v| v.seq), Some(11));
    assert_eq!(resumable.resume(&agent, 8).map(|v| v.seq), Some(8));
    assert!(resumable.resume(&agent, 7).is_none(), "too old to remember");
    assert!(resumable.resume(&agent, 6).is_none(), "never sent");
    assert!(resumable.resume(&agent, 0).is_none(), "holds nothing");
    assert!(resumable.resume(&id(OTHER_AGENT), 7).is_none());

    resumable.forget(&agent);
    assert!(resumable.resume(&agent, 11).is_none());
}
