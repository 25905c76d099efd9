//! Health probes, Prometheus metrics, gRPC health, Debug and Logger.

use lanyard_proto::spire::api::server::debug::v1::GetInfoRequest;
use lanyard_proto::spire::api::server::logger::v1::{
    GetLoggerRequest, ResetLogLevelRequest, SetLogLevelRequest,
};
use lanyard_proto::spire::api::types;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::common::fixtures::{create_all, entry};
use crate::common::{Options, TestServer};
use crate::svids::{mint_jwt_verifies, mint_x509_verifies};

#[tokio::test]
async fn health_endpoints_and_metrics_answer() {
    let server = TestServer::start(&Options {
        health_checks: true,
        metrics: true,
        ..Options::default()
    });

    let (status, body) = server.get_health("/live");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["live"],
        true
    );
    let (status, body) = server.get_health("/ready");
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["checks"]["datastore"], true);
    assert_eq!(ready["checks"]["ca"], true);
    let (status, _) = server.get_health("/nope");
    assert_eq!(status, 404);

    let mut health = HealthClient::new(server.channel().await);
    let serving = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(serving.status, 1, "SERVING");

    create_all(&server, vec![entry("/metered", "unix:uid:1")]).await;
    mint_x509_verifies(&server).await;
    mint_jwt_verifies(&server).await;
    let missing = server
        .entries()
        .await
        .get_entry(
            lanyard_proto::spire::api::server::entry::v1::GetEntryRequest {
                id: "missing".to_owned(),
                output_mask: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let (status, text) = server.get_metrics();
    assert_eq!(status, 200);
    let series: [(&str, &[&str]); 5] = [
        (
            "lanyard_server_rpc_calls_total",
            &[
                "method=\"/spire.api.server.entry.v1.Entry/BatchCreateEntry\"",
                "code=\"Ok\"",
            ],
        ),
        (
            "lanyard_server_rpc_calls_total",
            &[
                "method=\"/spire.api.server.entry.v1.Entry/GetEntry\"",
                "code=\"NotFound\"",
            ],
        ),
        ("lanyard_server_svids_signed_total", &["type=\"x509\""]),
        ("lanyard_server_svids_signed_total", &["type=\"jwt\""]),
        ("lanyard_server_entries", &[]),
    ];
    for (name, labels) in series {
        let found = text
            .lines()
            .any(|line| line.starts_with(name) && labels.iter().all(|label| line.contains(label)));
        assert!(found, "{name} {labels:?} missing from:\n{text}");
    }
}

#[tokio::test]
async fn debug_and_logger_answer() {
    let server = TestServer::start(&Options::default());
    create_all(&server, vec![entry("/counted", "unix:uid:1")]).await;

    let info = server
        .debug()
        .await
        .get_info(GetInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.agents_count, 0);
    assert_eq!(info.federated_bundles_count, 0);
    assert!(info.uptime >= 0);

    let mut logger = server.logger().await;
    let state = logger
        .get_logger(GetLoggerRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.launch_level, types::LogLevel::Debug as i32);
    let changed = logger
        .set_log_level(SetLogLevelRequest {
            new_level: types::LogLevel::Warn as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.current_level, types::LogLevel::Warn as i32);
    let unspecified = logger
        .set_log_level(SetLogLevelRequest { new_level: 0 })
        .await
        .unwrap_err();
    assert_eq!(unspecified.code(), Code::InvalidArgument);
    let reset = logger
        .reset_log_level(ResetLogLevelRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reset.current_level, types::LogLevel::Debug as i32);
}
