//! `SyncAuthorizedEntries`, SPIRE's paged sync for agents.
//!
//! The agent's first request asks for everything. When the authorized entries fit
//! one page they are sent in full; otherwise the server sends pages of
//! `(id, revision, created_at)` and then answers each follow-up request (a list
//! of IDs the agent lacks or holds stale) with pages of full entries, every
//! series of pages ending with `more = false`. Pages are bounded by count and by
//! encoded size, so no message limit is ever reached. The stream ends when the
//! agent closes its side.

use std::collections::HashMap;
use std::sync::Arc;

use lanyard_proto::spire::api::server::entry::v1 as pb;
use lanyard_proto::spire::api::types;
use lanyard_spiffe::SpiffeId;
use lanyard_store::model::RegistrationEntry;
use prost::Message;
use tokio::sync::mpsc;
use tonic::{Status, Streaming};

use super::authorized_entries;
use crate::api::types::{entry_to_proto, full_entry_mask};
use crate::api::{ApiError, ServerContext};

/// Most entries (or revisions) per page: SPIRE's server page size.
const ENTRY_PAGE_SIZE: usize = 500;

/// Most encoded bytes of entries per page, well under gRPC's 4 MiB default.
const PAGE_BYTES: usize = 2 * 1024 * 1024;

type Responses = mpsc::Sender<Result<pb::SyncAuthorizedEntriesResponse, Status>>;

/// Serves one sync stream for `agent_id`.
pub(super) async fn run(
    ctx: Arc<ServerContext>,
    agent_id: SpiffeId,
    mut requests: Streaming<pb::SyncAuthorizedEntriesRequest>,
    responses: Responses,
) {
    if let Err(status) = serve(&ctx, &agent_id, &mut requests, &responses).await {
        let _ = responses.send(Err(status)).await;
    }
}

async fn serve(
    ctx: &ServerContext,
    agent_id: &SpiffeId,
    requests: &mut Streaming<pb::SyncAuthorizedEntriesRequest>,
    responses: &Responses,
) -> Result<(), Status> {
    let Some(first) = requests.message().await? else {
        return Ok(());
    };
    if !first.ids.is_empty() {
        return Err(ApiError::invalid("specifying IDs on initial request is not supported").into());
    }
    let mut mask = first.output_mask.unwrap_or_else(full_entry_mask);
    // The agent compares revisions: they always travel.
    mask.revision_number = true;
    mask.created_at = true;

    let entries: Vec<types::Entry> = authorized_entries(ctx, agent_id)
        .await?
        .iter()
        .map(|e| entry_to_proto(e, Some(&mask)))
        .collect();
    let total: usize = entries.iter().map(Message::encoded_len).sum();
    if entries.len() <= ENTRY_PAGE_SIZE && total <= PAGE_BYTES {
        send(
            responses,
            pb::SyncAuthorizedEntriesResponse {
                entries,
                entry_revisions: Vec::new(),
                more: false,
            },
        )
        .await?;
        return Ok(());
    }

    send_revisions(responses, &entries).await?;
    let by_id: HashMap<&str, &types::Entry> = entries.iter().map(|e| (e.id.as_str(), e)).collect();
    while let Some(request) = requests.message().await? {
        let wanted: Vec<types::Entry> = request
            .ids
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).map(|e| (*e).clone()))
            .collect();
        send_entries(responses, wanted).await?;
    }
    Ok(())
}

/// The sparse listing: pages of revisions, the last with `more = false`.
async fn send_revisions(responses: &Responses, entries: &[types::Entry]) -> Result<(), Status> {
    let pages: Vec<&[types::Entry]> = entries.chunks(ENTRY_PAGE_SIZE).collect();
    let last = pages.len().saturating_sub(1);
    for (index, page) in pages.into_iter().enumerate() {
        let entry_revisions = page
            .iter()
            .map(|e| pb::EntryRevision {
                id: e.id.clone(),
                revision_number: e.revision_number,
                created_at: e.created_at,
            })
            .collect();
        send(
            responses,
            pb::SyncAuthorizedEntriesResponse {
                entries: Vec::new(),
                entry_revisions,
                more: index != last,
            },
        )
        .await?;
    }
    Ok(())
}

/// Full entries in pages bounded by count and size; always at least one page.
async fn send_entries(responses: &Responses, entries: Vec<types::Entry>) -> Result<(), Status> {
    let mut pages = page_by_size(entries);
    if pages.is_empty() {
        pages.push(Vec::new());
    }
    let last = pages.len() - 1;
    for (index, entries) in pages.into_iter().enumerate() {
        send(
            responses,
            pb::SyncAuthorizedEntriesResponse {
                entries,
                entry_revisions: Vec::new(),
                more: index != last,
            },
        )
        .await?;
    }
    Ok(())
}

/// Splits `entries` into pages of at most [`ENTRY_PAGE_SIZE`] entries and
/// [`PAGE_BYTES`] encoded bytes (a single larger entry gets a page of its own).
fn page_by_size(entries: Vec<types::Entry>) -> Vec<Vec<types::Entry>> {
    let mut pages = Vec::new();
    let mut page = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let size = entry.encoded_len();
        if !page.is_empty() && (page.len() == ENTRY_PAGE_SIZE || bytes + size > PAGE_BYTES) {
            pages.push(std::mem::take(&mut page));
            bytes = 0;
        }
        bytes += size;
        page.push(entry);
    }
    if !page.is_empty() {
        pages.push(page);
    }
    pages
}

async fn send(
    responses: &Responses,
    page: pb::SyncAuthorizedEntriesResponse,
) -> Result<(), Status> {
    responses
        .send(Ok(page))
        .await
        .map_err(|_| Status::cancelled("agent went away"))
}

/// The entries as `GetAuthorizedEntries` returns them.
pub(super) fn to_proto(
    entries: &[Arc<RegistrationEntry>],
    mask: Option<&types::EntryMask>,
) -> Vec<types::Entry> {
    entries.iter().map(|e| entry_to_proto(e, mask)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: usize, hint_len: usize) -> types::Entry {
        types::Entry {
            id: format!("entry-{id}"),
            hint: "h".repeat(hint_len),
            ..types::Entry::default()
        }
    }

    #[test]
    fn pages_are_bounded_by_count_and_size() {
        let many: Vec<_> = (0..1201).map(|i| entry(i, 0)).collect();
        let sizes: Vec<usize> = page_by_size(many).iter().map(Vec::len).collect();
        assert_eq!(sizes, [500, 500, 201]);

        let big = PAGE_BYTES / 3;
        let large: Vec<_> = (0..7).map(|i| entry(i, big)).collect();
        let pages = page_by_size(large);
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 2, 1]);
        for page in &pages {
            let bytes: usize = page.iter().map(Message::encoded_len).sum();
            assert!(bytes <= PAGE_BYTES, "page of {bytes} bytes");
        }

        let huge = vec![entry(0, PAGE_BYTES + 1), entry(1, 0)];
        assert_eq!(page_by_size(huge).len(), 2);
        assert!(page_by_size(Vec::new()).is_empty());
    }
}
