//! Reading the `tpm` attestor's files: manufacturer CA bundles become the EK
//! trust roots and intermediates, an allow-list directory and inline hashes
//! become the EK-hash allow-list.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use x509_parser::prelude::FromDer as _;

use crate::ConfigError;
use crate::tpm::ek::EkPolicy;

/// The EK trust of the `tpm` attestor's settings.
///
/// - `ca_paths`: PEM files of TPM manufacturer CAs; self-signed certificates
///   become roots, the others intermediates the server holds (agents send no
///   EK chain when the TPM holds none in NV).
/// - `hash_dir`: a directory whose file names are hex `ek_sha256` values
///   (the SHA-256 of the EK public key's DER SubjectPublicKeyInfo), for TPMs
///   without an EK certificate; file contents are ignored.
/// - `hashes`: more such values, inline.
pub fn load_ek_policy(
    ca_paths: &[PathBuf],
    hash_dir: Option<&Path>,
    hashes: &[String],
) -> Result<EkPolicy, ConfigError> {
    let mut policy = EkPolicy::default();
    for path in ca_paths {
        for cert in read_certificates(path)? {
            if is_self_signed(&cert) {
                policy.roots.push(cert);
            } else {
                policy.intermediates.push(cert);
            }
        }
    }
    policy.allowed_ek_hashes = allowed_hashes(hash_dir, hashes)?;
    if policy.roots.is_empty() && policy.allowed_ek_hashes.is_empty() {
        return Err(ConfigError::TpmSetting {
            setting: "endorsement_ca_path",
            reason: "no manufacturer root and no allowed ek hash: no TPM could enroll".into(),
        });
    }
    Ok(policy)
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    const SETTING: &str = "endorsement_ca_path";
    let pem = fs::read(path).map_err(|source| ConfigError::Read {
        setting: SETTING,
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ConfigError::Pem {
            setting: SETTING,
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ConfigError::NoCertificates {
            setting: SETTING,
            path: path.to_owned(),
        });
    }
    for (index, cert) in certs.iter().enumerate() {
        if x509_parser::certificate::X509Certificate::from_der(cert).is_err() {
            return Err(ConfigError::BadCertificate {
                setting: SETTING,
                path: path.to_owned(),
                index,
            });
        }
    }
    Ok(certs)
}

fn is_self_signed(cert: &CertificateDer<'_>) -> bool {
    x509_parser::certificate::X509Certificate::from_der(cert)
        .is_ok_and(|(_, c)| c.subject().as_raw() == c.issuer().as_raw())
}

fn allowed_hashes(
    hash_dir: Option<&Path>,
    inline: &[String],
) -> Result<BTreeSet<[u8; 32]>, ConfigError> {
    let mut names: Vec<String> = inline.to_vec();
    if let Some(dir) = hash_dir {
        let entries = fs::read_dir(dir).map_err(|source| ConfigError::Read {
            setting: "ek_hash_path",
            path: dir.to_owned(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ConfigError::Read {
                setting: "ek_hash_path",
                path: dir.to_owned(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                names.push(name);
            }
        }
    }
    names
        .iter()
        .map(|name| {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(name.trim(), &mut hash).map_err(|_| ConfigError::TpmSetting {
                setting: "ek_hashes",
                reason: format!("{name:?} is not a 64-digit hex sha-256"),
            })?;
            Ok(hash)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_from_a_directory_and_inline_are_merged() {
        let dir = tempfile::tempdir().unwrap();
        let a = "aa".repeat(32);
        let b = "BB".repeat(32);
        fs::write(dir.path().join(&a), b"").unwrap();
        fs::write(dir.path().join(".hidden"), b"").unwrap();
        let hashes = allowed_hashes(Some(dir.path()), &[b]).unwrap();
        assert_eq!(hashes, BTreeSet::from([[0xaa; 32], [0xbb; 32]]));
    }

    #[test]
    fn a_malformed_hash_or_no_trust_at_all_is_refused() {
        let err = load_ek_policy(&[], None, &["abc".into()]).unwrap_err();
        assert!(matches!(err, ConfigError::TpmSetting { .. }), "{err}");
        let err = load_ek_policy(&[], None, &[]).unwrap_err();
        assert!(err.to_string().contains("no TPM could enroll"), "{err}");
    }
}
