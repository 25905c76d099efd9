//! What the server's datastore must provide to the `tpm` attestor: join
//! tokens looked at without consuming them, and the record of which TPM
//! (EK) is enrolled as which node.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;

use lanyard_spiffe::SelectorSet;
use thiserror::Error;

use crate::BoxFuture;
use crate::join_token::{JoinToken, RedeemError};
use crate::tpm::node_type::NodeType;
use crate::tpm::xname::Xname;

/// A boxed store error.
pub type RegistryError = Box<dyn std::error::Error + Send + Sync>;

/// One enrolled TPM: the server keeps one per EK, and at most one per xname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmEnrollment {
    /// SHA-256 of the EK public key's DER `SubjectPublicKeyInfo` (the key).
    pub ek_sha256: [u8; 32],
    /// The node's xname (unique among enrollments).
    pub xname: Xname,
    /// The node's type, when the token bound one.
    pub node_type: Option<NodeType>,
    /// The EK `TPMT_PUBLIC`, for residency re-checks without the certificate.
    pub ek_public: Vec<u8>,
    /// Serial (lower-case hex) of the node's current LDevID certificate;
    /// only this certificate re-attests.
    pub ldevid_serial: String,
    /// The node selectors established at enrollment, returned again at
    /// every re-attestation.
    pub selectors: SelectorSet,
    /// When the TPM enrolled.
    pub enrolled_at: SystemTime,
    /// When residency was last proven (enrollment or re-check).
    pub residency_checked_at: SystemTime,
}

/// Why an enrollment could not be committed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CompleteEnrollmentError {
    /// The token was used, expired or never existed.
    #[error(transparent)]
    Token(#[from] RedeemError),
    /// The EK is enrolled under another xname.
    #[error("ek is enrolled under another xname")]
    EkEnrolledElsewhere,
    /// The store failed.
    #[error("tpm enrollment store failed")]
    Store(#[source] RegistryError),
}

/// The server's datastore, as the `tpm` attestor needs it.
pub trait TpmNodeRegistry: Send + Sync {
    /// The node selectors bound to `token` if it exists and is unexpired at
    /// `now`, WITHOUT consuming it (enrollment consumes it only at the end).
    fn peek_join_token<'a>(
        &'a self,
        token: &'a JoinToken,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<SelectorSet, RedeemError>>;

    /// The enrollment of the EK with this hash, if any.
    fn enrollment_by_ek<'a>(
        &'a self,
        ek_sha256: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Option<TpmEnrollment>, RegistryError>>;

    /// The enrollment of the node with this xname, if any.
    fn enrollment_by_xname<'a>(
        &'a self,
        xname: &'a Xname,
    ) -> BoxFuture<'a, Result<Option<TpmEnrollment>, RegistryError>>;

    /// In ONE transaction: redeem `token` (as `JoinTokenRedeemer::redeem`:
    /// of concurrent callers at most one succeeds; expired tokens fail);
    /// refuse with `EkEnrolledElsewhere` if `enrollment.ek_sha256` is
    /// enrolled under another xname; delete any other enrollment of
    /// `enrollment.xname` (the node's previous TPM); and upsert
    /// `enrollment` keyed by its EK hash. Nothing changes on error.
    fn complete_enrollment<'a>(
        &'a self,
        token: &'a JoinToken,
        enrollment: &'a TpmEnrollment,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<(), CompleteEnrollmentError>>;

    /// Records that the EK's node proved residency again at `at`.
    fn record_residency_check<'a>(
        &'a self,
        ek_sha256: &'a [u8; 32],
        at: SystemTime,
    ) -> BoxFuture<'a, Result<(), RegistryError>>;
}

/// An in-memory [`TpmNodeRegistry`]: the reference semantics the datastore
/// implementation must match, and a registry for tests and demos.
#[derive(Debug, Default)]
pub struct MemoryTpmRegistry {
    tokens: Mutex<HashMap<String, (SystemTime, SelectorSet)>>,
    enrollments: Mutex<BTreeMap<[u8; 32], TpmEnrollment>>,
}

impl MemoryTpmRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a join token binding `selectors`, valid until `expires_at`.
    pub fn add_join_token(
        &self,
        token: &JoinToken,
        expires_at: SystemTime,
        selectors: SelectorSet,
    ) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(token.as_str().to_owned(), (expires_at, selectors));
        }
    }

    /// Every enrollment, by EK hash.
    pub fn enrollments(&self) -> Vec<TpmEnrollment> {
        self.enrollments
            .lock()
            .map(|e| e.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets the enrollment of an EK (an administrator releasing a TPM).
    pub fn remove_enrollment(&self, ek_sha256: &[u8; 32]) -> bool {
        self.enrollments
            .lock()
            .map(|mut e| e.remove(ek_sha256).is_some())
            .unwrap_or(false)
    }
}

fn poisoned() -> RegistryError {
    "registry lock poisoned".into()
}

impl TpmNodeRegistry for MemoryTpmRegistry {
    fn peek_join_token<'a>(
        &'a self,
        token: &'a JoinToken,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<SelectorSet, RedeemError>> {
        Box::pin(async move {
            let tokens = self
                .tokens
                .lock()
                .map_err(|_| RedeemError::Store(poisoned()))?;
            match tokens.get(token.as_str()) {
                None => Err(RedeemError::NotFound),
                Some((expires_at, _)) if *expires_at <= now => Err(RedeemError::Expired),
                Some((_, selectors)) => Ok(selectors.clone()),
            }
        })
    }

    fn enrollment_by_ek<'a>(
        &'a self,
        ek_sha256: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Option<TpmEnrollment>, RegistryError>> {
        Box::pin(async move {
            let enrollments = self.enrollments.lock().map_err(|_| poisoned())?;
            Ok(enrollments.get(ek_sha256).cloned())
        })
    }

    fn enrollment_by_xname<'a>(
        &'a self,
        xname: &'a Xname,
    ) -> BoxFuture<'a, Result<Option<TpmEnrollment>, RegistryError>> {
        Box::pin(async move {
            let enrollments = self.enrollments.lock().map_err(|_| poisoned())?;
            Ok(enrollments.values().find(|e| &e.xname == xname).cloned())
        })
    }

    fn complete_enrollment<'a>(
        &'a self,
        token: &'a JoinToken,
        enrollment: &'a TpmEnrollment,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<(), CompleteEnrollmentError>> {
        Box::pin(async move {
            let store = || CompleteEnrollmentError::Store(poisoned());
            let mut tokens = self.tokens.lock().map_err(|_| store())?;
            let mut enrollments = self.enrollments.lock().map_err(|_| store())?;

            match tokens.get(token.as_str()) {
                None => return Err(RedeemError::NotFound.into()),
                Some((expires_at, _)) if *expires_at <= now => {
                    tokens.remove(token.as_str());
                    return Err(RedeemError::Expired.into());
                }
                Some(_) => {}
            }
            if let Some(existing) = enrollments.get(&enrollment.ek_sha256)
                && existing.xname != enrollment.xname
            {
                return Err(CompleteEnrollmentError::EkEnrolledElsewhere);
            }

            tokens.remove(token.as_str());
            enrollments.retain(|_, e| e.xname != enrollment.xname);
            enrollments.insert(enrollment.ek_sha256, enrollment.clone());
            Ok(())
        })
    }

    fn record_residency_check<'a>(
        &'a self,
        ek_sha256: &'a [u8; 32],
        at: SystemTime,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            let mut enrollments = self.enrollments.lock().map_err(|_| poisoned())?;
            if let Some(e) = enrollments.get_mut(ek_sha256) {
                e.residency_checked_at = at;
            }
            Ok(())
        })
    }
}
