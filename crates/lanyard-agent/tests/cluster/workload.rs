//! A workload's view of the agent: X509-SVIDs from the Workload API, each checked
//! against the bundle the agent sent with it, at the moment it arrived.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use lanyard_agent::workload::SECURITY_HEADER;
use lanyard_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use lanyard_proto::workload::{X509svidRequest, X509svidResponse};
use lanyard_spiffe::x509::{split_der_chain, verify_x509_svid_with_bundle};
use lanyard_spiffe::{Bundle, TrustDomain};
use rustls_pki_types::CertificateDer;
use tonic::Streaming;

use super::TD;

/// One X509-SVID a workload received, verified.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) spiffe_id: String,
    /// The bundle root the SVID chains to.
    pub(crate) root: CertificateDer<'static>,
    /// The leaf certificate.
    pub(crate) leaf: CertificateDer<'static>,
}

/// A `FetchX509SVID` stream from the agent at `socket`.
pub(crate) async fn watch_x509(
    socket: &Path,
) -> Result<Streaming<X509svidResponse>, tonic::Status> {
    let channel = lanyard_daemon::socket::connect_unix_channel(socket)
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(X509svidRequest {});
    request
        .metadata_mut()
        .insert(SECURITY_HEADER, "true".parse().unwrap());
    Ok(SpiffeWorkloadApiClient::new(channel)
        .fetch_x509svid(request)
        .await?
        .into_inner())
}

/// The first response of a fresh `FetchX509SVID` call.
pub(crate) async fn fetch_x509(socket: &Path) -> Result<X509svidResponse, tonic::Status> {
    watch_x509(socket)
        .await?
        .message()
        .await?
        .ok_or_else(|| tonic::Status::unavailable("stream ended"))
}

/// Verifies every SVID of `response` against the bundle in the same response, now.
/// Names the first that fails.
pub(crate) fn verify_response(response: &X509svidResponse) -> Result<Vec<Received>, String> {
    let now = SystemTime::now();
    let mut received = Vec::new();
    for svid in &response.svids {
        let chain =
            split_der_chain(&svid.x509_svid).map_err(|e| format!("{}: {e}", svid.spiffe_id))?;
        let roots = split_der_chain(&svid.bundle).map_err(|e| format!("bundle: {e}"))?;
        let bundle = bundle_of(&roots);
        let id = verify_x509_svid_with_bundle(&chain, &bundle, now)
            .map_err(|e| format!("{} does not verify against its bundle: {e}", svid.spiffe_id))?;
        if id.to_string() != svid.spiffe_id {
            return Err(format!("{} carries {id}", svid.spiffe_id));
        }
        let root = roots
            .iter()
            .find(|root| {
                verify_x509_svid_with_bundle(&chain, &bundle_of(std::slice::from_ref(root)), now)
                    .is_ok()
            })
            .ok_or("no single root verifies the chain")?
            .clone();
        received.push(Received {
            spiffe_id: svid.spiffe_id.clone(),
            root,
            leaf: chain[0].clone(),
        });
    }
    Ok(received)
}

/// Waits until the agent at `socket` serves a verified SVID for `spiffe_id`; how long
/// that took. Panics with `log()` after `within`.
pub(crate) async fn wait_for_svid(
    socket: &Path,
    spiffe_id: &str,
    within: Duration,
    log: impl Fn() -> String,
) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(response) = fetch_x509(socket).await {
            let received = verify_response(&response).unwrap_or_else(|e| panic!("{e}"));
            if received.iter().any(|r| r.spiffe_id == spiffe_id) {
                return started.elapsed();
            }
        }
        assert!(
            started.elapsed() < within,
            "no svid for {spiffe_id} within {within:?}; log:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn bundle_of(roots: &[CertificateDer<'static>]) -> Bundle {
    let mut bundle = Bundle::new(TrustDomain::new(TD).unwrap());
    for root in roots {
        bundle.add_x509_authority(root.clone()).unwrap();
    }
    bundle
}
