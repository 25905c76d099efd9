//! Attested nodes (agents).

use lanyard_spiffe::{SelectorSet, SpiffeId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::SelectorFilter;

/// A node that passed attestation, keyed by its agent SPIFFE ID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestedNode {
    pub spiffe_id: SpiffeId,
    /// The node attestor that admitted it, e.g. `join_token`, `x509pop`, `tpm`.
    pub attestation_type: String,
    /// Serial of the agent's current X509-SVID; empty once banned.
    pub cert_serial: String,
    #[serde(with = "time::serde::timestamp")]
    pub cert_not_after: OffsetDateTime,
    /// A renewed SVID's serial, until the agent first uses it.
    pub new_cert_serial: Option<String>,
    #[serde(with = "time::serde::timestamp::option")]
    pub new_cert_not_after: Option<OffsetDateTime>,
    pub can_reattest: bool,
    pub banned: bool,
    /// Node selectors from attestation (and from a join token's bound selectors).
    pub selectors: SelectorSet,
    pub agent_version: String,
    #[serde(with = "time::serde::timestamp::option")]
    pub last_seen: Option<OffsetDateTime>,
}

/// SPIRE's `ListAgents` filters; every filter that is set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFilter {
    pub by_attestation_type: Option<String>,
    pub by_selectors: Option<SelectorFilter>,
    pub by_banned: Option<bool>,
    pub by_can_reattest: Option<bool>,
    /// Nodes whose current SVID expires before this instant.
    pub by_expires_before: Option<OffsetDateTime>,
}

/// A partial update of a node: `Some` fields are written, `None` ones kept.
/// Selectors change through `Store::set_node_selectors`; bans through `Store::ban_node`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeUpdate {
    pub attestation_type: Option<String>,
    pub cert_serial: Option<String>,
    pub cert_not_after: Option<OffsetDateTime>,
    pub new_cert_serial: Option<Option<String>>,
    pub new_cert_not_after: Option<Option<OffsetDateTime>>,
    pub can_reattest: Option<bool>,
    pub agent_version: Option<String>,
}
