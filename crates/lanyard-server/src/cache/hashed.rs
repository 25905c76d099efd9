//! Entry IDs by the hash of a SPIFFE ID, for an index where nearly every entry has a
//! key of its own: it stores no copy of the key, and no allocation for a key that
//! one entry has. Two keys may share a hash, so a lookup yields candidates that the
//! caller checks against the entry.

use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::hash::{Hash, Hasher};

use lanyard_spiffe::SpiffeId;
use lanyard_store::model::EntryId;

/// Entry IDs by SPIFFE ID hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct HashedIds {
    map: HashMap<u64, Ids>,
}

/// The IDs under one hash, sorted (so equal contents compare equal).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ids {
    One(EntryId),
    Many(Vec<EntryId>),
}

impl HashedIds {
    /// Room for `n` keys.
    pub(super) fn with_capacity(n: usize) -> Self {
        Self {
            map: HashMap::with_capacity(n),
        }
    }

    pub(super) fn insert(&mut self, key: &SpiffeId, id: EntryId) {
        match self.map.entry(hash(key)) {
            Entry::Vacant(slot) => {
                slot.insert(Ids::One(id));
            }
            Entry::Occupied(mut slot) => {
                let ids = slot.get_mut();
                match ids {
                    Ids::One(one) if *one == id => {}
                    Ids::One(one) => {
                        let mut many = vec![one.clone(), id];
                        many.sort();
                        *ids = Ids::Many(many);
                    }
                    Ids::Many(many) => {
                        if let Err(at) = many.binary_search(&id) {
                            many.insert(at, id);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn remove(&mut self, key: &SpiffeId, id: &EntryId) {
        let Entry::Occupied(mut slot) = self.map.entry(hash(key)) else {
            return;
        };
        let ids = slot.get_mut();
        match ids {
            Ids::One(one) if one == id => {
                slot.remove();
            }
            Ids::One(_) => {}
            Ids::Many(many) => {
                if let Ok(at) = many.binary_search(id) {
                    many.remove(at);
                }
                match many.as_slice() {
                    [] => {
                        slot.remove();
                    }
                    [one] => *ids = Ids::One(one.clone()),
                    _ => {}
                }
            }
        }
    }

    /// The IDs stored under `key`'s hash: those of `key`, and maybe others.
    pub(super) fn candidates(&self, key: &SpiffeId) -> &[EntryId] {
        match self.map.get(&hash(key)) {
            None => &[],
            Some(Ids::One(one)) => std::slice::from_ref(one),
            Some(Ids::Many(many)) => many,
        }
    }
}

/// A fixed-key hash, so two indexes with the same content are equal.
fn hash(key: &SpiffeId) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.as_str().hash(&mut hasher);
    hasher.finish()
}
