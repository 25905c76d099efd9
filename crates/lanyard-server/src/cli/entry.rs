//! `entry create|update|delete|show|count`.

use clap::{Args, Subcommand};
use lanyard_daemon::output::{found_line, json_line};
use lanyard_proto::spire::api::server::entry::v1::{
    BatchCreateEntryRequest, BatchDeleteEntryRequest, BatchUpdateEntryRequest, CountEntriesRequest,
    GetEntryRequest, ListEntriesRequest, count_entries_request, entry_client::EntryClient,
    list_entries_request,
};
use lanyard_proto::spire::api::types::{Entry, Status};
use serde_json::json;

use super::common::{
    CliError, CliResult, Out, OutputArg, SocketArg, parse_selectors, parse_spiffe_id,
    spiffe_id_to_proto,
};
use super::entry_data::{parse_delete_json, parse_entries_json};
use super::filter::EntryFilter;
use super::{json, print};

const PAGE_SIZE: i32 = 500;

/// `entry` subcommands.
#[derive(Debug, Subcommand)]
pub enum EntryCommand {
    /// Creates registration entries
    Create(EntryFields),
    /// Updates registration entries
    Update(EntryFields),
    /// Deletes registration entries
    Delete(DeleteArgs),
    /// Displays configured registration entries
    Show(ShowArgs),
    /// Counts registration entries
    Count(CountArgs),
}

/// The flags of `entry create` and `entry update`.
#[derive(Debug, Args)]
pub struct EntryFields {
    #[command(flatten)]
    pub socket: SocketArg,
    /// The entry ID (update: required; create: optional, server-assigned when absent)
    #[arg(long = "entryID")]
    pub entry_id: Option<String>,
    /// The SPIFFE ID this entry represents
    #[arg(long = "spiffeID")]
    pub spiffe_id: Option<String>,
    /// The SPIFFE ID of this entry's parent
    #[arg(long = "parentID")]
    pub parent_id: Option<String>,
    /// A type:value selector; repeat for more
    #[arg(long = "selector")]
    pub selectors: Vec<String>,
    /// The entry describes a node (parent is the server)
    #[arg(long = "node")]
    pub node: bool,
    /// X509-SVID lifetime in seconds (0: server default)
    #[arg(long = "x509SVIDTTL", default_value_t = 0)]
    pub x509_svid_ttl: i32,
    /// JWT-SVID lifetime in seconds (0: server default)
    #[arg(long = "jwtSVIDTTL", default_value_t = 0)]
    pub jwt_svid_ttl: i32,
    /// Trust domain ID whose bundle comes with the SVID; repeat for more
    #[arg(long = "federatesWith")]
    pub federates_with: Vec<String>,
    /// The workload may use the server's admin API
    #[arg(long = "admin")]
    pub admin: bool,
    /// The workload is a downstream server
    #[arg(long = "downstream")]
    pub downstream: bool,
    /// DNS name added to the X509-SVID; repeat for more
    #[arg(long = "dns")]
    pub dns_names: Vec<String>,
    /// Unix time (seconds) when the entry expires
    #[arg(long = "entryExpiry", default_value_t = 0)]
    pub entry_expiry: i64,
    /// Deliver the SVID through an SVIDStore rather than the Workload API
    #[arg(long = "storeSVID")]
    pub store_svid: bool,
    /// Hint telling workloads which SVID to use
    #[arg(long = "hint")]
    pub hint: Option<String>,
    /// JSON file with {"entries": [...]}, or - for stdin
    #[arg(long = "data")]
    pub data: Option<String>,
    #[command(flatten)]
    pub output: OutputArg,
}

/// Flags of `entry delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// The ID of the entry to delete; repeat for more
    #[arg(long = "entryID")]
    pub entry_ids: Vec<String>,
    /// JSON file with {"ids": [...]}, or - for stdin
    #[arg(long = "data", alias = "file")]
    pub data: Option<String>,
    #[command(flatten)]
    pub output: OutputArg,
}

/// Flags of `entry show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// Show only this entry (cannot be combined with filters)
    #[arg(long = "entryID")]
    pub entry_id: Option<String>,
    #[command(flatten)]
    pub filter: EntryFilter,
    #[command(flatten)]
    pub output: OutputArg,
}

/// Flags of `entry count`.
#[derive(Debug, Args)]
pub struct CountArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    #[command(flatten)]
    pub filter: EntryFilter,
    #[command(flatten)]
    pub output: OutputArg,
}

impl EntryCommand {
    /// Runs the subcommand against the server.
    pub async fn execute(self, out: Out<'_>) -> CliResult {
        match self {
            Self::Create(args) => create_or_update(args, false, out).await,
            Self::Update(args) => create_or_update(args, true, out).await,
            Self::Delete(args) => delete(args, out).await,
            Self::Show(args) => show(args, out).await,
            Self::Count(args) => count(args, out).await,
        }
    }
}

impl EntryFields {
    /// The entries to send: from `-data`, or the one described by the flags.
    pub fn entries(&self, update: bool) -> Result<Vec<Entry>, CliError> {
        if let Some(path) = &self.data {
            return parse_entries_json(&super::common::read_input(path)?);
        }

        let spiffe_id = self
            .spiffe_id
            .as_deref()
            .ok_or_else(|| CliError::msg("a SPIFFE ID is required (-spiffeID)"))?;
        let spiffe_id = parse_spiffe_id("SPIFFE ID", spiffe_id)?;
        let parent_id = match (&self.parent_id, self.node) {
            (Some(_), true) => {
                return Err(CliError::msg("-parentID and -node cannot both be set"));
            }
            (Some(parent), false) => parse_spiffe_id("parent ID", parent)?,
            (None, true) => spiffe_id_to_proto(
                &lanyard_spiffe::SpiffeId::parse(&format!(
                    "spiffe://{}/spire/server",
                    spiffe_id.trust_domain
                ))
                .map_err(|err| CliError::msg(err.to_string()))?,
            ),
            (None, false) => {
                return Err(CliError::msg(
                    "a parent ID is required (-parentID or -node)",
                ));
            }
        };
        if self.selectors.is_empty() {
            return Err(CliError::msg(
                "at least one selector is required (-selector)",
            ));
        }
        if self.x509_svid_ttl < 0 || self.jwt_svid_ttl < 0 {
            return Err(CliError::msg("TTLs must not be negative"));
        }
        let id = self.entry_id.clone().unwrap_or_default();
        if update && id.is_empty() {
            return Err(CliError::msg("an entry ID is required (-entryID)"));
        }

        Ok(vec![Entry {
            id,
            spiffe_id: Some(spiffe_id),
            parent_id: Some(parent_id),
            selectors: parse_selectors(&self.selectors)?,
            x509_svid_ttl: self.x509_svid_ttl,
            jwt_svid_ttl: self.jwt_svid_ttl,
            federates_with: self.federates_with.clone(),
            admin: self.admin,
            downstream: self.downstream,
            expires_at: self.entry_expiry,
            dns_names: self.dns_names.clone(),
            store_svid: self.store_svid,
            hint: self.hint.clone().unwrap_or_default(),
            ..Entry::default()
        }])
    }
}

async fn create_or_update(args: EntryFields, update: bool, out: Out<'_>) -> CliResult {
    let entries = args.entries(update)?;
    let mut client = EntryClient::new(args.socket.connect().await?);

    let results: Vec<(Option<Status>, Option<Entry>)> = if update {
        let request = BatchUpdateEntryRequest {
            entries: entries.clone(),
            ..Default::default()
        };
        client
            .batch_update_entry(request)
            .await
            .map_err(|s| CliError::rpc("error updating entries", &s))?
            .into_inner()
            .results
            .into_iter()
            .map(|r| (r.status, r.entry))
            .collect()
    } else {
        let request = BatchCreateEntryRequest {
            entries: entries.clone(),
            ..Default::default()
        };
        client
            .batch_create_entry(request)
            .await
            .map_err(|s| CliError::rpc("error creating entries", &s))?
            .into_inner()
            .results
            .into_iter()
            .map(|r| (r.status, r.entry))
            .collect()
    };

    let verb = if update { "update" } else { "create" };
    let failed = write_batch_results(&entries, &results, verb, args.output, out)?;
    if failed > 0 {
        return Err(CliError(format!(
            "failed to {verb} {failed} of {} entries",
            entries.len()
        )));
    }
    Ok(())
}

/// Prints per-entry results; returns how many failed.
pub(crate) fn write_batch_results(
    sent: &[Entry],
    results: &[(Option<Status>, Option<Entry>)],
    verb: &str,
    output: OutputArg,
    out: Out<'_>,
) -> Result<usize, CliError> {
    let failed = results
        .iter()
        .filter(|(status, _)| status.as_ref().is_some_and(|s| s.code != 0))
        .count();

    if output.is_json() {
        let results: Vec<_> = results
            .iter()
            .map(|(status, entry)| {
                json!({
                    "status": json::status(status.as_ref()),
                    "entry": entry.as_ref().map_or(serde_json::Value::Null, json::entry),
                })
            })
            .collect();
        out.write_all(json_line(&json!({ "results": results })).as_bytes())?;
        return Ok(failed);
    }

    for (index, (status, entry)) in results.iter().enumerate() {
        match status.as_ref().filter(|s| s.code != 0) {
            None => {
                if let Some(entry) = entry {
                    out.write_all(print::entry(entry).as_bytes())?;
                }
            }
            Some(status) => {
                let code = tonic::Code::from_i32(status.code);
                writeln!(
                    out,
                    "Failed to {verb} the following entry (code: {code:?}, msg: {:?}):",
                    status.message
                )?;
                if let Some(entry) = entry.as_ref().or(sent.get(index)) {
                    out.write_all(print::entry(entry).as_bytes())?;
                }
            }
        }
    }
    Ok(failed)
}

async fn delete(args: DeleteArgs, out: Out<'_>) -> CliResult {
    let mut ids = args.entry_ids.clone();
    if let Some(path) = &args.data {
        ids.extend(parse_delete_json(&super::common::read_input(path)?)?);
    }
    if ids.is_empty() {
        return Err(CliError::msg("an entry ID is required (-entryID or -data)"));
    }

    let mut client = EntryClient::new(args.socket.connect().await?);
    let results = client
        .batch_delete_entry(BatchDeleteEntryRequest { ids })
        .await
        .map_err(|s| CliError::rpc("error deleting entries", &s))?
        .into_inner()
        .results;

    let failed = results
        .iter()
        .filter(|r| r.status.as_ref().is_some_and(|s| s.code != 0))
        .count();
    if args.output.is_json() {
        let results: Vec<_> = results
            .iter()
            .map(|r| json!({ "status": json::status(r.status.as_ref()), "id": r.id }))
            .collect();
        out.write_all(json_line(&json!({ "results": results })).as_bytes())?;
    } else {
        for result in &results {
            match result.status.as_ref().filter(|s| s.code != 0) {
                None => writeln!(out, "Deleted entry with ID: {}", result.id)?,
                Some(s) => writeln!(
                    out,
                    "Failed to delete entry with ID {} (code: {:?}, msg: {:?})",
                    result.id,
                    tonic::Code::from_i32(s.code),
                    s.message
                )?,
            }
        }
    }
    if failed > 0 {
        return Err(CliError(format!("failed to delete {failed} entries")));
    }
    Ok(())
}

async fn show(args: ShowArgs, out: Out<'_>) -> CliResult {
    if args.entry_id.is_some() && args.filter.is_set() {
        return Err(CliError::msg(
            "the -entryID flag can't be combined with others",
        ));
    }
    let filter = args.filter.list_filter()?;
    let mut client = EntryClient::new(args.socket.connect().await?);

    let mut entries = if let Some(id) = &args.entry_id {
        let entry = client
            .get_entry(GetEntryRequest {
                id: id.clone(),
                output_mask: None,
            })
            .await
            .map_err(|s| CliError::rpc(&format!("error fetching entry ID {id}"), &s))?
            .into_inner();
        vec![entry]
    } else {
        list_all(&mut client, filter).await?
    };

    print::sort_entries(&mut entries);
    if args.output.is_json() {
        let value = json!({
            "entries": entries.iter().map(json::entry).collect::<Vec<_>>(),
            "next_page_token": "",
        });
        out.write_all(json_line(&value).as_bytes())?;
        return Ok(());
    }
    writeln!(out, "{}", found_line(entries.len(), "entry", "entries"))?;
    for entry in &entries {
        out.write_all(print::entry(entry).as_bytes())?;
    }
    Ok(())
}

async fn list_all(
    client: &mut EntryClient<tonic::transport::Channel>,
    filter: list_entries_request::Filter,
) -> Result<Vec<Entry>, CliError> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let response = client
            .list_entries(ListEntriesRequest {
                filter: Some(filter.clone()),
                output_mask: None,
                page_size: PAGE_SIZE,
                page_token,
            })
            .await
            .map_err(|s| CliError::rpc("error fetching entries", &s))?
            .into_inner();
        entries.extend(response.entries);
        if response.next_page_token.is_empty() {
            return Ok(entries);
        }
        page_token = response.next_page_token;
    }
}

async fn count(args: CountArgs, out: Out<'_>) -> CliResult {
    let filter = args.filter.list_filter()?;
    let mut client = EntryClient::new(args.socket.connect().await?);
    let count = client
        .count_entries(CountEntriesRequest {
            filter: Some(count_entries_request::Filter {
                by_spiffe_id: filter.by_spiffe_id,
                by_parent_id: filter.by_parent_id,
                by_selectors: filter.by_selectors,
                by_federates_with: filter.by_federates_with,
                by_hint: filter.by_hint,
                by_downstream: filter.by_downstream,
            }),
        })
        .await
        .map_err(|s| CliError::rpc("error counting entries", &s))?
        .into_inner()
        .count;

    if args.output.is_json() {
        out.write_all(json_line(&json!({ "count": count })).as_bytes())?;
    } else {
        let noun = if count == 1 { "entry" } else { "entries" };
        writeln!(out, "{count} registration {noun}")?;
    }
    Ok(())
}
