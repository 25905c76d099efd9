//! TPM enrollments: which TPM (EK) is enrolled as which node.

use lanyard_spiffe::SelectorSet;
use time::OffsetDateTime;

/// One enrolled TPM. The store keeps one per EK hash and at most one per xname.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmEnrollment {
    /// SHA-256 of the EK public key (32 bytes).
    pub ek_sha256: Vec<u8>,
    /// The node's xname, as the administrator bound it to the join token.
    pub xname: String,
    /// The node's type, when the token bound one.
    pub node_type: Option<String>,
    /// The EK `TPMT_PUBLIC`, for residency re-checks without the certificate.
    pub ek_public: Vec<u8>,
    /// Serial (lower-case hex) of the node's current LDevID certificate.
    pub ldevid_serial: String,
    /// The node selectors established at enrollment.
    pub node_selectors: SelectorSet,
    /// When the TPM enrolled.
    pub enrolled_at: OffsetDateTime,
    /// When residency was last proven.
    pub residency_checked_at: OffsetDateTime,
}
