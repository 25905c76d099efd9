use std::os::unix::fs::PermissionsExt;

use tokio_stream::wrappers::UnixListenerStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::*;

#[tokio::test]
async fn bind_creates_a_private_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("private").join("api.sock");

    let _listener = bind_unix_listener(&path, PRIVATE_SOCKET_DIR_MODE).expect("binds");

    let mode = std::fs::metadata(dir.path().join("private"))
        .expect("dir exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o770);
    assert!(path.exists());
}

#[tokio::test]
async fn stale_socket_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("api.sock");

    drop(bind_unix_listener(&path, PRIVATE_SOCKET_DIR_MODE).expect("first bind"));
    assert!(path.exists(), "tokio leaves the socket file behind");

    bind_unix_listener(&path, PRIVATE_SOCKET_DIR_MODE).expect("rebinds over stale socket");
}

#[tokio::test]
async fn live_socket_is_not_stolen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("api.sock");

    let _live = bind_unix_listener(&path, PRIVATE_SOCKET_DIR_MODE).expect("first bind");
    let err = bind_unix_listener(&path, PRIVATE_SOCKET_DIR_MODE).expect_err("in use");
    assert!(matches!(err, SocketError::InUse { .. }), "{err:?}");
}

#[tokio::test]
async fn regular_file_is_not_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("api.sock");
    std::fs::write(&path, b"important").expect("write");

    let err = bind_unix_listener(&path, PRIVATE_SOCKET_DIR_MODE).expect_err("not a socket");
    assert!(matches!(err, SocketError::NotASocket { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).expect("still there"), b"important");
}

#[tokio::test]
async fn connecting_to_a_missing_socket_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.sock");

    let err = connect_unix_channel(&path).await.expect_err("no server");
    let text = err.to_string();
    assert!(text.contains("absent.sock"), "{text}");
    assert!(text.contains("No such file"), "{text}");
}

#[tokio::test]
async fn grpc_round_trip_over_the_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("private").join("api.sock");
    let listener = bind_unix_listener(&path, PRIVATE_SOCKET_DIR_MODE).expect("binds");

    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(UnixListenerStream::new(listener)),
    );

    let channel = connect_unix_channel(&path).await.expect("connects");
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check answers");
    assert_eq!(response.into_inner().status(), ServingStatus::Serving);

    server.abort();
}
