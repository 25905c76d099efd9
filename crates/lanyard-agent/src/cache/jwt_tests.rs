//! Concurrent JWT-SVID misses: one server call per entry and audience set.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::*;
use crate::testutil::id;

/// A signer whose `NewJWTSVID` waits for a permit, so callers pile up behind it.
struct GatedSigner {
    gate: Semaphore,
    calls: AtomicUsize,
    fail: bool,
}

impl SvidSigner for GatedSigner {
    fn new_x509_svids(
        &self,
        _requests: Vec<X509SvidRequest>,
    ) -> BoxFuture<'_, Result<Vec<X509SvidResult>, tonic::Status>> {
        Box::pin(async { Err(tonic::Status::unimplemented("x509")) })
    }

    fn new_jwt_svid<'a>(
        &'a self,
        entry_id: &'a str,
        audiences: &'a [String],
    ) -> BoxFuture<'a, Result<JwtSvid, tonic::Status>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let _permit = self.gate.acquire().await;
            if self.fail {
                return Err(tonic::Status::unavailable("server away"));
            }
            let now = SystemTime::now();
            Ok(JwtSvid {
                token: format!("token-{entry_id}-{}-{n}", audiences.join(",")),
                spiffe_id: id("example.org", "/web"),
                issued_at: now,
                expires_at: now + Duration::from_secs(300),
                hint: String::new(),
            })
        })
    }
}

fn cache_with_gate(fail: bool) -> (Cache, Arc<GatedSigner>) {
    let signer = Arc::new(GatedSigner {
        gate: Semaphore::new(0),
        calls: AtomicUsize::new(0),
        fail,
    });
    let cache = Cache::new(td("example.org"), signer.clone(), 10, 10);
    let entry = tests::entry("a", "/web", &["unix:uid:1000"], 1);
    cache.update_entries(EntryUpdate::Full(vec![entry]));
    (cache, signer)
}

fn td(name: &str) -> TrustDomain {
    crate::testutil::td(name)
}

/// Starts `n` callers asking for the same audience and waits until all are parked
/// behind the one server call.
async fn callers(
    cache: &Cache,
    n: usize,
) -> Vec<tokio::task::JoinHandle<Result<JwtSvid, CacheError>>> {
    let tasks = (0..n)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.jwt_svid("a", &["db".to_owned()]).await })
        })
        .collect();
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    tasks
}

#[tokio::test]
async fn concurrent_misses_for_one_key_share_one_server_call() {
    let (cache, signer) = cache_with_gate(false);
    let tasks = callers(&cache, 50).await;
    assert_eq!(signer.calls.load(Ordering::SeqCst), 1);

    signer.gate.add_permits(1);
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.expect("task").expect("token"));
    }
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert!(
        cache.lock().jwt_flights.is_empty(),
        "the call forgot itself"
    );

    let again = cache.jwt_svid("a", &["db".to_owned()]).await.expect("hit");
    assert_eq!(again, tokens[0]);
    assert_eq!(signer.calls.load(Ordering::SeqCst), 1);

    signer.gate.add_permits(1);
    cache
        .jwt_svid("a", &["other".to_owned()])
        .await
        .expect("another audience is another call");
    assert_eq!(signer.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failed_call_fails_every_waiter_once_and_is_not_kept() {
    let (cache, signer) = cache_with_gate(true);
    let tasks = callers(&cache, 10).await;
    signer.gate.add_permits(10);
    for task in tasks {
        assert!(matches!(
            task.await.expect("task"),
            Err(CacheError::Server(_))
        ));
    }
    assert_eq!(signer.calls.load(Ordering::SeqCst), 1);
    assert!(cache.lock().jwt_flights.is_empty());

    assert!(cache.jwt_svid("a", &["db".to_owned()]).await.is_err());
    assert_eq!(
        signer.calls.load(Ordering::SeqCst),
        2,
        "the next miss asks again"
    );
}

#[tokio::test]
async fn a_call_abandoned_by_its_callers_is_finished_by_the_next_one() {
    let (cache, signer) = cache_with_gate(false);
    let tasks = callers(&cache, 3).await;
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    signer.gate.add_permits(1);
    cache
        .jwt_svid("a", &["db".to_owned()])
        .await
        .expect("token");
    assert_eq!(signer.calls.load(Ordering::SeqCst), 1);
}
