//! Bundles, federation relationships and CA journals.

use std::sync::Arc;

use lanyard_store::model::{
    BundleDeleteMode, BundleEndpointProfile, BundleRecord, FederationRelationship, JwtAuthority,
    PageRequest, X509Authority,
};
use lanyard_store::{Store, StoreError};
use time::OffsetDateTime;

use crate::common::{conformance, id, new_entry, spec, td};

conformance!(
    bundle_sequence_and_append,
    bundle_delete_modes,
    bundle_listing,
    federation_relationship_crud,
    ca_journal_round_trip,
);

fn x509(byte: u8) -> X509Authority {
    X509Authority {
        der: vec![0x30, byte, byte],
        tainted: false,
    }
}

fn jwt(kid: &str) -> JwtAuthority {
    JwtAuthority {
        key_id: kid.into(),
        public_key_der: vec![1, 2, 3],
        expires_at: Some(OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap()),
        tainted: false,
    }
}

async fn bundle_sequence_and_append(store: Arc<Store>) {
    let own = td("example.org");
    let first = store
        .append_bundle(&own, &[x509(1)], &[jwt("k1")])
        .await
        .unwrap();
    assert_eq!(first.sequence_number, 1);

    // Appending what is there already changes nothing, not even the sequence.
    let same = store
        .append_bundle(&own, &[x509(1)], &[jwt("k1")])
        .await
        .unwrap();
    assert_eq!(same, first);

    let second = store
        .append_bundle(&own, &[x509(1), x509(2)], &[jwt("k1"), jwt("k2")])
        .await
        .unwrap();
    assert_eq!(second.sequence_number, 2);
    assert_eq!(second.x509_authorities, vec![x509(1), x509(2)]);
    assert_eq!(second.jwt_authorities.len(), 2);
    assert_eq!(store.get_bundle(&own).await.unwrap().unwrap(), second);

    let tainted = store
        .modify_bundle(&own, |b| b.x509_authorities[0].tainted = true)
        .await
        .unwrap();
    assert_eq!(tainted.sequence_number, 3);
    assert!(tainted.x509_authorities[0].tainted);

    let mut replacement = BundleRecord::new(own.clone());
    replacement.x509_authorities = vec![x509(3)];
    replacement.refresh_hint = Some(300);
    let replaced = store.set_bundle(&replacement).await.unwrap();
    assert_eq!(replaced.sequence_number, 4);
    assert_eq!(store.get_bundle(&own).await.unwrap().unwrap(), replaced);

    let err = store.create_bundle(&replacement).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    let err = store
        .update_bundle(&BundleRecord::new(td("none.org")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store
        .modify_bundle(&td("none.org"), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn bundle_delete_modes(store: Arc<Store>) {
    let fed = td("partner.org");
    store
        .create_bundle(&BundleRecord::new(fed.clone()))
        .await
        .unwrap();
    let mut s = spec("/fed", "/p", &["k:v"]);
    s.federates_with = [fed.clone()].into();
    let entry = store.create_entry(new_entry(s.clone())).await.unwrap();

    let err = store
        .delete_bundle(&fed, BundleDeleteMode::Restrict)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

    store
        .delete_bundle(&fed, BundleDeleteMode::Dissociate)
        .await
        .unwrap();
    let kept = store.get_entry(&entry.id).await.unwrap().unwrap();
    assert!(kept.spec.federates_with.is_empty());
    assert_eq!(kept.revision_number, 1);
    assert_eq!(store.get_bundle(&fed).await.unwrap(), None);

    store
        .create_bundle(&BundleRecord::new(fed.clone()))
        .await
        .unwrap();
    let mut s2 = spec("/fed2", "/p", &["k:v"]);
    s2.federates_with = [fed.clone()].into();
    let doomed = store.create_entry(new_entry(s2)).await.unwrap();
    store
        .delete_bundle(&fed, BundleDeleteMode::Delete)
        .await
        .unwrap();
    assert_eq!(store.get_entry(&doomed.id).await.unwrap(), None);
    assert!(store.get_entry(&entry.id).await.unwrap().is_some());

    let err = store
        .delete_bundle(&fed, BundleDeleteMode::Restrict)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn bundle_listing(store: Arc<Store>) {
    for i in 0..9 {
        store
            .set_bundle(&BundleRecord::new(td(&format!("td{i}.org"))))
            .await
            .unwrap();
    }
    assert_eq!(store.count_bundles().await.unwrap(), 9);

    let mut names = Vec::new();
    let mut page = PageRequest::first(4);
    loop {
        let result = store.list_bundles(&page).await.unwrap();
        names.extend(result.items.into_iter().map(|b| b.trust_domain.to_string()));
        match result.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => break,
        }
    }
    let expect: Vec<_> = (0..9).map(|i| format!("td{i}.org")).collect();
    assert_eq!(names, expect);
}

async fn federation_relationship_crud(store: Arc<Store>) {
    let web = FederationRelationship {
        trust_domain: td("web.org"),
        bundle_endpoint_url: "https://web.org/bundle".parse().unwrap(),
        profile: BundleEndpointProfile::HttpsWeb,
    };
    let spiffe = FederationRelationship {
        trust_domain: td("mesh.org"),
        bundle_endpoint_url: "https://mesh.org:8443/".parse().unwrap(),
        profile: BundleEndpointProfile::HttpsSpiffe {
            endpoint_spiffe_id: "spiffe://mesh.org/spire/server".parse().unwrap(),
        },
    };
    store.create_federation_relationship(&web).await.unwrap();
    store.create_federation_relationship(&spiffe).await.unwrap();
    let err = store
        .create_federation_relationship(&web)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");

    assert_eq!(
        store
            .get_federation_relationship(&web.trust_domain)
            .await
            .unwrap(),
        Some(web.clone())
    );
    let all = store
        .list_federation_relationships(&PageRequest::default())
        .await
        .unwrap();
    assert_eq!(all.items, vec![spiffe.clone(), web.clone()]);

    let moved = FederationRelationship {
        bundle_endpoint_url: "https://web.org/new".parse().unwrap(),
        profile: BundleEndpointProfile::HttpsSpiffe {
            endpoint_spiffe_id: id("/spire/server"),
        },
        ..web.clone()
    };
    store.update_federation_relationship(&moved).await.unwrap();
    assert_eq!(
        store
            .get_federation_relationship(&web.trust_domain)
            .await
            .unwrap(),
        Some(moved)
    );

    store
        .delete_federation_relationship(&web.trust_domain)
        .await
        .unwrap();
    let err = store
        .delete_federation_relationship(&web.trust_domain)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store
        .update_federation_relationship(&web)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn ca_journal_round_trip(store: Arc<Store>) {
    assert_eq!(store.load_ca_journal("server-a").await.unwrap(), None);
    store.save_ca_journal("server-a", b"one").await.unwrap();
    store.save_ca_journal("server-b", b"other").await.unwrap();
    store.save_ca_journal("server-a", b"two").await.unwrap();
    assert_eq!(
        store.load_ca_journal("server-a").await.unwrap().as_deref(),
        Some(&b"two"[..])
    );
    assert_eq!(
        store.load_ca_journal("server-b").await.unwrap().as_deref(),
        Some(&b"other"[..])
    );

    let future = OffsetDateTime::now_utc() + time::Duration::days(1);
    assert_eq!(store.prune_ca_journals(future).await.unwrap(), 2);
    assert_eq!(store.load_ca_journal("server-a").await.unwrap(), None);
}
