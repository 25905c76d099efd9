//! The node attestors the server runs, built from the `NodeAttestor` plugins of
//! the configuration, and the datastore behind join token redemption and TPM
//! enrollment.

use std::sync::Arc;
use std::time::SystemTime;

use lanyard_attest::join_token::{JoinToken, JoinTokenRedeemer, JoinTokenServer, RedeemError};
use lanyard_attest::tpm::ldevid::LdevidCa;
use lanyard_attest::tpm::server::{
    CompleteEnrollmentError, RegistryError, TpmEnrollment, TpmNodeRegistry, TpmServer,
    TpmServerConfig, load_ek_policy,
};
use lanyard_attest::tpm::{NodeType, Xname};
use lanyard_attest::x509pop::{self, X509PopServer, X509PopServerConfig};
use lanyard_attest::{BoxFuture, ConfigError, ServerAttestors};
use lanyard_spiffe::{SelectorSet, TrustDomain};
use lanyard_store::model::{JoinToken as StoredJoinToken, TpmEnrollment as StoredEnrollment};
use lanyard_store::{Store, StoreError};
use time::OffsetDateTime;

use super::group_commit::{GroupCommit, WriteBatch};
use crate::config::{LdevidCaSource, NodeAttestorsConfig, TpmAttestorConfig, X509PopMode};

/// Builds the configured attestors.
pub fn build_attestors(
    trust_domain: &TrustDomain,
    config: &NodeAttestorsConfig,
    store: Arc<Store>,
) -> Result<ServerAttestors, ConfigError> {
    let mut attestors = ServerAttestors::new();
    if config.join_token {
        let redeemer = Arc::new(StoreRedeemer::new(store.clone()));
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
    if let Some(tpm) = &config.tpm {
        attestors.insert(Arc::new(tpm_attestor(trust_domain, tpm, store)?));
    }
    Ok(attestors)
}

/// The `tpm` attestor: EK trust from the manufacturer files, the LDevID CA, and
/// enrollments kept in the datastore.
fn tpm_attestor(
    trust_domain: &TrustDomain,
    config: &TpmAttestorConfig,
    store: Arc<Store>,
) -> Result<TpmServer, ConfigError> {
    let mut settings = TpmServerConfig::new(trust_domain.clone());
    settings.ek_policy = load_ek_policy(
        &config.endorsement_ca_paths,
        config.ek_hash_path.as_deref(),
        &config.ek_hashes,
    )?;
    if let Some(template) = &config.agent_path_template {
        settings =
            settings
                .with_agent_path_template(template)
                .map_err(|err| ConfigError::TpmSetting {
                    setting: "agent_path_template",
                    reason: err.to_string(),
                })?;
    }
    settings.ldevid_ttl = config.ldevid_ttl.as_std();
    settings.residency_check_period = config.residency_check_period.map(|d| d.as_std());

    let organization = trust_domain.as_str();
    let ca = match &config.ldevid_ca {
        LdevidCaSource::Files {
            cert_path,
            key_path,
        } => LdevidCa::from_pem_files(cert_path, key_path, organization),
        LdevidCaSource::Generated { dir } => std::fs::create_dir_all(dir)
            .map_err(|e| lanyard_attest::tpm::TpmError::Issue(format!("{}: {e}", dir.display())))
            .and_then(|()| LdevidCa::open_or_generate(dir, organization, SystemTime::now())),
    }
    .map_err(ConfigError::LdevidCa)?;
    Ok(TpmServer::new(
        settings,
        ca,
        Arc::new(StoreTpmRegistry { store }),
    ))
}

/// Redeems join tokens with the store's atomic take, many per transaction when
/// attestations arrive together.
struct StoreRedeemer {
    takes: GroupCommit<(String, OffsetDateTime), StoredJoinToken>,
}

impl StoreRedeemer {
    fn new(store: Arc<Store>) -> Self {
        let write: Arc<WriteBatch<(String, OffsetDateTime), StoredJoinToken>> =
            Arc::new(move |tokens| {
                let store = store.clone();
                Box::pin(async move {
                    let tokens: Vec<(&str, OffsetDateTime)> =
                        tokens.iter().map(|(t, now)| (t.as_str(), *now)).collect();
                    store.take_join_tokens(&tokens).await
                })
            });
        Self {
            takes: GroupCommit::new(write),
        }
    }
}

impl JoinTokenRedeemer for StoreRedeemer {
    fn redeem<'a>(
        &'a self,
        token: &'a JoinToken,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<SelectorSet, RedeemError>> {
        Box::pin(async move {
            match self
                .takes
                .submit((token.as_str().to_owned(), OffsetDateTime::from(now)))
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

/// The `tpm` attestor's enrollments in the datastore (`tpm_enrollments`).
struct StoreTpmRegistry {
    store: Arc<Store>,
}

impl TpmNodeRegistry for StoreTpmRegistry {
    fn peek_join_token<'a>(
        &'a self,
        token: &'a JoinToken,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<SelectorSet, RedeemError>> {
        Box::pin(async move {
            self.store
                .peek_join_token(token.as_str(), OffsetDateTime::from(now))
                .await
                .map(|t| t.node_selectors)
                .map_err(redeem_error)
        })
    }

    fn enrollment_by_ek<'a>(
        &'a self,
        ek_sha256: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Option<TpmEnrollment>, RegistryError>> {
        Box::pin(async move {
            let stored = self.store.get_tpm_enrollment_by_ek(ek_sha256).await?;
            stored.map(from_stored).transpose()
        })
    }

    fn enrollment_by_xname<'a>(
        &'a self,
        xname: &'a Xname,
    ) -> BoxFuture<'a, Result<Option<TpmEnrollment>, RegistryError>> {
        Box::pin(async move {
            let stored = self
                .store
                .get_tpm_enrollment_by_xname(xname.as_str())
                .await?;
            stored.map(from_stored).transpose()
        })
    }

    fn complete_enrollment<'a>(
        &'a self,
        token: &'a JoinToken,
        enrollment: &'a TpmEnrollment,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<(), CompleteEnrollmentError>> {
        Box::pin(async move {
            let stored = StoredEnrollment {
                ek_sha256: enrollment.ek_sha256.to_vec(),
                xname: enrollment.xname.as_str().to_owned(),
                node_type: enrollment.node_type.as_ref().map(|t| t.as_str().to_owned()),
                ek_public: enrollment.ek_public.clone(),
                ldevid_serial: enrollment.ldevid_serial.clone(),
                node_selectors: enrollment.selectors.clone(),
                enrolled_at: OffsetDateTime::from(enrollment.enrolled_at),
                residency_checked_at: OffsetDateTime::from(enrollment.residency_checked_at),
            };
            match self
                .store
                .complete_tpm_enrollment(token.as_str(), &stored, OffsetDateTime::from(now))
                .await
            {
                Ok(()) => Ok(()),
                Err(StoreError::Conflict(_)) => Err(CompleteEnrollmentError::EkEnrolledElsewhere),
                Err(err @ (StoreError::NotFound(_) | StoreError::Expired(_))) => {
                    Err(CompleteEnrollmentError::Token(redeem_error(err)))
                }
                Err(err) => Err(CompleteEnrollmentError::Store(Box::new(err))),
            }
        })
    }

    fn record_residency_check<'a>(
        &'a self,
        ek_sha256: &'a [u8; 32],
        at: SystemTime,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            self.store
                .record_tpm_residency_check(ek_sha256, OffsetDateTime::from(at))
                .await?;
            Ok(())
        })
    }
}

fn redeem_error(err: StoreError) -> RedeemError {
    match err {
        StoreError::NotFound(_) => RedeemError::NotFound,
        StoreError::Expired(_) => RedeemError::Expired,
        other => RedeemError::Store(Box::new(other)),
    }
}

/// A stored enrollment as the attestor sees it; a malformed row is a store error.
fn from_stored(stored: StoredEnrollment) -> Result<TpmEnrollment, RegistryError> {
    let ek_sha256: [u8; 32] = stored
        .ek_sha256
        .as_slice()
        .try_into()
        .map_err(|_| "tpm_enrollments.ek_sha256 is not 32 bytes")?;
    let xname = Xname::parse(&stored.xname).map_err(|_| "tpm_enrollments.xname is invalid")?;
    let node_type = stored
        .node_type
        .map(|t| NodeType::parse(&t))
        .transpose()
        .map_err(|_| "tpm_enrollments.node_type is invalid")?;
    Ok(TpmEnrollment {
        ek_sha256,
        xname,
        node_type,
        ek_public: stored.ek_public,
        ldevid_serial: stored.ldevid_serial,
        selectors: stored.node_selectors,
        enrolled_at: stored.enrolled_at.into(),
        residency_checked_at: stored.residency_checked_at.into(),
    })
}
