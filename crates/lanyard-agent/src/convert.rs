//! Conversions from SPIRE's API messages to Lanyard's types. Anything the server sends
//! is parsed here, once; a malformed item is an error naming the rule it broke.

use std::time::Duration;

use lanyard_proto::spire::api::types as pb;
use lanyard_spiffe::{
    Bundle, BundleError, JwtAuthority, Selector, SelectorError, SelectorSet, SpiffeId,
    SpiffeIdError, TrustDomain,
};
use rustls_pki_types::CertificateDer;

/// Why a message from the server could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// A required field is absent.
    #[error("{0} is missing")]
    Missing(&'static str),
    /// A SPIFFE ID or trust domain is invalid.
    #[error("{field} is not a valid spiffe id or trust domain")]
    Id {
        /// The field.
        field: &'static str,
        /// Why.
        #[source]
        source: SpiffeIdError,
    },
    /// A selector is invalid.
    #[error("entry selector is invalid")]
    Selector(#[source] SelectorError),
    /// A bundle or authority is invalid.
    #[error("bundle is invalid")]
    Bundle(#[source] BundleError),
}

/// A registration entry as the agent uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry ID.
    pub id: String,
    /// The identity the entry grants.
    pub spiffe_id: SpiffeId,
    /// The agent or alias the entry is parented to.
    pub parent_id: SpiffeId,
    /// Selectors a workload must all have.
    pub selectors: SelectorSet,
    /// Requested X.509-SVID lifetime in seconds (0: server default).
    pub x509_svid_ttl: i32,
    /// Requested JWT-SVID lifetime in seconds (0: server default).
    pub jwt_svid_ttl: i32,
    /// Trust domains whose bundles come with the SVID.
    pub federates_with: Vec<TrustDomain>,
    /// Admin flag.
    pub admin: bool,
    /// Downstream flag.
    pub downstream: bool,
    /// When the entry expires (Unix seconds, 0: never).
    pub expires_at: i64,
    /// DNS names of the X.509-SVID.
    pub dns_names: Vec<String>,
    /// The entry's revision; grows on every change.
    pub revision_number: i64,
    /// A hint for workloads holding several identities.
    pub hint: String,
    /// Creation time (Unix seconds).
    pub created_at: i64,
}

impl Entry {
    /// Parses an entry sent by the server.
    pub fn from_proto(entry: &pb::Entry) -> Result<Self, ConvertError> {
        let selectors = entry
            .selectors
            .iter()
            .map(|s| Selector::new(&s.r#type, &s.value))
            .collect::<Result<SelectorSet, _>>()
            .map_err(ConvertError::Selector)?;
        let federates_with = entry
            .federates_with
            .iter()
            .map(|td| TrustDomain::from_name_or_id(td))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| ConvertError::Id {
                field: "entry federates_with",
                source,
            })?;
        if entry.id.is_empty() {
            return Err(ConvertError::Missing("entry id"));
        }

        Ok(Self {
            id: entry.id.clone(),
            spiffe_id: spiffe_id(entry.spiffe_id.as_ref(), "entry spiffe_id")?,
            parent_id: spiffe_id(entry.parent_id.as_ref(), "entry parent_id")?,
            selectors,
            x509_svid_ttl: entry.x509_svid_ttl,
            jwt_svid_ttl: entry.jwt_svid_ttl,
            federates_with,
            admin: entry.admin,
            downstream: entry.downstream,
            expires_at: entry.expires_at,
            dns_names: entry.dns_names.clone(),
            revision_number: entry.revision_number,
            hint: entry.hint.clone(),
            created_at: entry.created_at,
        })
    }

    /// Whether a change from `self` to `other` needs a new X.509-SVID: the fields the
    /// certificate is built from changed.
    pub fn needs_new_x509_svid(&self, other: &Self) -> bool {
        self.spiffe_id != other.spiffe_id
            || self.dns_names != other.dns_names
            || self.x509_svid_ttl != other.x509_svid_ttl
    }
}

/// Parses SPIRE's `SPIFFEID` message.
pub fn spiffe_id(id: Option<&pb::Spiffeid>, field: &'static str) -> Result<SpiffeId, ConvertError> {
    let id = id.ok_or(ConvertError::Missing(field))?;
    let td =
        TrustDomain::new(&id.trust_domain).map_err(|source| ConvertError::Id { field, source })?;
    SpiffeId::from_parts(&td, &id.path).map_err(|source| ConvertError::Id { field, source })
}

/// Parses a bundle sent by the server.
pub fn bundle_from_proto(bundle: &pb::Bundle) -> Result<Bundle, ConvertError> {
    let td =
        TrustDomain::from_name_or_id(&bundle.trust_domain).map_err(|source| ConvertError::Id {
            field: "bundle trust_domain",
            source,
        })?;
    let mut out = Bundle::new(td);
    for authority in &bundle.x509_authorities {
        out.add_x509_authority(CertificateDer::from(authority.asn1.clone()))
            .map_err(ConvertError::Bundle)?;
    }
    for key in &bundle.jwt_authorities {
        let expires_at = (key.expires_at != 0).then_some(key.expires_at);
        let authority = JwtAuthority::new(&key.key_id, key.public_key.clone(), expires_at)
            .map_err(ConvertError::Bundle)?;
        out.add_jwt_authority(authority)
            .map_err(ConvertError::Bundle)?;
    }
    out.set_sequence_number(bundle.sequence_number);
    let hint = u64::try_from(bundle.refresh_hint).unwrap_or(0);
    out.set_refresh_hint((hint > 0).then(|| Duration::from_secs(hint)));
    Ok(out)
}

/// The certificate chain of SPIRE's `X509SVID` message, leaf first.
pub fn svid_chain(
    svid: Option<&pb::X509svid>,
) -> Result<Vec<CertificateDer<'static>>, ConvertError> {
    let svid = svid.ok_or(ConvertError::Missing("x509 svid"))?;
    if svid.cert_chain.is_empty() {
        return Err(ConvertError::Missing("x509 svid certificate chain"));
    }
    Ok(svid
        .cert_chain
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb_id(td: &str, path: &str) -> Option<pb::Spiffeid> {
        Some(pb::Spiffeid {
            trust_domain: td.into(),
            path: path.into(),
        })
    }

    pub(crate) fn pb_entry(id: &str) -> pb::Entry {
        pb::Entry {
            id: id.into(),
            spiffe_id: pb_id("example.org", "/workload"),
            parent_id: pb_id("example.org", "/spire/agent/join_token/t"),
            selectors: vec![pb::Selector {
                r#type: "unix".into(),
                value: "uid:1000".into(),
            }],
            federates_with: vec!["spiffe://other.org".into(), "third.org".into()],
            revision_number: 3,
            ..pb::Entry::default()
        }
    }

    #[test]
    fn entry_converts() {
        let entry = Entry::from_proto(&pb_entry("e1")).expect("valid");
        assert_eq!(entry.spiffe_id.as_str(), "spiffe://example.org/workload");
        assert_eq!(entry.selectors.len(), 1);
        assert_eq!(entry.federates_with.len(), 2);
        assert_eq!(entry.revision_number, 3);
    }

    #[test]
    fn malformed_entries_are_refused() {
        let mut no_id = pb_entry("");
        no_id.id.clear();
        assert!(Entry::from_proto(&no_id).is_err());

        let mut bad_selector = pb_entry("e");
        bad_selector.selectors[0].r#type = "un:ix".into();
        assert!(Entry::from_proto(&bad_selector).is_err());

        let mut bad_id = pb_entry("e");
        bad_id.spiffe_id = pb_id("Example.org", "/w");
        assert!(Entry::from_proto(&bad_id).is_err());

        let mut no_parent = pb_entry("e");
        no_parent.parent_id = None;
        assert!(Entry::from_proto(&no_parent).is_err());
    }

    #[test]
    fn bundle_converts_with_sequence_and_hint() {
        let ca = crate::testutil::TestCa::new("example.org");
        let message = pb::Bundle {
            trust_domain: "example.org".into(),
            x509_authorities: vec![pb::X509Certificate {
                asn1: ca.root().to_vec(),
                tainted: false,
            }],
            jwt_authorities: Vec::new(),
            refresh_hint: 300,
            sequence_number: 7,
        };
        let bundle = bundle_from_proto(&message).expect("valid");
        assert_eq!(bundle.x509_authorities(), [ca.root()]);
        assert_eq!(bundle.sequence_number(), 7);
        assert_eq!(bundle.refresh_hint(), Some(Duration::from_secs(300)));

        let bad = pb::Bundle {
            x509_authorities: vec![pb::X509Certificate {
                asn1: vec![1, 2, 3],
                tainted: false,
            }],
            ..message
        };
        assert!(bundle_from_proto(&bad).is_err());
    }
}
