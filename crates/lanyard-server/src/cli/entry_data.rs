//! The JSON files of `entry create|update -data` and `entry delete -data`, in SPIRE's
//! formats: `{"entries": [{"spiffe_id": ..., "parent_id": ..., "selectors": [...]}]}` and
//! `{"ids": [...]}`.
//!
//! Unknown keys are refused, naming the key: a misspelled `x509_svid_tll` or `admn` must
//! not create an entry without the setting the file meant to give it.

use lanyard_proto::spire::api::types::Entry;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::common::{CliError, parse_spiffe_id};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesFile {
    #[serde(default, alias = "Entries")]
    entries: Vec<EntryJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectorJson {
    #[serde(alias = "Type")]
    r#type: String,
    #[serde(alias = "Value")]
    value: String,
}

/// One entry as SPIRE's `common.RegistrationEntry` JSON writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryJson {
    #[serde(default)]
    selectors: Vec<SelectorJson>,
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    spiffe_id: String,
    #[serde(default, alias = "ttl")]
    x509_svid_ttl: i32,
    #[serde(default)]
    jwt_svid_ttl: i32,
    #[serde(default)]
    federates_with: Vec<String>,
    #[serde(default, alias = "id")]
    entry_id: String,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    downstream: bool,
    #[serde(default, rename = "entryExpiry", alias = "expires_at")]
    entry_expiry: i64,
    #[serde(default)]
    dns_names: Vec<String>,
    #[serde(default)]
    store_svid: bool,
    #[serde(default)]
    hint: String,
    /// Written by SPIRE's exports; the server assigns its own.
    #[serde(default, rename = "revision_number")]
    _revision_number: Option<IgnoredAny>,
    /// Written by SPIRE's exports; the server assigns its own.
    #[serde(default, rename = "created_at")]
    _created_at: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteFile {
    #[serde(default)]
    ids: Vec<String>,
}

/// Parses an entries file into API entries.
pub(crate) fn parse_entries_json(data: &[u8]) -> Result<Vec<Entry>, CliError> {
    let file: EntriesFile = serde_json::from_slice(data)
        .map_err(|err| CliError(format!("invalid entries JSON: {err}")))?;
    if file.entries.is_empty() {
        return Err(CliError::msg("the entries JSON holds no entries"));
    }

    file.entries
        .into_iter()
        .enumerate()
        .map(|(index, e)| {
            let context = |what: &str| format!("{what} of entry {index}");
            Ok(Entry {
                id: e.entry_id,
                spiffe_id: Some(parse_spiffe_id(&context("SPIFFE ID"), &e.spiffe_id)?),
                parent_id: Some(parse_spiffe_id(&context("parent ID"), &e.parent_id)?),
                selectors: e
                    .selectors
                    .into_iter()
                    .map(|s| lanyard_proto::spire::api::types::Selector {
                        r#type: s.r#type,
                        value: s.value,
                    })
                    .collect(),
                x509_svid_ttl: e.x509_svid_ttl,
                jwt_svid_ttl: e.jwt_svid_ttl,
                federates_with: e.federates_with,
                admin: e.admin,
                downstream: e.downstream,
                expires_at: e.entry_expiry,
                dns_names: e.dns_names,
                store_svid: e.store_svid,
                hint: e.hint,
                ..Entry::default()
            })
        })
        .collect()
}

/// Parses a delete file into entry IDs.
pub(crate) fn parse_delete_json(data: &[u8]) -> Result<Vec<String>, CliError> {
    let file: DeleteFile = serde_json::from_slice(data)
        .map_err(|err| CliError(format!("invalid delete JSON: {err}")))?;
    Ok(file.ids)
}
