//! Signing agent X509-SVIDs (at attestation and on `RenewAgent`): only the
//! CSR's public key is used; the ID is the attested agent ID and the lifetime
//! is `agent_ttl`.

use lanyard_ca::{CsrError, IssuedX509Svid, public_key_from_csr};
use lanyard_proto::spire::api::server::agent::v1 as pb;
use lanyard_proto::spire::api::types;
use lanyard_spiffe::SpiffeId;
use lanyard_store::model::NodeUpdate;
use tonic::Status;

use super::status;
use crate::api::types::id_to_proto;
use crate::api::{ApiError, ServerContext};
use crate::ca::unix_seconds;

/// Signs an X509-SVID for `agent_id` over the key of `csr`.
pub(super) async fn sign_agent_svid(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
    csr: &[u8],
) -> Result<IssuedX509Svid, Status> {
    let public_key = public_key_from_csr(csr).map_err(|e| match e {
        CsrError::Malformed => ApiError::invalid("failed to parse CSR: not a DER PKCS#10 request"),
        other => ApiError::invalid(format!("invalid CSR: {other}")),
    })?;
    let svid = ctx
        .ca
        .mint_x509_svid(
            public_key,
            agent_id.clone(),
            Vec::new(),
            Some(ctx.agent_ttl),
        )
        .await
        .map_err(status::sign_error)?;
    Ok(svid)
}

/// The wire form of an agent SVID.
pub(super) fn agent_svid_proto(agent_id: &SpiffeId, svid: &IssuedX509Svid) -> types::X509svid {
    types::X509svid {
        id: Some(id_to_proto(agent_id)),
        cert_chain: svid.chain().iter().map(|c| c.as_ref().to_vec()).collect(),
        expires_at: unix_seconds(svid.expires_at()),
        hint: String::new(),
    }
}

/// `RenewAgent`: a new SVID for the calling agent, recorded as the node's
/// pending serial until the agent first uses it.
pub(super) async fn renew(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
    request: pb::RenewAgentRequest,
) -> Result<pb::RenewAgentResponse, Status> {
    let csr = request
        .params
        .map(|p| p.csr)
        .filter(|csr| !csr.is_empty())
        .ok_or_else(|| ApiError::invalid("malformed param: missing CSR"))?;
    let svid = sign_agent_svid(ctx, agent_id, &csr).await?;
    let update = NodeUpdate {
        new_cert_serial: Some(Some(svid.serial().to_string())),
        new_cert_not_after: Some(Some(time::OffsetDateTime::from(svid.expires_at()))),
        ..NodeUpdate::default()
    };
    ctx.store
        .update_node(agent_id, &update)
        .await
        .map_err(|e| status::node_error("failed to update agent", e))?;
    tracing::info!(agent_id = %agent_id, "agent svid renewed");
    Ok(pb::RenewAgentResponse {
        svid: Some(agent_svid_proto(agent_id, &svid)),
    })
}
