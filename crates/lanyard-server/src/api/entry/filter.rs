//! `ListEntries` / `CountEntries` filters, parsed into the store's filter.

use std::collections::BTreeSet;

use lanyard_proto::spire::api::server::entry::v1::{count_entries_request, list_entries_request};
use lanyard_proto::spire::api::types::FederatesWithMatch;
use lanyard_proto::spire::api::types::federates_with_match::MatchBehavior;
use lanyard_spiffe::SelectorMatch;
use lanyard_store::model::{EntryFilter, SelectorFilter, TrustDomainFilter};

use crate::api::ApiError;
use crate::api::types::{id_from_proto, selector_match_from_proto, trust_domain_from_proto};

/// The store filter for a `CountEntries` request (no filter: everything).
pub(super) fn from_count_request(
    filter: Option<count_entries_request::Filter>,
) -> Result<EntryFilter, ApiError> {
    let Some(f) = filter else {
        return Ok(EntryFilter::default());
    };
    from_list_request(Some(list_entries_request::Filter {
        by_spiffe_id: f.by_spiffe_id,
        by_parent_id: f.by_parent_id,
        by_selectors: f.by_selectors,
        by_federates_with: f.by_federates_with,
        by_hint: f.by_hint,
        by_downstream: f.by_downstream,
    }))
}

/// The store filter for a `ListEntries` request (no filter: everything).
pub(super) fn from_list_request(
    filter: Option<list_entries_request::Filter>,
) -> Result<EntryFilter, ApiError> {
    let Some(f) = filter else {
        return Ok(EntryFilter::default());
    };

    let mut out = EntryFilter::default();
    if f.by_spiffe_id.is_some() {
        out.by_spiffe_id = Some(id_from_proto(
            "filter.by_spiffe_id",
            f.by_spiffe_id.as_ref(),
        )?);
    }
    if f.by_parent_id.is_some() {
        out.by_parent_id = Some(id_from_proto(
            "filter.by_parent_id",
            f.by_parent_id.as_ref(),
        )?);
    }
    if let Some(by_selectors) = &f.by_selectors {
        let (selectors, mode) = selector_match_from_proto("filter.by_selectors", by_selectors)?;
        out.by_selectors = Some(SelectorFilter { selectors, mode });
    }
    if let Some(by_federates_with) = &f.by_federates_with {
        out.by_federates_with = Some(federates_with_filter(by_federates_with)?);
    }
    out.by_hint = f.by_hint;
    out.by_downstream = f.by_downstream;
    Ok(out)
}

fn federates_with_filter(filter: &FederatesWithMatch) -> Result<TrustDomainFilter, ApiError> {
    const FIELD: &str = "filter.by_federates_with";

    let trust_domains = filter
        .trust_domains
        .iter()
        .map(|name| trust_domain_from_proto(FIELD, name))
        .collect::<Result<BTreeSet<_>, _>>()?;
    if trust_domains.is_empty() {
        return Err(ApiError::invalid(format!(
            "invalid {FIELD}: empty trust domain set"
        )));
    }
    let mode = match MatchBehavior::try_from(filter.r#match) {
        Ok(MatchBehavior::MatchExact) => SelectorMatch::Exact,
        Ok(MatchBehavior::MatchSubset) => SelectorMatch::Subset,
        Ok(MatchBehavior::MatchSuperset) => SelectorMatch::Superset,
        Ok(MatchBehavior::MatchAny) => SelectorMatch::Any,
        Err(_) => {
            return Err(ApiError::invalid(format!(
                "invalid {FIELD}: unknown match behavior {}",
                filter.r#match
            )));
        }
    };
    Ok(TrustDomainFilter {
        trust_domains,
        mode,
    })
}
