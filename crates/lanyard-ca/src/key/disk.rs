//! A key manager that keeps keys in one JSON file on disk (mode 0600).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use super::{KeyError, KeyId, KeyManager, KeyType, Signer};
use crate::fsutil::write_atomic;

/// Keys persist in a single file (like SPIRE's `keys_path`), rewritten
/// atomically on every change, so they survive a restart or a crash.
#[derive(Debug)]
pub struct DiskKeyManager {
    path: PathBuf,
    keys: Mutex<BTreeMap<KeyId, StoredSigner>>,
}

impl DiskKeyManager {
    /// Opens the key file at `path`, loading every key in it; a missing file
    /// is an empty key store (the file is created on the first write).
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, KeyError> {
        let path = path.into();
        let keys = load(&path)?;
        tracing::debug!(path = %path.display(), keys = keys.len(), "opened disk key store");
        Ok(Self {
            path,
            keys: Mutex::new(keys),
        })
    }

    /// Where the keys are stored.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl KeyManager for DiskKeyManager {
    fn generate_key(&self, id: &KeyId, key_type: KeyType) -> Result<Signer, KeyError> {
        let (signer, pkcs8) = Signer::generate(id.clone(), key_type)?;
        let mut keys = self.keys.lock().map_err(|_| KeyError::Poisoned)?;

        let stored = StoredSigner {
            signer: signer.clone(),
            pkcs8,
        };
        let previous = keys.insert(id.clone(), stored);
        if let Err(err) = save(&self.path, &keys) {
            match previous {
                Some(previous) => keys.insert(id.clone(), previous),
                None => keys.remove(id),
            };
            return Err(err);
        }

        tracing::debug!(key_id = %id, %key_type, "generated key");
        Ok(signer)
    }

    fn get_key(&self, id: &KeyId) -> Result<Option<Signer>, KeyError> {
        let keys = self.keys.lock().map_err(|_| KeyError::Poisoned)?;
        Ok(keys.get(id).map(|stored| stored.signer.clone()))
    }

    fn delete_key(&self, id: &KeyId) -> Result<bool, KeyError> {
        let mut keys = self.keys.lock().map_err(|_| KeyError::Poisoned)?;
        let Some(removed) = keys.remove(id) else {
            return Ok(false);
        };
        if let Err(err) = save(&self.path, &keys) {
            keys.insert(id.clone(), removed);
            return Err(err);
        }
        Ok(true)
    }
}

#[derive(Debug)]
struct StoredSigner {
    signer: Signer,
    pkcs8: Zeroizing<Vec<u8>>,
}

/// On-disk form: `{"version":1,"keys":{"<id>":{"type":"ec-p256","pkcs8":"<base64>"}}}`.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    keys: BTreeMap<KeyId, KeyRecord>,
}

#[derive(Serialize, Deserialize)]
struct KeyRecord {
    #[serde(rename = "type")]
    key_type: KeyType,
    pkcs8: String,
}

impl Drop for KeyRecord {
    fn drop(&mut self) {
        self.pkcs8.zeroize();
    }
}

const FILE_VERSION: u32 = 1;
const FILE_MODE: u32 = 0o600;

fn load(path: &Path) -> Result<BTreeMap<KeyId, StoredSigner>, KeyError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(KeyError::Io {
                context: "reading the key file",
                source,
            });
        }
    };
    let file: KeyFile =
        serde_json::from_slice(&bytes).map_err(|err| KeyError::MalformedStore(err.to_string()))?;
    if file.version != FILE_VERSION {
        return Err(KeyError::MalformedStore(format!(
            "unsupported version {}",
            file.version
        )));
    }

    let mut keys = BTreeMap::new();
    for (id, record) in &file.keys {
        let pkcs8 = Zeroizing::new(
            STANDARD
                .decode(&record.pkcs8)
                .map_err(|_| KeyError::MalformedStore(format!("key {id} is not valid base64")))?,
        );
        let signer = Signer::from_pkcs8(id.clone(), record.key_type, &pkcs8)?;
        keys.insert(id.clone(), StoredSigner { signer, pkcs8 });
    }
    Ok(keys)
}

fn save(path: &Path, keys: &BTreeMap<KeyId, StoredSigner>) -> Result<(), KeyError> {
    let file = KeyFile {
        version: FILE_VERSION,
        keys: keys
            .iter()
            .map(|(id, stored)| {
                let record = KeyRecord {
                    key_type: stored.signer.key_type(),
                    pkcs8: STANDARD.encode(&stored.pkcs8),
                };
                (id.clone(), record)
            })
            .collect(),
    };

    // Sized up front so the serializer does not leave reallocated copies behind.
    let capacity = 64
        + file
            .keys
            .iter()
            .map(|(id, record)| id.as_str().len() + record.pkcs8.len() + 64)
            .sum::<usize>();
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *bytes, &file)
        .map_err(|err| KeyError::MalformedStore(err.to_string()))?;

    write_atomic(path, &bytes, FILE_MODE).map_err(|source| KeyError::Io {
        context: "writing the key file",
        source,
    })
}
