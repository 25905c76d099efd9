//! The records the store keeps. They hold only valid IDs and selectors, because
//! they are built from `lanyard-spiffe` types.

mod bundle;
mod entry;
mod federation;
mod node;
mod paging;
mod token;
mod tpm;

pub use bundle::{BundleDeleteMode, BundleRecord, JwtAuthority, X509Authority};
pub use entry::{
    EntryFilter, EntryId, EntryIdError, EntryMask, EntrySpec, EntryUpdate, MAX_ENTRY_ID_LEN,
    NewEntry, RegistrationEntry, TrustDomainFilter,
};
pub use federation::{BundleEndpointProfile, FederationRelationship};
pub use node::{AttestedNode, NodeFilter, NodeUpdate};
pub use paging::{Page, PageRequest};
pub use token::JoinToken;
pub(crate) use token::token_hash;
pub use tpm::TpmEnrollment;

use lanyard_spiffe::{SelectorMatch, SelectorSet};

/// Matches records whose selector set relates to `selectors` as `mode` says
/// (the semantics of [`SelectorSet::matches`], with the record's set on the left).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorFilter {
    pub selectors: SelectorSet,
    pub mode: SelectorMatch,
}
