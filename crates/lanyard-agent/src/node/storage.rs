//! What the agent keeps on disk so that a restart need not attest again: its SVID, its
//! private key (when the key manager is `disk`) and the trust bundle.
//!
//! Every file is replaced atomically (write a temporary file, fsync, rename, fsync the
//! directory) and created with mode 0600, so a crash leaves the old or the new content
//! and no other user can read the key. A key and an SVID written by different runs are
//! caught on load by comparing the SVID's public key with the key's.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use lanyard_spiffe::{Bundle, TrustDomain};
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::config::KeyManagerConfig;
use crate::keys::PrivateKey;

/// The agent SVID chain, leaf first, as concatenated DER.
pub const SVID_FILE: &str = "agent_svid.der";
/// The agent's private key, PKCS#8 DER, in the key manager's directory.
pub const KEY_FILE: &str = "agent_key.der";
/// The trust bundle of the agent's trust domain, SPIFFE bundle JSON.
pub const BUNDLE_FILE: &str = "bundle.json";
/// Facts about the SVID the certificate does not carry.
pub const STATE_FILE: &str = "agent_state.json";

/// Mode of every file the agent writes.
pub const FILE_MODE: u32 = 0o600;
/// Mode of directories the agent creates.
pub const DIR_MODE: u32 = 0o700;

/// Why stored state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A file could not be read, written or removed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file's content is not what the agent writes there.
    #[error("{} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The agent identity read back from disk. Not yet checked against a bundle or clock.
#[derive(Debug, Clone)]
pub struct StoredIdentity {
    /// The agent SVID chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Its private key.
    pub key: PrivateKey,
    /// Whether the server said the agent may renew by attesting again.
    pub reattestable: bool,
}

/// The agent's files under `data_dir` (and the key manager's directory).
#[derive(Debug, Clone)]
pub struct AgentStore {
    data_dir: PathBuf,
    key_dir: Option<PathBuf>,
}

#[derive(Serialize, Deserialize)]
struct State {
    reattestable: bool,
}

impl AgentStore {
    /// The store for `data_dir`; the key is kept only with a `disk` key manager.
    pub fn new(data_dir: &Path, key_manager: &KeyManagerConfig) -> Self {
        let key_dir = match key_manager {
            KeyManagerConfig::Disk { directory } => Some(directory.clone()),
            _ => None,
        };
        Self {
            data_dir: data_dir.to_owned(),
            key_dir,
        }
    }

    /// Whether the agent key survives a restart.
    pub fn persists_key(&self) -> bool {
        self.key_dir.is_some()
    }

    /// The stored identity; `None` when any part is missing or the key is not stored.
    pub fn load_identity(&self) -> Result<Option<StoredIdentity>, StorageError> {
        let Some(key_dir) = &self.key_dir else {
            return Ok(None);
        };
        let key_path = key_dir.join(KEY_FILE);
        let svid_path = self.data_dir.join(SVID_FILE);
        let state_path = self.data_dir.join(STATE_FILE);
        let (Some(key), Some(svid), Some(state)) = (
            read_optional(&key_path)?.map(Zeroizing::new),
            read_optional(&svid_path)?,
            read_optional(&state_path)?,
        ) else {
            return Ok(None);
        };

        let key = PrivateKey::from_pkcs8(key).map_err(|err| corrupt(&key_path, err))?;
        let chain =
            lanyard_spiffe::x509::split_der_chain(&svid).map_err(|err| corrupt(&svid_path, err))?;
        let state: State =
            serde_json::from_slice(&state).map_err(|err| corrupt(&state_path, err))?;
        Ok(Some(StoredIdentity {
            chain,
            key,
            reattestable: state.reattestable,
        }))
    }

    /// Stores a new identity: the key first, then the SVID and its state.
    pub fn save_identity(
        &self,
        chain: &[CertificateDer<'_>],
        key: &PrivateKey,
        reattestable: bool,
    ) -> Result<(), StorageError> {
        let Some(key_dir) = &self.key_dir else {
            return Ok(());
        };
        ensure_dir(key_dir)?;
        ensure_dir(&self.data_dir)?;
        write_atomic(&key_dir.join(KEY_FILE), key.pkcs8_der())?;

        let der: Vec<u8> = chain.iter().flat_map(|c| c.iter().copied()).collect();
        write_atomic(&self.data_dir.join(SVID_FILE), &der)?;
        let state = serde_json::to_vec(&State { reattestable })
            .expect("a struct of one bool always serializes");
        write_atomic(&self.data_dir.join(STATE_FILE), &state)
    }

    /// Removes the stored SVID and key (after the server has evicted the agent).
    pub fn delete_identity(&self) -> Result<(), StorageError> {
        let mut paths = vec![
            self.data_dir.join(SVID_FILE),
            self.data_dir.join(STATE_FILE),
        ];
        if let Some(key_dir) = &self.key_dir {
            paths.push(key_dir.join(KEY_FILE));
        }
        for path in paths {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(StorageError::Io {
                        action: "remove",
                        path,
                        source,
                    });
                }
            }
        }
        Ok(())
    }

    /// The stored bundle of `trust_domain`, if any.
    pub fn load_bundle(&self, trust_domain: &TrustDomain) -> Result<Option<Bundle>, StorageError> {
        let path = self.data_dir.join(BUNDLE_FILE);
        let Some(json) = read_optional(&path)? else {
            return Ok(None);
        };
        let bundle =
            Bundle::parse_json(trust_domain.clone(), &json).map_err(|err| corrupt(&path, err))?;
        if bundle.x509_authorities().is_empty() {
            return Err(corrupt(&path, "the bundle has no x509 authority"));
        }
        Ok(Some(bundle))
    }

    /// Stores `bundle`, replacing the previous one.
    pub fn save_bundle(&self, bundle: &Bundle) -> Result<(), StorageError> {
        let path = self.data_dir.join(BUNDLE_FILE);
        let json = bundle.to_json().map_err(|err| corrupt(&path, err))?;
        ensure_dir(&self.data_dir)?;
        write_atomic(&path, json.as_bytes())
    }
}

fn corrupt(path: &Path, reason: impl ToString) -> StorageError {
    StorageError::Corrupt {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StorageError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

fn ensure_dir(dir: &Path) -> Result<(), StorageError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| StorageError::Io {
            action: "create directory",
            path: dir.to_owned(),
            source,
        })
}

/// Replaces `path` with `bytes` so that a crash leaves the old or the new content.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let io_error = |action, source| StorageError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));

    let result = (|| {
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("write", source));
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_error("sync directory of", source))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use lanyard_ca::KeyType;

    use super::*;
    use crate::testutil::{TestCa, id, td};

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn identity_and_bundle_round_trip_with_private_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        let key_dir = dir.path().join("keys");
        let store = AgentStore::new(
            &data_dir,
            &KeyManagerConfig::Disk {
                directory: key_dir.clone(),
            },
        );
        assert!(store.load_identity().expect("load").is_none());
        assert!(
            store
                .load_bundle(&td("example.org"))
                .expect("load")
                .is_none()
        );

        let ca = TestCa::new("example.org");
        let (chain, key) = ca.issue_with_new_key(&id("example.org", "/spire/agent/x509pop/n1"));
        store
            .save_identity(&chain, &key, true)
            .expect("save identity");
        store.save_bundle(&ca.bundle()).expect("save bundle");

        let loaded = store.load_identity().expect("load").expect("present");
        assert_eq!(loaded.chain, chain);
        assert_eq!(loaded.key.public_key_spki(), key.public_key_spki());
        assert!(loaded.reattestable);
        assert_eq!(
            store.load_bundle(&td("example.org")).expect("load"),
            Some(ca.bundle())
        );

        for path in [
            key_dir.join(KEY_FILE),
            data_dir.join(SVID_FILE),
            data_dir.join(STATE_FILE),
            data_dir.join(BUNDLE_FILE),
        ] {
            assert_eq!(mode(&path), FILE_MODE, "{}", path.display());
        }
        assert_eq!(mode(&data_dir), DIR_MODE);
        let leftovers: Vec<_> = fs::read_dir(&data_dir)
            .expect("read dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn saving_again_replaces_and_delete_removes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = AgentStore::new(
            dir.path(),
            &KeyManagerConfig::Disk {
                directory: dir.path().to_owned(),
            },
        );
        let ca = TestCa::new("example.org");
        let agent = id("example.org", "/spire/agent/join_token/t");
        let (first, first_key) = ca.issue_with_new_key(&agent);
        let (second, second_key) = ca.issue_with_new_key(&agent);
        store
            .save_identity(&first, &first_key, false)
            .expect("save");
        store
            .save_identity(&second, &second_key, false)
            .expect("save");

        let loaded = store.load_identity().expect("load").expect("present");
        assert_eq!(loaded.chain, second);
        assert_eq!(loaded.key.public_key_spki(), second_key.public_key_spki());
        assert!(!loaded.reattestable);

        store.delete_identity().expect("delete");
        assert!(store.load_identity().expect("load").is_none());
        store.delete_identity().expect("deleting twice is fine");
    }

    #[test]
    fn memory_key_manager_keeps_no_identity() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = AgentStore::new(dir.path(), &KeyManagerConfig::Memory);
        let ca = TestCa::new("example.org");
        let (chain, key) = ca.issue_with_new_key(&id("example.org", "/spire/agent/x"));

        store
            .save_identity(&chain, &key, false)
            .expect("save is a no-op");
        assert!(!store.persists_key());
        assert!(store.load_identity().expect("load").is_none());
        assert!(!dir.path().join(SVID_FILE).exists());
    }

    #[test]
    fn corrupt_files_are_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = AgentStore::new(
            dir.path(),
            &KeyManagerConfig::Disk {
                directory: dir.path().to_owned(),
            },
        );
        let key = PrivateKey::generate(KeyType::EcP256).expect("key");
        fs::write(dir.path().join(KEY_FILE), key.pkcs8_der()).expect("write");
        fs::write(dir.path().join(SVID_FILE), b"not der").expect("write");
        fs::write(dir.path().join(STATE_FILE), b"{\"reattestable\":false}").expect("write");
        assert!(matches!(
            store.load_identity(),
            Err(StorageError::Corrupt { .. })
        ));

        fs::write(dir.path().join(BUNDLE_FILE), b"{}").expect("write");
        assert!(store.load_bundle(&td("example.org")).is_err());
    }
}
