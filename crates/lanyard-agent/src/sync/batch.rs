//! Batches of the `lanyard.agent.v1` push stream: messages are gathered until the one
//! with `more == false`, then turned into one cache update.
//!
//! Within a batch, later messages win: an entry upserted and then removed is removed,
//! and the other way round. A full batch replaces every entry and federated bundle.

use std::collections::BTreeMap;

use lanyard_proto::lanyard::agent::v1::WatchAuthorizedResponse;
use lanyard_proto::spire::api::types as pb;
use lanyard_spiffe::{Bundle, TrustDomain};

use super::paging::parse_entries;
use crate::cache::{EntryUpdate, FederatedUpdate, SyncUpdate};
use crate::convert::{ConvertError, bundle_from_proto};

/// Why a batch cannot be applied. The stream is dropped and opened again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// A bundle in the batch cannot be parsed.
    #[error("the server sent an invalid bundle")]
    Bundle(#[source] ConvertError),
    /// The own bundle is for another trust domain or has no X.509 authority.
    #[error("the server sent an unusable bundle for its own trust domain")]
    OwnBundle,
    /// A full batch without the own bundle.
    #[error("a full batch came without the trust bundle")]
    FullWithoutBundle,
    /// A removed federated trust domain is not a trust domain name.
    #[error("the server named an invalid federated trust domain")]
    TrustDomain,
}

/// A complete batch, parsed and ready for [`Cache::apply_sync`](crate::cache::Cache::apply_sync).
#[derive(Debug, Clone)]
pub struct Batch {
    /// The cache change.
    pub update: SyncUpdate,
    /// The stream position after this batch.
    pub sequence: u64,
    /// Whether the batch listed the whole authorized set.
    pub full: bool,
    /// Entries the server sent that the agent cannot use (skipped and logged).
    pub skipped: usize,
}

/// Gathers the messages of one batch.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    full: bool,
    started: bool,
    entries: BTreeMap<String, Option<pb::Entry>>,
    bundle: Option<pb::Bundle>,
    federated: BTreeMap<String, Option<pb::Bundle>>,
}

impl BatchBuilder {
    /// Adds a message; returns the batch when `message` was its last.
    pub fn push(
        &mut self,
        message: WatchAuthorizedResponse,
        trust_domain: &TrustDomain,
    ) -> Option<Result<Batch, BatchError>> {
        if !self.started {
            self.started = true;
            self.full = message.full;
        }
        for id in message.removed_entry_ids {
            self.entries.insert(id, None);
        }
        for entry in message.upserted_entries {
            self.entries.insert(entry.id.clone(), Some(entry));
        }
        if message.bundle.is_some() {
            self.bundle = message.bundle;
        }
        for td in message.removed_federated_trust_domains {
            self.federated.insert(td, None);
        }
        for bundle in message.federated_bundles {
            self.federated
                .insert(bundle.trust_domain.clone(), Some(bundle));
        }
        if message.more {
            return None;
        }
        let builder = std::mem::take(self);
        Some(builder.finish(message.sequence, trust_domain))
    }

    /// Whether some message of an unfinished batch was received.
    pub fn is_pending(&self) -> bool {
        self.started
    }

    fn finish(self, sequence: u64, trust_domain: &TrustDomain) -> Result<Batch, BatchError> {
        let bundle = match &self.bundle {
            Some(bundle) => Some(own_bundle(bundle, trust_domain)?),
            None if self.full => return Err(BatchError::FullWithoutBundle),
            None => None,
        };

        let mut upserted = Vec::new();
        let mut removed_federated = Vec::new();
        for (name, bundle) in &self.federated {
            match bundle {
                Some(bundle) => {
                    upserted.push(bundle_from_proto(bundle).map_err(BatchError::Bundle)?)
                }
                None => removed_federated
                    .push(TrustDomain::from_name_or_id(name).map_err(|_| BatchError::TrustDomain)?),
            }
        }
        let federated = if self.full {
            Some(FederatedUpdate::Full(
                upserted
                    .into_iter()
                    .map(|bundle| (bundle.trust_domain().clone(), bundle))
                    .collect(),
            ))
        } else if upserted.is_empty() && removed_federated.is_empty() {
            None
        } else {
            Some(FederatedUpdate::Delta {
                upserted,
                removed: removed_federated,
            })
        };

        let mut removed = Vec::new();
        let mut raw = Vec::new();
        for (id, entry) in self.entries {
            match entry {
                Some(entry) => raw.push(entry),
                None => removed.push(id),
            }
        }
        let (upserted, skipped) = parse_entries(&raw);
        let entries = if self.full {
            Some(EntryUpdate::Full(upserted))
        } else if upserted.is_empty() && removed.is_empty() {
            None
        } else {
            Some(EntryUpdate::Delta { upserted, removed })
        };

        Ok(Batch {
            update: SyncUpdate {
                entries,
                bundle,
                federated,
            },
            sequence,
            full: self.full,
            skipped,
        })
    }
}

fn own_bundle(bundle: &pb::Bundle, trust_domain: &TrustDomain) -> Result<Bundle, BatchError> {
    let bundle = bundle_from_proto(bundle).map_err(BatchError::Bundle)?;
    if bundle.trust_domain() != trust_domain || bundle.x509_authorities().is_empty() {
        return Err(BatchError::OwnBundle);
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{TestCa, pb_bundle, pb_entry, td};

    fn message(more: bool) -> WatchAuthorizedResponse {
        WatchAuthorizedResponse {
            more,
            ..Default::default()
        }
    }

    #[test]
    fn a_batch_completes_only_with_its_last_message() {
        let own = td("example.org");
        let mut builder = BatchBuilder::default();
        let mut first = message(true);
        first.upserted_entries = vec![pb_entry("a", 1), pb_entry("b", 1)];
        assert!(builder.push(first, &own).is_none());
        assert!(builder.is_pending());

        let mut last = message(false);
        last.removed_entry_ids = vec!["a".into(), "gone".into()];
        last.sequence = 9;
        let batch = builder.push(last, &own).expect("complete").expect("valid");
        assert!(!builder.is_pending(), "the builder starts over");
        assert_eq!(batch.sequence, 9);
        let Some(EntryUpdate::Delta { upserted, removed }) = batch.update.entries else {
            panic!("delta expected");
        };
        let ids: Vec<&str> = upserted.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["b"], "a later removal wins over an earlier upsert");
        assert_eq!(removed, ["a", "gone"]);
        assert!(batch.update.bundle.is_none());
        assert!(batch.update.federated.is_none());
    }

    #[test]
    fn a_full_batch_replaces_entries_and_federated_bundles() {
        let own = td("example.org");
        let (ca, peer) = (TestCa::new("example.org"), TestCa::new("peer.org"));
        let mut builder = BatchBuilder::default();
        let mut first = message(true);
        first.full = true;
        first.bundle = Some(pb_bundle(&ca, "example.org", 3));
        first.upserted_entries = vec![pb_entry("a", 1)];
        assert!(builder.push(first, &own).is_none());
        let mut last = message(false);
        last.federated_bundles = vec![pb_bundle(&peer, "peer.org", 1)];
        let batch = builder.push(last, &own).expect("complete").expect("valid");

        assert!(batch.full);
        assert!(matches!(batch.update.entries, Some(EntryUpdate::Full(ref e)) if e.len() == 1));
        let mut expected = ca.bundle();
        expected.set_sequence_number(3);
        assert_eq!(batch.update.bundle, Some(expected));
        let Some(FederatedUpdate::Full(federated)) = batch.update.federated else {
            panic!("full federated update expected");
        };
        assert_eq!(federated.keys().collect::<Vec<_>>(), [&td("peer.org")]);
    }

    #[test]
    fn unusable_bundles_refuse_the_batch() {
        let own = td("example.org");
        let other = TestCa::new("other.org");

        let mut full = message(false);
        full.full = true;
        let mut builder = BatchBuilder::default();
        assert!(matches!(
            builder.push(full, &own),
            Some(Err(BatchError::FullWithoutBundle))
        ));

        let mut foreign = message(false);
        foreign.bundle = Some(pb_bundle(&other, "other.org", 1));
        assert!(matches!(
            builder.push(foreign, &own),
            Some(Err(BatchError::OwnBundle))
        ));

        let mut empty = message(false);
        empty.bundle = Some(pb::Bundle {
            trust_domain: "example.org".into(),
            ..Default::default()
        });
        assert!(matches!(
            builder.push(empty, &own),
            Some(Err(BatchError::OwnBundle))
        ));

        let mut garbage = message(false);
        garbage.federated_bundles = vec![pb::Bundle {
            trust_domain: "peer.org".into(),
            x509_authorities: vec![pb::X509Certificate {
                asn1: b"not a certificate".to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        }];
        assert!(matches!(
            builder.push(garbage, &own),
            Some(Err(BatchError::Bundle(_)))
        ));
    }

    #[test]
    fn federated_changes_are_deltas_outside_full_batches() {
        let own = td("example.org");
        let peer = TestCa::new("peer.org");
        let mut builder = BatchBuilder::default();
        let mut only = message(false);
        only.federated_bundles = vec![pb_bundle(&peer, "peer.org", 1)];
        only.removed_federated_trust_domains = vec!["old.org".into()];
        let batch = builder.push(only, &own).expect("complete").expect("valid");
        let Some(FederatedUpdate::Delta { upserted, removed }) = batch.update.federated else {
            panic!("delta expected");
        };
        assert_eq!(upserted.len(), 1);
        assert_eq!(removed, [td("old.org")]);
        assert!(batch.update.entries.is_none());
    }
}
