//! TPM enrollments: tokens peeked then consumed with the enrollment, one EK per
//! xname, a node's new TPM replacing its old one, residency timestamps.

use std::sync::Arc;

use lanyard_store::model::TpmEnrollment;
use lanyard_store::{Store, StoreError};
use time::{Duration, OffsetDateTime};

use crate::common::{conformance, selectors};

conformance!(
    enrollment_consumes_the_token_only_at_the_end,
    ek_enrolled_under_one_xname_only
);

fn enrollment(ek: u8, xname: &str, now: OffsetDateTime) -> TpmEnrollment {
    TpmEnrollment {
        ek_sha256: vec![ek; 32],
        xname: xname.to_owned(),
        node_type: Some("compute".to_owned()),
        ek_public: vec![ek, 1, 2, 3],
        ldevid_serial: format!("{ek:02x}"),
        node_selectors: selectors(&[&format!("node:xname:{xname}"), "node:type:compute"]),
        enrolled_at: now,
        residency_checked_at: now,
    }
}

async fn enrollment_consumes_the_token_only_at_the_end(store: Arc<Store>) {
    let now =
        OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    let bound = selectors(&["node:xname:x1000c0s0b0n0"]);
    store
        .create_join_token("tok", now + Duration::minutes(5), &bound)
        .await
        .unwrap();
    // Peeking twice leaves the token in place.
    assert_eq!(
        store
            .peek_join_token("tok", now)
            .await
            .unwrap()
            .node_selectors,
        bound
    );
    assert_eq!(
        store
            .peek_join_token("tok", now)
            .await
            .unwrap()
            .node_selectors,
        bound
    );
    let err = store
        .peek_join_token("tok", now + Duration::minutes(6))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Expired(_)), "{err:?}");
    let err = store.peek_join_token("nope", now).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    let record = enrollment(1, "x1000c0s0b0n0", now);
    store
        .complete_tpm_enrollment("tok", &record, now)
        .await
        .unwrap();
    let err = store.peek_join_token("tok", now).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = store
        .complete_tpm_enrollment("tok", &record, now)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    assert_eq!(
        store.get_tpm_enrollment_by_ek(&[1; 32]).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        store
            .get_tpm_enrollment_by_xname("x1000c0s0b0n0")
            .await
            .unwrap(),
        Some(record.clone())
    );

    let later = now + Duration::days(1);
    store
        .record_tpm_residency_check(&[1; 32], later)
        .await
        .unwrap();
    let stored = store
        .get_tpm_enrollment_by_ek(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.residency_checked_at, later);

    // The node gets a new TPM: its old enrollment is replaced.
    store
        .create_join_token("tok2", now + Duration::minutes(5), &bound)
        .await
        .unwrap();
    let replaced = enrollment(2, "x1000c0s0b0n0", now);
    store
        .complete_tpm_enrollment("tok2", &replaced, now)
        .await
        .unwrap();
    assert_eq!(
        store.get_tpm_enrollment_by_ek(&[1; 32]).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_tpm_enrollment_by_xname("x1000c0s0b0n0")
            .await
            .unwrap(),
        Some(replaced)
    );
    assert!(store.delete_tpm_enrollment("x1000c0s0b0n0").await.unwrap());
    assert!(!store.delete_tpm_enrollment("x1000c0s0b0n0").await.unwrap());
}

async fn ek_enrolled_under_one_xname_only(store: Arc<Store>) {
    let now =
        OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    for token in ["a", "b"] {
        store
            .create_join_token(token, now + Duration::minutes(5), &selectors(&[]))
            .await
            .unwrap();
    }
    store
        .complete_tpm_enrollment("a", &enrollment(7, "x1000c0s0b0n0", now), now)
        .await
        .unwrap();
    let err = store
        .complete_tpm_enrollment("b", &enrollment(7, "x1000c0s0b0n1", now), now)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // Nothing changed: the second token is still there, the first enrollment stands.
    store.peek_join_token("b", now).await.unwrap();
    assert_eq!(
        store
            .get_tpm_enrollment_by_ek(&[7; 32])
            .await
            .unwrap()
            .unwrap()
            .xname,
        "x1000c0s0b0n0"
    );
    assert_eq!(
        store
            .get_tpm_enrollment_by_xname("x1000c0s0b0n1")
            .await
            .unwrap(),
        None
    );
}
