//! Certificates, key files and a driver that runs both attestation halves
//! against each other in-process.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]
#![allow(clippy::unwrap_used, reason = "test code")]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lanyard_attest::x509pop::{
    X509PopAgent, X509PopAgentConfig, X509PopServer, X509PopServerConfig,
};
use lanyard_attest::{
    AgentAttestor, AttestError, AttestationResult, ServerAttestor, ServerAttestors, SessionContext,
    Step,
};
use lanyard_spiffe::TrustDomain;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256, RsaKeySize,
    SanType, date_time_ymd,
};
use rustls_pki_types::CertificateDer;
use tempfile::TempDir;

pub const TD: &str = "example.org";

pub fn td() -> TrustDomain {
    TrustDomain::new(TD).unwrap()
}

/// Test certificates are valid from 2025-01-01 to 2026-01-01; this is 2025-06-01.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_748_736_000)
}

pub fn ctx() -> SessionContext {
    SessionContext::new(now())
}

/// Leaf key algorithms under test.
#[derive(Debug, Clone, Copy)]
pub enum KeyAlg {
    EcP256,
    EcP384,
    Rsa2048,
    Rsa3072,
}

pub fn key(alg: KeyAlg) -> KeyPair {
    match alg {
        KeyAlg::EcP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap(),
        KeyAlg::EcP384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap(),
        KeyAlg::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap(),
        KeyAlg::Rsa3072 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_3072).unwrap(),
    }
}

pub struct Ca {
    pub key: KeyPair,
    pub params: CertificateParams,
    pub cert: Certificate,
}

impl Ca {
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2026, 1, 1);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

pub fn root(cn: &str) -> Ca {
    let params = ca_params(cn);
    let key = key(KeyAlg::EcP256);
    let cert = params.self_signed(&key).unwrap();
    Ca { key, params, cert }
}

pub fn intermediate(parent: &Ca, cn: &str) -> Ca {
    let params = ca_params(cn);
    let key = key(KeyAlg::EcP256);
    let cert = params.signed_by(&key, &parent.issuer()).unwrap();
    Ca { key, params, cert }
}

/// A node certificate template: CN `node-1`, serial 0a1b2c3d4e7f,
/// digitalSignature, 2025.
pub fn leaf_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2026, 1, 1);
    params.distinguished_name.push(DnType::CommonName, "node-1");
    params.serial_number = Some(vec![0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x7f].into());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params
}

pub fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().unwrap())
}

/// A leaf and its key.
pub struct Leaf {
    pub key: KeyPair,
    pub cert: Certificate,
}

impl Leaf {
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }
}

pub fn leaf(params: &CertificateParams, alg: KeyAlg, issuer: &Ca) -> Leaf {
    let key = key(alg);
    let cert = params.signed_by(&key, &issuer.issuer()).unwrap();
    Leaf { key, cert }
}

/// Files on disk for both halves.
pub struct Files {
    pub dir: TempDir,
}

impl Files {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Writes the agent's files: `leaf.pem` holds the leaf and `chain`, the
    /// key goes to `key.pem`.
    pub fn agent_config(&self, leaf: &Leaf, chain: &[&Ca]) -> X509PopAgentConfig {
        let mut pem = leaf.cert.pem();
        for ca in chain {
            pem.push_str(&ca.pem());
        }
        X509PopAgentConfig {
            private_key_path: self.write("key.pem", &leaf.key.serialize_pem()),
            certificate_path: self.write("leaf.pem", &pem),
            intermediates_path: None,
        }
    }

    /// Server settings trusting `roots` (external PKI).
    pub fn server_config(&self, roots: &[&Ca]) -> X509PopServerConfig {
        let pem: String = roots.iter().map(|ca| ca.pem()).collect();
        X509PopServerConfig {
            ca_bundle_paths: vec![self.write("roots.pem", &pem)],
            ..X509PopServerConfig::default()
        }
    }
}

pub fn agent(config: X509PopAgentConfig) -> X509PopAgent {
    X509PopAgent::new(config).unwrap()
}

pub fn server(config: &X509PopServerConfig) -> X509PopServer {
    X509PopServer::new(td(), config).unwrap()
}

/// Runs an attestation as the server's AttestAgent handler and the agent's
/// client would: payload, then challenges relayed until done.
pub async fn attest(
    server: impl ServerAttestor + 'static,
    agent: &dyn AgentAttestor,
    ctx: SessionContext,
) -> Result<AttestationResult, AttestError> {
    let mut attestors = ServerAttestors::new();
    attestors.insert(Arc::new(server));

    let mut agent_session = agent.begin()?;
    let data = agent_session.attestation_data();
    let (mut server_session, mut step) = attestors.start(&data, ctx).await?;
    let mut rounds = 0;
    loop {
        match step {
            Step::Done(result) => return Ok(result),
            Step::Challenge(challenge) => {
                rounds += 1;
                assert!(rounds <= 4, "attestation did not finish");
                let answer = agent_session.answer_challenge(&challenge)?;
                step = server_session.respond(&answer).await?;
            }
        }
    }
}

/// The lower-case hex SHA-1 of `der`.
pub fn sha1_hex(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
