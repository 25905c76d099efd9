//! Sets of selectors and the ways SPIRE matches them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Selector, SelectorError};

/// How a selector set is compared with a filter (SPIRE's `ListEntries`
/// `MatchBehavior`, and `-matchSelectorsOn` in its CLI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SelectorMatch {
    /// The set equals the filter.
    Exact,
    /// The set is a subset of the filter (every selector of the set is in the filter).
    Subset,
    /// The set is a superset of the filter (every selector of the filter is in the set).
    Superset,
    /// The set and the filter share at least one selector.
    Any,
}

impl SelectorMatch {
    /// The lower-case name: `exact`, `subset`, `superset` or `any`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Subset => "subset",
            Self::Superset => "superset",
            Self::Any => "any",
        }
    }
}

impl fmt::Display for SelectorMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SelectorMatch {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "exact" => Ok(Self::Exact),
            "subset" => Ok(Self::Subset),
            "superset" => Ok(Self::Superset),
            "any" => Ok(Self::Any),
            other => Err(SelectorError::UnknownMatchMode(other.to_owned())),
        }
    }
}

/// A sorted set of selectors without duplicates.
///
/// serde uses a sequence of `type:value` strings; deserializing sorts and
/// removes duplicates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SelectorSet {
    // Sorted and de-duplicated at all times.
    selectors: Vec<Selector>,
}

impl SelectorSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a selector; returns whether it was not already present.
    pub fn insert(&mut self, selector: Selector) -> bool {
        match self.selectors.binary_search(&selector) {
            Ok(_) => false,
            Err(at) => {
                self.selectors.insert(at, selector);
                true
            }
        }
    }

    /// The selectors in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Selector> {
        self.selectors.iter()
    }

    /// The selectors in order, as a slice.
    pub fn as_slice(&self) -> &[Selector] {
        &self.selectors
    }

    /// Number of selectors.
    pub fn len(&self) -> usize {
        self.selectors.len()
    }

    /// Whether the set has no selectors.
    pub fn is_empty(&self) -> bool {
        self.selectors.is_empty()
    }

    /// Whether `selector` is in the set.
    pub fn contains(&self, selector: &Selector) -> bool {
        self.selectors.binary_search(selector).is_ok()
    }

    /// Whether every selector of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.len() <= other.len() && self.iter().all(|s| other.contains(s))
    }

    /// Whether every selector of `other` is in `self`.
    pub fn is_superset_of(&self, other: &Self) -> bool {
        other.is_subset_of(self)
    }

    /// Whether `self` and `other` share at least one selector.
    pub fn intersects(&self, other: &Self) -> bool {
        let (small, large) = if self.len() <= other.len() {
            (self, other)
        } else {
            (other, self)
        };
        small.iter().any(|s| large.contains(s))
    }

    /// `self` (e.g. an entry's selectors) against a filter: Exact = same set,
    /// Subset = self ⊆ filter, Superset = self ⊇ filter, Any = at least one in common.
    pub fn matches(&self, filter: &Self, mode: SelectorMatch) -> bool {
        match mode {
            SelectorMatch::Exact => self == filter,
            SelectorMatch::Subset => self.is_subset_of(filter),
            SelectorMatch::Superset => self.is_superset_of(filter),
            SelectorMatch::Any => self.intersects(filter),
        }
    }
}

impl FromIterator<Selector> for SelectorSet {
    fn from_iter<I: IntoIterator<Item = Selector>>(iter: I) -> Self {
        let mut selectors: Vec<Selector> = iter.into_iter().collect();
        selectors.sort_unstable();
        selectors.dedup();
        Self { selectors }
    }
}

impl Extend<Selector> for SelectorSet {
    fn extend<I: IntoIterator<Item = Selector>>(&mut self, iter: I) {
        self.selectors.extend(iter);
        self.selectors.sort_unstable();
        self.selectors.dedup();
    }
}

impl From<Vec<Selector>> for SelectorSet {
    fn from(selectors: Vec<Selector>) -> Self {
        selectors.into_iter().collect()
    }
}

impl IntoIterator for SelectorSet {
    type Item = Selector;
    type IntoIter = std::vec::IntoIter<Selector>;

    fn into_iter(self) -> Self::IntoIter {
        self.selectors.into_iter()
    }
}

impl<'a> IntoIterator for &'a SelectorSet {
    type Item = &'a Selector;
    type IntoIter = std::slice::Iter<'a, Selector>;

    fn into_iter(self) -> Self::IntoIter {
        self.selectors.iter()
    }
}

impl Serialize for SelectorSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.selectors.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SelectorSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Selector>::deserialize(deserializer)?.into())
    }
}
