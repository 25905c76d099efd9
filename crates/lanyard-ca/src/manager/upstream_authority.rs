//! Compromise response for the upstream authority (SPIRE's
//! `TaintX509UpstreamAuthority` and `RevokeX509UpstreamAuthority`).

use super::CaManager;
use super::events::{self, RotationEvent, Unpublished};
use super::local_authority::LocalAuthorityError;
use crate::journal::{Slots, Status, X509Entry};

impl CaManager {
    /// Marks as tainted the upstream root (by subject key ID, hex) that
    /// signed the old X.509 authority. Agents then re-sign what chains to it.
    pub fn taint_x509_upstream_authority(
        &self,
        subject_key_id: &str,
    ) -> Result<String, LocalAuthorityError> {
        let skid = self.check_upstream_request(subject_key_id)?;
        self.mutate(|state| {
            let next = signed_old_authority(&mut state.journal.x509, &skid)?;
            if next.upstream_tainted {
                return Err(LocalAuthorityError::AlreadyTainted);
            }
            next.upstream_tainted = true;
            tracing::debug!(subject_key_id = %skid, "upstream authority tainted");
            Ok(skid.clone())
        })
    }

    /// Removes the tainted upstream root `subject_key_id` from the bundle,
    /// together with the old X.509 authorities it signed.
    pub fn revoke_x509_upstream_authority(
        &self,
        subject_key_id: &str,
    ) -> Result<(String, Unpublished), LocalAuthorityError> {
        let skid = self.check_upstream_request(subject_key_id)?;
        self.mutate(|state| {
            let slots = &mut state.journal.x509;
            if !signed_old_authority(slots, &skid)?.upstream_tainted {
                return Err(LocalAuthorityError::NotTainted);
            }

            let signed_by = |e: &X509Entry| e.upstream_authority_id.as_deref() == Some(&skid);
            let mut removed: Vec<X509Entry> = slots.next.take().into_iter().collect();
            let (gone, kept): (Vec<_>, Vec<_>) = slots.retired.drain(..).partition(signed_by);
            slots.retired = kept;
            removed.extend(gone);

            let mut certificates = Vec::new();
            for event in events::x509_pruned(slots, removed) {
                if let RotationEvent::Pruned {
                    unpublished: Unpublished::X509Certificates(certs),
                    ..
                } = event
                {
                    for cert in certs {
                        if !certificates.contains(&cert) {
                            certificates.push(cert);
                        }
                    }
                }
            }
            tracing::debug!(subject_key_id = %skid, "upstream authority revoked");
            Ok((skid.clone(), Unpublished::X509Certificates(certificates)))
        })
    }

    fn check_upstream_request(&self, subject_key_id: &str) -> Result<String, LocalAuthorityError> {
        if self.upstream.is_none() {
            return Err(LocalAuthorityError::UpstreamNotConfigured);
        }
        if subject_key_id.is_empty() {
            return Err(LocalAuthorityError::MissingAuthorityId);
        }
        Ok(subject_key_id.to_ascii_lowercase())
    }
}

/// The old authority in the other slot, checked to be signed by the
/// upstream root `skid` (and not the active authority's signer).
fn signed_old_authority<'a>(
    slots: &'a mut Slots<X509Entry>,
    skid: &str,
) -> Result<&'a mut X509Entry, LocalAuthorityError> {
    if slots
        .active
        .as_ref()
        .is_some_and(|active| active.upstream_authority_id.as_deref() == Some(skid))
    {
        return Err(LocalAuthorityError::ActiveAuthority);
    }
    let next = slots
        .next
        .as_mut()
        .filter(|next| next.upstream_authority_id.as_deref() == Some(skid))
        .ok_or_else(|| LocalAuthorityError::UnexpectedAuthorityId(skid.to_owned()))?;
    if next.meta.status != Status::Old {
        return Err(LocalAuthorityError::NotOld);
    }
    let in_bundle = next
        .upstream_roots
        .iter()
        .any(|root| events::subject_key_id_hex(&root.0).as_deref() == Some(skid));
    if !in_bundle {
        return Err(LocalAuthorityError::UpstreamAuthorityNotInBundle(
            skid.to_owned(),
        ));
    }
    Ok(next)
}
