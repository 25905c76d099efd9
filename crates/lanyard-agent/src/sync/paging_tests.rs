use std::collections::VecDeque;

use lanyard_proto::spire::api::server::entry::v1::EntryRevision;

use super::*;

/// SPIRE's server half of the paged protocol, in process.
struct PagingServer {
    entries: Vec<pb::Entry>,
    page_size: usize,
    queued: VecDeque<SyncAuthorizedEntriesResponse>,
    requests: Vec<SyncAuthorizedEntriesRequest>,
}

impl PagingServer {
    fn new(mut entries: Vec<pb::Entry>, page_size: usize) -> Self {
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        Self {
            entries,
            page_size,
            queued: VecDeque::new(),
            requests: Vec::new(),
        }
    }

    fn pages<T: Clone>(&self, items: &[T]) -> Vec<(Vec<T>, bool)> {
        let chunks: Vec<&[T]> = items.chunks(self.page_size).collect();
        let last = chunks.len().saturating_sub(1);
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| (chunk.to_vec(), i != last))
            .collect()
    }
}

impl SyncStream for PagingServer {
    async fn send(&mut self, request: SyncAuthorizedEntriesRequest) -> Result<(), tonic::Status> {
        let first = self.requests.is_empty();
        self.requests.push(request.clone());
        if first {
            if self.entries.len() <= self.page_size {
                self.queued.push_back(SyncAuthorizedEntriesResponse {
                    entries: self.entries.clone(),
                    ..Default::default()
                });
                return Ok(());
            }
            let revisions: Vec<EntryRevision> = self
                .entries
                .iter()
                .map(|e| EntryRevision {
                    id: e.id.clone(),
                    revision_number: e.revision_number,
                    created_at: e.created_at,
                })
                .collect();
            for (page, more) in self.pages(&revisions) {
                self.queued.push_back(SyncAuthorizedEntriesResponse {
                    entry_revisions: page,
                    more,
                    ..Default::default()
                });
            }
            return Ok(());
        }

        let found: Vec<pb::Entry> = request
            .ids
            .iter()
            .filter_map(|id| self.entries.iter().find(|e| &e.id == id).cloned())
            .collect();
        if found.is_empty() {
            self.queued
                .push_back(SyncAuthorizedEntriesResponse::default());
        }
        for (page, more) in self.pages(&found) {
            self.queued.push_back(SyncAuthorizedEntriesResponse {
                entries: page,
                more,
                ..Default::default()
            });
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<SyncAuthorizedEntriesResponse>, tonic::Status> {
        Ok(self.queued.pop_front())
    }
}

fn pb_entry(id: &str, revision: i64) -> pb::Entry {
    pb::Entry {
        id: id.into(),
        spiffe_id: Some(pb::Spiffeid {
            trust_domain: "example.org".into(),
            path: format!("/w/{id}"),
        }),
        parent_id: Some(pb::Spiffeid {
            trust_domain: "example.org".into(),
            path: "/spire/agent/join_token/t".into(),
        }),
        selectors: vec![pb::Selector {
            r#type: "unix".into(),
            value: "uid:1".into(),
        }],
        revision_number: revision,
        created_at: 100,
        ..Default::default()
    }
}

fn held(entries: &[(&str, i64)]) -> HashMap<String, HeldRevision> {
    entries
        .iter()
        .map(|(id, rev)| {
            (
                (*id).to_owned(),
                HeldRevision {
                    revision_number: *rev,
                    created_at: 100,
                },
            )
        })
        .collect()
}

#[tokio::test]
async fn small_sets_arrive_in_full() {
    let mut server = PagingServer::new(vec![pb_entry("a", 1), pb_entry("b", 1)], 10);
    let outcome = sync_authorized_entries(&mut server, &held(&[("old", 1)]))
        .await
        .expect("sync");

    assert!(outcome.full);
    let EntryUpdate::Full(entries) = outcome.update else {
        panic!("full update expected");
    };
    assert_eq!(entries.len(), 2);
    assert_eq!(server.requests.len(), 1, "one request only");
}

#[tokio::test]
async fn large_sets_fetch_only_new_and_changed_entries() {
    let entries: Vec<pb::Entry> = (0..25)
        .map(|i| pb_entry(&format!("e{i:02}"), if i == 7 { 2 } else { 1 }))
        .collect();
    let mut server = PagingServer::new(entries, 4);

    let mut have: Vec<(String, i64)> = (0..20).map(|i| (format!("e{i:02}"), 1)).collect();
    have.push(("gone".into(), 1));
    let have_refs: Vec<(&str, i64)> = have.iter().map(|(id, r)| (id.as_str(), *r)).collect();

    let outcome = sync_authorized_entries(&mut server, &held(&have_refs))
        .await
        .expect("sync");

    assert!(!outcome.full);
    let EntryUpdate::Delta { upserted, removed } = outcome.update else {
        panic!("delta expected");
    };
    let mut ids: Vec<&str> = upserted.iter().map(|e| e.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["e07", "e20", "e21", "e22", "e23", "e24"]);
    assert_eq!(removed, ["gone"]);
    assert_eq!(
        server.requests.len(),
        2,
        "first request plus one id request"
    );
    assert_eq!(server.requests[1].ids.len(), 6);
}

#[tokio::test]
async fn recreated_entry_with_same_revision_is_fetched() {
    let mut recreated = pb_entry("a", 1);
    recreated.created_at = 200;
    let mut server = PagingServer::new(vec![recreated, pb_entry("b", 1)], 1);

    let outcome = sync_authorized_entries(&mut server, &held(&[("a", 1), ("b", 1)]))
        .await
        .expect("sync");
    let EntryUpdate::Delta { upserted, removed } = outcome.update else {
        panic!("delta expected");
    };
    assert_eq!(upserted.len(), 1);
    assert_eq!(upserted[0].id, "a");
    assert!(removed.is_empty());
}

#[tokio::test]
async fn nothing_changed_sends_no_id_request() {
    let entries: Vec<pb::Entry> = (0..5).map(|i| pb_entry(&format!("e{i}"), 3)).collect();
    let mut server = PagingServer::new(entries, 2);
    let have: Vec<(String, i64)> = (0..5).map(|i| (format!("e{i}"), 3)).collect();
    let have_refs: Vec<(&str, i64)> = have.iter().map(|(id, r)| (id.as_str(), *r)).collect();

    let outcome = sync_authorized_entries(&mut server, &held(&have_refs))
        .await
        .expect("sync");
    let EntryUpdate::Delta { upserted, removed } = outcome.update else {
        panic!("delta expected");
    };
    assert!(upserted.is_empty() && removed.is_empty());
    assert_eq!(server.requests.len(), 1);
}

#[tokio::test]
async fn many_wanted_ids_are_requested_in_chunks() {
    let n = IDS_PER_REQUEST + 5;
    let entries: Vec<pb::Entry> = (0..n).map(|i| pb_entry(&format!("e{i:05}"), 1)).collect();
    let mut server = PagingServer::new(entries, 500);

    let outcome = sync_authorized_entries(&mut server, &HashMap::new())
        .await
        .expect("sync");
    assert_eq!(outcome.received, n);
    assert_eq!(server.requests.len(), 3);
    assert_eq!(server.requests[1].ids.len(), IDS_PER_REQUEST);
    assert_eq!(server.requests[2].ids.len(), 5);
}

#[tokio::test]
async fn unusable_entries_are_skipped_not_fatal() {
    let mut bad = pb_entry("bad", 1);
    bad.spiffe_id = None;
    let mut server = PagingServer::new(vec![pb_entry("ok", 1), bad], 10);

    let outcome = sync_authorized_entries(&mut server, &HashMap::new())
        .await
        .expect("sync");
    assert_eq!(outcome.received, 1);
    assert_eq!(outcome.skipped, 1);
}

#[tokio::test]
async fn early_close_is_an_error() {
    struct Closed;
    impl SyncStream for Closed {
        async fn send(&mut self, _: SyncAuthorizedEntriesRequest) -> Result<(), tonic::Status> {
            Ok(())
        }
        async fn recv(&mut self) -> Result<Option<SyncAuthorizedEntriesResponse>, tonic::Status> {
            Ok(None)
        }
    }
    let err = sync_authorized_entries(&mut Closed, &HashMap::new())
        .await
        .expect_err("closed");
    assert_eq!(err.code(), tonic::Code::Unavailable);
}
