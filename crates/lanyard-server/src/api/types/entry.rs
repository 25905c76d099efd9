//! Registration entries on the wire (`spire.api.types.Entry`, `EntryMask`): parsed
//! and validated into store records with SPIRE's rules, and rendered back with an
//! output mask.

use lanyard_proto::spire::api::types;
use lanyard_spiffe::TrustDomain;
use lanyard_store::model::{EntryId, EntryMask, EntrySpec, RegistrationEntry};
use time::OffsetDateTime;

use super::id::{
    id_to_proto, member_id_from_proto, selectors_from_proto, selectors_to_proto,
    trust_domain_from_proto, workload_id_from_proto,
};
use crate::api::ApiError;

/// Longest hint accepted, in bytes.
pub const MAX_HINT_LEN: usize = 1024;

/// An entry parsed from a request: the caller's ID choice (if any) and the fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedEntry {
    /// The caller-chosen entry ID, `None` to let the store generate one.
    pub id: Option<EntryId>,
    /// The fields; those outside the mask hold placeholders.
    pub spec: EntrySpec,
}

/// Every field of `EntryMask` set: what an absent mask means.
pub fn full_entry_mask() -> types::EntryMask {
    types::EntryMask {
        spiffe_id: true,
        parent_id: true,
        selectors: true,
        x509_svid_ttl: true,
        federates_with: true,
        admin: true,
        downstream: true,
        expires_at: true,
        dns_names: true,
        revision_number: true,
        store_svid: true,
        jwt_svid_ttl: true,
        hint: true,
        created_at: true,
    }
}

/// The store's update mask for a wire input mask.
pub fn store_mask(mask: &types::EntryMask) -> EntryMask {
    EntryMask {
        spiffe_id: mask.spiffe_id,
        parent_id: mask.parent_id,
        selectors: mask.selectors,
        x509_svid_ttl: mask.x509_svid_ttl,
        jwt_svid_ttl: mask.jwt_svid_ttl,
        federates_with: mask.federates_with,
        admin: mask.admin,
        downstream: mask.downstream,
        dns_names: mask.dns_names,
        hint: mask.hint,
        expires_at: mask.expires_at,
        store_svid: mask.store_svid,
        ..EntryMask::default()
    }
}

/// Parses an entry ID given by a caller. `field` names it in errors.
pub fn entry_id_from_proto(field: &str, id: &str) -> Result<EntryId, ApiError> {
    if id.is_empty() {
        return Err(ApiError::invalid(format!(
            "invalid {field}: missing entry ID"
        )));
    }
    EntryId::parse(id).map_err(|e| ApiError::invalid(format!("invalid {field}: {e}")))
}

/// Parses and validates the fields of `entry` that `mask` selects, for trust
/// domain `td`. Unselected fields get placeholders that a masked update ignores.
pub fn entry_from_proto(
    td: &TrustDomain,
    entry: &types::Entry,
    mask: &types::EntryMask,
) -> Result<ParsedEntry, ApiError> {
    let id = match entry.id.as_str() {
        "" => None,
        id => Some(entry_id_from_proto("id", id)?),
    };
    let spiffe_id = if mask.spiffe_id {
        workload_id_from_proto("spiffe_id", td, entry.spiffe_id.as_ref())?
    } else {
        td.id()
    };
    let parent_id = if mask.parent_id {
        member_id_from_proto("parent_id", td, entry.parent_id.as_ref())?
    } else {
        td.id()
    };
    let mut spec = EntrySpec::new(spiffe_id, parent_id, Default::default());

    if mask.selectors {
        spec.selectors = selectors_from_proto("selectors", &entry.selectors)?;
        if spec.selectors.is_empty() {
            return Err(ApiError::invalid(
                "invalid selectors: selector list is empty",
            ));
        }
    }
    if mask.x509_svid_ttl {
        spec.x509_svid_ttl = ttl_from_proto("x509_svid_ttl", entry.x509_svid_ttl)?;
    }
    if mask.jwt_svid_ttl {
        spec.jwt_svid_ttl = ttl_from_proto("jwt_svid_ttl", entry.jwt_svid_ttl)?;
    }
    if mask.federates_with {
        for name in &entry.federates_with {
            spec.federates_with
                .insert(trust_domain_from_proto("federates_with", name)?);
        }
    }
    if mask.dns_names {
        for name in &entry.dns_names {
            check_dns_name(name).map_err(|why| {
                ApiError::invalid(format!("invalid dns_names: {why} (in \"{name}\")"))
            })?;
        }
        spec.dns_names.clone_from(&entry.dns_names);
    }
    if mask.hint {
        if entry.hint.len() > MAX_HINT_LEN {
            return Err(ApiError::invalid(format!(
                "invalid hint: {} bytes long, the limit is {MAX_HINT_LEN}",
                entry.hint.len()
            )));
        }
        spec.hint.clone_from(&entry.hint);
    }
    if mask.expires_at {
        spec.expires_at = expires_at_from_proto(entry.expires_at)?;
    }
    spec.admin = mask.admin && entry.admin;
    spec.downstream = mask.downstream && entry.downstream;
    spec.store_svid = mask.store_svid && entry.store_svid;
    Ok(ParsedEntry { id, spec })
}

/// The wire form of a stored entry, with only the fields `mask` selects (the ID
/// always); `None` means every field.
pub fn entry_to_proto(entry: &RegistrationEntry, mask: Option<&types::EntryMask>) -> types::Entry {
    let full = full_entry_mask();
    let mask = mask.unwrap_or(&full);
    let spec = &entry.spec;
    types::Entry {
        id: entry.id.to_string(),
        spiffe_id: mask.spiffe_id.then(|| id_to_proto(&spec.spiffe_id)),
        parent_id: mask.parent_id.then(|| id_to_proto(&spec.parent_id)),
        selectors: if mask.selectors {
            selectors_to_proto(&spec.selectors)
        } else {
            Vec::new()
        },
        x509_svid_ttl: if mask.x509_svid_ttl {
            ttl_to_proto(spec.x509_svid_ttl)
        } else {
            0
        },
        jwt_svid_ttl: if mask.jwt_svid_ttl {
            ttl_to_proto(spec.jwt_svid_ttl)
        } else {
            0
        },
        federates_with: if mask.federates_with {
            spec.federates_with
                .iter()
                .map(ToString::to_string)
                .collect()
        } else {
            Vec::new()
        },
        admin: mask.admin && spec.admin,
        downstream: mask.downstream && spec.downstream,
        expires_at: if mask.expires_at {
            spec.expires_at.map_or(0, OffsetDateTime::unix_timestamp)
        } else {
            0
        },
        dns_names: if mask.dns_names {
            spec.dns_names.clone()
        } else {
            Vec::new()
        },
        revision_number: if mask.revision_number {
            i64::try_from(entry.revision_number).unwrap_or(i64::MAX)
        } else {
            0
        },
        store_svid: mask.store_svid && spec.store_svid,
        hint: if mask.hint {
            spec.hint.clone()
        } else {
            String::new()
        },
        created_at: if mask.created_at {
            entry.created_at.unix_timestamp()
        } else {
            0
        },
    }
}

fn ttl_from_proto(field: &str, ttl: i32) -> Result<u32, ApiError> {
    u32::try_from(ttl)
        .map_err(|_| ApiError::invalid(format!("invalid {field}: must not be negative, got {ttl}")))
}

fn ttl_to_proto(ttl: u32) -> i32 {
    i32::try_from(ttl).unwrap_or(i32::MAX)
}

fn expires_at_from_proto(secs: i64) -> Result<Option<OffsetDateTime>, ApiError> {
    match secs {
        0 => Ok(None),
        s if s < 0 => Err(ApiError::invalid(format!(
            "invalid expires_at: must not be negative, got {s}"
        ))),
        s => OffsetDateTime::from_unix_timestamp(s)
            .map(Some)
            .map_err(|_| ApiError::invalid(format!("invalid expires_at: {s} is out of range"))),
    }
}

/// Checks a DNS SAN: dot-separated labels of letters, digits and inner hyphens,
/// 1 to 63 bytes each, at most 253 in all; the first label may be the wildcard `*`.
pub fn check_dns_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("dns name is empty");
    }
    if name.len() > 253 {
        return Err("dns name is longer than 253 bytes");
    }

    let mut labels = name.split('.').peekable();
    if labels.peek() == Some(&"*") {
        labels.next();
        if labels.peek().is_none() {
            return Err("a wildcard needs a domain after it");
        }
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Err("dns labels must be 1 to 63 bytes long");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("dns labels may contain only letters, digits and '-'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("dns labels must not start or end with '-'");
        }
    }
    Ok(())
}
