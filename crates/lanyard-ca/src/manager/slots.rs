//! Slot moves shared by X.509 CAs and JWT keys.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{MAX_ACTIVATE_LEAD, MAX_PREPARE_LEAD};
use crate::journal::{EntryMeta, JwtEntry, Slot, Slots, Status, X509Entry};

/// A journal record of either kind.
pub(super) trait Record: Clone {
    fn meta(&self) -> &EntryMeta;
    fn meta_mut(&mut self) -> &mut EntryMeta;
}

impl Record for X509Entry {
    fn meta(&self) -> &EntryMeta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut EntryMeta {
        &mut self.meta
    }
}

impl Record for JwtEntry {
    fn meta(&self) -> &EntryMeta {
        &self.meta
    }

    fn meta_mut(&mut self) -> &mut EntryMeta {
        &mut self.meta
    }
}

/// The usable authorities behind the journal's active and prepared records.
#[derive(Debug)]
pub(super) struct Loaded<A> {
    pub(super) active: Option<Arc<A>>,
    pub(super) prepared: Option<Arc<A>>,
}

impl<A> Clone for Loaded<A> {
    fn clone(&self) -> Self {
        Self {
            active: self.active.clone(),
            prepared: self.prepared.clone(),
        }
    }
}

impl<A> Default for Loaded<A> {
    fn default() -> Self {
        Self {
            active: None,
            prepared: None,
        }
    }
}

/// When the next authority should be prepared: `min(lifetime/2, 30d)` before expiry.
pub(super) fn prepare_at(meta: &EntryMeta) -> SystemTime {
    meta.not_after() - (lifetime(meta) / 2).min(MAX_PREPARE_LEAD)
}

/// When the prepared authority should take over: `min(lifetime/6, 7d)` before expiry.
pub(super) fn activate_at(meta: &EntryMeta) -> SystemTime {
    meta.not_after() - (lifetime(meta) / 6).min(MAX_ACTIVATE_LEAD)
}

/// The slot a new authority goes into: never the active one's.
pub(super) fn slot_for_next<E: Record>(slots: &Slots<E>) -> Slot {
    match (&slots.active, &slots.next) {
        (Some(active), _) => active.meta().slot.other(),
        (None, Some(next)) => next.meta().slot.other(),
        (None, None) => Slot::A,
    }
}

pub(super) fn is_prepared<E: Record>(slots: &Slots<E>) -> bool {
    slots
        .next
        .as_ref()
        .is_some_and(|next| next.meta().status == Status::Prepared)
}

/// Puts a freshly prepared authority in the next slot; whatever was there
/// is retired (it stays published until it expires).
pub(super) fn install_prepared<E: Record, A>(
    slots: &mut Slots<E>,
    loaded: &mut Loaded<A>,
    entry: E,
    authority: Arc<A>,
) {
    if let Some(previous) = slots.next.take() {
        retire(slots, previous);
    }
    slots.next = Some(entry);
    loaded.prepared = Some(authority);
}

/// Swaps the prepared authority in; the active one becomes old. Returns
/// false (and changes nothing) when nothing is prepared.
pub(super) fn activate<E: Record, A>(slots: &mut Slots<E>, loaded: &mut Loaded<A>) -> bool {
    if !is_prepared(slots) || loaded.prepared.is_none() {
        return false;
    }
    let (Some(mut next), Some(prepared)) = (slots.next.take(), loaded.prepared.take()) else {
        return false;
    };

    if let Some(mut old) = slots.active.take() {
        old.meta_mut().status = Status::Old;
        slots.next = Some(old);
    }
    next.meta_mut().status = Status::Active;
    slots.active = Some(next);
    loaded.active = Some(prepared);
    true
}

/// Retires authorities that expired (they can no longer sign) and removes
/// records that expired more than `grace` ago. Returns the removed records.
pub(super) fn prune<E: Record, A>(
    slots: &mut Slots<E>,
    loaded: &mut Loaded<A>,
    now: SystemTime,
    grace: Duration,
) -> Vec<E> {
    if slots
        .active
        .as_ref()
        .is_some_and(|a| a.meta().not_after() <= now)
    {
        if let Some(expired) = slots.active.take() {
            retire(slots, expired);
        }
        loaded.active = None;
    }
    if slots
        .next
        .as_ref()
        .is_some_and(|n| n.meta().status == Status::Prepared && n.meta().not_after() <= now)
    {
        if let Some(expired) = slots.next.take() {
            retire(slots, expired);
        }
        loaded.prepared = None;
    }

    let gone = |record: &E| crate::x509::template::later(record.meta().not_after(), grace) <= now;
    let mut pruned = Vec::new();
    if slots.next.as_ref().is_some_and(gone) {
        pruned.extend(slots.next.take());
    }
    let (expired, kept): (Vec<E>, Vec<E>) = slots.retired.drain(..).partition(gone);
    slots.retired = kept;
    pruned.extend(expired);
    pruned
}

/// Every record of the kind, newest states first.
pub(super) fn all<E: Record>(slots: &Slots<E>) -> impl Iterator<Item = &E> {
    slots
        .active
        .iter()
        .chain(slots.next.iter())
        .chain(slots.retired.iter())
}

pub(super) fn retire<E: Record>(slots: &mut Slots<E>, mut record: E) {
    record.meta_mut().status = Status::Old;
    slots.retired.push(record);
}

fn lifetime(meta: &EntryMeta) -> Duration {
    meta.not_after()
        .duration_since(meta.issued_at())
        .unwrap_or(Duration::ZERO)
}
