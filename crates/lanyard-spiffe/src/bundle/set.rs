//! Bundles keyed by trust domain, and the SPIFFE bundle map JSON.

use std::collections::BTreeMap;
use std::collections::btree_map;

use serde_json::{Map, Value};

use super::json::parse_bundle_object;
use super::{Bundle, BundleError};
use crate::json::parse_object;
use crate::{SpiffeId, TrustDomain};

/// Bundles keyed by trust domain: at most one bundle per trust domain, so an SVID
/// is only ever checked against its own trust domain's bundle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BundleSet {
    bundles: BTreeMap<TrustDomain, Bundle>,
}

impl BundleSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `bundle` under its trust domain; returns the bundle it replaced.
    pub fn insert(&mut self, bundle: Bundle) -> Option<Bundle> {
        self.bundles.insert(bundle.trust_domain().clone(), bundle)
    }

    /// The bundle of `trust_domain`.
    pub fn get(&self, trust_domain: &TrustDomain) -> Option<&Bundle> {
        self.bundles.get(trust_domain)
    }

    /// The bundle of `id`'s trust domain.
    pub fn get_for_id(&self, id: &SpiffeId) -> Option<&Bundle> {
        self.bundles.get(id.trust_domain())
    }

    /// Removes and returns the bundle of `trust_domain`.
    pub fn remove(&mut self, trust_domain: &TrustDomain) -> Option<Bundle> {
        self.bundles.remove(trust_domain)
    }

    /// Whether a bundle for `trust_domain` is present.
    pub fn contains(&self, trust_domain: &TrustDomain) -> bool {
        self.bundles.contains_key(trust_domain)
    }

    /// The bundles, ordered by trust domain.
    pub fn iter(&self) -> btree_map::Values<'_, TrustDomain, Bundle> {
        self.bundles.values()
    }

    /// The trust domains, in order.
    pub fn trust_domains(&self) -> btree_map::Keys<'_, TrustDomain, Bundle> {
        self.bundles.keys()
    }

    /// Number of bundles.
    pub fn len(&self) -> usize {
        self.bundles.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }

    /// Parses a SPIFFE bundle map: `{"trust_domains": {"<name>": <bundle>, ...}}`.
    ///
    /// `trust_domains` is required (it may be empty); a duplicate key anywhere in
    /// the document is rejected.
    pub fn parse_bundle_map_json(json: &[u8]) -> Result<Self, BundleError> {
        let doc = parse_object(json)?;
        let Some(Value::Object(entries)) = doc.get("trust_domains") else {
            return Err(BundleError::MissingTrustDomains);
        };

        let mut set = Self::new();
        for (name, value) in entries {
            let trust_domain =
                TrustDomain::new(name).map_err(|source| BundleError::BadTrustDomain {
                    name: name.clone(),
                    source,
                })?;
            let in_map = |source| BundleError::InMap {
                trust_domain: trust_domain.clone(),
                source: Box::new(source),
            };
            let object = value
                .as_object()
                .ok_or_else(|| in_map(BundleError::KeysNotArray))?;
            let bundle = parse_bundle_object(trust_domain.clone(), object).map_err(in_map)?;
            set.insert(bundle);
        }
        Ok(set)
    }

    /// Writes the set as a SPIFFE bundle map. Per-bundle refresh hints are left
    /// out, as the bundle map rules advise.
    pub fn to_bundle_map_json(&self) -> Result<String, BundleError> {
        let mut entries = Map::new();
        for bundle in self.iter() {
            let object = bundle.to_json_object(false)?;
            entries.insert(bundle.trust_domain().to_string(), Value::Object(object));
        }
        let mut doc = Map::new();
        doc.insert("trust_domains".into(), Value::Object(entries));
        Ok(Value::Object(doc).to_string())
    }
}

impl FromIterator<Bundle> for BundleSet {
    fn from_iter<I: IntoIterator<Item = Bundle>>(iter: I) -> Self {
        let mut set = Self::new();
        for bundle in iter {
            set.insert(bundle);
        }
        set
    }
}

impl Extend<Bundle> for BundleSet {
    fn extend<I: IntoIterator<Item = Bundle>>(&mut self, iter: I) {
        for bundle in iter {
            self.insert(bundle);
        }
    }
}

impl<'a> IntoIterator for &'a BundleSet {
    type Item = &'a Bundle;
    type IntoIter = btree_map::Values<'a, TrustDomain, Bundle>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
