//! The `SpiffeWorkloadAPI` service.

use std::time::SystemTime;

use lanyard_proto::workload::spiffe_workload_api_server::{
    SpiffeWorkloadApi, SpiffeWorkloadApiServer,
};
use lanyard_proto::workload::{
    JwtBundlesRequest, JwtBundlesResponse, Jwtsvid, JwtsvidRequest, JwtsvidResponse,
    ValidateJwtsvidRequest, ValidateJwtsvidResponse, WitBundlesRequest, WitBundlesResponse,
    WitsvidRequest, WitsvidResponse, X509BundlesRequest, X509BundlesResponse, X509svidRequest,
    X509svidResponse,
};
use lanyard_spiffe::{BundleSet, SelectorSet, SpiffeId};
use tonic::{Request, Response, Status};

use super::attestor::WorkloadAttestation;
use super::caller::{attest_request, check_security_header};
use super::stream::{ResponseStream, follow_snapshots, settled_snapshot};
use super::{WorkloadApiConfig, WorkloadError, claims, responses};
use crate::cache::Cache;

/// The Workload API over the agent's cache.
#[derive(Debug, Clone)]
pub struct WorkloadApi {
    cache: Cache,
    attestation: WorkloadAttestation,
    config: WorkloadApiConfig,
}

impl WorkloadApi {
    /// A service serving `cache` to callers attested by `attestation`.
    pub fn new(cache: Cache, attestation: WorkloadAttestation, config: WorkloadApiConfig) -> Self {
        Self {
            cache,
            attestation,
            config,
        }
    }

    /// The tonic service.
    pub fn into_server(self) -> SpiffeWorkloadApiServer<Self> {
        SpiffeWorkloadApiServer::new(self)
    }

    async fn attest<T>(&self, request: &Request<T>) -> Result<SelectorSet, WorkloadError> {
        check_security_header(request)?;
        attest_request(&self.attestation, request).await
    }

    async fn fetch_jwt_svids(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<JwtsvidResponse, WorkloadError> {
        check_security_header(&request)?;
        let JwtsvidRequest {
            audience,
            spiffe_id,
        } = request.get_ref().clone();
        if audience.is_empty() || audience.iter().any(String::is_empty) {
            return Err(WorkloadError::InvalidRequest(
                "audience must be specified".to_owned(),
            ));
        }
        let wanted = match spiffe_id.as_str() {
            "" => None,
            id => Some(SpiffeId::parse(id).map_err(|err| {
                WorkloadError::InvalidRequest(format!("invalid requested spiffe id: {err}"))
            })?),
        };

        let selectors = self.attest(&request).await?;
        let snapshot = settled_snapshot(self.cache.subscribe(selectors)).await;
        let identities: Vec<_> = responses::served_identities(&snapshot)
            .into_iter()
            .filter(|identity| wanted.as_ref().is_none_or(|id| identity.spiffe_id() == id))
            .collect();
        if identities.is_empty() {
            return Err(WorkloadError::NoIdentity);
        }

        let mints = identities.iter().map(|identity| async {
            let token = self
                .cache
                .jwt_svid(&identity.entry.id, &audience)
                .await
                .map_err(WorkloadError::JwtMint)?;
            Ok::<_, WorkloadError>(Jwtsvid {
                spiffe_id: identity.spiffe_id().to_string(),
                svid: token.token,
                hint: identity.hint().to_owned(),
            })
        });
        let svids = futures::future::try_join_all(mints).await?;
        Ok(JwtsvidResponse { svids })
    }

    async fn validate_jwt_svid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<ValidateJwtsvidResponse, WorkloadError> {
        check_security_header(&request)?;
        let ValidateJwtsvidRequest { audience, svid } = request.get_ref();
        if audience.is_empty() {
            return Err(WorkloadError::InvalidRequest(
                "audience must be specified".to_owned(),
            ));
        }
        if svid.is_empty() {
            return Err(WorkloadError::InvalidRequest(
                "svid must be specified".to_owned(),
            ));
        }

        let selectors = self.attest(&request).await?;
        let snapshot = self.cache.snapshot(&selectors);
        let bundles: BundleSet = responses::bundles_for(&snapshot, true)?
            .into_iter()
            .cloned()
            .collect();

        let validated = claims::validate(svid, audience, &bundles, SystemTime::now())?;
        let returned = claims::returned_claims(
            &validated,
            &self.config.trust_domain,
            &self.config.allowed_foreign_jwt_claims,
        );
        Ok(ValidateJwtsvidResponse {
            spiffe_id: validated.spiffe_id().to_string(),
            claims: Some(returned),
        })
    }
}

#[tonic::async_trait]
impl SpiffeWorkloadApi for WorkloadApi {
    type FetchX509SVIDStream = ResponseStream<X509svidResponse>;
    type FetchX509BundlesStream = ResponseStream<X509BundlesResponse>;
    type FetchJWTBundlesStream = ResponseStream<JwtBundlesResponse>;
    type FetchWITSVIDStream = ResponseStream<WitsvidResponse>;
    type FetchWITBundlesStream = ResponseStream<WitBundlesResponse>;

    async fn fetch_x509svid(
        &self,
        request: Request<X509svidRequest>,
    ) -> Result<Response<Self::FetchX509SVIDStream>, Status> {
        let selectors = self.attest(&request).await?;
        let receiver = self.cache.subscribe(selectors);
        Ok(Response::new(follow_snapshots(
            receiver,
            responses::x509_svid_response,
        )))
    }

    async fn fetch_x509_bundles(
        &self,
        request: Request<X509BundlesRequest>,
    ) -> Result<Response<Self::FetchX509BundlesStream>, Status> {
        let selectors = self.attest(&request).await?;
        let receiver = self.cache.subscribe(selectors);
        let allow = self.config.allow_unauthenticated_verifiers;
        Ok(Response::new(follow_snapshots(receiver, move |snapshot| {
            responses::x509_bundles_response(snapshot, allow)
        })))
    }

    async fn fetch_jwtsvid(
        &self,
        request: Request<JwtsvidRequest>,
    ) -> Result<Response<JwtsvidResponse>, Status> {
        Ok(Response::new(self.fetch_jwt_svids(request).await?))
    }

    async fn fetch_jwt_bundles(
        &self,
        request: Request<JwtBundlesRequest>,
    ) -> Result<Response<Self::FetchJWTBundlesStream>, Status> {
        let selectors = self.attest(&request).await?;
        let receiver = self.cache.subscribe(selectors);
        let allow = self.config.allow_unauthenticated_verifiers;
        Ok(Response::new(follow_snapshots(receiver, move |snapshot| {
            responses::jwt_bundles_response(snapshot, allow)
        })))
    }

    async fn validate_jwtsvid(
        &self,
        request: Request<ValidateJwtsvidRequest>,
    ) -> Result<Response<ValidateJwtsvidResponse>, Status> {
        Ok(Response::new(self.validate_jwt_svid(request).await?))
    }

    async fn fetch_witsvid(
        &self,
        request: Request<WitsvidRequest>,
    ) -> Result<Response<Self::FetchWITSVIDStream>, Status> {
        check_security_header(&request)?;
        Err(Status::unimplemented("wit-svids are not supported"))
    }

    async fn fetch_wit_bundles(
        &self,
        request: Request<WitBundlesRequest>,
    ) -> Result<Response<Self::FetchWITBundlesStream>, Status> {
        check_security_header(&request)?;
        Err(Status::unimplemented("wit-svids are not supported"))
    }
}
