//! The SVID calls of agents: `BatchNewX509SVID` and `NewJWTSVID`, only for
//! entries the calling agent is authorized for. The SPIFFE ID, DNS names and
//! lifetimes come from the entry; a CSR contributes its key, and may name the
//! entry's own ID and DNS names but nothing else.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lanyard_ca::{CsrError, public_key_from_csr};
use lanyard_proto::spire::api::server::svid::v1 as pb;
use lanyard_proto::spire::api::types;
use lanyard_spiffe::SpiffeId;
use lanyard_store::model::{EntryId, RegistrationEntry};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer as _;

use super::status;
use crate::api::entry::authorized_entries;
use crate::api::types::{entry_id_from_proto, id_to_proto};
use crate::api::{ApiError, ServerContext, ok_status};
use crate::ca::unix_seconds;

/// Most SVIDs one `BatchNewX509SVID` call may ask for.
const MAX_BATCH: usize = 1000;

/// Signs one X509-SVID per request item the agent is authorized for.
pub(super) async fn batch_new_x509_svid(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
    request: pb::BatchNewX509svidRequest,
) -> Result<Vec<pb::batch_new_x509svid_response::Result>, ApiError> {
    if request.params.len() > MAX_BATCH {
        return Err(ApiError::invalid(format!(
            "invalid params: at most {MAX_BATCH} per call"
        )));
    }
    let authorized: HashMap<EntryId, Arc<RegistrationEntry>> = authorized_entries(ctx, agent_id)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();

    let mut results = Vec::with_capacity(request.params.len());
    for param in request.params {
        let result = match new_x509_svid(ctx, &authorized, &param).await {
            Ok(svid) => pb::batch_new_x509svid_response::Result {
                status: Some(ok_status()),
                svid: Some(svid),
            },
            Err(error) => {
                tracing::info!(
                    agent_id = %agent_id,
                    entry_id = %printable(&param.entry_id),
                    code = ?error.code(),
                    reason = error.message(),
                    "x509-svid refused"
                );
                pb::batch_new_x509svid_response::Result {
                    status: Some(error.to_proto()),
                    svid: None,
                }
            }
        };
        results.push(result);
    }
    Ok(results)
}

async fn new_x509_svid(
    ctx: &ServerContext,
    authorized: &HashMap<EntryId, Arc<RegistrationEntry>>,
    param: &pb::NewX509svidParams,
) -> Result<types::X509svid, ApiError> {
    let id = entry_id_from_proto("entry_id", &param.entry_id)?;
    if param.csr.is_empty() {
        return Err(ApiError::invalid("missing CSR"));
    }
    let entry = authorized
        .get(&id)
        .ok_or_else(|| ApiError::not_found("entry not found or not authorized"))?;
    let public_key = public_key_from_csr(&param.csr).map_err(|e| match e {
        CsrError::Malformed => ApiError::invalid("malformed CSR: not a DER PKCS#10 request"),
        other => ApiError::invalid(format!("invalid CSR: {other}")),
    })?;
    check_csr_names(&param.csr, entry)?;

    let spec = &entry.spec;
    let ttl = (spec.x509_svid_ttl > 0).then(|| Duration::from_secs(spec.x509_svid_ttl.into()));
    let svid = ctx
        .ca
        .mint_x509_svid(
            public_key,
            spec.spiffe_id.clone(),
            spec.dns_names.clone(),
            ttl,
        )
        .await
        .map_err(|e| status::mint_error("failed to sign X509-SVID", e))?;
    Ok(types::X509svid {
        id: Some(id_to_proto(&spec.spiffe_id)),
        cert_chain: svid.chain().iter().map(|c| c.as_ref().to_vec()).collect(),
        expires_at: unix_seconds(svid.expires_at()),
        hint: spec.hint.clone(),
    })
}

/// Signs a JWT-SVID for an authorized entry.
pub(super) async fn new_jwt_svid(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
    request: pb::NewJwtsvidRequest,
) -> Result<types::Jwtsvid, ApiError> {
    let id = entry_id_from_proto("entry_id", &request.entry_id)?;
    if request.audience.is_empty() || request.audience.iter().any(String::is_empty) {
        return Err(ApiError::invalid(
            "invalid audience: at least one non-empty audience is required",
        ));
    }
    let entry = crate::api::entry::authorized_entry(ctx, agent_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("entry not found or not authorized"))?;
    let spec = &entry.spec;
    let ttl = (spec.jwt_svid_ttl > 0).then(|| Duration::from_secs(spec.jwt_svid_ttl.into()));
    let svid = ctx
        .ca
        .mint_jwt_svid(spec.spiffe_id.clone(), request.audience, ttl)
        .await
        .map_err(|e| status::mint_error("failed to sign JWT-SVID", e))?;
    Ok(types::Jwtsvid {
        token: svid.token,
        id: Some(id_to_proto(&spec.spiffe_id)),
        expires_at: svid.expires_at,
        issued_at: svid.issued_at,
        hint: spec.hint.clone(),
    })
}

/// A CSR may carry no names, or the entry's SPIFFE ID and some of its DNS
/// names; any other name is refused rather than silently dropped.
fn check_csr_names(der: &[u8], entry: &RegistrationEntry) -> Result<(), ApiError> {
    let (_, csr) = X509CertificationRequest::from_der(der)
        .map_err(|_| ApiError::invalid("malformed CSR: not a DER PKCS#10 request"))?;
    for extension in csr.requested_extensions().into_iter().flatten() {
        let ParsedExtension::SubjectAlternativeName(san) = extension else {
            continue;
        };
        for name in &san.general_names {
            let allowed = match name {
                GeneralName::URI(uri) => *uri == entry.spec.spiffe_id.as_str(),
                GeneralName::DNSName(dns) => entry.spec.dns_names.iter().any(|d| d == dns),
                _ => false,
            };
            if !allowed {
                return Err(ApiError::invalid(
                    "invalid CSR: subject alternative names must be empty or match the entry",
                ));
            }
        }
    }
    Ok(())
}

/// An entry ID from a request, bounded and without control characters, for logs.
fn printable(id: &str) -> String {
    id.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
