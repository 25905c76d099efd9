//! What verifying a connection's client certificate established, kept for the
//! connection so that its requests do not verify the same chain (a signature check
//! and certificate parsing) again each time. It is used only while the trust bundle
//! is the very one it was verified against and every certificate of the chain is
//! still within its validity; otherwise the chain is verified again.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lanyard_spiffe::{Bundle, SpiffeId};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::FromDer as _;

/// A verified client certificate chain.
#[derive(Clone)]
pub(super) struct Verified {
    /// The chain's SPIFFE ID.
    pub(super) id: SpiffeId,
    /// The leaf's decimal serial number, for agent SVIDs.
    pub(super) serial: Option<String>,
    bundle: Arc<Bundle>,
    valid_until: SystemTime,
}

impl Verified {
    /// `id` (and `serial`) verified from `certs` against `bundle`. When the chain's
    /// validity cannot be read, the result is never reused.
    pub(super) fn new(
        id: SpiffeId,
        serial: Option<String>,
        bundle: Arc<Bundle>,
        certs: &[CertificateDer<'_>],
    ) -> Self {
        Self {
            id,
            serial,
            bundle,
            valid_until: chain_not_after(certs).unwrap_or(UNIX_EPOCH),
        }
    }
}

/// The per-connection slot.
#[derive(Default)]
pub(super) struct VerifiedPeer {
    slot: Mutex<Option<Verified>>,
}

impl VerifiedPeer {
    /// What was verified, if it still holds for `bundle` at `now`.
    pub(super) fn get(&self, bundle: &Arc<Bundle>, now: SystemTime) -> Option<Verified> {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .filter(|v| Arc::ptr_eq(&v.bundle, bundle) && now < v.valid_until)
            .cloned()
    }

    /// Keeps `verified` for the connection's next requests.
    pub(super) fn set(&self, verified: Verified) {
        *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(verified);
    }
}

impl fmt::Debug for VerifiedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("VerifiedPeer")
            .field("id", &slot.as_ref().map(|v| v.id.as_str().to_owned()))
            .finish()
    }
}

/// The earliest end of validity among `certs`.
fn chain_not_after(certs: &[CertificateDer<'_>]) -> Option<SystemTime> {
    certs
        .iter()
        .map(|cert| {
            let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert).ok()?;
            let secs = u64::try_from(parsed.validity().not_after.timestamp()).ok()?;
            Some(UNIX_EPOCH + Duration::from_secs(secs))
        })
        .try_fold(None, |earliest: Option<SystemTime>, end| {
            let end = end?;
            Some(Some(earliest.map_or(end, |e| e.min(end))))
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use lanyard_spiffe::TrustDomain;

    use super::*;

    fn bundle() -> Arc<Bundle> {
        Arc::new(Bundle::new(TrustDomain::new("example.org").expect("td")))
    }

    #[test]
    fn a_verified_chain_is_reused_only_for_the_same_bundle_while_valid() {
        let bundle = bundle();
        let now = SystemTime::now();
        let peer = VerifiedPeer::default();
        assert!(peer.get(&bundle, now).is_none());
        peer.set(Verified {
            id: SpiffeId::parse("spiffe://example.org/spire/agent/x").expect("id"),
            serial: Some("1".to_owned()),
            bundle: Arc::clone(&bundle),
            valid_until: now + Duration::from_secs(60),
        });
        assert!(peer.get(&bundle, now).is_some());
        assert!(peer.get(&self::bundle(), now).is_none(), "another bundle");
        assert!(
            peer.get(&bundle, now + Duration::from_secs(61)).is_none(),
            "expired"
        );
    }

    #[test]
    fn an_unreadable_chain_is_never_reused() {
        let bundle = bundle();
        let id = SpiffeId::parse("spiffe://example.org/spire/agent/x").expect("id");
        let peer = VerifiedPeer::default();
        peer.set(Verified::new(id, None, Arc::clone(&bundle), &[]));
        assert!(peer.get(&bundle, SystemTime::now()).is_none());
    }
}
