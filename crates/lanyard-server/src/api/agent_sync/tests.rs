use std::sync::Arc;

use futures::FutureExt as _;
use lanyard_spiffe::{Selector, SelectorSet, SpiffeId, TrustDomain};
use lanyard_store::Snapshot;
use lanyard_store::model::{
    AttestedNode, BundleRecord, EntryId, EntrySpec, JwtAuthority, RegistrationEntry,
};
use time::OffsetDateTime;

use super::Resumable;
use super::view::View;
use super::watchers::{Registration, Reread, Watchers};
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

/// What a registered stream was woken for, if it was woken.
fn woken(registration: &Registration) -> Option<Reread> {
    registration.woken().now_or_never()
}

/// An update touching `entries` whose parents before and after were `parents`.
fn touching(entries: &[&str], parents: &[&str]) -> CacheUpdate {
    CacheUpdate {
        seq: 9,
        entries: entries
            .iter()
            .map(|e| EntryId::parse(e).expect("entry id"))
            .collect(),
        parents: parents.iter().map(|p| id(p)).collect(),
        ..CacheUpdate::default()
    }
}

#[tokio::test]
async fn an_update_wakes_only_the_streams_it_concerns() {
    let mut entries = base_entries();
    entries.push(entry(
        "grandchild",
        "spiffe://example.org/w/deeper",
        "spiffe://example.org/w/direct",
        &["unix:uid:5"],
    ));
    let now = cache(9, entries, vec![bundle("example.org", "own")]);
    let watchers = Arc::new(Watchers::default());
    let mine = watchers.register(&now, &id(AGENT));
    assert!(mine.set_roots(view_of(&now).roots()), "the alias is a root");
    assert!(!mine.set_roots(view_of(&now).roots()));
    let other = watchers.register(&now, &id(OTHER_AGENT));
    let wakes = |update: &CacheUpdate| {
        watchers.wake_for(update, &now);
        (woken(&mine), woken(&other))
    };
    let entries = Some(Reread::Entries);
    let (mine_only, both) = ((entries, None), (entries, entries));

    assert_eq!(
        wakes(&touching(&["added"], &[AGENT])),
        mine_only,
        "a new child"
    );
    assert_eq!(
        wakes(&touching(&["gone"], &[AGENT])),
        mine_only,
        "a deleted child"
    );
    let grandchild = touching(&["grandchild"], &["spiffe://example.org/w/direct"]);
    assert_eq!(wakes(&grandchild), mine_only, "below an authorized entry");
    let via_alias = touching(&["via-alias"], &["spiffe://example.org/compute"]);
    assert_eq!(wakes(&via_alias), mine_only, "below the node's alias");
    assert_eq!(
        wakes(&touching(&["other-2"], &[OTHER_AGENT])),
        (None, entries)
    );
    assert_eq!(wakes(&touching(&["moved"], &[AGENT, OTHER_AGENT])), both);
    assert_eq!(
        wakes(&touching(&["new-alias"], &[SERVER])),
        both,
        "a node alias"
    );
    let nobody = "spiffe://example.org/spire/agent/join_token/c";
    assert_eq!(wakes(&touching(&["x"], &[nobody])), (None, None));

    let bundles = CacheUpdate {
        seq: 9,
        bundles: vec![td("peer.org")],
        ..CacheUpdate::default()
    };
    assert_eq!(wakes(&bundles), both, "any bundle");
    let node_changed = CacheUpdate {
        seq: 9,
        nodes: vec![id(AGENT)],
        ..CacheUpdate::default()
    };
    assert_eq!(wakes(&node_changed), (Some(Reread::NodeFromCache), None));
    let node_and_bundle = CacheUpdate {
        bundles: vec![td("example.org")],
        ..node_changed
    };
    let reread = Some(Reread::NodeFromCache);
    assert_eq!(wakes(&node_and_bundle), (reread, entries));
    let reloaded = CacheUpdate {
        reloaded: true,
        ..CacheUpdate::default()
    };
    assert_eq!(wakes(&reloaded), (reread, reread));

    // Wake-ups coalesce, and a dropped stream is no longer woken.
    watchers.wake_for(&touching(&["added"], &[AGENT]), &now);
    watchers.wake_for(&touching(&["gone"], &[AGENT]), &now);
    assert_eq!(woken(&mine), entries);
    assert_eq!(woken(&mine), None);
    drop(other);
    watchers.wake_for(&touching(&["other-2"], &[OTHER_AGENT]), &now);
    assert_eq!(woken(&mine), None);
    assert!(
        watchers.is_empty_but_for(1),
        "the dropped stream is unregistered"
    );
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
