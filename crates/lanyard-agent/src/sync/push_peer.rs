//! Test peer: the server half of `lanyard.agent.v1.AgentSync`, scripted by the test
//! stream by stream, on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use lanyard_proto::lanyard::agent::v1::agent_sync_server::{AgentSync, AgentSyncServer};
use lanyard_proto::lanyard::agent::v1::{WatchAuthorizedRequest, WatchAuthorizedResponse};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status};

/// How long the test waits for the agent.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

pub(crate) type Responses = mpsc::Sender<Result<WatchAuthorizedResponse, Status>>;

/// A stream the agent opened: the sequence it asked from, and the server's end of it.
pub(crate) struct Opened {
    pub(crate) since: u64,
    pub(crate) responses: Responses,
}

impl Opened {
    pub(crate) async fn send(&self, message: WatchAuthorizedResponse) {
        self.responses.send(Ok(message)).await.expect("stream open");
    }
}

/// Hands every stream the agent opens to the test.
struct ScriptedSync {
    opened: mpsc::UnboundedSender<Opened>,
}

#[tonic::async_trait]
impl AgentSync for ScriptedSync {
    type WatchAuthorizedStream = ReceiverStream<Result<WatchAuthorizedResponse, Status>>;

    async fn watch_authorized(
        &self,
        request: Request<WatchAuthorizedRequest>,
    ) -> Result<Response<Self::WatchAuthorizedStream>, Status> {
        let (responses, rx) = mpsc::channel(16);
        let since = request.into_inner().since_sequence;
        self.opened
            .send(Opened { since, responses })
            .map_err(|_| Status::unavailable("test finished"))?;
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A server on `listener` until `stop` is cancelled.
pub(crate) fn serve(
    router: Router,
    listener: TcpListener,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let incoming = TcpListenerStream::new(listener);
        let _ = router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await;
    })
}

pub(crate) struct PushServer {
    pub(crate) address: SocketAddr,
    opened: mpsc::UnboundedReceiver<Opened>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl PushServer {
    pub(crate) async fn start(address: &str) -> Self {
        let listener = TcpListener::bind(address).await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (tx, opened) = mpsc::unbounded_channel();
        let router =
            Server::builder().add_service(AgentSyncServer::new(ScriptedSync { opened: tx }));
        let stop = CancellationToken::new();
        let task = serve(router, listener, stop.clone());
        Self {
            address,
            opened,
            stop,
            task,
        }
    }

    /// The next stream the agent opens.
    pub(crate) async fn next_stream(&mut self) -> Opened {
        tokio::time::timeout(WAIT, self.opened.recv())
            .await
            .expect("the agent opened a stream in time")
            .expect("server running")
    }

    /// Stops the server; its open streams end.
    pub(crate) async fn stop(self) {
        self.stop.cancel();
        drop(self.opened);
        let _ = self.task.await;
    }
}
