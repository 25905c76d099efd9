//! Attested nodes: lifecycle, filters, paging, pruning.

use std::collections::HashSet;
use std::sync::Arc;

use lanyard_spiffe::{SelectorMatch, SpiffeId};
use lanyard_store::model::{AttestedNode, NodeFilter, NodeUpdate, PageRequest, SelectorFilter};
use lanyard_store::{Store, StoreError};
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use time::OffsetDateTime;

use crate::common::{conformance, id, node, selectors};

conformance!(
    node_lifecycle,
    batched_node_creation_fails_items_alone,
    activation_never_undoes_a_later_renewal,
    node_filters_agree_with_selector_set_matching,
    prune_keeps_banned_and_unrenewable_nodes,
);

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap()
}

async fn batched_node_creation_fails_items_alone(store: Arc<Store>) {
    let known = node("/spire/agent/join_token/known", &["node:a:1"]);
    store.create_node(&known).await.unwrap();
    let seq_before = *store.subscribe().borrow();

    let many: Vec<String> = (0..150).map(|i| format!("node:rack:{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let fresh = node("/spire/agent/join_token/fresh", &many);
    let changed_known = node("/spire/agent/join_token/known", &["node:b:2"]);
    let plain = node("/spire/agent/join_token/plain", &[]);
    let results = store
        .create_nodes(&[fresh.clone(), changed_known, plain.clone()])
        .await
        .unwrap();

    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(
        matches!(results[1], Err(StoreError::AlreadyExists(_))),
        "{:?}",
        results[1]
    );
    assert!(results[2].is_ok(), "{:?}", results[2]);
    // More selectors than one multi-row INSERT carries, all stored.
    assert_eq!(
        store.get_node(&fresh.spiffe_id).await.unwrap().unwrap(),
        fresh
    );
    assert_eq!(
        store.get_node(&plain.spiffe_id).await.unwrap().unwrap(),
        plain
    );
    // The refused item left the known node as it was.
    assert_eq!(
        store.get_node(&known.spiffe_id).await.unwrap().unwrap(),
        known
    );
    // One change per created node, none for the refused one.
    assert_eq!(*store.subscribe().borrow(), seq_before + 2);
}

async fn activation_never_undoes_a_later_renewal(store: Arc<Store>) {
    let n = node("/spire/agent/join_token/renewing", &[]);
    store.create_node(&n).await.unwrap();
    let renew = |serial: &str, not_after: i64| NodeUpdate {
        new_cert_serial: Some(Some(serial.into())),
        new_cert_not_after: Some(Some(at(not_after))),
        ..NodeUpdate::default()
    };

    // The agent renews twice before its first renewed SVID is seen in use: the
    // activation of the first must not clear the second.
    store
        .update_node(&n.spiffe_id, &renew("2", 2_000_000_100))
        .await
        .unwrap();
    store
        .update_node(&n.spiffe_id, &renew("3", 2_000_000_200))
        .await
        .unwrap();
    assert!(!store.activate_node_serial(&n.spiffe_id, "2").await.unwrap());
    let got = store.get_node(&n.spiffe_id).await.unwrap().unwrap();
    assert_eq!(got.cert_serial, "1234");
    assert_eq!(got.new_cert_serial.as_deref(), Some("3"));

    let seq = *store.subscribe().borrow();
    assert!(store.activate_node_serial(&n.spiffe_id, "3").await.unwrap());
    let got = store.get_node(&n.spiffe_id).await.unwrap().unwrap();
    assert_eq!(got.cert_serial, "3");
    assert_eq!(got.cert_not_after, at(2_000_000_200));
    assert_eq!(got.new_cert_serial, None);
    assert_eq!(got.new_cert_not_after, None);
    assert_eq!(
        *store.subscribe().borrow(),
        seq + 1,
        "recorded as a node change"
    );

    // Activating again (a second request with the same SVID) changes nothing.
    assert!(!store.activate_node_serial(&n.spiffe_id, "3").await.unwrap());
    assert_eq!(*store.subscribe().borrow(), seq + 1);
}

async fn node_lifecycle(store: Arc<Store>) {
    let n = node(
        "/spire/agent/join_token/t1",
        &["node:xname:x1000c0s0b0n0", "node:type:compute"],
    );
    assert_eq!(store.create_node(&n).await.unwrap(), n);
    assert_eq!(store.get_node(&n.spiffe_id).await.unwrap().unwrap(), n);
    let other = node("/spire/agent/join_token/t0", &[]);
    store.create_node(&other).await.unwrap();
    let both = store
        .get_nodes(&[
            n.spiffe_id.clone(),
            id("/spire/agent/none"),
            other.spiffe_id.clone(),
        ])
        .await
        .unwrap();
    assert_eq!(both, vec![other, n.clone()]);
    let err = store.create_node(&n).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");

    let update = NodeUpdate {
        new_cert_serial: Some(Some("5678".into())),
        new_cert_not_after: Some(Some(at(2_100_000_000))),
        agent_version: Some("0.2.0".into()),
        ..NodeUpdate::default()
    };
    let updated = store.update_node(&n.spiffe_id, &update).await.unwrap();
    assert_eq!(updated.cert_serial, "1234");
    assert_eq!(updated.new_cert_serial.as_deref(), Some("5678"));
    assert_eq!(updated.agent_version, "0.2.0");
    assert_eq!(
        store.get_node(&n.spiffe_id).await.unwrap().unwrap(),
        updated
    );

    store
        .touch_node(&n.spiffe_id, at(1_700_000_000))
        .await
        .unwrap();
    let seen = store.get_node(&n.spiffe_id).await.unwrap().unwrap();
    assert_eq!(seen.last_seen, Some(at(1_700_000_000)));

    let new_selectors = selectors(&["node:xname:x1000c0s0b0n1"]);
    store
        .set_node_selectors(&n.spiffe_id, &new_selectors)
        .await
        .unwrap();
    let got = store.get_node(&n.spiffe_id).await.unwrap().unwrap();
    assert_eq!(got.selectors, new_selectors);

    let banned = store.ban_node(&n.spiffe_id).await.unwrap();
    assert!(banned.banned);
    assert_eq!(banned.cert_serial, "");
    assert_eq!(banned.new_cert_serial, None);

    assert_eq!(store.delete_node(&n.spiffe_id).await.unwrap(), banned);
    assert_eq!(store.get_node(&n.spiffe_id).await.unwrap(), None);

    let missing = id("/spire/agent/join_token/none");
    assert!(matches!(
        store.delete_node(&missing).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.ban_node(&missing).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.update_node(&missing, &update).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_node_selectors(&missing, &new_selectors).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.touch_node(&missing, at(1)).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn node_filters_agree_with_selector_set_matching(store: Arc<Store>) {
    let pool = [
        "node:type:compute",
        "node:type:mgmt",
        "node:cab:x1000",
        "node:cab:x1001",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut all = Vec::new();
    for i in 0..60 {
        let count = rng.random_range(0..=3);
        let sels: Vec<&str> = pool.choose_multiple(&mut rng, count).copied().collect();
        let mut n = node(&format!("/spire/agent/x509pop/n{i:03}"), &sels);
        n.attestation_type = if i % 2 == 0 { "x509pop" } else { "tpm" }.into();
        n.can_reattest = i % 3 == 0;
        n.cert_not_after = at(1_000 + i);
        store.create_node(&n).await.unwrap();
        if i % 5 == 0 {
            n = store.ban_node(&n.spiffe_id).await.unwrap();
        }
        all.push(n);
    }

    for mode in [
        SelectorMatch::Exact,
        SelectorMatch::Subset,
        SelectorMatch::Superset,
        SelectorMatch::Any,
    ] {
        for _ in 0..5 {
            let count = rng.random_range(1..=2);
            let wanted = selectors(
                &pool
                    .choose_multiple(&mut rng, count)
                    .copied()
                    .collect::<Vec<_>>(),
            );
            let filter = NodeFilter {
                by_selectors: Some(SelectorFilter {
                    selectors: wanted.clone(),
                    mode,
                }),
                by_attestation_type: Some("x509pop".into()),
                ..NodeFilter::default()
            };
            let expect = oracle(&all, |n| {
                n.selectors.matches(&wanted, mode) && n.attestation_type == "x509pop"
            });
            assert_eq!(
                listed(&store, &filter, 4).await,
                expect,
                "{mode} {wanted:?}"
            );
            assert_eq!(
                store.count_nodes(&filter).await.unwrap(),
                expect.len() as u64
            );
        }
    }

    let filter = NodeFilter {
        by_banned: Some(false),
        by_can_reattest: Some(true),
        by_expires_before: Some(at(1_030)),
        ..NodeFilter::default()
    };
    let expect = oracle(&all, |n| {
        !n.banned && n.can_reattest && n.cert_not_after < at(1_030)
    });
    assert!(!expect.is_empty());
    assert_eq!(listed(&store, &filter, 3).await, expect);

    let everything = listed(&store, &NodeFilter::default(), 7).await;
    assert_eq!(everything.len(), 60);
    assert_eq!(everything.iter().collect::<HashSet<_>>().len(), 60);
}

fn oracle(all: &[AttestedNode], keep: impl Fn(&AttestedNode) -> bool) -> Vec<SpiffeId> {
    let mut ids: Vec<_> = all
        .iter()
        .filter(|n| keep(n))
        .map(|n| n.spiffe_id.clone())
        .collect();
    ids.sort();
    ids
}

async fn listed(store: &Store, filter: &NodeFilter, page_size: u32) -> Vec<SpiffeId> {
    let mut seen = Vec::new();
    let mut page = PageRequest::first(page_size);
    loop {
        let result = store.list_nodes(filter, &page).await.unwrap();
        seen.extend(result.items.into_iter().map(|n| n.spiffe_id));
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return seen,
        }
    }
}

async fn prune_keeps_banned_and_unrenewable_nodes(store: Arc<Store>) {
    let mut expired_reattest = node("/spire/agent/a", &[]);
    expired_reattest.cert_not_after = at(100);
    expired_reattest.can_reattest = true;
    let mut expired_tofu = node("/spire/agent/b", &[]);
    expired_tofu.cert_not_after = at(100);
    let mut expired_banned = node("/spire/agent/c", &[]);
    expired_banned.cert_not_after = at(100);
    expired_banned.can_reattest = true;
    let fresh = node("/spire/agent/d", &[]);
    for n in [&expired_reattest, &expired_tofu, &expired_banned, &fresh] {
        store.create_node(n).await.unwrap();
    }
    store.ban_node(&expired_banned.spiffe_id).await.unwrap();

    assert_eq!(store.prune_nodes(at(200), false).await.unwrap(), 1);
    assert_eq!(
        store.get_node(&expired_reattest.spiffe_id).await.unwrap(),
        None
    );
    assert!(
        store
            .get_node(&expired_tofu.spiffe_id)
            .await
            .unwrap()
            .is_some()
    );

    assert_eq!(store.prune_nodes(at(200), true).await.unwrap(), 1);
    assert_eq!(store.get_node(&expired_tofu.spiffe_id).await.unwrap(), None);
    assert!(
        store
            .get_node(&expired_banned.spiffe_id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.get_node(&fresh.spiffe_id).await.unwrap().is_some());
}
