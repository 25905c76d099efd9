//! What survives a restart and a `kill -9`: the CA, the entries and the tokens.

use lanyard_proto::spire::api::server::agent::v1::CreateJoinTokenRequest;
use lanyard_proto::spire::api::server::entry::v1::BatchCreateEntryRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::server::localauthority::v1::GetX509AuthorityStateRequest;
use lanyard_store::{Store, StoreConfig};
use tokio::sync::watch;
use tonic::transport::Channel;

use crate::common::fixtures::{all_entries, create_all, entry, own_bundle};
use crate::common::{Options, TestServer};
use crate::svids::mint_x509_verifies;

/// The active X.509 authority's ID.
async fn active_authority(server: &TestServer) -> String {
    server
        .authorities()
        .await
        .get_x509_authority_state(GetX509AuthorityStateRequest {})
        .await
        .unwrap()
        .into_inner()
        .active
        .unwrap()
        .authority_id
}

/// Stop (SIGTERM, clean exit) and start again: same CA, same bundle content,
/// same entries; minting still verifies.
pub(crate) async fn restart_keeps_everything(server: &mut TestServer) {
    create_all(
        server,
        vec![
            entry("/kept-1", "unix:uid:1"),
            entry("/kept-2", "unix:uid:2"),
        ],
    )
    .await;
    let entries = all_entries(server).await;
    let bundle = own_bundle(server).await;
    let authority = active_authority(server).await;

    server.stop().await;
    server.restart();

    assert_eq!(
        active_authority(server).await,
        authority,
        "the CA survives a restart"
    );
    let after = own_bundle(server).await;
    assert_eq!(after.x509_authorities, bundle.x509_authorities);
    assert_eq!(after.jwt_authorities, bundle.jwt_authorities);
    assert_eq!(
        after.sequence_number, bundle.sequence_number,
        "an unchanged bundle is not rewritten"
    );
    assert_eq!(all_entries(server).await, entries);
    mint_x509_verifies(server).await;
}

#[tokio::test]
async fn a_restart_keeps_the_ca_entries_and_tokens() {
    let mut server = TestServer::start(&Options::default());
    let token = server
        .agents()
        .await
        .create_join_token(CreateJoinTokenRequest {
            ttl: 3600,
            ..CreateJoinTokenRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .value;

    restart_keeps_everything(&mut server).await;
    server.stop().await;

    // The token was stored (hashed) and is still redeemable exactly once.
    let store = Store::open(&StoreConfig::sqlite_in(&server.data_dir()))
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    store
        .take_join_token(&token, now)
        .await
        .expect("token survived the restarts");
    assert!(
        store.take_join_token(&token, now).await.is_err(),
        "tokens are single-use"
    );
    store.close().await;
}

/// Creates entries one at a time until the server stops answering; publishes
/// how many were acknowledged and returns their IDs.
async fn create_until_failure(
    mut client: EntryClient<Channel>,
    progress: watch::Sender<usize>,
) -> Vec<String> {
    let mut acked = Vec::new();
    for n in 0.. {
        let request = BatchCreateEntryRequest {
            entries: vec![entry(&format!("/crash/{n}"), &format!("unix:uid:{n}"))],
            output_mask: None,
        };
        let Ok(response) = client.batch_create_entry(request).await else {
            break;
        };
        let result = &response.into_inner().results[0];
        if result.status.as_ref().is_some_and(|s| s.code == 0) {
            acked.push(result.entry.as_ref().unwrap().id.clone());
            progress.send_replace(acked.len());
        }
    }
    acked
}

#[tokio::test]
async fn kill_9_loses_no_acknowledged_entry() {
    let mut server = TestServer::start(&Options::default());
    let authority = active_authority(&server).await;

    let (progress, mut acked_so_far) = watch::channel(0);
    let writer = tokio::spawn(create_until_failure(server.entries().await, progress));
    acked_so_far.wait_for(|n| *n >= 25).await.unwrap();
    server.kill();
    let acknowledged = writer.await.unwrap();

    server.restart();
    let stored: Vec<String> = all_entries(&server)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "acknowledged entry {id} was lost\n{}",
            server.log()
        );
    }
    assert_eq!(
        active_authority(&server).await,
        authority,
        "the CA survives kill -9"
    );
    mint_x509_verifies(&server).await;
}
