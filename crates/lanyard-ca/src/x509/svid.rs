//! Signing X509-SVIDs.

use std::time::{Duration, SystemTime};

use lanyard_spiffe::SpiffeId;
use rustls_pki_types::CertificateDer;

use super::template;
use super::{X509Authority, X509Error};
use crate::public_key::PublicKey;

/// What to certify: a public key (normally from a CSR) under a SPIFFE ID.
#[derive(Debug, Clone)]
pub struct X509SvidRequest {
    /// The subject's public key.
    pub public_key: PublicKey,
    /// The SPIFFE ID (URI SAN); must be in the CA's trust domain and have a path.
    pub spiffe_id: SpiffeId,
    /// DNS SANs; the first also becomes the subject CN.
    pub dns_names: Vec<String>,
    /// Requested lifetime; capped at the CA's NotAfter.
    pub ttl: Duration,
}

/// A signed X509-SVID.
#[derive(Debug, Clone)]
pub struct IssuedX509Svid {
    leaf: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    expires_at: SystemTime,
    serial: u128,
}

impl IssuedX509Svid {
    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.leaf
    }

    /// Leaf first, then intermediates; never the root.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        let mut chain = Vec::with_capacity(1 + self.chain.len());
        chain.push(self.leaf.clone());
        chain.extend(self.chain.iter().cloned());
        chain
    }

    /// The intermediates that follow the leaf (empty under a self-signed CA).
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf's NotAfter.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// The leaf's serial number.
    pub fn serial(&self) -> u128 {
        self.serial
    }
}

impl X509Authority {
    /// Signs an X509-SVID at time `now`. NotBefore is backdated 10 s and
    /// NotAfter is `now + ttl` capped at this CA's NotAfter.
    pub fn issue_x509_svid(
        &self,
        request: &X509SvidRequest,
        now: SystemTime,
    ) -> Result<IssuedX509Svid, X509Error> {
        let id = &request.spiffe_id;
        if id.trust_domain() != self.trust_domain() {
            return Err(X509Error::ForeignTrustDomain {
                id: id.as_str().to_owned(),
                trust_domain: self.trust_domain().as_str().to_owned(),
            });
        }
        if id.is_root() {
            return Err(X509Error::RootSpiffeId(id.as_str().to_owned()));
        }
        if let Some(bad) = request
            .dns_names
            .iter()
            .find(|name| !template::is_valid_dns_name(name))
        {
            return Err(X509Error::InvalidDnsName(bad.clone()));
        }
        if request.ttl.is_zero() {
            return Err(X509Error::ZeroTtl);
        }
        if now >= self.not_after() {
            return Err(X509Error::AuthorityNotValid {
                authority_id: self.authority_id().to_owned(),
            });
        }

        let not_after =
            template::whole_seconds(template::later(now, request.ttl)).min(self.not_after());
        let serial = template::random_serial().map_err(|_| X509Error::Random)?;
        let params = template::leaf_params(
            id,
            &request.dns_names,
            serial,
            (template::backdated(now), not_after),
        )
        .map_err(X509Error::Encode)?;
        let leaf = params
            .signed_by(&request.public_key, self.issuer())
            .map_err(X509Error::Encode)?;

        tracing::debug!(spiffe_id = %id, authority_id = self.authority_id(), "signed x509-svid");
        Ok(IssuedX509Svid {
            leaf: leaf.der().clone(),
            chain: self.chain(),
            expires_at: not_after,
            serial,
        })
    }
}
