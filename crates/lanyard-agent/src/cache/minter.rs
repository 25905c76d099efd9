//! Keeps an X.509-SVID for every authorized entry: mints missing ones through
//! `BatchNewX509SVID` with keys the agent generates, renews them at half-life with
//! jitter, and retries with backoff when the server is away.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lanyard_ca::KeyType;
use rustls_pki_types::CertificateDer;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::{Cache, WorkloadSvid, X509SvidRequest};
use crate::convert::Entry;
use crate::health::metrics;
use crate::keys::PrivateKey;
use crate::node::rotation::{Backoff, random_jitter, renewal_time};
use crate::node::status::{self, Failure, Rejection};

/// Most SVIDs asked for in one `BatchNewX509SVID` call.
pub const BATCH_SIZE: usize = 250;

/// What one minting round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MintReport {
    /// SVIDs stored.
    pub minted: usize,
    /// Entries the server refused or whose SVID did not check out.
    pub failed: usize,
}

/// Runs until `shutdown`: mints what is due, then sleeps until the next renewal, a
/// change of entries or subscribers, or a retry. A refusal of the agent itself goes to
/// `rejections`.
pub async fn run_x509_minter(
    cache: Cache,
    key_type: KeyType,
    rejections: mpsc::Sender<Rejection>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::for_server();
    let mut retry_at: Option<tokio::time::Instant> = None;

    loop {
        let retry_due = retry_at.is_none_or(|at| tokio::time::Instant::now() >= at);
        if retry_due {
            match mint_due(&cache, key_type, SystemTime::now()).await {
                Ok(report) if report.failed == 0 => {
                    backoff.reset();
                    retry_at = None;
                }
                Ok(report) => {
                    tracing::warn!(
                        failed = report.failed,
                        "some x509-svids could not be minted"
                    );
                    retry_at = Some(tokio::time::Instant::now() + backoff.next_delay());
                }
                Err(status) => {
                    if let Failure::Rejected(rejection) = status::classify(&status) {
                        let _ = rejections.try_send(rejection);
                    }
                    tracing::warn!(code = ?status.code(), message = status.message(), "minting x509-svids failed");
                    retry_at = Some(tokio::time::Instant::now() + backoff.next_delay());
                }
            }
        }

        let sleep = wake_time(&cache, retry_at);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = cache.changed() => {}
            () = tokio::time::sleep_until(sleep) => {}
        }
    }
}

/// Mints every SVID due at `now`, in batches. An error is a failure of a whole call.
pub async fn mint_due(
    cache: &Cache,
    key_type: KeyType,
    now: SystemTime,
) -> Result<MintReport, tonic::Status> {
    let due = cache.due_for_svid(now);
    let mut report = MintReport::default();
    for batch in due.chunks(BATCH_SIZE) {
        let batch_report = mint_batch(cache, key_type, batch).await?;
        report.minted += batch_report.minted;
        report.failed += batch_report.failed;
    }
    Ok(report)
}

async fn mint_batch(
    cache: &Cache,
    key_type: KeyType,
    entries: &[Arc<Entry>],
) -> Result<MintReport, tonic::Status> {
    let count = entries.len();
    let prepared = tokio::task::spawn_blocking(move || {
        (0..count)
            .map(|_| {
                let key = PrivateKey::generate(key_type)?;
                let csr = key.csr_der()?;
                Ok((key, csr))
            })
            .collect::<Result<Vec<_>, crate::keys::KeyError>>()
    })
    .await
    .map_err(|_| tonic::Status::internal("key generation task failed"))?
    .map_err(|err| tonic::Status::internal(err.to_string()))?;

    let requests = entries
        .iter()
        .zip(&prepared)
        .map(|(entry, (_, csr))| X509SvidRequest {
            entry_id: entry.id.clone(),
            csr: csr.clone(),
        })
        .collect();
    let results = cache.signer().new_x509_svids(requests).await?;

    let bundle = cache.bundles().own.clone();
    let mut report = MintReport::default();
    for ((entry, (key, _)), result) in entries.iter().zip(prepared).zip(results) {
        let svid = result
            .map_err(|status| status.to_string())
            .and_then(|chain| {
                check_svid(entry, chain, key, bundle.as_deref()).map_err(|e| e.to_owned())
            });
        match svid {
            Ok(svid) => {
                cache.store_svid(&entry.id, svid);
                report.minted += 1;
            }
            Err(reason) => {
                tracing::warn!(entry_id = %entry.id, %reason, "x509-svid not minted");
                report.failed += 1;
            }
        }
    }
    metrics::count_svids_minted(report.minted, report.failed);
    Ok(report)
}

/// Checks the server's answer: the leaf names the entry's ID, certifies our key, and
/// the chain verifies against the bundle the agent holds (so a workload never gets an
/// SVID its own bundle rejects).
fn check_svid(
    entry: &Entry,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKey,
    bundle: Option<&lanyard_spiffe::Bundle>,
) -> Result<WorkloadSvid, &'static str> {
    let leaf = chain.first().ok_or("empty chain")?;
    let (_, cert) = X509Certificate::from_der(leaf).map_err(|_| "leaf is not a certificate")?;
    if cert.public_key().raw != key.public_key_spki() {
        return Err("leaf does not certify the agent's key");
    }
    let bundle = bundle.ok_or("no bundle to verify against yet")?;
    let id = lanyard_spiffe::x509::verify_x509_svid_with_bundle(&chain, bundle, SystemTime::now())
        .map_err(|_| "chain does not verify against the bundle")?;
    if id != entry.spiffe_id {
        return Err("leaf names another spiffe id than the entry");
    }

    let not_before = super::unix_time(cert.validity().not_before.timestamp());
    let expires_at = super::unix_time(cert.validity().not_after.timestamp());
    Ok(WorkloadSvid {
        spiffe_id: id,
        chain,
        key,
        not_before,
        expires_at,
        renew_at: renewal_time(not_before, expires_at, random_jitter()),
        entry_revision: entry.revision_number,
    })
}

fn wake_time(cache: &Cache, retry_at: Option<tokio::time::Instant>) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    let renewal = cache.next_renewal().map(|at| {
        now + at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    });
    let idle = now + Duration::from_secs(3600);
    [renewal, retry_at]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(idle)
        .max(now)
}
