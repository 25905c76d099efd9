//! The server half of join token attestation.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use lanyard_spiffe::{SelectorSet, TrustDomain};
use thiserror::Error;

use super::{JoinToken, JoinTokenError, KIND, agent_id};
use crate::{
    AttestError, AttestationResult, BoxFuture, ServerAttestor, ServerSession, SessionContext, Step,
};

/// Redeems join tokens against the server's store.
pub trait JoinTokenRedeemer: Send + Sync {
    /// Consumes `token` atomically: of any number of concurrent calls with the
    /// same token, at most one succeeds, and the token is gone afterwards
    /// (expired tokens too). Returns the node selectors bound to the token at
    /// issuance.
    fn redeem<'a>(
        &'a self,
        token: &'a JoinToken,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<SelectorSet, RedeemError>>;
}

/// Why a token could not be redeemed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RedeemError {
    /// Never issued, or already redeemed.
    #[error("join token does not exist or has already been used")]
    NotFound,

    /// Expired at or before the redemption time.
    #[error("join token expired")]
    Expired,

    /// The store failed.
    #[error("join token store failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The server half of `join_token`: validates the token, redeems it through
/// the [`JoinTokenRedeemer`] and attests `spiffe://<td>/spire/agent/join_token/<token>`
/// with the token's bound selectors. No challenge; never re-attestable.
#[derive(Clone)]
pub struct JoinTokenServer {
    trust_domain: TrustDomain,
    redeemer: Arc<dyn JoinTokenRedeemer>,
}

impl JoinTokenServer {
    /// An attestor for `trust_domain` that redeems tokens with `redeemer`.
    pub fn new(trust_domain: TrustDomain, redeemer: Arc<dyn JoinTokenRedeemer>) -> Self {
        Self {
            trust_domain,
            redeemer,
        }
    }
}

impl fmt::Debug for JoinTokenServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinTokenServer")
            .field("trust_domain", &self.trust_domain)
            .finish_non_exhaustive()
    }
}

impl ServerAttestor for JoinTokenServer {
    fn kind(&self) -> &str {
        KIND
    }

    fn new_session(&self, ctx: SessionContext) -> Box<dyn ServerSession> {
        Box::new(Session {
            server: self.clone(),
            now: ctx.now,
            started: false,
        })
    }
}

struct Session {
    server: JoinTokenServer,
    now: SystemTime,
    started: bool,
}

impl Session {
    async fn attest(&self, payload: &[u8]) -> Result<Step, AttestError> {
        let token = JoinToken::from_payload(payload).map_err(JoinTokenError::Malformed)?;
        let selectors = self
            .server
            .redeemer
            .redeem(&token, self.now)
            .await
            .map_err(JoinTokenError::from)?;

        let agent_id = agent_id(&self.server.trust_domain, &token);
        tracing::debug!(agent_id = %agent_id, "join token redeemed");
        Ok(Step::Done(AttestationResult {
            agent_id,
            selectors,
            can_reattest: false,
        }))
    }
}

impl ServerSession for Session {
    fn start<'a>(&'a mut self, payload: &'a [u8]) -> BoxFuture<'a, Result<Step, AttestError>> {
        Box::pin(async move {
            if std::mem::replace(&mut self.started, true) {
                return Err(AttestError::SessionFinished);
            }
            self.attest(payload).await
        })
    }

    fn respond<'a>(&'a mut self, _: &'a [u8]) -> BoxFuture<'a, Result<Step, AttestError>> {
        Box::pin(async { Err(AttestError::UnexpectedChallengeResponse) })
    }
}
