//! Join tokens: single use under concurrency, expiry, hashing.

use std::sync::Arc;

use lanyard_store::{Store, StoreError};
use time::{Duration, OffsetDateTime};

use crate::common::{TestDb, conformance, selectors};

conformance!(
    token_lifecycle,
    concurrent_takes_have_exactly_one_winner,
    batched_takes_each_get_their_own_result,
    concurrent_batched_takes_have_exactly_one_winner,
);

async fn token_lifecycle(store: Arc<Store>) {
    let now = OffsetDateTime::now_utc();
    let bound = selectors(&["node:xname:x1000c0s0b0n0", "node:type:compute"]);
    store
        .create_join_token("token-a", now + Duration::minutes(10), &bound)
        .await
        .unwrap();
    let err = store
        .create_join_token("token-a", now + Duration::minutes(10), &bound)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");

    let taken = store.take_join_token("token-a", now).await.unwrap();
    assert_eq!(taken.node_selectors, bound);
    assert_eq!(
        taken.expires_at.unix_timestamp(),
        (now + Duration::minutes(10)).unix_timestamp()
    );
    let err = store.take_join_token("token-a", now).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    // An expired token is refused and removed.
    store
        .create_join_token("token-b", now - Duration::seconds(1), &selectors(&[]))
        .await
        .unwrap();
    let err = store.take_join_token("token-b", now).await.unwrap_err();
    assert!(matches!(err, StoreError::Expired(_)), "{err:?}");
    let err = store.take_join_token("token-b", now).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");

    for (token, offset) in [("old-1", -60), ("old-2", -1), ("live", 60)] {
        store
            .create_join_token(token, now + Duration::seconds(offset), &selectors(&[]))
            .await
            .unwrap();
    }
    assert_eq!(store.prune_join_tokens(now).await.unwrap(), 2);
    store.take_join_token("live", now).await.unwrap();
}

async fn concurrent_takes_have_exactly_one_winner(store: Arc<Store>) {
    let now = OffsetDateTime::now_utc();
    store
        .create_join_token("contested", now + Duration::minutes(10), &selectors(&[]))
        .await
        .unwrap();

    let takers: Vec<_> = (0..1000)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_join_token("contested", now).await })
        })
        .collect();
    let mut wins = 0;
    for taker in takers {
        match taker.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::NotFound(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

async fn batched_takes_each_get_their_own_result(store: Arc<Store>) {
    let now = OffsetDateTime::now_utc();
    let bound = selectors(&["node:rack:7"]);
    store
        .create_join_token("live", now + Duration::minutes(10), &bound)
        .await
        .unwrap();
    store
        .create_join_token("stale", now - Duration::seconds(1), &selectors(&[]))
        .await
        .unwrap();

    let results = store
        .take_join_tokens(&[
            ("live", now),
            ("stale", now),
            ("unknown", now),
            ("live", now),
        ])
        .await
        .unwrap();

    assert_eq!(results.len(), 4);
    assert_eq!(results[0].as_ref().unwrap().node_selectors, bound);
    assert!(
        matches!(results[1], Err(StoreError::Expired(_))),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(results[2], Err(StoreError::NotFound(_))),
        "{:?}",
        results[2]
    );
    // The same token twice in one batch: the second finds it gone.
    assert!(
        matches!(results[3], Err(StoreError::NotFound(_))),
        "{:?}",
        results[3]
    );
    // The expired token went too.
    let err = store.take_join_token("stale", now).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn concurrent_batched_takes_have_exactly_one_winner(store: Arc<Store>) {
    let now = OffsetDateTime::now_utc();
    store
        .create_join_token("contested", now + Duration::minutes(10), &selectors(&[]))
        .await
        .unwrap();

    let takers: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let other = format!("absent-{i}");
                store
                    .take_join_tokens(&[(other.as_str(), now), ("contested", now)])
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for taker in takers {
        let results = taker.await.unwrap().unwrap();
        assert!(matches!(results[0], Err(StoreError::NotFound(_))));
        match &results[1] {
            Ok(_) => wins += 1,
            Err(StoreError::NotFound(_)) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

/// The database file never holds a token in clear.
#[tokio::test]
async fn sqlite_file_holds_only_token_hashes() {
    let db = TestDb::sqlite().await;
    let token = "plain-token-7f3a9c1e5b";
    db.store
        .create_join_token(
            token,
            OffsetDateTime::now_utc() + Duration::hours(1),
            &selectors(&[]),
        )
        .await
        .unwrap();
    db.store.close().await;

    let TestDb { config, .. } = &db;
    let lanyard_store::StoreConfig::Sqlite { path, .. } = config else {
        unreachable!("a sqlite test database")
    };
    let dir = path.parent().unwrap();
    for file in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
    db.finish().await;
}
