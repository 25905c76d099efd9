//! Filters shared by `entry show`/`entry count` and the agent listing commands.

use clap::{Args, ValueEnum};
use lanyard_proto::spire::api::server::entry::v1::list_entries_request;
use lanyard_proto::spire::api::types::{
    FederatesWithMatch, SelectorMatch, federates_with_match, selector_match,
};

use super::common::{CliError, parse_selectors, parse_spiffe_id};

/// How a filter's list is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatchMode {
    /// Exactly these.
    Exact,
    /// A subset of these.
    Subset,
    /// At least these.
    Superset,
    /// Any of these.
    Any,
}

/// Filters shared by `entry show` and `entry count`.
#[derive(Debug, Args)]
pub struct EntryFilter {
    /// Only entries with this SPIFFE ID
    #[arg(long = "spiffeID")]
    pub spiffe_id: Option<String>,
    /// Only entries with this parent
    #[arg(long = "parentID")]
    pub parent_id: Option<String>,
    /// A type:value selector to match; repeat for more
    #[arg(long = "selector")]
    pub selectors: Vec<String>,
    /// How selectors match: exact, subset, superset or any
    #[arg(long = "matchSelectorsOn", value_enum, default_value_t = MatchMode::Superset)]
    pub match_selectors_on: MatchMode,
    /// A federated trust domain ID to match; repeat for more
    #[arg(long = "federatesWith")]
    pub federates_with: Vec<String>,
    /// How trust domains match: exact, subset, superset or any
    #[arg(long = "matchFederatesWithOn", value_enum, default_value_t = MatchMode::Superset)]
    pub match_federates_with_on: MatchMode,
    /// Only entries with this hint
    #[arg(long = "hint")]
    pub hint: Option<String>,
    /// Only downstream entries
    #[arg(long = "downstream")]
    pub downstream: bool,
}

impl EntryFilter {
    pub(crate) fn is_set(&self) -> bool {
        self.spiffe_id.is_some()
            || self.parent_id.is_some()
            || !self.selectors.is_empty()
            || !self.federates_with.is_empty()
            || self.hint.is_some()
            || self.downstream
    }

    /// The API filter these flags describe.
    pub fn list_filter(&self) -> Result<list_entries_request::Filter, CliError> {
        let by_selectors = if self.selectors.is_empty() {
            None
        } else {
            Some(SelectorMatch {
                selectors: parse_selectors(&self.selectors)?,
                r#match: selector_match_mode(self.match_selectors_on) as i32,
            })
        };
        let by_federates_with = if self.federates_with.is_empty() {
            None
        } else {
            Some(FederatesWithMatch {
                trust_domains: self.federates_with.clone(),
                r#match: federates_with_match_mode(self.match_federates_with_on) as i32,
            })
        };

        Ok(list_entries_request::Filter {
            by_spiffe_id: self
                .spiffe_id
                .as_deref()
                .map(|id| parse_spiffe_id("SPIFFE ID", id))
                .transpose()?,
            by_parent_id: self
                .parent_id
                .as_deref()
                .map(|id| parse_spiffe_id("parent ID", id))
                .transpose()?,
            by_selectors,
            by_federates_with,
            by_hint: self.hint.clone(),
            by_downstream: self.downstream.then_some(true),
        })
    }
}

/// The selector match behaviour for a `-match...On` value.
pub(crate) fn selector_match_mode(mode: MatchMode) -> selector_match::MatchBehavior {
    match mode {
        MatchMode::Exact => selector_match::MatchBehavior::MatchExact,
        MatchMode::Subset => selector_match::MatchBehavior::MatchSubset,
        MatchMode::Superset => selector_match::MatchBehavior::MatchSuperset,
        MatchMode::Any => selector_match::MatchBehavior::MatchAny,
    }
}

fn federates_with_match_mode(mode: MatchMode) -> federates_with_match::MatchBehavior {
    match mode {
        MatchMode::Exact => federates_with_match::MatchBehavior::MatchExact,
        MatchMode::Subset => federates_with_match::MatchBehavior::MatchSubset,
        MatchMode::Superset => federates_with_match::MatchBehavior::MatchSuperset,
        MatchMode::Any => federates_with_match::MatchBehavior::MatchAny,
    }
}
