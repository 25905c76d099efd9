//! The in-memory index behind the entry cache: entries by ID, by parent ID and by
//! selector, node aliases by selector, and the attested nodes' selectors.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use lanyard_spiffe::{Selector, SelectorSet, SpiffeId};
use lanyard_store::model::{AttestedNode, EntryId, RegistrationEntry};
use time::OffsetDateTime;

use super::hashed::HashedIds;

/// Entries and nodes, indexed for the authorization queries agents need.
///
/// A node alias is an entry parented to the server's own ID
/// (`spiffe://<td>/spire/server`); a node belongs to it when every selector of the
/// alias is among the node's selectors.
///
/// The authorization queries treat an entry past its `expires_at` as absent (and
/// nothing is reached through it) from the moment it expires, before housekeeping
/// deletes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryIndex {
    server_id: SpiffeId,
    entries: HashMap<EntryId, Arc<RegistrationEntry>>,
    by_parent: HashMap<SpiffeId, BTreeSet<EntryId>>,
    by_spiffe_id: HashedIds,
    by_selector: HashMap<Selector, BTreeSet<EntryId>>,
    aliases_by_selector: HashMap<Selector, BTreeSet<EntryId>>,
    nodes: HashMap<SpiffeId, Arc<AttestedNode>>,
}

impl EntryIndex {
    /// An empty index for the server whose ID is `server_id`.
    pub fn new(server_id: SpiffeId) -> Self {
        Self {
            server_id,
            entries: HashMap::new(),
            by_parent: HashMap::new(),
            by_spiffe_id: HashedIds::default(),
            by_selector: HashMap::new(),
            aliases_by_selector: HashMap::new(),
            nodes: HashMap::new(),
        }
    }

    /// An index holding exactly `entries` and `nodes` (a full load).
    pub fn from_records(
        server_id: SpiffeId,
        entries: impl IntoIterator<Item = RegistrationEntry>,
        nodes: impl IntoIterator<Item = AttestedNode>,
    ) -> Self {
        let entries = entries.into_iter();
        let (count, _) = entries.size_hint();
        // Sized up front: growing would rehash every key already in.
        let mut index = Self {
            entries: HashMap::with_capacity(count),
            by_spiffe_id: HashedIds::with_capacity(count),
            ..Self::new(server_id)
        };
        for entry in entries {
            index.upsert_entry(entry);
        }
        for node in nodes {
            index.upsert_node(node);
        }
        index
    }

    /// The server ID that marks node aliases.
    pub fn server_id(&self) -> &SpiffeId {
        &self.server_id
    }

    /// Number of registration entries.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Number of attested nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The entry with ID `id`.
    pub fn entry(&self, id: &EntryId) -> Option<Arc<RegistrationEntry>> {
        self.entries.get(id).cloned()
    }

    /// The attested node with agent ID `id`.
    pub fn node(&self, id: &SpiffeId) -> Option<Arc<AttestedNode>> {
        self.nodes.get(id).cloned()
    }

    /// The entries whose parent is `parent_id`, ordered by entry ID.
    pub fn children(&self, parent_id: &SpiffeId) -> Vec<Arc<RegistrationEntry>> {
        self.collect(self.by_parent.get(parent_id).into_iter().flatten())
    }

    /// The entries that have `selector` among their selectors, ordered by entry ID.
    pub fn with_selector(&self, selector: &Selector) -> Vec<Arc<RegistrationEntry>> {
        self.collect(self.by_selector.get(selector).into_iter().flatten())
    }

    /// The node aliases a node with `node_selectors` belongs to, ordered by entry ID.
    pub fn node_aliases(&self, node_selectors: &SelectorSet) -> Vec<Arc<RegistrationEntry>> {
        let mut hits: BTreeMap<&EntryId, usize> = BTreeMap::new();
        for selector in node_selectors {
            for id in self.aliases_by_selector.get(selector).into_iter().flatten() {
                *hits.entry(id).or_default() += 1;
            }
        }

        // Selector sets hold no duplicates, so a full count means "all present".
        let now = OffsetDateTime::now_utc();
        hits.into_iter()
            .filter_map(|(id, count)| {
                self.entries
                    .get(id)
                    .filter(|e| is_live(e, now))
                    .filter(|e| e.spec.selectors.len() == count)
            })
            .cloned()
            .collect()
    }

    /// Every entry reachable from `roots` through parent links (children, their
    /// children, and so on), each once, ordered by entry ID. Cycles end the walk.
    pub fn descendants<'a>(
        &self,
        roots: impl IntoIterator<Item = &'a SpiffeId>,
    ) -> Vec<Arc<RegistrationEntry>> {
        let mut expanded: HashSet<&SpiffeId> = HashSet::new();
        let mut queue: VecDeque<&SpiffeId> = roots.into_iter().collect();
        let mut found: BTreeSet<&EntryId> = BTreeSet::new();
        let now = OffsetDateTime::now_utc();

        while let Some(parent) = queue.pop_front() {
            if !expanded.insert(parent) {
                continue;
            }
            for id in self.by_parent.get(parent).into_iter().flatten() {
                let Some(entry) = self.entries.get(id).filter(|e| is_live(e, now)) else {
                    continue;
                };
                if found.insert(id) {
                    queue.push_back(&entry.spec.spiffe_id);
                }
            }
        }
        self.collect(found)
    }

    /// `ids` and every ID above them: the parent IDs of the entries whose SPIFFE ID
    /// is one of them, their parents, and so on up to the roots. Expired entries are
    /// walked too (an over-approximation); cycles end the walk.
    pub fn ancestors<'a>(&self, ids: impl IntoIterator<Item = &'a SpiffeId>) -> HashSet<SpiffeId> {
        let mut found: HashSet<SpiffeId> = HashSet::new();
        let mut queue: VecDeque<&SpiffeId> = ids.into_iter().collect();
        while let Some(id) = queue.pop_front() {
            if found.contains(id) {
                continue;
            }
            found.insert(id.clone());
            for candidate in self.by_spiffe_id.candidates(id) {
                if let Some(entry) = self
                    .entries
                    .get(candidate)
                    .filter(|e| e.spec.spiffe_id == *id)
                {
                    queue.push_back(&entry.spec.parent_id);
                }
            }
        }
        found
    }

    /// The entries agent `agent_id` may serve when its node has `node_selectors`:
    /// the descendants of the agent's own ID and of every node alias it belongs to.
    pub fn authorized_entries(
        &self,
        agent_id: &SpiffeId,
        node_selectors: &SelectorSet,
    ) -> Vec<Arc<RegistrationEntry>> {
        let aliases = self.node_aliases(node_selectors);
        let roots = std::iter::once(agent_id).chain(aliases.iter().map(|a| &a.spec.spiffe_id));
        self.descendants(roots)
    }

    /// [`Self::authorized_entries`] with the selectors of the attested node
    /// `agent_id` as cached (none when the node is unknown).
    pub fn authorized_entries_for_agent(&self, agent_id: &SpiffeId) -> Vec<Arc<RegistrationEntry>> {
        let empty = SelectorSet::new();
        let selectors = self.nodes.get(agent_id).map_or(&empty, |n| &n.selectors);
        self.authorized_entries(agent_id, selectors)
    }

    /// The entry `id` if agent `agent_id`, whose node has `node_selectors`, is
    /// authorized for it: the same answer as looking it up in
    /// [`Self::authorized_entries`], found by walking parent links up from the
    /// entry instead of building the whole set.
    pub fn authorized_entry(
        &self,
        agent_id: &SpiffeId,
        node_selectors: &SelectorSet,
        id: &EntryId,
    ) -> Option<Arc<RegistrationEntry>> {
        let now = OffsetDateTime::now_utc();
        let entry = self.entries.get(id).filter(|e| is_live(e, now))?;
        let aliases = self.node_aliases(node_selectors);
        let roots: HashSet<&SpiffeId> = std::iter::once(agent_id)
            .chain(aliases.iter().map(|a| &a.spec.spiffe_id))
            .collect();

        // An entry is authorized when its parent is a root or the SPIFFE ID of
        // an authorized entry; walk up, visiting each parent ID once.
        let mut visited: HashSet<&SpiffeId> = HashSet::new();
        let mut queue: VecDeque<&SpiffeId> = VecDeque::from([&entry.spec.parent_id]);
        while let Some(parent) = queue.pop_front() {
            if roots.contains(parent) {
                return Some(entry.clone());
            }
            if !visited.insert(parent) {
                continue;
            }
            for above in self.by_spiffe_id.candidates(parent) {
                if let Some(above) = self
                    .entries
                    .get(above)
                    .filter(|e| e.spec.spiffe_id == *parent && is_live(e, now))
                {
                    queue.push_back(&above.spec.parent_id);
                }
            }
        }
        None
    }

    /// Inserts or replaces an entry.
    pub fn upsert_entry(&mut self, entry: RegistrationEntry) {
        self.remove_entry(&entry.id);

        let id = entry.id.clone();
        let is_alias = entry.spec.parent_id == self.server_id;
        self.by_parent
            .entry(entry.spec.parent_id.clone())
            .or_default()
            .insert(id.clone());
        self.by_spiffe_id.insert(&entry.spec.spiffe_id, id.clone());
        for selector in &entry.spec.selectors {
            self.by_selector
                .entry(selector.clone())
                .or_default()
                .insert(id.clone());
            if is_alias {
                self.aliases_by_selector
                    .entry(selector.clone())
                    .or_default()
                    .insert(id.clone());
            }
        }
        self.entries.insert(id, Arc::new(entry));
    }

    /// Removes an entry; returns whether it was present.
    pub fn remove_entry(&mut self, id: &EntryId) -> bool {
        let Some(old) = self.entries.remove(id) else {
            return false;
        };

        remove_posting(&mut self.by_parent, &old.spec.parent_id, id);
        self.by_spiffe_id.remove(&old.spec.spiffe_id, id);
        for selector in &old.spec.selectors {
            remove_posting(&mut self.by_selector, selector, id);
            remove_posting(&mut self.aliases_by_selector, selector, id);
        }
        true
    }

    /// Inserts or replaces a node.
    pub fn upsert_node(&mut self, node: AttestedNode) {
        self.nodes.insert(node.spiffe_id.clone(), Arc::new(node));
    }

    /// Removes a node; returns whether it was present.
    pub fn remove_node(&mut self, id: &SpiffeId) -> bool {
        self.nodes.remove(id).is_some()
    }

    fn collect<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a EntryId>,
    ) -> Vec<Arc<RegistrationEntry>> {
        ids.into_iter()
            .filter_map(|id| self.entries.get(id))
            .cloned()
            .collect()
    }
}

/// Whether `entry` has not expired at `now`.
fn is_live(entry: &RegistrationEntry, now: OffsetDateTime) -> bool {
    entry
        .spec
        .expires_at
        .is_none_or(|expires_at| expires_at > now)
}

/// Removes `id` from the posting list under `key`, dropping the list when it
/// empties (so two indexes with the same content compare equal).
fn remove_posting<K>(map: &mut HashMap<K, BTreeSet<EntryId>>, key: &K, id: &EntryId)
where
    K: std::hash::Hash + Eq,
{
    if let Some(ids) = map.get_mut(key) {
        ids.remove(id);
        if ids.is_empty() {
            map.remove(key);
        }
    }
}
