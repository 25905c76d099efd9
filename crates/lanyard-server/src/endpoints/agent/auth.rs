//! Authenticating each request on the agent endpoint: the client certificate the
//! handshake verified is checked again against the current bundle, and an agent
//! SVID must belong to an attested node that is not banned and whose current (or
//! just renewed) serial it carries. The node comes from the entry cache when the
//! cache is current and admits the caller, else from the datastore (see
//! `EntryCache::agent_node`), so bans and evictions answered by this server apply
//! to the next request. The result is the request's [`Caller`];
//! requests without a client certificate carry none.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use lanyard_spiffe::{Bundle, SpiffeId};
use lanyard_store::Store;
use rustls_pki_types::CertificateDer;
use tower::{Layer, Service};
use x509_parser::prelude::FromDer as _;

use super::conn::AgentConnInfo;
use super::tls::TrustState;
use super::verified::{Verified, VerifiedPeer};
use crate::api::{Caller, Reason, denied_with_reason};
use crate::cache::EntryCache;

/// The path prefix of agent SPIFFE IDs.
const AGENT_PATH_PREFIX: &str = "/spire/agent/";

/// Everything authentication reads.
#[derive(Clone)]
pub(super) struct Authenticator {
    pub(super) store: Arc<Store>,
    pub(super) cache: EntryCache,
    pub(super) trust: TrustState,
    pub(super) admin_ids: Arc<BTreeSet<SpiffeId>>,
}

/// Why a caller presenting a certificate is refused.
#[derive(Debug)]
pub(super) struct Refusal {
    message: &'static str,
    reason: Reason,
    internal: bool,
}

impl Refusal {
    fn denied(message: &'static str, reason: Reason) -> Self {
        Self {
            message,
            reason,
            internal: false,
        }
    }

    /// The gRPC status: `PermissionDenied` with SPIRE's `PermissionDeniedDetails`.
    pub(super) fn into_status(self) -> tonic::Status {
        if self.internal {
            return tonic::Status::internal("failed to authenticate the caller: internal error");
        }
        denied_with_reason(self.message, self.reason)
    }
}

impl Authenticator {
    /// The caller behind `certs` (leaf first), or why it is refused. The chain is
    /// verified once per connection and bundle (`peer` keeps the result); whether
    /// the agent may call is checked on every request.
    pub(super) async fn caller(
        &self,
        certs: &[CertificateDer<'static>],
        peer: &VerifiedPeer,
    ) -> Result<Option<Caller>, Refusal> {
        let bundle = self.trust.current();
        let now = SystemTime::now();
        let verified = match peer.get(&bundle, now) {
            Some(verified) => verified,
            None => {
                let verified = self.verify(certs, bundle, now)?;
                peer.set(verified.clone());
                verified
            }
        };

        if verified.id.path().starts_with(AGENT_PATH_PREFIX) {
            let serial = verified.serial.as_deref().ok_or_else(not_active)?;
            self.check_agent(&verified.id, serial).await?;
            return Ok(Some(Caller::Agent(verified.id)));
        }
        if self.admin_ids.contains(&verified.id) {
            return Ok(Some(Caller::Admin(verified.id)));
        }
        Ok(None)
    }

    /// Verifies `certs` against `bundle` at `now`.
    fn verify(
        &self,
        certs: &[CertificateDer<'static>],
        bundle: Arc<Bundle>,
        now: SystemTime,
    ) -> Result<Verified, Refusal> {
        let id = lanyard_spiffe::x509::verify_x509_svid_with_bundle(certs, &bundle, now).map_err(
            |error| {
                tracing::debug!(%error, "caller svid no longer verifies");
                Refusal::denied("caller svid is not valid", Reason::AgentExpired)
            },
        )?;
        let serial = if id.path().starts_with(AGENT_PATH_PREFIX) {
            certs.first().and_then(|leaf| serial_of(leaf))
        } else {
            None
        };
        Ok(Verified::new(id, serial, bundle, certs))
    }

    /// SPIRE's rule: the node must be attested and not banned, and the SVID must
    /// be its current one or the renewed one (which then becomes current).
    async fn check_agent(&self, id: &SpiffeId, serial: &str) -> Result<(), Refusal> {
        let admits = |node: &lanyard_store::model::AttestedNode| {
            !node.banned
                && (node.cert_serial == serial || node.new_cert_serial.as_deref() == Some(serial))
        };
        let node = self
            .cache
            .agent_node(&self.store, id, admits)
            .await
            .map_err(|error| {
                tracing::error!(%error, "cannot read the attested node");
                Refusal {
                    message: "",
                    reason: Reason::Unknown,
                    internal: true,
                }
            })?;
        let Some(node) = node else {
            tracing::info!(agent_id = %id, "refused an agent that is not attested");
            return Err(Refusal::denied(
                "agent is not attested or no longer valid",
                Reason::AgentNotAttested,
            ));
        };
        if node.banned {
            tracing::info!(agent_id = %id, "refused a banned agent");
            return Err(Refusal::denied("agent is banned", Reason::AgentBanned));
        }
        if node.cert_serial == serial {
            return Ok(());
        }
        if node.new_cert_serial.as_deref() == Some(serial) {
            // Conditional on the serial still being the pending one: a renewal that
            // committed since `node` was read must not be undone.
            if let Err(error) = self.store.activate_node_serial(id, serial).await {
                tracing::warn!(%error, agent_id = %id, "cannot activate the renewed agent svid");
            }
            return Ok(());
        }
        tracing::info!(agent_id = %id, "refused an agent svid that is not active");
        Err(Refusal::denied(
            "agent svid is not active",
            Reason::AgentNotActive,
        ))
    }
}

fn not_active() -> Refusal {
    Refusal::denied("caller svid is not valid", Reason::AgentNotActive)
}

/// The decimal serial number of a certificate (SPIRE's form in the node record).
fn serial_of(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert.as_ref()).ok()?;
    Some(parsed.serial.to_str_radix(10))
}

/// Authenticates every request (see the module documentation).
#[derive(Clone)]
pub(super) struct AuthLayer {
    pub(super) auth: Authenticator,
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service [`AuthLayer`] produces.
#[derive(Clone)]
pub(super) struct Authenticated<S> {
    inner: S,
    auth: Authenticator,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<http::Request<B>> for Authenticated<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let peer = request
            .extensions()
            .get::<AgentConnInfo>()
            .and_then(|info| {
                let certs = info.peer_certs.clone()?;
                Some((certs, Arc::clone(&info.verified)))
            });

        Box::pin(async move {
            if let Some((certs, verified)) = peer {
                match auth.caller(&certs, &verified).await {
                    Ok(Some(caller)) => {
                        request.extensions_mut().insert(caller);
                    }
                    Ok(None) => {}
                    Err(refusal) => return Ok(refusal.into_status().into_http()),
                }
            }
            inner.call(request).await
        })
    }
}
