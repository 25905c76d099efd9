//! Tainting and revoking upstream authorities (the roots an upstream CA put in
//! the bundle), by subject key ID.

use lanyard_store::model::X509Authority;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::{ServerCa, ServerCaError};

impl ServerCa {
    /// Marks the upstream authority `subject_key_id` (hex) tainted in the
    /// bundle. Refused while it still signs the active local authority.
    pub async fn taint_x509_upstream_authority(
        &self,
        subject_key_id: &str,
    ) -> Result<String, ServerCaError> {
        let skid = self.check_upstream_change(subject_key_id)?;
        let _exclusive = self.gate.write().await;

        let bundle = self.store.get_bundle(self.trust_domain()).await?;
        let present = bundle
            .iter()
            .flat_map(|b| b.x509_authorities.iter())
            .any(|a| has_skid(a, &skid));
        if !present {
            return Err(ServerCaError::UnknownUpstreamAuthority(skid));
        }

        let target = skid.clone();
        let bundle = self
            .store
            .modify_bundle(self.trust_domain(), move |bundle| {
                for authority in &mut bundle.x509_authorities {
                    if has_skid(authority, &target) {
                        authority.tainted = true;
                    }
                }
            })
            .await?;
        tracing::info!(subject_key_id = %skid, sequence = bundle.sequence_number, "upstream authority tainted");
        Ok(skid)
    }

    /// Removes the tainted upstream authority `subject_key_id` (hex) from the
    /// bundle. Refused while it still signs the active local authority.
    pub async fn revoke_x509_upstream_authority(
        &self,
        subject_key_id: &str,
    ) -> Result<String, ServerCaError> {
        let skid = self.check_upstream_change(subject_key_id)?;
        let _exclusive = self.gate.write().await;

        let bundle = self.store.get_bundle(self.trust_domain()).await?;
        let found: Vec<&X509Authority> = bundle
            .iter()
            .flat_map(|b| b.x509_authorities.iter())
            .filter(|a| has_skid(a, &skid))
            .collect();
        if found.is_empty() {
            return Err(ServerCaError::UnknownUpstreamAuthority(skid));
        }
        if found.iter().any(|a| !a.tainted) {
            return Err(ServerCaError::UpstreamNotTainted(skid));
        }

        let target = skid.clone();
        let bundle = self
            .store
            .modify_bundle(self.trust_domain(), move |bundle| {
                bundle.x509_authorities.retain(|a| !has_skid(a, &target));
            })
            .await?;
        tracing::info!(subject_key_id = %skid, sequence = bundle.sequence_number, "upstream authority revoked");
        Ok(skid)
    }

    /// The normalized key ID, once the request is allowed at all.
    fn check_upstream_change(&self, subject_key_id: &str) -> Result<String, ServerCaError> {
        if self.upstream.is_none() {
            return Err(ServerCaError::NoUpstream);
        }
        let skid = subject_key_id.replace(':', "").to_ascii_lowercase();

        let active = self.manager.active_x509_authority()?;
        let in_use = active.upstream_authority_id() == Some(skid.as_str())
            || active
                .upstream_chain()
                .iter()
                .chain(active.upstream_roots())
                .any(|cert| subject_key_id_of(cert.as_ref()).as_deref() == Some(skid.as_str()));
        if in_use {
            return Err(ServerCaError::UpstreamAuthorityInUse(skid));
        }
        Ok(skid)
    }
}

fn has_skid(authority: &X509Authority, skid: &str) -> bool {
    subject_key_id_of(&authority.der).as_deref() == Some(skid)
}

/// The subject key identifier of a DER certificate, lower-case hex.
pub(crate) fn subject_key_id_of(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(hex::encode(id.0)),
            _ => None,
        })
}
