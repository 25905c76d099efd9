//! Shared helpers for the integration tests: inspect and verify what the CA issues.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::{Duration, SystemTime};

use lanyard_ca::{KeyId, KeyManager, KeyType, MemoryKeyManager, PublicKey, Signer};
use lanyard_spiffe::{SpiffeId, TrustDomain};
use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

pub(crate) fn td() -> TrustDomain {
    TrustDomain::new("example.org").unwrap()
}

pub(crate) fn id(path: &str) -> SpiffeId {
    SpiffeId::from_parts(&td(), path).unwrap()
}

pub(crate) fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub(crate) fn ca_signer(key_type: KeyType) -> Signer {
    MemoryKeyManager::new()
        .generate_key(&KeyId::new("ca").unwrap(), key_type)
        .unwrap()
}

/// A workload key pair's public key, as a CSR would carry it.
pub(crate) fn workload_key() -> PublicKey {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    PublicKey::from_spki_der(&rcgen::PublicKeyData::subject_public_key_info(&key)).unwrap()
}

/// Verifies `chain` (leaf first) against `anchors` with webpki for client
/// and server authentication at `at`.
pub(crate) fn webpki_verify(
    chain: &[CertificateDer<'static>],
    anchors: &[CertificateDer<'static>],
    at: SystemTime,
) -> Result<(), webpki::Error> {
    let anchors: Vec<_> = anchors
        .iter()
        .map(|cert| webpki::anchor_from_trusted_cert(cert).unwrap().to_owned())
        .collect();
    let leaf = EndEntityCert::try_from(&chain[0]).unwrap();
    let time = UnixTime::since_unix_epoch(at.duration_since(SystemTime::UNIX_EPOCH).unwrap());
    for usage in [KeyUsage::client_auth(), KeyUsage::server_auth()] {
        leaf.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &chain[1..],
            time,
            usage,
            None,
            None,
        )?;
    }
    Ok(())
}

/// A CA manager on a manual clock, with stores that outlive it (to restart).
pub(crate) struct Harness {
    pub(crate) clock: std::sync::Arc<lanyard_ca::ManualClock>,
    pub(crate) keys: std::sync::Arc<dyn KeyManager>,
    pub(crate) journal: lanyard_ca::MemoryJournalStore,
    pub(crate) config: lanyard_ca::CaConfig,
    pub(crate) upstream: Option<std::sync::Arc<dyn lanyard_ca::UpstreamAuthority>>,
}

impl Harness {
    pub(crate) fn new(ca_ttl: Duration) -> Self {
        let mut config = lanyard_ca::CaConfig::new(td());
        config.ca_ttl = ca_ttl;
        config.prune_grace = Duration::ZERO;
        Self {
            clock: std::sync::Arc::new(lanyard_ca::ManualClock::new(start())),
            keys: std::sync::Arc::new(MemoryKeyManager::new()),
            journal: lanyard_ca::MemoryJournalStore::new(),
            config,
            upstream: None,
        }
    }

    pub(crate) fn open(&self) -> lanyard_ca::CaManager {
        lanyard_ca::CaManager::open(
            self.config.clone(),
            self.keys.clone(),
            std::sync::Arc::new(self.journal.clone()),
            self.upstream.clone(),
            self.clock.clone(),
        )
        .unwrap()
    }

    pub(crate) fn now(&self) -> SystemTime {
        use lanyard_ca::Clock as _;
        self.clock.now()
    }
}

/// The X.509 trust anchors the manager wants in the bundle.
pub(crate) fn published_anchors(manager: &lanyard_ca::CaManager) -> Vec<CertificateDer<'static>> {
    manager
        .published_authorities()
        .unwrap()
        .x509
        .into_iter()
        .map(|p| p.certificate)
        .collect()
}

pub(crate) fn published_kids(manager: &lanyard_ca::CaManager) -> Vec<String> {
    manager
        .published_authorities()
        .unwrap()
        .jwt
        .into_iter()
        .map(|p| p.authority.key_id().to_owned())
        .collect()
}

/// The trust bundle a server would serve for what the manager publishes.
pub(crate) fn bundle_set(manager: &lanyard_ca::CaManager) -> lanyard_spiffe::BundleSet {
    let published = manager.published_authorities().unwrap();
    let mut bundle = lanyard_spiffe::Bundle::new(td());
    for x509 in published.x509 {
        bundle.add_x509_authority(x509.certificate).unwrap();
    }
    for jwt in published.jwt {
        bundle.add_jwt_authority(jwt.authority).unwrap();
    }
    let mut set = lanyard_spiffe::BundleSet::new();
    set.insert(bundle);
    set
}

pub(crate) fn jwt_request(path: &str, ttl: Duration) -> lanyard_ca::JwtSvidRequest {
    lanyard_ca::JwtSvidRequest {
        spiffe_id: id(path),
        audience: vec!["api".to_owned()],
        ttl,
        issuer: None,
        include_jti: false,
    }
}
