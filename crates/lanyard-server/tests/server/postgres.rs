//! The core scenarios against PostgreSQL (`LANYARD_TEST_POSTGRES_URL`; skipped
//! with a printed reason unless `LANYARD_REQUIRE_POSTGRES=1`).

use lanyard_testkit::TestDatabase;

use crate::common::{Options, TestServer};
use crate::{agents, bundles, durability, entries, svids};

#[tokio::test]
async fn core_scenarios_on_postgres() {
    let Some(database) = TestDatabase::require() else {
        return;
    };
    let mut server = TestServer::start(&Options {
        postgres_url: Some(database.url().to_owned()),
        ..Options::default()
    });

    entries::lifecycle(&server).await;
    entries::similar_entry_is_rejected(&server).await;
    entries::batch_reports_each_item(&server).await;
    entries::malformed_requests_change_nothing(&server).await;
    agents::join_token_with_alias(&server).await;
    agents::bad_token_requests(&server).await;
    svids::mint_x509_verifies(&server).await;
    svids::mint_jwt_verifies(&server).await;
    svids::bad_mint_requests(&server).await;
    bundles::authority_rotation_updates_the_bundle(&server).await;
    bundles::bundle_management(&server).await;
    durability::restart_keeps_everything(&mut server).await;
    server.stop().await;
    let log = server.log();
    assert!(
        log.contains("datastore=\"postgres\""),
        "not on postgres:\n{log}"
    );
}
