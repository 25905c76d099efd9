//! Conversions between SPIRE's wire types (`spire.api.types`) and Lanyard's checked
//! types, shared by the services. Parsing applies SPIRE's validation rules and
//! names the offending field in every error.

mod agent;
mod bundle;
mod entry;
mod id;

pub use agent::agent_to_proto;
pub use bundle::{
    bundle_from_proto, bundle_to_proto, full_bundle_mask, jwt_authorities_from_proto,
    record_to_bundle, x509_authorities_from_proto,
};
pub use entry::{
    MAX_HINT_LEN, ParsedEntry, check_dns_name, entry_from_proto, entry_id_from_proto,
    entry_to_proto, full_entry_mask, store_mask,
};
pub use id::{
    RESERVED_PATH, id_from_proto, id_to_proto, is_reserved, member_id_from_proto,
    selector_match_from_proto, selectors_from_proto, selectors_to_proto, trust_domain_from_proto,
    workload_id_from_proto,
};

#[cfg(test)]
mod tests;
