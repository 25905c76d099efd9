//! Pure-Rust decoding of the TPM 2.0 structures the verifier reads:
//! `TPMT_PUBLIC` ([`TpmPublic`]), `TPMS_ATTEST` ([`Attest`]) and
//! `TPMT_SIGNATURE` ([`TpmSignature`]). Every decoder works on untrusted
//! bytes: it never panics, bounds every length by the input, and rejects
//! trailing bytes, so one structure has exactly one encoding.

mod attest;
mod public;
mod signature;

pub use attest::{
    Attest, AttestInfo, ClockInfo, ST_ATTEST_CERTIFY, ST_ATTEST_QUOTE, TPM_GENERATED,
};
pub use public::{
    EccCurve, KeyParameters, ObjectAttributes, PublicKey, SymmetricDefinition, TpmPublic,
};
pub use signature::TpmSignature;

use thiserror::Error;

/// TPM algorithm identifiers (`TPM_ALG_ID`) the decoders and checks name.
pub mod alg {
    /// RSA.
    pub const RSA: u16 = 0x0001;
    /// SHA-1, accepted nowhere but decoded.
    pub const SHA1: u16 = 0x0004;
    /// HMAC.
    pub const HMAC: u16 = 0x0005;
    /// AES.
    pub const AES: u16 = 0x0006;
    /// MGF1.
    pub const MGF1: u16 = 0x0007;
    /// Keyed hash object.
    pub const KEYEDHASH: u16 = 0x0008;
    /// XOR obfuscation.
    pub const XOR: u16 = 0x000A;
    /// SHA-256.
    pub const SHA256: u16 = 0x000B;
    /// SHA-384.
    pub const SHA384: u16 = 0x000C;
    /// SHA-512.
    pub const SHA512: u16 = 0x000D;
    /// The null algorithm.
    pub const NULL: u16 = 0x0010;
    /// SM3-256.
    pub const SM3_256: u16 = 0x0012;
    /// SM4.
    pub const SM4: u16 = 0x0013;
    /// RSASSA-PKCS1-v1_5.
    pub const RSASSA: u16 = 0x0014;
    /// RSAES-PKCS1-v1_5.
    pub const RSAES: u16 = 0x0015;
    /// RSASSA-PSS.
    pub const RSAPSS: u16 = 0x0016;
    /// RSAES-OAEP.
    pub const OAEP: u16 = 0x0017;
    /// ECDSA.
    pub const ECDSA: u16 = 0x0018;
    /// ECDH.
    pub const ECDH: u16 = 0x0019;
    /// ECDAA.
    pub const ECDAA: u16 = 0x001A;
    /// SM2.
    pub const SM2: u16 = 0x001B;
    /// EC-Schnorr.
    pub const ECSCHNORR: u16 = 0x001C;
    /// ECMQV.
    pub const ECMQV: u16 = 0x001D;
    /// NIST SP 800-56A KDF.
    pub const KDF1_SP800_56A: u16 = 0x0020;
    /// IEEE 1363a KDF2.
    pub const KDF2: u16 = 0x0021;
    /// NIST SP 800-108 KDF.
    pub const KDF1_SP800_108: u16 = 0x0022;
    /// Elliptic curve.
    pub const ECC: u16 = 0x0023;
    /// Symmetric block cipher object.
    pub const SYMCIPHER: u16 = 0x0025;
    /// Camellia.
    pub const CAMELLIA: u16 = 0x0026;
    /// Counter mode.
    pub const CTR: u16 = 0x0040;
    /// Output feedback mode.
    pub const OFB: u16 = 0x0041;
    /// Cipher block chaining mode.
    pub const CBC: u16 = 0x0042;
    /// Cipher feedback mode.
    pub const CFB: u16 = 0x0043;
    /// Electronic code book mode.
    pub const ECB: u16 = 0x0044;
}

/// Why TPM structure bytes could not be decoded. Messages say which field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended inside a field.
    #[error("tpm structure is truncated at {0}")]
    Truncated(&'static str),

    /// Bytes follow the end of the structure.
    #[error("tpm structure has {0} trailing bytes")]
    TrailingBytes(usize),

    /// A sized buffer is longer than the structure allows.
    #[error("tpm field {field} is {len} bytes, more than the {max} allowed")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its declared size.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// A selector (algorithm, type, tag) has a value this decoder does not handle.
    #[error("tpm field {field} has unsupported value {value:#06x}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// The value found.
        value: u32,
    },

    /// A field holds a value the specification forbids.
    #[error("tpm field {0} is invalid")]
    Invalid(&'static str),
}

/// A cursor over untrusted bytes, big-endian as the TPM marshals.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(crate) fn bytes(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        if self.rest.len() < len {
            return Err(WireError::Truncated(field));
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A `TPM2B_*`: a u16 size, then that many bytes, at most `max`.
    pub(crate) fn sized(&mut self, max: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.u16(field)?);
        if len > max {
            return Err(WireError::TooLong { field, len, max });
        }
        self.bytes(len, field)
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes(self.rest.len()))
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let bytes = self.bytes(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

/// Digest size of a TPM hash algorithm, for the algorithms names use.
pub(crate) fn digest_size(hash_alg: u16) -> Option<usize> {
    match hash_alg {
        alg::SHA1 => Some(20),
        alg::SHA256 | alg::SM3_256 => Some(32),
        alg::SHA384 => Some(48),
        alg::SHA512 => Some(64),
        _ => None,
    }
}

/// Largest TPM2B_NAME: an algorithm ID and a SHA-512 digest.
pub(crate) const MAX_NAME: usize = 2 + 64;
/// Largest TPM2B_DIGEST / TPM2B_DATA body.
pub(crate) const MAX_DIGEST: usize = 64;
/// Largest RSA modulus the decoder accepts (RSA-16384).
pub(crate) const MAX_RSA_BYTES: usize = 2048;
/// Largest ECC coordinate (P-521, rounded up).
pub(crate) const MAX_ECC_BYTES: usize = 66;

#[cfg(test)]
mod tests;
