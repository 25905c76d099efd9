//! Batched entry creation gives the results, stored entries and change-log rows
//! that creating the same entries one at a time gives.

use std::sync::Arc;

use lanyard_store::model::{BundleRecord, EntryId, NewEntry, RegistrationEntry};
use lanyard_store::{Store, StoreError};

use crate::common::{conformance, new_entry, spec, td};

conformance!(batch_creation_matches_one_at_a_time);

/// A batch for namespace `ns` (every path and chosen ID prefixed by it, so two
/// namespaces never collide): more entries than one INSERT carries, children of
/// every kind, a chosen ID taken before, a chosen ID repeated, similar entries
/// inside the batch and against the store, and an invalid entry.
fn batch(ns: &str) -> Vec<NewEntry> {
    let mut batch = Vec::new();
    for i in 0..150 {
        let mut s = spec(
            &format!("/{ns}/w{i}"),
            &format!("/{ns}/agent"),
            &["k:1", "k:2"],
        );
        if i % 3 == 0 {
            s.dns_names = vec![format!("w{i}.example.org"), "shared.example.org".into()];
        }
        if i % 5 == 0 {
            s.federates_with = [td("partner.org")].into();
        }
        batch.push(new_entry(s));
    }
    let chosen = |id: &str, path: &str| NewEntry {
        id: Some(EntryId::parse(&format!("{ns}-{id}")).unwrap()),
        spec: spec(&format!("/{ns}/{path}"), &format!("/{ns}/agent"), &["k:c"]),
    };
    batch.push(chosen("taken", "fresh-path"));
    batch.push(chosen("twice", "first"));
    batch.push(chosen("twice", "second"));
    batch.push(new_entry(spec(
        &format!("/{ns}/w7"),
        &format!("/{ns}/agent"),
        &["k:1", "k:2"],
    )));
    batch.push(new_entry(spec(
        &format!("/{ns}/before"),
        &format!("/{ns}/agent"),
        &["k:b"],
    )));
    batch.push(new_entry(spec(
        &format!("/{ns}/empty"),
        &format!("/{ns}/agent"),
        &[],
    )));
    batch
}

/// What was there before the batch: an entry with a chosen ID and one that a
/// batch entry is similar to.
async fn seed(store: &Store, ns: &str) {
    let taken = NewEntry {
        id: Some(EntryId::parse(&format!("{ns}-taken")).unwrap()),
        spec: spec(&format!("/{ns}/taken"), &format!("/{ns}/agent"), &["k:t"]),
    };
    store.create_entry(taken).await.unwrap();
    let before = spec(&format!("/{ns}/before"), &format!("/{ns}/agent"), &["k:b"]);
    store.create_entry(new_entry(before)).await.unwrap();
}

async fn batch_creation_matches_one_at_a_time(store: Arc<Store>) {
    store
        .set_bundle(&BundleRecord::new(td("partner.org")))
        .await
        .unwrap();
    seed(&store, "a").await;
    seed(&store, "b").await;

    let seq = *store.subscribe().borrow();
    let batched = store.create_entries(&batch("a")).await.unwrap();
    let batched_changes = *store.subscribe().borrow() - seq;
    let mut single = Vec::new();
    for new in batch("b") {
        single.push(store.create_entry(new).await);
    }

    assert_eq!(batched.len(), single.len());
    let mut created = 0;
    for (i, (a, b)) in batched.iter().zip(&single).enumerate() {
        match (a, b) {
            (Ok(a), Ok(b)) => {
                created += 1;
                assert_eq!(in_namespace(a, "a"), in_namespace(b, "b"), "item {i}");
                let stored = store.get_entry(&a.id).await.unwrap().unwrap();
                assert_eq!(&stored, a, "item {i} as stored");
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "item {i}"),
            _ => panic!("item {i}: batched {a:?}, one at a time {b:?}"),
        }
    }
    assert_eq!(
        created, 151,
        "150 generated IDs and the first use of a chosen ID"
    );
    assert_eq!(batched_changes, created, "one change per created entry");
    for taken in [150, 152, 153, 154] {
        assert!(
            matches!(batched[taken], Err(StoreError::AlreadyExists(_))),
            "item {taken}: {:?}",
            batched[taken]
        );
    }
    assert!(batched[151].is_ok());
    assert!(matches!(batched[155], Err(StoreError::InvalidArgument(_))));
}

/// The entry with its namespace taken out of its paths, its generated ID and its
/// creation time, so entries of two namespaces compare equal.
fn in_namespace(entry: &RegistrationEntry, ns: &str) -> (String, String, String, String) {
    let id = entry.id.as_str();
    let chosen = id.strip_prefix(&format!("{ns}-")).unwrap_or("generated");
    let strip = |s: &str| s.replace(&format!("/{ns}/"), "/");
    (
        chosen.to_owned(),
        strip(entry.spec.spiffe_id.as_str()),
        strip(entry.spec.parent_id.as_str()),
        format!(
            "{:?} {:?} {:?} {}",
            entry.spec.selectors,
            entry.spec.dns_names,
            entry.spec.federates_with,
            entry.revision_number
        ),
    )
}
