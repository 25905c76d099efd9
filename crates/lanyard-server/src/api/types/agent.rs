//! Attested nodes on the wire (`spire.api.types.Agent`, `AgentMask`).

use lanyard_proto::spire::api::types;
use lanyard_store::model::AttestedNode;

use super::id::{id_to_proto, selectors_to_proto};

/// The wire form of an attested node with the fields `mask` selects (the ID
/// always); `None` means every field.
pub fn agent_to_proto(node: &AttestedNode, mask: Option<&types::AgentMask>) -> types::Agent {
    let full = types::AgentMask {
        attestation_type: true,
        x509svid_serial_number: true,
        x509svid_expires_at: true,
        selectors: true,
        banned: true,
        can_reattest: true,
    };
    let mask = mask.unwrap_or(&full);
    types::Agent {
        id: Some(id_to_proto(&node.spiffe_id)),
        attestation_type: if mask.attestation_type {
            node.attestation_type.clone()
        } else {
            String::new()
        },
        x509svid_serial_number: if mask.x509svid_serial_number {
            node.cert_serial.clone()
        } else {
            String::new()
        },
        x509svid_expires_at: if mask.x509svid_expires_at {
            node.cert_not_after.unix_timestamp()
        } else {
            0
        },
        selectors: if mask.selectors {
            selectors_to_proto(&node.selectors)
        } else {
            Vec::new()
        },
        banned: mask.banned && node.banned,
        can_reattest: mask.can_reattest && node.can_reattest,
    }
}
