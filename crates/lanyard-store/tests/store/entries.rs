//! Registration entries: create, similar-entry rule, update, delete, paging, filters.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use lanyard_spiffe::{SelectorMatch, SelectorSet};
use lanyard_store::model::{
    BundleRecord, EntryFilter, EntryId, EntryMask, EntryUpdate, NewEntry, PageRequest,
    RegistrationEntry, SelectorFilter, TrustDomainFilter,
};
use lanyard_store::{Store, StoreError};
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use time::OffsetDateTime;

use crate::common::{conformance, id, new_entry, selectors, spec, td};

conformance!(
    create_and_get_keep_every_field,
    ids_are_generated_or_taken_once,
    similar_entries_are_rejected,
    batch_items_fail_alone,
    updates_bump_the_revision,
    delete_removes_entry_and_children,
    paging_visits_every_entry_exactly_once,
    filters_agree_with_selector_set_matching,
    prune_removes_expired_entries,
    federation_needs_a_bundle,
);

async fn create_and_get_keep_every_field(store: Arc<Store>) {
    store
        .set_bundle(&BundleRecord::new(td("partner.org")))
        .await
        .unwrap();
    let mut s = spec(
        "/web",
        "/spire/agent/x509pop/n1",
        &["unix:uid:1000", "unix:gid:0"],
    );
    s.x509_svid_ttl = 3600;
    s.jwt_svid_ttl = 300;
    s.federates_with = [td("partner.org")].into();
    s.admin = true;
    s.downstream = true;
    s.dns_names = vec!["web.example.org".into(), "a.example.org".into()];
    s.hint = "web".into();
    s.expires_at = Some(OffsetDateTime::from_unix_timestamp(4_000_000_000).unwrap());
    s.store_svid = true;
    s.jwt_svid_include_jti = true;
    s.disable_x509_svid_prefetch = true;

    let before = OffsetDateTime::now_utc().unix_timestamp();
    let created = store.create_entry(new_entry(s.clone())).await.unwrap();
    assert_eq!(created.spec, s);
    assert_eq!(created.revision_number, 0);
    assert!(created.created_at.unix_timestamp() >= before);

    let got = store.get_entry(&created.id).await.unwrap().unwrap();
    assert_eq!(got, created);
    let missing = EntryId::parse("missing").unwrap();
    let batch = store
        .get_entries(&[missing, created.id.clone(), created.id.clone()])
        .await
        .unwrap();
    assert_eq!(batch, vec![created.clone()]);
    assert_eq!(store.list_all_entries().await.unwrap(), vec![created]);
}

async fn ids_are_generated_or_taken_once(store: Arc<Store>) {
    let generated = store
        .create_entry(new_entry(spec("/a", "/p", &["k:v"])))
        .await
        .unwrap();
    assert!(uuid::Uuid::parse_str(generated.id.as_str()).is_ok());

    let chosen = EntryId::parse("my-entry").unwrap();
    let new = NewEntry {
        id: Some(chosen.clone()),
        spec: spec("/b", "/p", &["k:v"]),
    };
    assert_eq!(store.create_entry(new).await.unwrap().id, chosen);

    let again = NewEntry {
        id: Some(chosen),
        spec: spec("/c", "/p", &["k:v"]),
    };
    let err = store.create_entry(again).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(
        store.count_entries(&EntryFilter::default()).await.unwrap(),
        2
    );
}

async fn similar_entries_are_rejected(store: Arc<Store>) {
    let first = spec("/w", "/p", &["unix:uid:1", "unix:gid:2"]);
    store.create_entry(new_entry(first)).await.unwrap();

    // Same parent, ID and selector set (in another order, other fields differing).
    let mut similar = spec("/w", "/p", &["unix:gid:2", "unix:uid:1"]);
    similar.hint = "different".into();
    similar.x509_svid_ttl = 60;
    let err = store.create_entry(new_entry(similar)).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");

    // Any difference in the three makes it a different entry.
    for other in [
        spec("/w", "/p", &["unix:uid:1"]),
        spec("/w", "/q", &["unix:uid:1", "unix:gid:2"]),
        spec("/x", "/p", &["unix:uid:1", "unix:gid:2"]),
    ] {
        store.create_entry(new_entry(other)).await.unwrap();
    }
    assert_eq!(
        store.count_entries(&EntryFilter::default()).await.unwrap(),
        4
    );
}

async fn batch_items_fail_alone(store: Arc<Store>) {
    let batch = vec![
        new_entry(spec("/one", "/p", &["k:1"])),
        new_entry(spec("/one", "/p", &["k:1"])),
        new_entry(spec("/two", "/p", &[])),
        new_entry(spec("/three", "/p", &["k:3"])),
    ];
    let results = store.create_entries(&batch).await.unwrap();
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(StoreError::AlreadyExists(_))));
    assert!(matches!(results[2], Err(StoreError::InvalidArgument(_))));
    let third = results[3].as_ref().unwrap();

    let all: Vec<_> = store.list_all_entries().await.unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|e| e.id == third.id));

    let deletes = store
        .delete_entries(&[third.id.clone(), EntryId::parse("missing").unwrap()])
        .await
        .unwrap();
    assert!(deletes[0].is_ok());
    assert!(matches!(deletes[1], Err(StoreError::NotFound(_))));
    assert_eq!(
        store.count_entries(&EntryFilter::default()).await.unwrap(),
        1
    );
}

async fn updates_bump_the_revision(store: Arc<Store>) {
    let original = spec("/svc", "/p", &["k:v"]);
    let entry = store
        .create_entry(new_entry(original.clone()))
        .await
        .unwrap();
    let other = store
        .create_entry(new_entry(spec("/svc", "/p", &["k:w"])))
        .await
        .unwrap();

    // A masked update changes only the masked field.
    let mut change = spec("/ignored", "/ignored", &["ignored:x"]);
    change.hint = "new hint".into();
    let mask = EntryMask {
        hint: true,
        ..EntryMask::default()
    };
    let updated = store.update_entry(&entry.id, &change, &mask).await.unwrap();
    assert_eq!(updated.revision_number, 1);
    assert_eq!(updated.spec.hint, "new hint");
    assert_eq!(updated.spec.spiffe_id, original.spiffe_id);
    assert_eq!(updated.spec.selectors, original.selectors);
    assert_eq!(updated.created_at, entry.created_at);

    // A full replace changes everything, and the revision again.
    let mut replacement = spec("/svc2", "/p2", &["k:z", "k:y"]);
    replacement.dns_names = vec!["svc2.example.org".into()];
    let replaced = store
        .update_entry(&entry.id, &replacement, &EntryMask::ALL)
        .await
        .unwrap();
    assert_eq!(replaced.revision_number, 2);
    assert_eq!(replaced.spec, replacement);
    assert_eq!(store.get_entry(&entry.id).await.unwrap().unwrap(), replaced);

    // Becoming similar to another entry is refused and changes nothing.
    let similar = spec("/svc", "/p", &["k:w"]);
    let err = store
        .update_entry(&entry.id, &similar, &EntryMask::ALL)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(store.get_entry(&entry.id).await.unwrap().unwrap(), replaced);
    assert_eq!(store.get_entry(&other.id).await.unwrap().unwrap(), other);

    let err = store
        .update_entry(&EntryId::parse("nope").unwrap(), &similar, &EntryMask::ALL)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    let batch = [EntryUpdate {
        id: other.id.clone(),
        spec: change,
        mask,
    }];
    let results = store.update_entries(&batch).await.unwrap();
    assert_eq!(results[0].as_ref().unwrap().revision_number, 1);
}

async fn delete_removes_entry_and_children(store: Arc<Store>) {
    let mut s = spec("/gone", "/p", &["k:v"]);
    s.dns_names = vec!["gone.example.org".into()];
    let entry = store.create_entry(new_entry(s)).await.unwrap();

    assert_eq!(store.delete_entry(&entry.id).await.unwrap(), entry);
    assert_eq!(store.get_entry(&entry.id).await.unwrap(), None);
    let err = store.delete_entry(&entry.id).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    // The selector rows went too: a new entry with the same key is not "similar"
    // to a ghost, and selector filters find nothing.
    let filter = EntryFilter {
        by_selectors: Some(SelectorFilter {
            selectors: selectors(&["k:v"]),
            mode: SelectorMatch::Any,
        }),
        ..EntryFilter::default()
    };
    assert_eq!(store.count_entries(&filter).await.unwrap(), 0);
    store
        .create_entry(new_entry(spec("/gone", "/p", &["k:v"])))
        .await
        .unwrap();
}

async fn paging_visits_every_entry_exactly_once(store: Arc<Store>) {
    let batch: Vec<_> = (0..157)
        .map(|i| new_entry(spec(&format!("/w/{i}"), "/p", &[&format!("k:{}", i % 3)])))
        .collect();
    let created: Vec<_> = store
        .create_entries(&batch)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();

    for page_size in [1, 10, 156, 157, 500] {
        let seen = collect_pages(&store, &EntryFilter::default(), page_size).await;
        assert_eq!(seen.len(), created.len(), "page size {page_size}");
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "an entry came twice");
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "not in a stable order"
        );
    }

    let filter = EntryFilter {
        by_selectors: Some(SelectorFilter {
            selectors: selectors(&["k:1"]),
            mode: SelectorMatch::Exact,
        }),
        ..EntryFilter::default()
    };
    assert_eq!(collect_pages(&store, &filter, 7).await.len(), 52);

    let bad = PageRequest {
        page_size: 5,
        page_token: Some("not a token".into()),
    };
    let err = store
        .list_entries(&EntryFilter::default(), &bad)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)), "{err:?}");
}

async fn collect_pages(store: &Store, filter: &EntryFilter, page_size: u32) -> Vec<EntryId> {
    let mut seen = Vec::new();
    let mut page = PageRequest::first(page_size);
    loop {
        let result = store.list_entries(filter, &page).await.unwrap();
        assert!(result.items.len() <= page_size as usize);
        seen.extend(result.items.into_iter().map(|e| e.id));
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return seen,
        }
    }
}

async fn filters_agree_with_selector_set_matching(store: Arc<Store>) {
    let tds = [td("a.org"), td("b.org"), td("c.org")];
    for t in &tds {
        store
            .set_bundle(&BundleRecord::new(t.clone()))
            .await
            .unwrap();
    }
    let pool = ["u:1", "u:2", "g:1", "g:2", "p:/bin/x"];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    let mut batch = Vec::new();
    for i in 0..120 {
        let count = rng.random_range(1..=3);
        let sels: Vec<&str> = pool.choose_multiple(&mut rng, count).copied().collect();
        let mut s = spec(&format!("/w/{}", i % 10), &format!("/p/{}", i % 4), &sels);
        let n_td = rng.random_range(0..=2);
        s.federates_with = tds.choose_multiple(&mut rng, n_td).cloned().collect();
        s.hint = format!("h{}", i % 5);
        s.downstream = i % 7 == 0;
        batch.push(new_entry(s));
    }
    // Similar duplicates are refused; the oracle works on what was stored.
    store.create_entries(&batch).await.unwrap();
    let all = store.list_all_entries().await.unwrap();

    for mode in [
        SelectorMatch::Exact,
        SelectorMatch::Subset,
        SelectorMatch::Superset,
        SelectorMatch::Any,
    ] {
        for _ in 0..6 {
            let count = rng.random_range(1..=3);
            let wanted: SelectorSet = selectors(
                &pool
                    .choose_multiple(&mut rng, count)
                    .copied()
                    .collect::<Vec<_>>(),
            );
            let filter = EntryFilter {
                by_selectors: Some(SelectorFilter {
                    selectors: wanted.clone(),
                    mode,
                }),
                by_hint: Some("h1".into()),
                ..EntryFilter::default()
            };
            let expect = oracle(&all, |e| {
                e.spec.selectors.matches(&wanted, mode) && e.spec.hint == "h1"
            });
            assert_eq!(
                listed(&store, &filter).await,
                expect,
                "selectors {mode} {wanted:?}"
            );
            assert_eq!(
                store.count_entries(&filter).await.unwrap(),
                expect.len() as u64
            );

            let n_td = rng.random_range(1..=2);
            let want_tds: BTreeSet<_> = tds.choose_multiple(&mut rng, n_td).cloned().collect();
            let as_set = |s: &BTreeSet<lanyard_spiffe::TrustDomain>| -> SelectorSet {
                s.iter()
                    .map(|t| lanyard_spiffe::Selector::new("td", t.as_str()).unwrap())
                    .collect()
            };
            let filter = EntryFilter {
                by_federates_with: Some(TrustDomainFilter {
                    trust_domains: want_tds.clone(),
                    mode,
                }),
                by_parent_id: Some(id("/p/1")),
                ..EntryFilter::default()
            };
            let expect = oracle(&all, |e| {
                as_set(&e.spec.federates_with).matches(&as_set(&want_tds), mode)
                    && e.spec.parent_id == id("/p/1")
            });
            assert_eq!(
                listed(&store, &filter).await,
                expect,
                "federates_with {mode}"
            );
        }
    }

    let filter = EntryFilter {
        by_spiffe_id: Some(id("/w/3")),
        by_downstream: Some(false),
        ..EntryFilter::default()
    };
    let expect = oracle(&all, |e| {
        e.spec.spiffe_id == id("/w/3") && !e.spec.downstream
    });
    assert!(!expect.is_empty());
    assert_eq!(listed(&store, &filter).await, expect);

    let empty = EntryFilter {
        by_selectors: Some(SelectorFilter {
            selectors: SelectorSet::new(),
            mode: SelectorMatch::Any,
        }),
        ..EntryFilter::default()
    };
    assert!(matches!(
        store.count_entries(&empty).await,
        Err(StoreError::InvalidArgument(_))
    ));
}

fn oracle(all: &[RegistrationEntry], keep: impl Fn(&RegistrationEntry) -> bool) -> Vec<EntryId> {
    all.iter()
        .filter(|e| keep(e))
        .map(|e| e.id.clone())
        .collect()
}

async fn listed(store: &Store, filter: &EntryFilter) -> Vec<EntryId> {
    let page = store
        .list_entries(filter, &PageRequest::default())
        .await
        .unwrap();
    page.items.into_iter().map(|e| e.id).collect()
}

async fn prune_removes_expired_entries(store: Arc<Store>) {
    let at = |secs| Some(OffsetDateTime::from_unix_timestamp(secs).unwrap());
    let mut old = spec("/old", "/p", &["k:v"]);
    old.expires_at = at(1_000);
    let mut later = spec("/later", "/p", &["k:v"]);
    later.expires_at = at(3_000);
    let forever = spec("/forever", "/p", &["k:v"]);
    for s in [old, later, forever] {
        store.create_entry(new_entry(s)).await.unwrap();
    }

    let cutoff = OffsetDateTime::from_unix_timestamp(2_000).unwrap();
    assert_eq!(store.prune_entries(cutoff).await.unwrap(), 1);
    let left: Vec<_> = store
        .list_all_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.spec.spiffe_id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(!left.contains(&id("/old")));
}

async fn federation_needs_a_bundle(store: Arc<Store>) {
    let mut s = spec("/fed", "/p", &["k:v"]);
    s.federates_with = [td("nobody.org")].into();
    let err = store.create_entry(new_entry(s.clone())).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidArgument(_)), "{err:?}");

    store
        .set_bundle(&BundleRecord::new(td("nobody.org")))
        .await
        .unwrap();
    store.create_entry(new_entry(s)).await.unwrap();
}
