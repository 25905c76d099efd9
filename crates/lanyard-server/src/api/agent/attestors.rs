//! The node attestors the server runs, built from the `NodeAttestor` plugins of
//! the configuration, and the datastore behind join token redemption.

use std::sync::Arc;
use std::time::SystemTime;

use lanyard_attest::join_token::{JoinToken, JoinTokenRedeemer, JoinTokenServer, RedeemError};
use lanyard_attest::x509pop::{self, X509PopServer, X509PopServerConfig};
use lanyard_attest::{BoxFuture, ConfigError, ServerAttestors};
use lanyard_spiffe::{SelectorSet, TrustDomain};
use lanyard_store::{Store, StoreError};
use time::OffsetDateTime;

use crate::config::{NodeAttestorsConfig, X509PopMode};

/// Builds the configured attestors. The `tpm` attestor is not served on the agent
/// endpoint yet; its configuration is reported and skipped.
pub fn build_attestors(
    trust_domain: &TrustDomain,
    config: &NodeAttestorsConfig,
    store: Arc<Store>,
) -> Result<ServerAttestors, ConfigError> {
    let mut attestors = ServerAttestors::new();
    if config.join_token {
        let redeemer = Arc::new(StoreRedeemer { store });
        attestors.insert(Arc::new(JoinTokenServer::new(
            trust_domain.clone(),
            redeemer,
        )));
    }
    if let Some(x509pop) = &config.x509pop {
        let settings = X509PopServerConfig {
            mode: match x509pop.mode {
                X509PopMode::ExternalPki => x509pop::X509PopMode::ExternalPki,
                X509PopMode::Spiffe => x509pop::X509PopMode::Spiffe,
            },
            ca_bundle_paths: x509pop.ca_bundle_paths.clone(),
            svid_prefix: Some(x509pop.svid_prefix.clone()).filter(|p| !p.is_empty()),
            agent_path_template: x509pop.agent_path_template.clone(),
            ..X509PopServerConfig::default()
        };
        attestors.insert(Arc::new(X509PopServer::new(
            trust_domain.clone(),
            &settings,
        )?));
    }
    if config.tpm.is_some() {
        // TODO(#4): the tpm attestor needs its node registry and LDevID CA wired in.
        tracing::warn!("the tpm node attestor is not served on the agent endpoint yet");
    }
    Ok(attestors)
}

/// Redeems join tokens with the store's atomic take.
struct StoreRedeemer {
    store: Arc<Store>,
}

impl JoinTokenRedeemer for StoreRedeemer {
    fn redeem<'a>(
        &'a self,
        token: &'a JoinToken,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<SelectorSet, RedeemError>> {
        Box::pin(async move {
            match self
                .store
                .take_join_token(token.as_str(), OffsetDateTime::from(now))
                .await
            {
                Ok(taken) => Ok(taken.node_selectors),
                Err(StoreError::NotFound(_)) => Err(RedeemError::NotFound),
                Err(StoreError::Expired(_)) => Err(RedeemError::Expired),
                Err(other) => Err(RedeemError::Store(Box::new(other))),
            }
        })
    }
}
