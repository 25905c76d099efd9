//! `-output pretty`: SPIRE's aligned `Key : value` blocks for entries, agents and
//! authorities.

use lanyard_daemon::output::PrettyRecord;
use lanyard_proto::spire::api::server::localauthority::v1::AuthorityState;
use lanyard_proto::spire::api::types::{Agent, Entry};

use super::common::{format_unix_time, spiffe_id_to_string};

const ENTRY_WIDTH: usize = 17;
const AGENT_WIDTH: usize = 18;

/// One registration entry, as `entry show` prints it.
pub(crate) fn entry(e: &Entry) -> String {
    let mut r = PrettyRecord::new(ENTRY_WIDTH);
    let id = if e.id.is_empty() { "(none)" } else { &e.id };
    r.field("Entry ID", id)
        .field("SPIFFE ID", spiffe_id_to_string(e.spiffe_id.as_ref()))
        .field("Parent ID", spiffe_id_to_string(e.parent_id.as_ref()))
        .field("Revision", e.revision_number);
    if e.downstream {
        r.field("Downstream", true);
    }
    r.field("X509-SVID TTL", ttl(e.x509_svid_ttl))
        .field("JWT-SVID TTL", ttl(e.jwt_svid_ttl));
    if e.expires_at != 0 {
        r.field("Expiration time", format_unix_time(e.expires_at));
    }
    r.repeated(
        "Selector",
        e.selectors
            .iter()
            .map(|s| format!("{}:{}", s.r#type, s.value)),
    )
    .repeated("FederatesWith", &e.federates_with)
    .repeated("DNS name", &e.dns_names);
    if e.admin {
        r.field("Admin", true);
    }
    if e.store_svid {
        r.field("StoreSvid", true);
    }
    if !e.hint.is_empty() {
        r.field("Hint", &e.hint);
    }
    r.render()
}

fn ttl(seconds: i32) -> String {
    if seconds == 0 {
        "default".to_owned()
    } else {
        seconds.to_string()
    }
}

/// Sorts entries the way SPIRE lists them: by SPIFFE ID, then parent, then ID.
pub(crate) fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by_cached_key(|e| {
        (
            spiffe_id_to_string(e.spiffe_id.as_ref()),
            spiffe_id_to_string(e.parent_id.as_ref()),
            e.id.clone(),
        )
    });
}

/// One attested agent; `with_selectors` for `agent show`.
pub(crate) fn agent(a: &Agent, with_selectors: bool) -> String {
    let mut r = PrettyRecord::new(AGENT_WIDTH);
    r.field("SPIFFE ID", spiffe_id_to_string(a.id.as_ref()))
        .field("Attestation type", &a.attestation_type)
        .field("Expiration time", format_unix_time(a.x509svid_expires_at))
        .field("Serial number", &a.x509svid_serial_number)
        .field("Can re-attest", a.can_reattest);
    if a.banned {
        r.field("Banned", true);
    }
    if with_selectors {
        r.repeated(
            "Selectors",
            a.selectors
                .iter()
                .map(|s| format!("{}:{}", s.r#type, s.value)),
        );
    }
    r.render()
}

/// An authority state under a heading, or the "none" line.
pub(crate) fn authority(heading: &str, kind: &str, state: Option<&AuthorityState>) -> String {
    let Some(state) = state.filter(|s| !s.authority_id.is_empty()) else {
        return format!(
            "{heading}:\n  No {} {kind} authority found\n",
            heading_word(heading)
        );
    };
    let mut text = format!(
        "{heading}:\n  Authority ID: {}\n  Expires at: {}\n",
        state.authority_id,
        format_unix_time(state.expires_at)
    );
    if !state.upstream_authority_subject_key_id.is_empty() {
        text.push_str(&format!(
            "  Upstream authority Subject Key ID: {}\n",
            state.upstream_authority_subject_key_id
        ));
    }
    text
}

fn heading_word(heading: &str) -> String {
    heading
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}
