//! The agent's own X.509-SVID with its key, checked before it is used.

use std::time::SystemTime;

use lanyard_spiffe::{Bundle, SpiffeId, TrustDomain};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use crate::keys::PrivateKey;

/// Path prefix of every agent ID (SPIRE's layout).
pub const AGENT_PATH_PREFIX: &str = "/spire/agent/";

/// Why an agent SVID cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The chain does not verify against the bundle at this time (expired, untrusted).
    #[error("agent svid does not verify against the trust bundle")]
    Unverified(#[source] lanyard_spiffe::X509SvidError),
    /// The SVID's ID is not an agent ID of the trust domain.
    #[error("agent svid names {0}, which is not an agent id of the trust domain")]
    NotAnAgentId(SpiffeId),
    /// The SVID does not certify the key it is paired with.
    #[error("agent svid does not certify the agent's key")]
    KeyMismatch,
}

/// The agent's current identity.
#[derive(Debug, Clone)]
pub struct AgentSvid {
    /// The agent ID, `spiffe://<td>/spire/agent/...`.
    pub spiffe_id: SpiffeId,
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKey,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Whether the server lets the agent renew by attesting again.
    pub reattestable: bool,
}

impl AgentSvid {
    /// Checks `chain` against `bundle` at `now`: a valid X.509-SVID of `trust_domain`
    /// under `/spire/agent/`, certifying `key`.
    pub fn check(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKey,
        reattestable: bool,
        bundle: &Bundle,
        trust_domain: &TrustDomain,
        now: SystemTime,
    ) -> Result<Self, IdentityError> {
        let spiffe_id = lanyard_spiffe::x509::verify_x509_svid_with_bundle(&chain, bundle, now)
            .map_err(IdentityError::Unverified)?;
        if !spiffe_id.is_member_of(trust_domain) || !spiffe_id.path().starts_with(AGENT_PATH_PREFIX)
        {
            return Err(IdentityError::NotAnAgentId(spiffe_id));
        }

        let (_, leaf) =
            X509Certificate::from_der(&chain[0]).map_err(|_| IdentityError::KeyMismatch)?;
        if leaf.public_key().raw != key.public_key_spki() {
            return Err(IdentityError::KeyMismatch);
        }
        let not_before = crate::cache::unix_time(leaf.validity().not_before.timestamp());
        let not_after = crate::cache::unix_time(leaf.validity().not_after.timestamp());
        Ok(Self {
            spiffe_id,
            chain,
            key,
            not_before,
            not_after,
            reattestable,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testutil::{TestCa, id, t0, td};

    #[test]
    fn valid_agent_svid_is_accepted() {
        let ca = TestCa::new("example.org");
        let agent = id("example.org", "/spire/agent/join_token/abc");
        let (chain, key) = ca.issue_with_new_key(&agent);

        let svid = AgentSvid::check(chain, key, false, &ca.bundle(), &td("example.org"), t0())
            .expect("valid");
        assert_eq!(svid.spiffe_id, agent);
        assert!(svid.not_before < svid.not_after);
    }

    #[test]
    fn unusable_agent_svids_are_refused() {
        let ca = TestCa::new("example.org");
        let td = td("example.org");
        let agent = id("example.org", "/spire/agent/join_token/abc");

        let (chain, _) = ca.issue_with_new_key(&agent);
        let (_, other_key) = ca.issue_with_new_key(&agent);
        assert!(matches!(
            AgentSvid::check(
                chain.clone(),
                other_key.clone(),
                false,
                &ca.bundle(),
                &td,
                t0()
            ),
            Err(IdentityError::KeyMismatch)
        ));

        let later = t0() + Duration::from_secs(7200);
        assert!(matches!(
            AgentSvid::check(chain, other_key, false, &ca.bundle(), &td, later),
            Err(IdentityError::Unverified(_))
        ));

        let (chain, key) = ca.issue_with_new_key(&id("example.org", "/workload"));
        assert!(matches!(
            AgentSvid::check(chain, key, false, &ca.bundle(), &td, t0()),
            Err(IdentityError::NotAnAgentId(_))
        ));
    }
}
