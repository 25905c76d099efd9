//! What the agent keeps in `<data_dir>/tpm/`: the LDevID key blobs (the
//! private blob is wrapped by the TPM's SRK and useless elsewhere, but is
//! still written with mode 0600) and the LDevID certificate chain.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use zeroize::Zeroizing;

use super::device::KeyBlobs;
use crate::tpm::TpmError;
use crate::tpm::ldevid::pem_certificate;

const PRIVATE: &str = "ldevid.priv";
const PUBLIC: &str = "ldevid.pub";
const CHAIN: &str = "ldevid-chain.pem";

/// The agent's TPM state directory.
#[derive(Debug, Clone)]
pub(super) struct State {
    dir: PathBuf,
}

impl State {
    pub(super) fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("tpm"),
        }
    }

    /// The LDevID key blobs, if both files exist.
    pub(super) fn key_blobs(&self) -> Result<Option<KeyBlobs>, TpmError> {
        let (Some(private), Some(public)) = (self.read(PRIVATE)?, self.read(PUBLIC)?) else {
            return Ok(None);
        };
        Ok(Some(KeyBlobs {
            private: Zeroizing::new(private),
            public,
        }))
    }

    pub(super) fn save_key_blobs(&self, blobs: &KeyBlobs) -> Result<(), TpmError> {
        self.write(PRIVATE, &blobs.private)?;
        self.write(PUBLIC, &blobs.public)
    }

    /// The LDevID chain (leaf first), if one was issued.
    pub(super) fn chain(&self) -> Result<Option<Vec<Vec<u8>>>, TpmError> {
        let Some(pem) = self.read(CHAIN)? else {
            return Ok(None);
        };
        let chain: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
            .map(|cert| cert.map(|c| c.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|_| TpmError::State {
                operation: "reading the ldevid chain",
                source: io::Error::new(io::ErrorKind::InvalidData, "malformed pem"),
            })?;
        Ok((!chain.is_empty()).then_some(chain))
    }

    pub(super) fn save_chain(&self, chain: &[Vec<u8>]) -> Result<(), TpmError> {
        let pem: String = chain
            .iter()
            .map(|der| pem_certificate(&CertificateDer::from(der.as_slice())))
            .collect();
        self.write(CHAIN, pem.as_bytes())
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, TpmError> {
        match fs::read(self.dir.join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(TpmError::State {
                operation: "reading",
                source,
            }),
        }
    }

    /// Writes atomically (temp file, fsync, rename), mode 0600.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), TpmError> {
        let io = |source| TpmError::State {
            operation: "writing",
            source,
        };
        fs::create_dir_all(&self.dir).map_err(io)?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, self.dir.join(name)).map_err(io)
    }
}
