//! Turning a [`Delta`] into the messages of one batch: every message but the last
//! has `more` set, the last carries the batch's sequence, and items are packed so
//! that no message exceeds [`MESSAGE_BYTES`] (a single larger item travels alone).

use lanyard_proto::lanyard::agent::v1::WatchAuthorizedResponse;
use prost::Message;

use super::view::Delta;
use crate::api::types::{bundle_to_proto, entry_to_proto};

/// Most encoded bytes per message, well under gRPC's 4 MiB default limit.
pub(super) const MESSAGE_BYTES: usize = 2 * 1024 * 1024;

/// Bytes a repeated field adds around each item (tag and length prefix), at most.
const ITEM_OVERHEAD: usize = 8;

/// The messages of the batch that brings an agent to `sequence` with `delta`.
pub(super) fn batch_messages(delta: &Delta, sequence: u64) -> Vec<WatchAuthorizedResponse> {
    let mut packer = Packer::default();
    packer.current.full = delta.full;
    if let Some(bundle) = &delta.bundle {
        let bundle = bundle_to_proto(bundle, None);
        packer.reserve(bundle.encoded_len());
        packer.current.bundle = Some(bundle);
    }
    for id in &delta.removed {
        packer.reserve(id.as_str().len());
        packer.current.removed_entry_ids.push(id.to_string());
    }
    for td in &delta.removed_federated {
        packer.reserve(td.as_str().len());
        packer
            .current
            .removed_federated_trust_domains
            .push(td.to_string());
    }
    for bundle in &delta.federated {
        let bundle = bundle_to_proto(bundle, None);
        packer.reserve(bundle.encoded_len());
        packer.current.federated_bundles.push(bundle);
    }
    for entry in &delta.upserted {
        let entry = entry_to_proto(entry, None);
        packer.reserve(entry.encoded_len());
        packer.current.upserted_entries.push(entry);
    }
    packer.finish(sequence)
}

/// Fills messages in order, starting a new one when the next item would not fit.
#[derive(Default)]
struct Packer {
    done: Vec<WatchAuthorizedResponse>,
    current: WatchAuthorizedResponse,
    bytes: usize,
}

impl Packer {
    /// Makes room for an item of `len` encoded bytes in the current message.
    fn reserve(&mut self, len: usize) {
        let size = len + ITEM_OVERHEAD;
        if self.bytes > 0 && self.bytes + size > MESSAGE_BYTES {
            let mut full = std::mem::take(&mut self.current);
            full.more = true;
            self.done.push(full);
            self.bytes = 0;
        }
        self.bytes += size;
    }

    fn finish(mut self, sequence: u64) -> Vec<WatchAuthorizedResponse> {
        self.current.sequence = sequence;
        self.done.push(self.current);
        self.done
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lanyard_spiffe::{Selector, SelectorSet, SpiffeId};
    use lanyard_store::model::{EntryId, EntrySpec, RegistrationEntry};
    use time::OffsetDateTime;

    use super::*;

    fn entry(n: usize, hint_len: usize) -> Arc<RegistrationEntry> {
        let id = |s: &str| SpiffeId::parse(s).expect("valid id");
        let selectors: SelectorSet = [Selector::parse("unix:uid:0").expect("selector")]
            .into_iter()
            .collect();
        let mut spec = EntrySpec::new(
            id(&format!("spiffe://example.org/w/{n}")),
            id("spiffe://example.org/spire/agent/x"),
            selectors,
        );
        spec.hint = "h".repeat(hint_len);
        Arc::new(RegistrationEntry {
            id: EntryId::parse(&format!("entry-{n}")).expect("entry id"),
            revision_number: 0,
            created_at: OffsetDateTime::UNIX_EPOCH,
            spec,
        })
    }

    #[test]
    fn an_empty_delta_is_one_final_message_with_the_sequence() {
        let messages = batch_messages(&Delta::default(), 42);
        assert_eq!(messages.len(), 1);
        assert!(!messages[0].more);
        assert_eq!(messages[0].sequence, 42);
    }

    #[test]
    fn large_batches_are_split_under_the_message_limit() {
        let delta = Delta {
            full: true,
            upserted: (0..9).map(|n| entry(n, MESSAGE_BYTES / 4)).collect(),
            removed: vec![EntryId::parse("gone").expect("entry id")],
            ..Delta::default()
        };
        let messages = batch_messages(&delta, 7);

        assert!(messages.len() >= 3, "{} messages", messages.len());
        for (i, message) in messages.iter().enumerate() {
            let last = i + 1 == messages.len();
            assert!(
                message.encoded_len() <= MESSAGE_BYTES,
                "message {i} too large"
            );
            assert_eq!(message.more, !last);
            assert_eq!(message.sequence, if last { 7 } else { 0 });
            assert_eq!(message.full, i == 0);
        }
        let ids: Vec<&str> = messages
            .iter()
            .flat_map(|m| m.upserted_entries.iter().map(|e| e.id.as_str()))
            .collect();
        let expected: Vec<String> = (0..9).map(|n| format!("entry-{n}")).collect();
        assert_eq!(ids, expected);
        assert_eq!(messages[0].removed_entry_ids, ["gone"]);
    }

    #[test]
    fn an_item_larger_than_the_limit_travels_alone() {
        let delta = Delta {
            upserted: vec![entry(0, 10), entry(1, MESSAGE_BYTES), entry(2, 10)],
            ..Delta::default()
        };
        let counts: Vec<usize> = batch_messages(&delta, 1)
            .iter()
            .map(|m| m.upserted_entries.len())
            .collect();
        assert_eq!(counts, [1, 1, 1]);
    }
}
