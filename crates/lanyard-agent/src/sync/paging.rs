//! The agent side of SPIRE's paged `SyncAuthorizedEntries` stream, independent of the
//! transport so it can be checked against in-process data.
//!
//! The server answers the first request either with every entry in full (few entries)
//! or with pages of `(id, revision, created_at)` triples ending with `more = false`.
//! In the second case the agent compares them with what it holds, asks for the entries
//! that are new or changed by ID (in chunks), reads the pages of each answer until
//! `more = false`, and treats every held entry missing from the triples as removed.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use lanyard_proto::spire::api::server::entry::v1::{
    SyncAuthorizedEntriesRequest, SyncAuthorizedEntriesResponse,
};
use lanyard_proto::spire::api::types as pb;

use crate::cache::EntryUpdate;
use crate::convert::Entry;

/// Most entry IDs asked for in one request.
pub const IDS_PER_REQUEST: usize = 1000;

/// What the agent holds of an entry, to compare with the server's revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldRevision {
    /// The entry's revision number.
    pub revision_number: i64,
    /// Its creation time: a deleted and re-created entry may restart its revisions.
    pub created_at: i64,
}

/// The two directions of a `SyncAuthorizedEntries` stream.
pub trait SyncStream {
    /// Sends a request.
    fn send(
        &mut self,
        request: SyncAuthorizedEntriesRequest,
    ) -> impl Future<Output = Result<(), tonic::Status>> + Send;

    /// Receives the next response; `None` when the server closed the stream.
    fn recv(
        &mut self,
    ) -> impl Future<Output = Result<Option<SyncAuthorizedEntriesResponse>, tonic::Status>> + Send;
}

/// What one sync produced.
#[derive(Debug, Clone)]
pub struct SyncOutcome {
    /// The change to apply to the cache.
    pub update: EntryUpdate,
    /// Whether the server sent the full set at once (few entries).
    pub full: bool,
    /// Entries received in full.
    pub received: usize,
    /// Entries the server sent that could not be used (skipped).
    pub skipped: usize,
}

/// Runs one sync over `stream`; `held` is what the agent has now. The first request
/// asks for every entry field (no output mask).
pub async fn sync_authorized_entries<S: SyncStream + Send>(
    stream: &mut S,
    held: &HashMap<String, HeldRevision>,
) -> Result<SyncOutcome, tonic::Status> {
    stream
        .send(SyncAuthorizedEntriesRequest {
            output_mask: None,
            ids: Vec::new(),
        })
        .await?;
    let first = next(stream).await?;

    if first.entry_revisions.is_empty() {
        let mut entries = first.entries;
        let mut more = first.more;
        while more {
            let page = next(stream).await?;
            more = page.more;
            entries.extend(page.entries);
        }
        let (entries, skipped) = parse_entries(&entries);
        return Ok(SyncOutcome {
            received: entries.len(),
            update: EntryUpdate::Full(entries),
            full: true,
            skipped,
        });
    }

    let mut revisions = first.entry_revisions;
    let mut more = first.more;
    while more {
        let page = next(stream).await?;
        more = page.more;
        revisions.extend(page.entry_revisions);
    }

    let listed: HashSet<&str> = revisions.iter().map(|r| r.id.as_str()).collect();
    let removed: Vec<String> = held
        .keys()
        .filter(|id| !listed.contains(id.as_str()))
        .cloned()
        .collect();
    let wanted: Vec<String> = revisions
        .iter()
        .filter(|r| {
            held.get(&r.id)
                != Some(&HeldRevision {
                    revision_number: r.revision_number,
                    created_at: r.created_at,
                })
        })
        .map(|r| r.id.clone())
        .collect();

    let mut received = Vec::new();
    for chunk in wanted.chunks(IDS_PER_REQUEST) {
        stream
            .send(SyncAuthorizedEntriesRequest {
                output_mask: None,
                ids: chunk.to_vec(),
            })
            .await?;
        loop {
            let page = next(stream).await?;
            received.extend(page.entries);
            if !page.more {
                break;
            }
        }
    }

    let (upserted, skipped) = parse_entries(&received);
    Ok(SyncOutcome {
        received: upserted.len(),
        update: EntryUpdate::Delta { upserted, removed },
        full: false,
        skipped,
    })
}

async fn next<S: SyncStream>(
    stream: &mut S,
) -> Result<SyncAuthorizedEntriesResponse, tonic::Status> {
    stream
        .recv()
        .await?
        .ok_or_else(|| tonic::Status::unavailable("server closed the sync stream early"))
}

/// Parses entries, skipping (and logging) those the agent cannot use.
pub(crate) fn parse_entries(entries: &[pb::Entry]) -> (Vec<Entry>, usize) {
    let mut parsed = Vec::with_capacity(entries.len());
    let mut skipped = 0;
    for entry in entries {
        match Entry::from_proto(entry) {
            Ok(entry) => parsed.push(entry),
            Err(err) => {
                skipped += 1;
                tracing::warn!(entry_id = %entry.id, error = %err, "skipping unusable entry");
            }
        }
    }
    (parsed, skipped)
}

#[cfg(test)]
#[path = "paging_tests.rs"]
mod tests;
