//! A key manager that keeps keys in process memory only.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{KeyError, KeyId, KeyManager, KeyType, Signer};

/// Keys live as long as the process: a restart loses them, so the CA starts
/// over with new keys (SPIRE's `memory` key manager).
#[derive(Debug, Default)]
pub struct MemoryKeyManager {
    keys: Mutex<BTreeMap<KeyId, Signer>>,
}

impl MemoryKeyManager {
    /// An empty key manager.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KeyManager for MemoryKeyManager {
    fn generate_key(&self, id: &KeyId, key_type: KeyType) -> Result<Signer, KeyError> {
        let (signer, _pkcs8) = Signer::generate(id.clone(), key_type)?;
        let mut keys = self.keys.lock().map_err(|_| KeyError::Poisoned)?;
        keys.insert(id.clone(), signer.clone());
        tracing::debug!(key_id = %id, %key_type, "generated key");
        Ok(signer)
    }

    fn get_key(&self, id: &KeyId) -> Result<Option<Signer>, KeyError> {
        let keys = self.keys.lock().map_err(|_| KeyError::Poisoned)?;
        Ok(keys.get(id).cloned())
    }

    fn delete_key(&self, id: &KeyId) -> Result<bool, KeyError> {
        let mut keys = self.keys.lock().map_err(|_| KeyError::Poisoned)?;
        Ok(keys.remove(id).is_some())
    }
}
