//! LDevID certificates (IEEE 802.1AR local device identities) for
//! TPM-resident keys, issued by a dedicated LDevID CA (never the SPIFFE CA)
//! once enrollment has proven the key lives in a genuine TPM.
//!
//! Profile (see `docs/tpm.md`): subject `O=<organization>, OU=<node type>,
//! CN=<xname>[, serialNumber=<serial>]`; subjectAltName (non-critical) with
//! the otherNames `hardwareModuleName {2.23.133.1.2, hwSerialNum}` (RFC 4108)
//! and `permanentIdentifier {hex ek_sha256, 2.23.133.12.1}` (RFC 4043);
//! certificatePolicies 2.23.133.11.1.1 (verifiedTPMResidency) and
//! 2.23.133.11.1.2 (verifiedTPMFixed); keyUsage digitalSignature (critical);
//! extendedKeyUsage clientAuth; finite validity.

mod ca;
mod profile;
mod verify;

#[cfg(feature = "tpm")]
pub(crate) use ca::pem_certificate;
pub use ca::{DEFAULT_CA_TTL, DEFAULT_LDEVID_TTL, IssuedLdevid, LdevidCa, LdevidRequest};
pub use verify::{VerifiedLdevid, verify_ldevid_chain};

/// id-on-hardwareModuleName (RFC 4108).
pub const OID_HARDWARE_MODULE_NAME: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 8, 4];
/// id-on-permanentIdentifier (RFC 4043).
pub const OID_PERMANENT_IDENTIFIER: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 8, 3];
/// TCG hwType for TPM 2.0.
pub const OID_HW_TYPE_TPM2: &[u64] = &[2, 23, 133, 1, 2];
/// tcg-on-ekPermIdSha256: the permanentIdentifier's assigner.
pub const OID_EK_PERM_ID_SHA256: &[u64] = &[2, 23, 133, 12, 1];
/// tcg-cap-verifiedTPMResidency.
pub const OID_VERIFIED_TPM_RESIDENCY: &[u64] = &[2, 23, 133, 11, 1, 1];
/// tcg-cap-verifiedTPMFixed.
pub const OID_VERIFIED_TPM_FIXED: &[u64] = &[2, 23, 133, 11, 1, 2];
