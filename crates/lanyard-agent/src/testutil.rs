//! Test fixtures: a real CA from lanyard-ca that issues SVIDs the agent must accept or
//! refuse.

use std::time::{Duration, SystemTime};

use lanyard_ca::{
    CaSubject, KeyId, KeyManager as _, KeyType, MemoryKeyManager, PublicKey, X509Authority,
    X509SvidRequest,
};
use lanyard_spiffe::{Bundle, SpiffeId, TrustDomain};
use rustls_pki_types::CertificateDer;

use crate::keys::PrivateKey;

/// A fixed instant tests run at.
pub(crate) fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub(crate) fn td(name: &str) -> TrustDomain {
    TrustDomain::new(name).expect("valid trust domain")
}

pub(crate) fn id(td_name: &str, path: &str) -> SpiffeId {
    SpiffeId::from_parts(&td(td_name), path).expect("valid id")
}

/// A self-signed CA of one trust domain, valid for a day from `t0() - 1h`.
pub(crate) struct TestCa {
    authority: X509Authority,
}

impl TestCa {
    pub(crate) fn new(td_name: &str) -> Self {
        Self::valid_from(td_name, t0() - Duration::from_secs(3600))
    }

    pub(crate) fn valid_from(td_name: &str, start: SystemTime) -> Self {
        let signer = MemoryKeyManager::new()
            .generate_key(&KeyId::new("ca").expect("key id"), KeyType::EcP256)
            .expect("ca key");
        let authority = X509Authority::self_signed(
            &td(td_name),
            &CaSubject::default(),
            signer,
            Duration::from_secs(24 * 3600),
            start,
        )
        .expect("self-signed ca");
        Self { authority }
    }

    pub(crate) fn root(&self) -> CertificateDer<'static> {
        self.authority.certificate().clone()
    }

    pub(crate) fn bundle(&self) -> Bundle {
        let mut bundle = Bundle::new(self.authority.trust_domain().clone());
        bundle.add_x509_authority(self.root()).expect("ca cert");
        bundle
    }

    /// Issues an SVID for `id` over `key`, valid from `now - 10s` for `ttl`.
    pub(crate) fn issue(
        &self,
        id: &SpiffeId,
        key: &PrivateKey,
        ttl: Duration,
        now: SystemTime,
    ) -> Vec<CertificateDer<'static>> {
        let request = X509SvidRequest {
            public_key: PublicKey::from_spki_der(key.public_key_spki()).expect("public key"),
            spiffe_id: id.clone(),
            dns_names: Vec::new(),
            ttl,
        };
        let issued = self
            .authority
            .issue_x509_svid(&request, now)
            .expect("issue svid");
        let mut chain = vec![issued.leaf().clone()];
        chain.extend(issued.intermediates().iter().cloned());
        chain
    }

    /// Issues an SVID for `id` over the public key `spki` (DER SubjectPublicKeyInfo).
    pub(crate) fn issue_for_spki(
        &self,
        id: &SpiffeId,
        spki: &[u8],
        ttl: Duration,
        now: SystemTime,
    ) -> Vec<CertificateDer<'static>> {
        let request = X509SvidRequest {
            public_key: PublicKey::from_spki_der(spki).expect("public key"),
            spiffe_id: id.clone(),
            dns_names: Vec::new(),
            ttl,
        };
        let issued = self
            .authority
            .issue_x509_svid(&request, now)
            .expect("issue svid");
        let mut chain = vec![issued.leaf().clone()];
        chain.extend(issued.intermediates().iter().cloned());
        chain
    }

    /// Issues an SVID for `id` with a fresh P-256 key, valid for an hour from `t0()`.
    pub(crate) fn issue_with_new_key(
        &self,
        id: &SpiffeId,
    ) -> (Vec<CertificateDer<'static>>, PrivateKey) {
        let key = PrivateKey::generate(KeyType::EcP256).expect("key");
        let chain = self.issue(id, &key, Duration::from_secs(3600), t0());
        (chain, key)
    }
}

/// An entry as the server sends it: `spiffe://example.org/w/<id>` for workloads with
/// `unix:uid:<uid>`, parented to a join-token agent.
pub(crate) fn pb_entry(id: &str, uid: u32) -> lanyard_proto::spire::api::types::Entry {
    use lanyard_proto::spire::api::types as pb;
    pb::Entry {
        id: id.into(),
        spiffe_id: Some(pb::Spiffeid {
            trust_domain: "example.org".into(),
            path: format!("/w/{id}"),
        }),
        parent_id: Some(pb::Spiffeid {
            trust_domain: "example.org".into(),
            path: "/spire/agent/join_token/t".into(),
        }),
        selectors: vec![pb::Selector {
            r#type: "unix".into(),
            value: format!("uid:{uid}"),
        }],
        revision_number: 1,
        created_at: 100,
        ..pb::Entry::default()
    }
}

/// `ca`'s bundle as the server sends it, for `td_name`, with `sequence`.
pub(crate) fn pb_bundle(
    ca: &TestCa,
    td_name: &str,
    sequence: u64,
) -> lanyard_proto::spire::api::types::Bundle {
    use lanyard_proto::spire::api::types as pb;
    pb::Bundle {
        trust_domain: td_name.into(),
        x509_authorities: vec![pb::X509Certificate {
            asn1: ca.root().to_vec(),
            tainted: false,
        }],
        sequence_number: sequence,
        ..pb::Bundle::default()
    }
}

impl TestCa {
    /// A TLS server certificate for `dns_name` over `key`, valid for an hour from now.
    pub(crate) fn issue_server_cert(
        &self,
        dns_name: &str,
        key: &PrivateKey,
    ) -> Vec<CertificateDer<'static>> {
        let request = X509SvidRequest {
            public_key: PublicKey::from_spki_der(key.public_key_spki()).expect("public key"),
            spiffe_id: id("web.example", "/server"),
            dns_names: vec![dns_name.to_owned()],
            ttl: Duration::from_secs(3600),
        };
        let issued = self
            .authority
            .issue_x509_svid(&request, SystemTime::now())
            .expect("issue certificate");
        let mut chain = vec![issued.leaf().clone()];
        chain.extend(issued.intermediates().iter().cloned());
        chain
    }
}
