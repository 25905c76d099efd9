//! `TPMT_SIGNATURE` for the schemes TPM keys sign with.

use super::{MAX_ECC_BYTES, MAX_RSA_BYTES, Reader, WireError, alg};

/// A decoded `TPMT_SIGNATURE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpmSignature {
    /// RSASSA-PKCS1-v1_5.
    RsaSsa {
        /// Hash algorithm.
        hash: u16,
        /// The signature.
        signature: Vec<u8>,
    },
    /// RSASSA-PSS (decoded; the verifier does not accept it).
    RsaPss {
        /// Hash algorithm.
        hash: u16,
        /// The signature.
        signature: Vec<u8>,
    },
    /// ECDSA.
    Ecdsa {
        /// Hash algorithm.
        hash: u16,
        /// `r`, big-endian.
        r: Vec<u8>,
        /// `s`, big-endian.
        s: Vec<u8>,
    },
}

impl TpmSignature {
    /// Decodes a marshalled `TPMT_SIGNATURE` that must fill `bytes` exactly.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let sig_alg = r.u16("sigAlg")?;
        let signature = match sig_alg {
            alg::RSASSA | alg::RSAPSS => {
                let hash = r.u16("signature hash")?;
                let signature = r.sized(MAX_RSA_BYTES, "rsa signature")?.to_vec();
                if sig_alg == alg::RSASSA {
                    Self::RsaSsa { hash, signature }
                } else {
                    Self::RsaPss { hash, signature }
                }
            }
            alg::ECDSA => Self::Ecdsa {
                hash: r.u16("signature hash")?,
                r: r.sized(MAX_ECC_BYTES, "signatureR")?.to_vec(),
                s: r.sized(MAX_ECC_BYTES, "signatureS")?.to_vec(),
            },
            other => {
                return Err(WireError::Unsupported {
                    field: "sigAlg",
                    value: u32::from(other),
                });
            }
        };
        r.finish()?;
        Ok(signature)
    }

    /// The signature algorithm (`TPM_ALG_ID`).
    pub fn algorithm(&self) -> u16 {
        match self {
            Self::RsaSsa { .. } => alg::RSASSA,
            Self::RsaPss { .. } => alg::RSAPSS,
            Self::Ecdsa { .. } => alg::ECDSA,
        }
    }

    /// Marshals back to `TPMT_SIGNATURE` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.algorithm().to_be_bytes().to_vec();
        match self {
            Self::RsaSsa { hash, signature } | Self::RsaPss { hash, signature } => {
                out.extend_from_slice(&hash.to_be_bytes());
                push_sized(&mut out, signature);
            }
            Self::Ecdsa { hash, r, s } => {
                out.extend_from_slice(&hash.to_be_bytes());
                push_sized(&mut out, r);
                push_sized(&mut out, s);
            }
        }
        out
    }
}

fn push_sized(out: &mut Vec<u8>, bytes: &[u8]) {
    // Decoded fields are bounded far below u16::MAX.
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}
