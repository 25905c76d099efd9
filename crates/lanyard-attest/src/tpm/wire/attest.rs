//! `TPMS_ATTEST`: what a TPM signs in TPM2_Certify and TPM2_Quote.

use super::{MAX_DIGEST, MAX_NAME, Reader, WireError};

/// `TPM_GENERATED_VALUE`: every structure the TPM signs starts with it.
pub const TPM_GENERATED: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_CERTIFY`.
pub const ST_ATTEST_CERTIFY: u16 = 0x8017;
/// `TPM_ST_ATTEST_QUOTE`.
pub const ST_ATTEST_QUOTE: u16 = 0x8018;

/// A decoded `TPMS_ATTEST` of a certify or a quote, with its exact bytes
/// (the signature is over them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attest {
    raw: Vec<u8>,
    magic: u32,
    qualified_signer: Vec<u8>,
    extra_data: Vec<u8>,
    clock: ClockInfo,
    firmware_version: u64,
    info: AttestInfo,
}

/// `TPMS_CLOCK_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockInfo {
    /// Milliseconds the TPM has been powered since it was cleared.
    pub clock: u64,
    /// TPM resets since it was cleared.
    pub reset_count: u32,
    /// TPM restarts since the last reset.
    pub restart_count: u32,
    /// Whether the clock value can be trusted not to have gone back.
    pub safe: bool,
}

/// The type-specific part of an attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttestInfo {
    /// `TPMS_CERTIFY_INFO` (`TPM_ST_ATTEST_CERTIFY`).
    Certify {
        /// Name of the certified object.
        name: Vec<u8>,
        /// Qualified name of the certified object.
        qualified_name: Vec<u8>,
    },
    /// `TPMS_QUOTE_INFO` (`TPM_ST_ATTEST_QUOTE`).
    Quote {
        /// `(hash algorithm, PCR bitmap)` per bank.
        pcr_select: Vec<(u16, Vec<u8>)>,
        /// Digest of the selected PCRs.
        pcr_digest: Vec<u8>,
    },
}

/// At most this many PCR banks in a quote's selection.
const MAX_PCR_BANKS: u32 = 16;
/// At most this many bytes in one bank's PCR bitmap.
const MAX_PCR_SELECT: usize = 4;

impl Attest {
    /// Decodes a marshalled `TPMS_ATTEST` that must fill `bytes` exactly.
    /// The magic is decoded, not checked: the certify checks name that rule.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let magic = r.u32("magic")?;
        let attest_type = r.u16("type")?;
        let qualified_signer = r.sized(MAX_NAME, "qualifiedSigner")?.to_vec();
        let extra_data = r.sized(MAX_NAME, "extraData")?.to_vec();
        let clock = ClockInfo {
            clock: r.u64("clock")?,
            reset_count: r.u32("resetCount")?,
            restart_count: r.u32("restartCount")?,
            safe: match r.u8("safe")? {
                0 => false,
                1 => true,
                _ => return Err(WireError::Invalid("clockInfo.safe")),
            },
        };
        let firmware_version = r.u64("firmwareVersion")?;

        let info = match attest_type {
            ST_ATTEST_CERTIFY => AttestInfo::Certify {
                name: r.sized(MAX_NAME, "certify name")?.to_vec(),
                qualified_name: r.sized(MAX_NAME, "certify qualifiedName")?.to_vec(),
            },
            ST_ATTEST_QUOTE => parse_quote(&mut r)?,
            other => {
                return Err(WireError::Unsupported {
                    field: "attest type",
                    value: u32::from(other),
                });
            }
        };
        r.finish()?;

        Ok(Self {
            raw: bytes.to_vec(),
            magic,
            qualified_signer,
            extra_data,
            clock,
            firmware_version,
            info,
        })
    }

    /// The exact bytes the signature covers.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The magic value (must be [`TPM_GENERATED`]).
    pub fn magic(&self) -> u32 {
        self.magic
    }

    /// Qualified name of the signing key.
    pub fn qualified_signer(&self) -> &[u8] {
        &self.qualified_signer
    }

    /// The caller's qualifying data.
    pub fn extra_data(&self) -> &[u8] {
        &self.extra_data
    }

    /// The TPM clock at signing.
    pub fn clock(&self) -> ClockInfo {
        self.clock
    }

    /// Firmware version of the TPM.
    pub fn firmware_version(&self) -> u64 {
        self.firmware_version
    }

    /// The type-specific part.
    pub fn info(&self) -> &AttestInfo {
        &self.info
    }
}

fn parse_quote(r: &mut Reader<'_>) -> Result<AttestInfo, WireError> {
    let count = r.u32("pcrSelect count")?;
    if count > MAX_PCR_BANKS {
        return Err(WireError::TooLong {
            field: "pcrSelect count",
            len: usize::try_from(count).unwrap_or(usize::MAX),
            max: MAX_PCR_BANKS as usize,
        });
    }
    let mut pcr_select = Vec::new();
    for _ in 0..count {
        let hash = r.u16("pcrSelect hash")?;
        let size = usize::from(r.u8("sizeofSelect")?);
        if size > MAX_PCR_SELECT {
            return Err(WireError::TooLong {
                field: "sizeofSelect",
                len: size,
                max: MAX_PCR_SELECT,
            });
        }
        pcr_select.push((hash, r.bytes(size, "pcrSelect")?.to_vec()));
    }
    let pcr_digest = r.sized(MAX_DIGEST, "pcrDigest")?.to_vec();
    Ok(AttestInfo::Quote {
        pcr_select,
        pcr_digest,
    })
}
