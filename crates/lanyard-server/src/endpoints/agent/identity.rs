//! Keeping the agent endpoint's credentials current: the server's own X509-SVID
//! (`spiffe://<td>/spire/server`), renewed at half its life and as soon as another
//! authority becomes active, and the trust bundle client certificates are checked
//! against, reloaded when the change log says it changed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lanyard_spiffe::SpiffeId;
use lanyard_store::Store;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_util::sync::CancellationToken;

use super::tls::{ServerCertificate, TrustState};
use crate::api::types::record_to_bundle;
use crate::ca::ServerCa;
use crate::cache::EntryCache;

/// How often the maintainer checks whether the SVID needs renewal.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Why the server's SVID could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerSvidError {
    /// The key could not be generated or loaded.
    #[error("server svid key")]
    Key(#[source] rcgen::Error),
    /// The key could not be used for TLS.
    #[error("server svid key is unusable for tls")]
    Tls(#[source] rustls::Error),
    /// The public key could not be read back.
    #[error("server svid public key")]
    PublicKey(#[source] lanyard_ca::PublicKeyError),
    /// The CA could not sign.
    #[error("server svid signing")]
    Ca(#[source] crate::ca::ServerCaError),
    /// The bundle could not be read.
    #[error("trust bundle")]
    Store(#[source] lanyard_store::StoreError),
}

/// What the current server SVID was signed with, to know when to renew it.
#[derive(Debug, Clone)]
pub(super) struct Issued {
    authority_id: String,
    issued_at: SystemTime,
    expires_at: SystemTime,
}

/// Issues the server SVID and loads the bundle, then keeps both current.
pub(super) struct Maintainer {
    pub(super) ca: Arc<ServerCa>,
    pub(super) store: Arc<Store>,
    pub(super) cache: EntryCache,
    pub(super) server_id: SpiffeId,
    pub(super) certificate: ServerCertificate,
    pub(super) trust: TrustState,
}

impl Maintainer {
    /// Loads the bundle and installs a first SVID.
    pub(super) async fn start(&self) -> Result<Issued, ServerSvidError> {
        self.reload_bundle().await?;
        self.issue().await
    }

    /// Renews and reloads until `shutdown`; `issued` is what [`Self::start`] installed.
    pub(super) async fn run(self, issued: Issued, shutdown: CancellationToken) {
        let mut issued = Some(issued);
        let mut updates = self.cache.subscribe_updates();
        let mut ticks = tokio::time::interval(CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
                update = updates.recv() => {
                    let relevant = match &update {
                        Ok(update) => update.reloaded || update.bundles.contains(self.ca.trust_domain()),
                        Err(_) => true,
                    };
                    if !relevant {
                        continue;
                    }
                }
            }
            if let Err(error) = self.reload_bundle().await {
                tracing::warn!(error = %crate::api::ErrorChain(&error), "cannot reload the trust bundle");
            }
            if self.needs_renewal(issued.as_ref()) {
                match self.issue().await {
                    Ok(new) => {
                        tracing::info!(authority_id = %new.authority_id, "server svid renewed");
                        issued = Some(new);
                    }
                    Err(error) => {
                        tracing::warn!(error = %crate::api::ErrorChain(&error), "cannot renew the server svid");
                    }
                }
            }
        }
    }

    fn needs_renewal(&self, issued: Option<&Issued>) -> bool {
        let Some(issued) = issued else {
            return true;
        };
        let active = self
            .ca
            .manager()
            .active_x509_authority()
            .map(|a| a.authority_id().to_owned())
            .ok();
        if active.as_deref() != Some(issued.authority_id.as_str()) {
            return true;
        }
        let life = issued
            .expires_at
            .duration_since(issued.issued_at)
            .unwrap_or_default();
        SystemTime::now() >= issued.issued_at + life / 2
    }

    async fn reload_bundle(&self) -> Result<(), ServerSvidError> {
        let record = self
            .store
            .get_bundle(self.ca.trust_domain())
            .await
            .map_err(ServerSvidError::Store)?;
        if let Some(record) = record
            && self.trust.replace(record_to_bundle(&record))
        {
            tracing::debug!(
                sequence = record.sequence_number,
                "agent endpoint trust bundle updated"
            );
        }
        Ok(())
    }

    async fn issue(&self) -> Result<Issued, ServerSvidError> {
        let authority_id = self
            .ca
            .manager()
            .active_x509_authority()
            .map(|a| a.authority_id().to_owned())
            .map_err(|e| ServerSvidError::Ca(e.into()))?;
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(ServerSvidError::Key)?;
        let public_key = lanyard_ca::PublicKey::from_spki_der(
            &rcgen::PublicKeyData::subject_public_key_info(&key),
        )
        .map_err(ServerSvidError::PublicKey)?;
        let issued_at = SystemTime::now();
        let svid = self
            .ca
            .mint_x509_svid(public_key, self.server_id.clone(), Vec::new(), None)
            .await
            .map_err(ServerSvidError::Ca)?;

        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing_key = rustls::crypto::aws_lc_rs::default_provider()
            .key_provider
            .load_private_key(der)
            .map_err(ServerSvidError::Tls)?;
        self.certificate
            .install(CertifiedKey::new(svid.chain(), signing_key));
        Ok(Issued {
            authority_id,
            issued_at,
            expires_at: svid.expires_at(),
        })
    }
}
