//! One X.509 CA: its certificate, key and chain.

use std::fmt;
use std::time::{Duration, SystemTime};

use lanyard_spiffe::TrustDomain;
use rcgen::{Issuer, PublicKeyData};
use rustls_pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::template;
use super::{CaSubject, X509Error};
use crate::key::Signer;
use crate::public_key::PublicKey;
use crate::upstream::{UpstreamAuthority, UpstreamCaRequest};

/// A CA that signs X509-SVIDs: a self-signed root, or an intermediate
/// whose chain leads to an upstream authority's roots.
pub struct X509Authority {
    trust_domain: TrustDomain,
    certificate: CertificateDer<'static>,
    upstream_chain: Vec<CertificateDer<'static>>,
    upstream_roots: Vec<CertificateDer<'static>>,
    issuer: Issuer<'static, Signer>,
    authority_id: String,
    upstream_authority_id: Option<String>,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl X509Authority {
    /// Makes a self-signed root CA for `trust_domain`, valid from `now`
    /// (backdated 10 s) for `ttl`.
    pub fn self_signed(
        trust_domain: &TrustDomain,
        subject: &CaSubject,
        signer: Signer,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<Self, X509Error> {
        if ttl.is_zero() {
            return Err(X509Error::ZeroTtl);
        }
        let serial = template::random_serial().map_err(|_| X509Error::Random)?;
        let skid = template::subject_key_id(signer.der_bytes());
        let params = template::ca_params(
            trust_domain,
            subject,
            serial,
            skid,
            (
                template::backdated(now),
                template::whole_seconds(template::later(now, ttl)),
            ),
        )
        .map_err(X509Error::Encode)?;
        let certificate = params.self_signed(&signer).map_err(X509Error::Encode)?;
        Self::from_parts(
            trust_domain,
            signer,
            certificate.der().clone(),
            Vec::new(),
            Vec::new(),
        )
    }

    /// Makes an intermediate CA for `trust_domain` signed by `upstream`;
    /// its lifetime is capped by what the upstream allows.
    pub fn under_upstream(
        trust_domain: &TrustDomain,
        subject: &CaSubject,
        signer: Signer,
        ttl: Duration,
        now: SystemTime,
        upstream: &dyn UpstreamAuthority,
    ) -> Result<Self, X509Error> {
        if ttl.is_zero() {
            return Err(X509Error::ZeroTtl);
        }
        let public_key = PublicKey::from_spki_der(signer.public_key().as_ref())
            .map_err(|err| X509Error::InvalidCaCertificate(err.to_string()))?;
        let request = UpstreamCaRequest {
            trust_domain,
            subject,
            public_key: &public_key,
            ttl,
            now,
        };
        let minted = upstream.mint_x509_ca(&request)?;
        Self::from_parts(
            trust_domain,
            signer,
            minted.certificate,
            minted.upstream_chain,
            minted.upstream_roots,
        )
    }

    /// Rebuilds a CA from stored parts, checking that they fit together:
    /// the certificate is a CA for `trust_domain` with a subject key ID and
    /// the signer's public key. Empty `upstream_roots` means self-signed.
    pub fn from_parts(
        trust_domain: &TrustDomain,
        signer: Signer,
        certificate: CertificateDer<'static>,
        upstream_chain: Vec<CertificateDer<'static>>,
        upstream_roots: Vec<CertificateDer<'static>>,
    ) -> Result<Self, X509Error> {
        let facts = CaFacts::parse(&certificate)?;
        if facts.spki != signer.public_key().as_ref() {
            return Err(invalid("certificate public key does not match the ca key"));
        }
        if !facts
            .uris
            .iter()
            .any(|uri| uri == trust_domain.id().as_str())
        {
            return Err(invalid(
                "certificate does not name the trust domain as a uri san",
            ));
        }
        if upstream_roots.is_empty() && !facts.self_issued {
            return Err(invalid(
                "certificate is not self-signed and has no upstream roots",
            ));
        }

        let issuer = Issuer::from_ca_cert_der(&certificate, signer).map_err(X509Error::Encode)?;
        let upstream_authority_id = if upstream_roots.is_empty() {
            None
        } else {
            facts.authority_key_id.map(hex::encode)
        };
        Ok(Self {
            trust_domain: trust_domain.clone(),
            certificate,
            upstream_chain,
            upstream_roots,
            issuer,
            authority_id: hex::encode(facts.subject_key_id),
            upstream_authority_id,
            not_before: facts.not_before,
            not_after: facts.not_after,
        })
    }

    /// The trust domain this CA signs for.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// This CA's own certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.certificate
    }

    /// Certificates between this CA and the upstream roots (empty when self-signed).
    pub fn upstream_chain(&self) -> &[CertificateDer<'static>] {
        &self.upstream_chain
    }

    /// The upstream roots (empty when self-signed).
    pub fn upstream_roots(&self) -> &[CertificateDer<'static>] {
        &self.upstream_roots
    }

    /// The roots that validate this CA's SVIDs and belong in the trust
    /// bundle: the CA itself when self-signed, else the upstream roots.
    pub fn trust_anchors(&self) -> &[CertificateDer<'static>] {
        if self.upstream_roots.is_empty() {
            std::slice::from_ref(&self.certificate)
        } else {
            &self.upstream_roots
        }
    }

    /// What follows a leaf signed by this CA in an SVID chain (no root).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        if self.upstream_roots.is_empty() {
            return Vec::new();
        }
        let mut chain = Vec::with_capacity(1 + self.upstream_chain.len());
        chain.push(self.certificate.clone());
        chain.extend(self.upstream_chain.iter().cloned());
        chain
    }

    /// The subject key ID in lower-case hex: the authority ID the
    /// LocalAuthority API shows.
    pub fn authority_id(&self) -> &str {
        &self.authority_id
    }

    /// The authority key ID (hex) of this CA when an upstream signed it.
    pub fn upstream_authority_id(&self) -> Option<&str> {
        self.upstream_authority_id.as_deref()
    }

    /// The CA certificate's NotBefore.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// The CA certificate's NotAfter; no SVID it signs outlives it.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The CA key's type.
    pub fn key_type(&self) -> crate::key::KeyType {
        self.issuer.key().key_type()
    }

    /// The CA's public key (DER SubjectPublicKeyInfo).
    pub fn public_key(&self) -> &rustls_pki_types::SubjectPublicKeyInfoDer<'static> {
        self.issuer.key().public_key()
    }

    pub(super) fn issuer(&self) -> &Issuer<'static, Signer> {
        &self.issuer
    }
}

impl fmt::Debug for X509Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Authority")
            .field("trust_domain", &self.trust_domain.as_str())
            .field("authority_id", &self.authority_id)
            .field("upstream_authority_id", &self.upstream_authority_id)
            .field("not_after", &self.not_after)
            .field("key", self.issuer.key())
            .finish_non_exhaustive()
    }
}

/// What `from_parts` needs to know about a CA certificate.
struct CaFacts {
    spki: Vec<u8>,
    uris: Vec<String>,
    subject_key_id: Vec<u8>,
    authority_key_id: Option<Vec<u8>>,
    self_issued: bool,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl CaFacts {
    fn parse(der: &CertificateDer<'_>) -> Result<Self, X509Error> {
        let (rest, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|_| invalid("certificate is not valid der"))?;
        if !rest.is_empty() {
            return Err(invalid("trailing data after the certificate"));
        }
        let is_ca = cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(invalid(
                "certificate is not a ca (basicConstraints cA is not true)",
            ));
        }

        let mut facts = Self {
            spki: cert.public_key().raw.to_vec(),
            uris: Vec::new(),
            subject_key_id: Vec::new(),
            authority_key_id: None,
            self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
            not_before: template::from_unix(cert.validity().not_before.timestamp()),
            not_after: template::from_unix(cert.validity().not_after.timestamp()),
        };
        for extension in cert.extensions() {
            match extension.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => facts.subject_key_id = id.0.to_vec(),
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    facts.authority_key_id = aki.key_identifier.as_ref().map(|id| id.0.to_vec());
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        if let GeneralName::URI(uri) = name {
                            facts.uris.push((*uri).to_owned());
                        }
                    }
                }
                _ => {}
            }
        }
        if facts.subject_key_id.is_empty() {
            return Err(invalid("certificate has no subject key identifier"));
        }
        Ok(facts)
    }
}

fn invalid(reason: &str) -> X509Error {
    X509Error::InvalidCaCertificate(reason.to_owned())
}
