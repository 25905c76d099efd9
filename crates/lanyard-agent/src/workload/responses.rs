//! Workload API messages built from a workload's snapshot. Pure functions: the same
//! snapshot always gives the same message.

use std::collections::{BTreeSet, HashMap};

use lanyard_proto::workload::{
    JwtBundlesResponse, X509BundlesResponse, X509svid, X509svidResponse,
};
use lanyard_spiffe::{Bundle, TrustDomain};

use super::WorkloadError;
use crate::cache::{WorkloadIdentity, WorkloadSnapshot};

/// The identities served from `snapshot`, in order; of several identities with the
/// same non-empty hint only the first is served, so hints stay unique.
pub(crate) fn served_identities(snapshot: &WorkloadSnapshot) -> Vec<&WorkloadIdentity> {
    let mut hints = BTreeSet::new();
    snapshot
        .identities
        .iter()
        .filter(|identity| identity.hint().is_empty() || hints.insert(identity.hint()))
        .collect()
}

/// Trust domains whose bundles go with `identities`: those they federate with, never
/// the agent's own.
pub(crate) fn federated_trust_domains(
    identities: &[&WorkloadIdentity],
    own: &TrustDomain,
) -> BTreeSet<TrustDomain> {
    identities
        .iter()
        .flat_map(|identity| identity.federates_with())
        .filter(|td| *td != own)
        .cloned()
        .collect()
}

/// `FetchX509SVID`: every served SVID with its key and the own bundle, and the
/// federated bundles of the served entries.
pub(crate) fn x509_svid_response(
    snapshot: &WorkloadSnapshot,
) -> Result<X509svidResponse, WorkloadError> {
    let identities = served_identities(snapshot);
    if identities.is_empty() {
        return Err(WorkloadError::NoIdentity);
    }
    let bundle = snapshot.bundle.as_deref().ok_or(WorkloadError::NoBundle)?;
    let bundle_der = x509_der(bundle);

    let svids = identities
        .iter()
        .map(|identity| X509svid {
            spiffe_id: identity.spiffe_id().to_string(),
            x509_svid: identity.svid.chain_der(),
            x509_svid_key: identity.svid.key.pkcs8_der().to_vec(),
            bundle: bundle_der.clone(),
            hint: identity.hint().to_owned(),
        })
        .collect();

    let federated_bundles = federated_bundles(snapshot, &identities, bundle.trust_domain())
        .map(|federated| {
            (
                federated.trust_domain().id().to_string(),
                x509_der(federated),
            )
        })
        .collect();
    Ok(X509svidResponse {
        svids,
        crl: Vec::new(),
        federated_bundles,
    })
}

/// `FetchX509Bundles`: the own bundle, and for a caller with an identity the bundles its
/// entries federate with. A caller without one gets the own bundle only when
/// unauthenticated verifiers are allowed.
pub(crate) fn x509_bundles_response(
    snapshot: &WorkloadSnapshot,
    allow_unauthenticated: bool,
) -> Result<X509BundlesResponse, WorkloadError> {
    let bundles = bundles_for(snapshot, allow_unauthenticated)?
        .into_iter()
        .map(|bundle| (bundle.trust_domain().id().to_string(), x509_der(bundle)))
        .collect();
    Ok(X509BundlesResponse {
        crl: Vec::new(),
        bundles,
    })
}

/// `FetchJWTBundles`: as [`x509_bundles_response`], each bundle as a JWK Set of its
/// JWT authorities only.
pub(crate) fn jwt_bundles_response(
    snapshot: &WorkloadSnapshot,
    allow_unauthenticated: bool,
) -> Result<JwtBundlesResponse, WorkloadError> {
    let bundles = bundles_for(snapshot, allow_unauthenticated)?
        .into_iter()
        .map(|bundle| {
            let jwks = bundle.to_jwt_jwks().map_err(|err| {
                WorkloadError::Internal(format!("cannot encode jwt bundle: {err}"))
            })?;
            Ok((bundle.trust_domain().id().to_string(), jwks.into_bytes()))
        })
        .collect::<Result<HashMap<_, _>, WorkloadError>>()?;
    Ok(JwtBundlesResponse { bundles })
}

/// The bundles a caller may verify with: the own one, and those its served entries
/// federate with.
pub(crate) fn bundles_for(
    snapshot: &WorkloadSnapshot,
    allow_unauthenticated: bool,
) -> Result<Vec<&Bundle>, WorkloadError> {
    let identities = served_identities(snapshot);
    if identities.is_empty() && !allow_unauthenticated {
        return Err(WorkloadError::NoIdentity);
    }
    let own = snapshot.bundle.as_deref().ok_or(WorkloadError::NoBundle)?;
    let mut bundles = vec![own];
    bundles.extend(federated_bundles(snapshot, &identities, own.trust_domain()));
    Ok(bundles)
}

fn federated_bundles<'a>(
    snapshot: &'a WorkloadSnapshot,
    identities: &[&WorkloadIdentity],
    own: &TrustDomain,
) -> impl Iterator<Item = &'a Bundle> {
    let wanted = federated_trust_domains(identities, own);
    snapshot
        .federated_bundles
        .iter()
        .filter(move |(td, _)| wanted.contains(td))
        .map(|(_, bundle)| &**bundle)
}

/// The X.509 authorities of `bundle` as concatenated DER.
pub(crate) fn x509_der(bundle: &Bundle) -> Vec<u8> {
    bundle
        .x509_authorities()
        .iter()
        .flat_map(|cert| cert.iter().copied())
        .collect()
}
