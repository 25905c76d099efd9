//! Refusals a workload can cause — no security header, no matching entry — get the
//! status the Workload API and Workload Endpoint specs name, and are logged as answers
//! (debug or info), never as a failure of the agent (warn or error).
//!
//! One test per binary: the log capture is process-wide.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::sync::{Arc, Mutex};

use common::{Options, TestAgent, entry, my_uid_selector};
use lanyard_agent::workload::SECURITY_HEADER;
use lanyard_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use lanyard_proto::workload::{
    JwtBundlesRequest, JwtsvidRequest, ValidateJwtsvidRequest, X509BundlesRequest, X509svidRequest,
};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt as _;

/// One logged event.
#[derive(Debug, Clone)]
struct Logged {
    level: Level,
    target: String,
    message: String,
}

/// Records every event of every target at every level.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Logged>>>);

impl Capture {
    fn take(&self) -> Vec<Logged> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(Logged {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message: message.0,
        });
    }
}

fn with_header<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(SECURITY_HEADER, "true".parse().unwrap());
    request
}

/// The status a server stream ends with before its first message, whether it comes as
/// the answer to the call or as the stream's first item.
async fn stream_status<T>(
    call: impl Future<Output = Result<tonic::Response<tonic::Streaming<T>>, Status>>,
) -> Status {
    match call.await {
        Err(status) => status,
        Ok(response) => match response.into_inner().message().await {
            Err(status) => status,
            Ok(_) => panic!("the stream sent a message"),
        },
    }
}

async fn client(agent: &TestAgent) -> SpiffeWorkloadApiClient<Channel> {
    SpiffeWorkloadApiClient::new(
        lanyard_daemon::socket::connect_unix_channel(&agent.socket)
            .await
            .unwrap(),
    )
}

fn assert_logged_as_answers(logged: &[Logged], expected_message: &str, expected_level: Level) {
    let faults: Vec<_> = logged.iter().filter(|e| e.level <= Level::WARN).collect();
    assert!(faults.is_empty(), "refusals logged as faults: {faults:#?}");
    assert!(
        logged.iter().any(|e| e.target.starts_with("lanyard_agent")
            && e.message == expected_message
            && e.level == expected_level),
        "no {expected_level} event {expected_message:?} in {logged:#?}"
    );
}

#[test]
fn refusals_get_their_spec_status_and_are_not_logged_as_faults() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(capture.clone()))
        .unwrap();

    // Entries exist, but only for another uid.
    let agent = TestAgent::start(
        vec![
            entry("other", "/other", &["unix:uid:4294967294"]),
            entry(
                "mine-too-narrow",
                "/narrow",
                &[&my_uid_selector(), "unix:gid:4294967294"],
            ),
        ],
        Options::default(),
    );
    capture.take();

    agent.runtime.block_on(async {
        let mut client = client(&agent).await;

        // No security header: InvalidArgument on every method.
        let no_header = [
            stream_status(client.fetch_x509svid(Request::new(X509svidRequest {}))).await,
            stream_status(client.fetch_x509_bundles(Request::new(X509BundlesRequest {}))).await,
            stream_status(client.fetch_jwt_bundles(Request::new(JwtBundlesRequest {}))).await,
            client
                .fetch_jwtsvid(Request::new(JwtsvidRequest {
                    audience: vec!["a".into()],
                    spiffe_id: String::new(),
                }))
                .await
                .unwrap_err(),
            client
                .validate_jwtsvid(Request::new(ValidateJwtsvidRequest {
                    audience: "a".into(),
                    svid: "x.y.z".into(),
                }))
                .await
                .unwrap_err(),
        ];
        for status in &no_header {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
            assert_eq!(status.message(), "security header missing from request");
        }
    });
    assert_logged_as_answers(
        &capture.take(),
        "workload api request refused",
        Level::DEBUG,
    );

    agent.runtime.block_on(async {
        let mut client = client(&agent).await;

        // A uid no entry matches: PermissionDenied, "no identity issued".
        let denied = [
            stream_status(client.fetch_x509svid(with_header(X509svidRequest {}))).await,
            stream_status(client.fetch_x509_bundles(with_header(X509BundlesRequest {}))).await,
            stream_status(client.fetch_jwt_bundles(with_header(JwtBundlesRequest {}))).await,
            client
                .fetch_jwtsvid(with_header(JwtsvidRequest {
                    audience: vec!["a".into()],
                    spiffe_id: String::new(),
                }))
                .await
                .unwrap_err(),
            client
                .fetch_jwtsvid(with_header(JwtsvidRequest {
                    audience: vec!["a".into()],
                    spiffe_id: "spiffe://example.org/other".into(),
                }))
                .await
                .unwrap_err(),
        ];
        for status in &denied {
            assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
            assert_eq!(status.message(), "no identity issued");
        }
    });
    assert_logged_as_answers(&capture.take(), "no identity issued to caller", Level::INFO);
}
