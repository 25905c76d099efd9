//! Rotation and operator changes to the local authorities, each followed by a
//! bundle update while signing waits.

use std::sync::Arc;
use std::time::Duration;

use lanyard_ca::manager::{
    AuthorityState, AuthorityStates, CaManager, LocalAuthorityError, RotationEvent, Unpublished,
};
use tokio_util::sync::CancellationToken;

use super::{ServerCa, ServerCaError, publish};

/// How often the rotation task advances the CA.
pub const ROTATION_INTERVAL: Duration = Duration::from_secs(5);

impl ServerCa {
    /// Advances rotation to the clock's time and brings the bundle up to date
    /// (always, so a bundle write lost to a crash is redone at the next start).
    /// Signing waits until both are done.
    pub async fn rotate(&self) -> Result<Vec<RotationEvent>, ServerCaError> {
        let _exclusive = self.gate.write().await;
        let manager = self.manager.clone();
        let events = tokio::task::spawn_blocking(move || manager.rotate()).await??;

        let removed: Vec<Unpublished> = events
            .iter()
            .filter_map(|event| match event {
                RotationEvent::Pruned { unpublished, .. } => Some(unpublished.clone()),
                _ => None,
            })
            .collect();
        let bundle = self.publish(&removed).await?;
        if events.iter().any(RotationEvent::changes_bundle) {
            tracing::info!(
                sequence = bundle.sequence_number,
                "trust bundle updated by rotation"
            );
        }
        self.mark_ready();
        Ok(events)
    }

    /// Calls [`ServerCa::rotate`] every [`ROTATION_INTERVAL`] until `shutdown`.
    pub async fn run_rotation(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(ROTATION_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            if let Err(error) = self.rotate().await {
                tracing::warn!(error = %crate::api::ErrorChain(&error), "ca rotation failed");
            }
        }
    }

    /// The X.509 authorities: active, prepared, old.
    pub async fn x509_authority_state(&self) -> Result<AuthorityStates, ServerCaError> {
        Ok(self.manager.x509_authority_state()?)
    }

    /// The JWT authorities: active, prepared, old.
    pub async fn jwt_authority_state(&self) -> Result<AuthorityStates, ServerCaError> {
        Ok(self.manager.jwt_authority_state()?)
    }

    /// Prepares a new X.509 authority now and publishes it.
    pub async fn prepare_x509_authority(&self) -> Result<AuthorityState, ServerCaError> {
        self.change(|m| m.prepare_x509_authority().map(|s| (s, None)))
            .await
    }

    /// Activates the prepared X.509 authority `id` (already published).
    pub async fn activate_x509_authority(
        &self,
        id: String,
    ) -> Result<AuthorityState, ServerCaError> {
        self.change(move |m| m.activate_x509_authority(&id).map(|s| (s, None)))
            .await
    }

    /// Taints the old X.509 authority `id` in the journal and the bundle.
    pub async fn taint_x509_authority(&self, id: String) -> Result<AuthorityState, ServerCaError> {
        self.change(move |m| m.taint_x509_authority(&id).map(|s| (s, None)))
            .await
    }

    /// Removes the tainted old X.509 authority `id` from the bundle.
    pub async fn revoke_x509_authority(&self, id: String) -> Result<AuthorityState, ServerCaError> {
        self.change(move |m| {
            m.revoke_x509_authority(&id)
                .map(|(s, gone)| (s, Some(gone)))
        })
        .await
    }

    /// Prepares a new JWT key now and publishes it.
    pub async fn prepare_jwt_authority(&self) -> Result<AuthorityState, ServerCaError> {
        self.change(|m| m.prepare_jwt_authority().map(|s| (s, None)))
            .await
    }

    /// Activates the prepared JWT key `id` (already published).
    pub async fn activate_jwt_authority(
        &self,
        id: String,
    ) -> Result<AuthorityState, ServerCaError> {
        self.change(move |m| m.activate_jwt_authority(&id).map(|s| (s, None)))
            .await
    }

    /// Taints the old JWT key `id` in the journal and the bundle.
    pub async fn taint_jwt_authority(&self, id: String) -> Result<AuthorityState, ServerCaError> {
        self.change(move |m| m.taint_jwt_authority(&id).map(|s| (s, None)))
            .await
    }

    /// Removes the tainted JWT key `id` from the bundle.
    pub async fn revoke_jwt_authority(&self, id: String) -> Result<AuthorityState, ServerCaError> {
        self.change(move |m| m.revoke_jwt_authority(&id).map(|(s, gone)| (s, Some(gone))))
            .await
    }

    /// Runs an operator change on a blocking thread (it writes the journal),
    /// then publishes, while signing waits.
    pub(super) async fn change<T, F>(&self, change: F) -> Result<T, ServerCaError>
    where
        T: Send + 'static,
        F: FnOnce(&CaManager) -> Result<(T, Option<Unpublished>), LocalAuthorityError>
            + Send
            + 'static,
    {
        let _exclusive = self.gate.write().await;
        let manager = self.manager.clone();
        let (outcome, removed) = tokio::task::spawn_blocking(move || change(&manager)).await??;

        let removed: Vec<Unpublished> = removed.into_iter().collect();
        let bundle = self.publish(&removed).await?;
        tracing::info!(
            sequence = bundle.sequence_number,
            "local authorities changed by operator"
        );
        Ok(outcome)
    }

    async fn publish(
        &self,
        removed: &[Unpublished],
    ) -> Result<lanyard_store::model::BundleRecord, ServerCaError> {
        let published = self.manager.published_authorities()?;
        Ok(publish::publish(&self.store, self.trust_domain(), &published, removed).await?)
    }
}
