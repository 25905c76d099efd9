//! `CreateJoinToken`: a one-time token from the system CSPRNG, stored hashed, with
//! an optional alias entry for the agent that will redeem it, and the node
//! attributes (`lanyard-node-attribute: key=value` metadata) the node will be
//! known by: they become its `node:<key>:<value>` selectors when it attests.

use std::time::Duration;

use lanyard_proto::spire::api::server::agent::v1::CreateJoinTokenRequest;
use lanyard_proto::spire::api::types;
use lanyard_spiffe::{Selector, SelectorSet, SpiffeId, TrustDomain};
use lanyard_store::model::{EntrySpec, NewEntry};
use time::OffsetDateTime;

use super::status;
use crate::api::types::workload_id_from_proto;
use crate::api::{ApiError, ServerContext};

/// How long a join token is valid when the request gives no TTL.
pub const DEFAULT_JOIN_TOKEN_TTL: Duration = Duration::from_secs(600);

/// The node attestor name in agent IDs of join-token agents.
pub const JOIN_TOKEN_ATTESTOR: &str = "join_token";

pub use crate::cli::NODE_ATTRIBUTE_METADATA;

/// Longest caller-chosen token accepted, in bytes.
const MAX_TOKEN_LEN: usize = 256;

/// The selector type of node attributes bound to a join token.
const NODE_ATTRIBUTE_SELECTOR_TYPE: &str = "node";

/// Most node attributes one token may carry.
const MAX_NODE_ATTRIBUTES: usize = 64;

/// Creates the token (and its alias entry when `agent_id` is given).
pub(super) async fn create(
    ctx: &ServerContext,
    metadata: &tonic::metadata::MetadataMap,
    request: CreateJoinTokenRequest,
) -> Result<types::JoinToken, ApiError> {
    let node_selectors = node_attribute_selectors(metadata)?;
    let ttl = match u64::try_from(request.ttl) {
        Ok(0) => DEFAULT_JOIN_TOKEN_TTL,
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            return Err(ApiError::invalid(format!(
                "invalid ttl: must not be negative, got {}",
                request.ttl
            )));
        }
    };
    let token = if request.token.is_empty() {
        generate_token()?
    } else {
        request.token
    };
    let token_agent_id = join_token_agent_id(&ctx.trust_domain, &token)?;
    let alias = match &request.agent_id {
        Some(id) => Some(workload_id_from_proto(
            "agent_id",
            &ctx.trust_domain,
            Some(id),
        )?),
        None => None,
    };

    let expires_at = OffsetDateTime::now_utc() + ttl;
    ctx.store
        .create_join_token(&token, expires_at, &node_selectors)
        .await
        .map_err(|e| status::token_error("failed to create token", e))?;

    if let Some(alias) = alias
        && let Err(error) = create_alias_entry(ctx, &token_agent_id, alias).await
    {
        // Without its alias the token would admit a node the admin did not intend.
        if let Err(undo) = ctx
            .store
            .take_join_token(&token, OffsetDateTime::now_utc())
            .await
        {
            tracing::warn!(error = %undo, "could not withdraw a join token whose alias failed");
        }
        return Err(error);
    }

    tracing::info!(
        ttl_secs = ttl.as_secs(),
        node_selectors = node_selectors.len(),
        "join token created"
    );
    Ok(types::JoinToken {
        value: token,
        expires_at: expires_at.unix_timestamp(),
    })
}

/// `spiffe://<td>/spire/agent/join_token/<token>`: the ID an agent gets when it
/// redeems `token`. The token must therefore be a valid path segment.
pub fn join_token_agent_id(td: &TrustDomain, token: &str) -> Result<SpiffeId, ApiError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(ApiError::invalid(format!(
            "invalid token: longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    if token.contains('/') {
        return Err(ApiError::invalid("invalid token: must not contain '/'"));
    }
    td.id()
        .join("spire/agent")
        .and_then(|base| base.join(JOIN_TOKEN_ATTESTOR))
        .and_then(|base| base.join(token))
        .map_err(|e| ApiError::invalid(format!("invalid token: {e}")))
}

/// The entry SPIRE creates with a token: parent = the token's agent ID, selector
/// `spiffe_id:<that agent ID>`, SPIFFE ID = the requested alias.
async fn create_alias_entry(
    ctx: &ServerContext,
    token_agent_id: &SpiffeId,
    alias: SpiffeId,
) -> Result<(), ApiError> {
    let selector = Selector::new("spiffe_id", token_agent_id.as_str())
        .map_err(|e| ApiError::invalid(format!("invalid token: {e}")))?;
    let spec = EntrySpec::new(
        alias,
        token_agent_id.clone(),
        SelectorSet::from(vec![selector]),
    );
    ctx.store
        .create_entry(NewEntry { id: None, spec })
        .await
        .map_err(|e| status::token_error("failed to create token alias entry", e))?;
    Ok(())
}

/// The `node:<key>:<value>` selectors for the `key=value` node attributes in
/// `metadata`; refuses the request when one cannot become a selector.
fn node_attribute_selectors(
    metadata: &tonic::metadata::MetadataMap,
) -> Result<SelectorSet, ApiError> {
    let mut selectors = Vec::new();
    for value in metadata.get_all(NODE_ATTRIBUTE_METADATA) {
        let text = value
            .to_str()
            .map_err(|_| ApiError::invalid("invalid node attribute: must be printable ASCII"))?;
        let Some((key, attribute)) = text.split_once('=') else {
            return Err(ApiError::invalid(format!(
                "invalid node attribute {text:?}: must be key=value"
            )));
        };
        if key.is_empty() || attribute.is_empty() || key.contains(':') {
            return Err(ApiError::invalid(format!(
                "invalid node attribute {text:?}: key and value must not be empty and the key \
                 must not contain ':'"
            )));
        }
        let selector =
            Selector::new(NODE_ATTRIBUTE_SELECTOR_TYPE, &format!("{key}:{attribute}"))
                .map_err(|e| ApiError::invalid(format!("invalid node attribute {text:?}: {e}")))?;
        selectors.push(selector);
    }
    if selectors.len() > MAX_NODE_ATTRIBUTES {
        return Err(ApiError::invalid(format!(
            "invalid node attributes: at most {MAX_NODE_ATTRIBUTES} are allowed"
        )));
    }
    Ok(SelectorSet::from(selectors))
}

/// A random version-4 UUID string from the system CSPRNG (SPIRE's token format).
fn generate_token() -> Result<String, ApiError> {
    use aws_lc_rs::rand::SecureRandom as _;

    let mut bytes = [0_u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::new(tonic::Code::Internal, "failed to generate token"))?;
    Ok(uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string())
}
