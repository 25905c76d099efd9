//! SPIFFE IDs and selectors on the wire (`spire.api.types.SPIFFEID`, `Selector`,
//! `SelectorMatch`), parsed into the checked `lanyard-spiffe` types.

use lanyard_proto::spire::api::types;
use lanyard_proto::spire::api::types::selector_match::MatchBehavior;
use lanyard_spiffe::{Selector, SelectorMatch, SelectorSet, SpiffeId, TrustDomain};

use crate::api::ApiError;

/// The path prefix SPIRE reserves for its own identities (agents, the server).
pub const RESERVED_PATH: &str = "/spire";

/// Parses a wire SPIFFE ID: a bare trust domain name and an empty or absolute path.
/// `field` names the request field in the error message.
pub fn id_from_proto(field: &str, id: Option<&types::Spiffeid>) -> Result<SpiffeId, ApiError> {
    let Some(id) = id else {
        return Err(ApiError::invalid(format!(
            "invalid {field}: missing SPIFFE ID"
        )));
    };
    let invalid =
        |reason: &dyn std::fmt::Display| ApiError::invalid(format!("invalid {field}: {reason}"));

    let td = TrustDomain::new(&id.trust_domain).map_err(|e| invalid(&e))?;
    SpiffeId::from_parts(&td, &id.path).map_err(|e| invalid(&e))
}

/// Like [`id_from_proto`], and the ID must be in `td` with a non-empty path.
pub fn member_id_from_proto(
    field: &str,
    td: &TrustDomain,
    id: Option<&types::Spiffeid>,
) -> Result<SpiffeId, ApiError> {
    let id = id_from_proto(field, id)?;
    if !id.is_member_of(td) {
        return Err(ApiError::invalid(format!(
            "invalid {field}: \"{id}\" is not a member of trust domain \"{td}\""
        )));
    }
    if id.is_root() {
        return Err(ApiError::invalid(format!(
            "invalid {field}: \"{id}\" is the trust domain itself; a path is required"
        )));
    }
    Ok(id)
}

/// Like [`member_id_from_proto`], and the ID must not be under the reserved
/// `/spire` path (the IDs of agents and servers).
pub fn workload_id_from_proto(
    field: &str,
    td: &TrustDomain,
    id: Option<&types::Spiffeid>,
) -> Result<SpiffeId, ApiError> {
    let id = member_id_from_proto(field, td, id)?;
    if is_reserved(&id) {
        return Err(ApiError::invalid(format!(
            "invalid {field}: \"{id}\" is under the reserved path \"{RESERVED_PATH}/\""
        )));
    }
    Ok(id)
}

/// Whether `id` lies under the reserved `/spire` path.
pub fn is_reserved(id: &SpiffeId) -> bool {
    id.segments().next() == Some(&RESERVED_PATH[1..])
}

/// The wire form of a SPIFFE ID.
pub fn id_to_proto(id: &SpiffeId) -> types::Spiffeid {
    types::Spiffeid {
        trust_domain: id.trust_domain().to_string(),
        path: id.path().to_owned(),
    }
}

/// Parses wire selectors into a set; an empty list is allowed here.
pub fn selectors_from_proto(
    field: &str,
    selectors: &[types::Selector],
) -> Result<SelectorSet, ApiError> {
    selectors
        .iter()
        .map(|s| {
            Selector::new(&s.r#type, &s.value).map_err(|e| {
                ApiError::invalid(format!(
                    "invalid {field}: {e} (in \"{}:{}\")",
                    s.r#type, s.value
                ))
            })
        })
        .collect()
}

/// The wire form of selectors.
pub fn selectors_to_proto(selectors: &SelectorSet) -> Vec<types::Selector> {
    selectors
        .iter()
        .map(|s| types::Selector {
            r#type: s.kind().to_owned(),
            value: s.value().to_owned(),
        })
        .collect()
}

/// A `SelectorMatch` filter: a non-empty selector set and a known match mode.
pub fn selector_match_from_proto(
    field: &str,
    filter: &types::SelectorMatch,
) -> Result<(SelectorSet, SelectorMatch), ApiError> {
    let selectors = selectors_from_proto(field, &filter.selectors)?;
    if selectors.is_empty() {
        return Err(ApiError::invalid(format!(
            "invalid {field}: empty selector set"
        )));
    }
    let mode = match MatchBehavior::try_from(filter.r#match) {
        Ok(MatchBehavior::MatchExact) => SelectorMatch::Exact,
        Ok(MatchBehavior::MatchSubset) => SelectorMatch::Subset,
        Ok(MatchBehavior::MatchSuperset) => SelectorMatch::Superset,
        Ok(MatchBehavior::MatchAny) => SelectorMatch::Any,
        Err(_) => {
            return Err(ApiError::invalid(format!(
                "invalid {field}: unknown match behavior {}",
                filter.r#match
            )));
        }
    };
    Ok((selectors, mode))
}

/// Parses a trust domain name (or `spiffe://name`) from a request field.
pub fn trust_domain_from_proto(field: &str, name: &str) -> Result<TrustDomain, ApiError> {
    if name.is_empty() {
        return Err(ApiError::invalid(format!(
            "invalid {field}: missing trust domain"
        )));
    }
    TrustDomain::from_name_or_id(name)
        .map_err(|e| ApiError::invalid(format!("invalid {field}: {e} (in \"{name}\")")))
}
