//! Federation relationships: where to fetch another trust domain's bundle.

use lanyard_spiffe::{SpiffeId, TrustDomain};
use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationRelationship {
    pub trust_domain: TrustDomain,
    pub bundle_endpoint_url: Url,
    pub profile: BundleEndpointProfile,
}

/// How the bundle endpoint authenticates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum BundleEndpointProfile {
    /// Web PKI (a publicly trusted TLS certificate).
    HttpsWeb,
    /// An X509-SVID for `endpoint_spiffe_id` from the federated trust domain.
    HttpsSpiffe { endpoint_spiffe_id: SpiffeId },
}

impl BundleEndpointProfile {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::HttpsWeb => "https_web",
            Self::HttpsSpiffe { .. } => "https_spiffe",
        }
    }
}
