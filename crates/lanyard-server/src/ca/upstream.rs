//! Tainting and revoking upstream authorities (the roots an upstream CA put in
//! the bundle), by subject key ID.

use super::{ServerCa, ServerCaError};

impl ServerCa {
    /// Marks the upstream authority `subject_key_id` (hex) tainted in the
    /// journal and the bundle. Refused while it signs the active authority.
    pub async fn taint_x509_upstream_authority(
        &self,
        subject_key_id: &str,
    ) -> Result<String, ServerCaError> {
        let skid = subject_key_id.to_owned();
        self.change(move |m| m.taint_x509_upstream_authority(&skid).map(|s| (s, None)))
            .await
    }

    /// Removes the tainted upstream authority `subject_key_id` (hex) and the
    /// old authorities it signed from the bundle.
    pub async fn revoke_x509_upstream_authority(
        &self,
        subject_key_id: &str,
    ) -> Result<String, ServerCaError> {
        let skid = subject_key_id.to_owned();
        self.change(move |m| {
            m.revoke_x509_upstream_authority(&skid)
                .map(|(s, gone)| (s, Some(gone)))
        })
        .await
    }
}
