//! Registration entries over the admin socket: the lifecycle, duplicates, batch
//! statuses and malformed requests. The scenarios run on SQLite here and on
//! PostgreSQL in `postgres.rs`.

use lanyard_proto::spire::api::server::entry::v1::{
    BatchCreateEntryRequest, BatchDeleteEntryRequest, BatchUpdateEntryRequest, CountEntriesRequest,
    GetEntryRequest, ListEntriesRequest, count_entries_request, list_entries_request,
};
use lanyard_proto::spire::api::types;
use tonic::Code;

use crate::common::fixtures::{all_entries, count, create_all, entry, id, selectors};
use crate::common::{Options, TestServer};

/// Create, list in pages, filter, update with and without a mask, delete.
pub(crate) async fn lifecycle(server: &TestServer) {
    let mut chosen = entry("/db", "unix:uid:1002");
    chosen.id = "my-chosen-id".to_owned();
    let ids = create_all(
        server,
        vec![
            entry("/web", "unix:uid:1000"),
            entry("/api", "unix:uid:1001"),
            chosen,
        ],
    )
    .await;
    assert!(ids.contains(&"my-chosen-id".to_owned()));
    let mut client = server.entries().await;

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_entries(ListEntriesRequest {
                page_size: 2,
                page_token: token.clone(),
                ..ListEntriesRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.entries.len() <= 2);
        seen.extend(page.entries.into_iter().map(|e| e.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut expected = ids.clone();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);

    let filtered = client
        .list_entries(ListEntriesRequest {
            filter: Some(list_entries_request::Filter {
                by_selectors: Some(types::SelectorMatch {
                    selectors: selectors(&["unix:uid:1000", "unix:uid:1001"]),
                    r#match: types::selector_match::MatchBehavior::MatchSubset as i32,
                }),
                by_parent_id: Some(id("/spire/agent/join_token/node-1")),
                ..Default::default()
            }),
            ..ListEntriesRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filtered.entries.len(), 2);
    let counted = client
        .count_entries(CountEntriesRequest {
            filter: Some(count_entries_request::Filter {
                by_spiffe_id: Some(id("/db")),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counted.count, 1);

    let mask = types::EntryMask {
        hint: true,
        ..types::EntryMask::default()
    };
    let updated = client
        .batch_update_entry(BatchUpdateEntryRequest {
            entries: vec![types::Entry {
                id: "my-chosen-id".to_owned(),
                hint: "changed".to_owned(),
                ..types::Entry::default()
            }],
            input_mask: Some(mask),
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(updated[0].status.as_ref().unwrap().code, 0);
    let after = updated[0].entry.clone().unwrap();
    assert_eq!(after.hint, "changed");
    assert_eq!(after.revision_number, 1);
    assert_eq!(after.spiffe_id, Some(id("/db")), "unmasked fields are kept");
    assert_eq!(after.x509_svid_ttl, 600);

    let mut full = entry("/db2", "unix:uid:2000");
    full.id = "my-chosen-id".to_owned();
    let replaced = client
        .batch_update_entry(BatchUpdateEntryRequest {
            entries: vec![full],
            input_mask: None,
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let replaced = replaced[0].entry.clone().unwrap();
    assert_eq!(replaced.spiffe_id, Some(id("/db2")));
    assert_eq!(replaced.revision_number, 2);

    let deleted = client
        .batch_delete_entry(BatchDeleteEntryRequest {
            ids: vec!["my-chosen-id".to_owned()],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(deleted[0].status.as_ref().unwrap().code, 0);
    let gone = client
        .get_entry(GetEntryRequest {
            id: "my-chosen-id".to_owned(),
            output_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(count(server).await, 2);
}

/// A second entry with the same parent, SPIFFE ID and selectors is refused and
/// the existing one is returned.
pub(crate) async fn similar_entry_is_rejected(server: &TestServer) {
    let ids = create_all(server, vec![entry("/dup", "unix:uid:7")]).await;
    let before = count(server).await;

    let mut again = entry("/dup", "unix:uid:7");
    again.hint = "other hint".to_owned();
    let results = server
        .entries()
        .await
        .batch_create_entry(BatchCreateEntryRequest {
            entries: vec![again],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let status = results[0].status.clone().unwrap();
    assert_eq!(status.code, Code::AlreadyExists as i32);
    assert_eq!(status.message, "similar entry already exists");
    assert_eq!(
        results[0].entry.as_ref().map(|e| e.id.clone()),
        Some(ids[0].clone())
    );
    assert_eq!(count(server).await, before);
}

/// Each item of a batch gets its own status; only the valid items are stored.
pub(crate) async fn batch_reports_each_item(server: &TestServer) {
    let before = count(server).await;
    let mut foreign = entry("/x", "unix:uid:1");
    foreign.spiffe_id = Some(types::Spiffeid {
        trust_domain: "other.org".to_owned(),
        path: "/x".to_owned(),
    });
    let mut no_selectors = entry("/y", "unix:uid:1");
    no_selectors.selectors.clear();
    let reserved = entry("/spire/agent/evil", "unix:uid:1");
    let mut long_hint = entry("/z", "unix:uid:1");
    long_hint.hint = "h".repeat(1025);
    let mut negative_ttl = entry("/t", "unix:uid:1");
    negative_ttl.jwt_svid_ttl = -1;
    let mut unknown_federation = entry("/f", "unix:uid:1");
    unknown_federation.federates_with = vec!["nobody.example".to_owned()];
    let mut bad_dns = entry("/d", "unix:uid:1");
    bad_dns.dns_names = vec!["not a name".to_owned()];

    let results = server
        .entries()
        .await
        .batch_create_entry(BatchCreateEntryRequest {
            entries: vec![
                entry("/ok-1", "unix:uid:11"),
                foreign,
                no_selectors,
                reserved,
                long_hint,
                negative_ttl,
                unknown_federation,
                bad_dns,
                entry("/ok-2", "unix:uid:12"),
            ],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .results;

    let expected = [
        (Code::Ok, "OK"),
        (Code::InvalidArgument, "spiffe_id"),
        (Code::InvalidArgument, "selectors"),
        (Code::InvalidArgument, "reserved"),
        (Code::InvalidArgument, "hint"),
        (Code::InvalidArgument, "jwt_svid_ttl"),
        (Code::InvalidArgument, "federates_with"),
        (Code::InvalidArgument, "dns_names"),
        (Code::Ok, "OK"),
    ];
    assert_eq!(results.len(), expected.len());
    for (result, (code, needle)) in results.iter().zip(expected) {
        let status = result.status.clone().unwrap();
        assert_eq!(status.code, code as i32, "{}", status.message);
        assert!(
            status.message.contains(needle),
            "{:?} lacks {needle:?}",
            status.message
        );
        assert_eq!(result.entry.is_some(), code == Code::Ok);
    }
    assert_eq!(count(server).await, before + 2);
}

/// Malformed and unknown requests get InvalidArgument or NotFound and change
/// nothing.
pub(crate) async fn malformed_requests_change_nothing(server: &TestServer) {
    create_all(server, vec![entry("/stable", "unix:uid:99")]).await;
    let snapshot = all_entries(server).await;
    let mut client = server.entries().await;

    let code = |r: Result<tonic::Response<types::Entry>, tonic::Status>| r.unwrap_err().code();
    let get = |id: &str| GetEntryRequest {
        id: id.to_owned(),
        output_mask: None,
    };
    assert_eq!(code(client.get_entry(get("")).await), Code::InvalidArgument);
    assert_eq!(
        code(client.get_entry(get("no-such-entry")).await),
        Code::NotFound
    );
    assert_eq!(
        code(client.get_entry(get("bad id")).await),
        Code::InvalidArgument
    );

    let bad_list = |filter, page_size, page_token: &str| ListEntriesRequest {
        filter,
        page_size,
        page_token: page_token.to_owned(),
        output_mask: None,
    };
    let empty_selectors = Some(list_entries_request::Filter {
        by_selectors: Some(types::SelectorMatch::default()),
        ..Default::default()
    });
    let bad_id = Some(list_entries_request::Filter {
        by_spiffe_id: Some(types::Spiffeid {
            trust_domain: "Bad Domain".to_owned(),
            path: "/x".to_owned(),
        }),
        ..Default::default()
    });
    for request in [
        bad_list(empty_selectors, 0, ""),
        bad_list(bad_id, 0, ""),
        bad_list(None, -1, ""),
        bad_list(None, 10, "zz-not-a-token"),
    ] {
        let status = client.list_entries(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    }

    let deleted = client
        .batch_delete_entry(BatchDeleteEntryRequest {
            ids: vec!["no-such-entry".to_owned(), String::new()],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(
        deleted[0].status.as_ref().unwrap().code,
        Code::NotFound as i32
    );
    assert_eq!(
        deleted[1].status.as_ref().unwrap().code,
        Code::InvalidArgument as i32
    );

    let mut unknown = entry("/whatever", "unix:uid:5");
    unknown.id = "no-such-entry".to_owned();
    let mut no_id = entry("/whatever", "unix:uid:5");
    no_id.id = String::new();
    let mut stable = snapshot[0].clone();
    stable.selectors.clear();
    let updated = client
        .batch_update_entry(BatchUpdateEntryRequest {
            entries: vec![unknown, no_id, stable],
            input_mask: None,
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let codes: Vec<i32> = updated
        .iter()
        .map(|r| r.status.as_ref().unwrap().code)
        .collect();
    assert_eq!(
        codes,
        [
            Code::NotFound as i32,
            Code::InvalidArgument as i32,
            Code::InvalidArgument as i32
        ]
    );

    assert_eq!(all_entries(server).await, snapshot);
}

#[tokio::test]
async fn entry_lifecycle_on_sqlite() {
    let server = TestServer::start(&Options::default());
    lifecycle(&server).await;
}

#[tokio::test]
async fn similar_entries_are_rejected_on_sqlite() {
    let server = TestServer::start(&Options::default());
    similar_entry_is_rejected(&server).await;
}

#[tokio::test]
async fn batch_statuses_on_sqlite() {
    let server = TestServer::start(&Options::default());
    batch_reports_each_item(&server).await;
}

#[tokio::test]
async fn malformed_requests_on_sqlite() {
    let server = TestServer::start(&Options::default());
    malformed_requests_change_nothing(&server).await;
}
