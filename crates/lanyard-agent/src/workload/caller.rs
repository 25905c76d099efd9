//! The steps every call on the public socket starts with: the security header (Workload
//! API only) and attestation of the pinned caller.

use lanyard_spiffe::SelectorSet;
use tonic::Request;

use super::WorkloadError;
use super::attestor::{AttestationError, WorkloadAttestation};
use super::peer::PeerInfo;

/// The metadata key every Workload API call must carry with the value `true`.
pub const SECURITY_HEADER: &str = "workload.spiffe.io";

/// Refuses a Workload API request without `workload.spiffe.io: true`.
pub(crate) fn check_security_header<T>(request: &Request<T>) -> Result<(), WorkloadError> {
    match request.metadata().get(SECURITY_HEADER) {
        Some(value) if value.as_bytes() == b"true" => Ok(()),
        _ => Err(WorkloadError::MissingHeader),
    }
}

/// Attests the caller of `request` from the peer information of its connection.
pub async fn attest_request<T>(
    attestation: &WorkloadAttestation,
    request: &Request<T>,
) -> Result<SelectorSet, WorkloadError> {
    let peer = request.extensions().get::<PeerInfo>().ok_or_else(|| {
        WorkloadError::Internal("request did not come through the public socket".to_owned())
    })?;
    let pinned = peer
        .pinned()
        .map_err(|err| WorkloadError::Attestation(AttestationError::Pin(err)))?;

    let selectors = attestation
        .attest(pinned)
        .await
        .map_err(WorkloadError::Attestation)?;
    tracing::debug!(
        pid = pinned.caller.pid,
        uid = pinned.caller.uid,
        selectors = selectors.len(),
        "workload attested"
    );
    Ok(selectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_header_value_passes() {
        let mut request = Request::new(());
        assert!(matches!(
            check_security_header(&request),
            Err(WorkloadError::MissingHeader)
        ));

        request
            .metadata_mut()
            .insert(SECURITY_HEADER, "True".parse().unwrap());
        assert!(check_security_header(&request).is_err());

        request
            .metadata_mut()
            .insert(SECURITY_HEADER, "true".parse().unwrap());
        assert!(check_security_header(&request).is_ok());
    }
}
