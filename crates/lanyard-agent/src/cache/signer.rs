//! Who signs SVIDs for the cache: the server, through `BatchNewX509SVID` and
//! `NewJWTSVID` on the agent's current mTLS channel.

use std::future::Future;
use std::pin::Pin;

use lanyard_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use lanyard_proto::spire::api::server::svid::v1::{
    BatchNewX509svidRequest, NewJwtsvidRequest, NewX509svidParams,
};
use rustls_pki_types::CertificateDer;
use tokio::sync::watch;
use tonic::transport::Channel;

use super::{JwtSvid, unix_time};
use crate::convert;
use crate::node::connection::MAX_MESSAGE_SIZE;
use crate::node::server_api::CALL_TIMEOUT;

/// A boxed `Send` future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One X.509-SVID to mint: the entry and a CSR over a key the agent generated.
#[derive(Debug, Clone)]
pub struct X509SvidRequest {
    /// The entry ID.
    pub entry_id: String,
    /// DER PKCS#10 request.
    pub csr: Vec<u8>,
}

/// The outcome for one request of a batch: the chain (leaf first) or why not.
pub type X509SvidResult = Result<Vec<CertificateDer<'static>>, tonic::Status>;

/// Mints SVIDs for authorized entries.
pub trait SvidSigner: Send + Sync + 'static {
    /// Mints a batch; the results are in request order. The outer error is a failure
    /// of the whole call.
    fn new_x509_svids(
        &self,
        requests: Vec<X509SvidRequest>,
    ) -> BoxFuture<'_, Result<Vec<X509SvidResult>, tonic::Status>>;

    /// Mints a JWT-SVID for `entry_id` with `audiences`.
    fn new_jwt_svid<'a>(
        &'a self,
        entry_id: &'a str,
        audiences: &'a [String],
    ) -> BoxFuture<'a, Result<JwtSvid, tonic::Status>>;
}

/// The server as signer, over whatever channel the node currently holds.
#[derive(Debug, Clone)]
pub struct GrpcSvidSigner {
    channel: watch::Receiver<Channel>,
}

impl GrpcSvidSigner {
    /// A signer that always uses the latest channel from `channel`.
    pub fn new(channel: watch::Receiver<Channel>) -> Self {
        Self { channel }
    }

    fn client(&self) -> SvidClient<Channel> {
        SvidClient::new(self.channel.borrow().clone()).max_decoding_message_size(MAX_MESSAGE_SIZE)
    }
}

impl SvidSigner for GrpcSvidSigner {
    fn new_x509_svids(
        &self,
        requests: Vec<X509SvidRequest>,
    ) -> BoxFuture<'_, Result<Vec<X509SvidResult>, tonic::Status>> {
        Box::pin(async move {
            let count = requests.len();
            let params = requests
                .into_iter()
                .map(|r| NewX509svidParams {
                    entry_id: r.entry_id,
                    csr: r.csr,
                })
                .collect();
            let mut request = tonic::Request::new(BatchNewX509svidRequest { params });
            request.set_timeout(CALL_TIMEOUT);
            let response = self
                .client()
                .batch_new_x509svid(request)
                .await?
                .into_inner();
            if response.results.len() != count {
                return Err(tonic::Status::internal(
                    "server answered a different number of results than requested",
                ));
            }
            Ok(response
                .results
                .into_iter()
                .map(|result| {
                    if let Some(status) = result.status
                        && status.code != 0
                    {
                        return Err(tonic::Status::new(
                            tonic::Code::from(status.code),
                            status.message,
                        ));
                    }
                    convert::svid_chain(result.svid.as_ref())
                        .map_err(|err| tonic::Status::internal(err.to_string()))
                })
                .collect())
        })
    }

    fn new_jwt_svid<'a>(
        &'a self,
        entry_id: &'a str,
        audiences: &'a [String],
    ) -> BoxFuture<'a, Result<JwtSvid, tonic::Status>> {
        Box::pin(async move {
            let mut request = tonic::Request::new(NewJwtsvidRequest {
                entry_id: entry_id.to_owned(),
                audience: audiences.to_vec(),
            });
            request.set_timeout(CALL_TIMEOUT);
            let response = self.client().new_jwtsvid(request).await?.into_inner();
            let svid = response
                .svid
                .ok_or_else(|| tonic::Status::internal("server sent no jwt-svid"))?;
            let spiffe_id = convert::spiffe_id(svid.id.as_ref(), "jwt-svid id")
                .map_err(|err| tonic::Status::internal(err.to_string()))?;
            Ok(JwtSvid {
                token: svid.token,
                spiffe_id,
                issued_at: unix_time(svid.issued_at),
                expires_at: unix_time(svid.expires_at),
                hint: svid.hint,
            })
        })
    }
}
