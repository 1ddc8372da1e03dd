//! What a grouping keeps per key and per window.
//!
//! Keys are interned into a slab: a [`KeyId`] is a slot plus a generation, so timers
//! refer to windows with two integers instead of a key string, and a timer that
//! outlives its key can never wake the slot's next tenant.
//!
//! Every mutable access to a key's windows marks the key dirty, so that a
//! checkpoint writes exactly the keys that may have changed since the last one.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::pane::PaneInfo;
use crate::record::{Key, Value};
use crate::time::Timestamp;
use crate::trigger::TriggerState;
use crate::window::Window;

/// A key's slot in a grouping, valid while the key has windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct KeyId {
    slot: u32,
    generation: u32,
}

/// One window of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Target {
    /// The key.
    pub key: KeyId,
    /// The window.
    pub window: Window,
}

/// One window of one key as queues know it: by the window's id, which survives
/// merges that change the window's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimerTarget {
    /// The key.
    pub key: KeyId,
    /// The window's id.
    pub id: u64,
}

/// The queues a window can have an entry in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueueKind {
    /// Trigger timers on the watermark.
    Event = 0,
    /// The garbage-collection timer.
    Gc = 1,
    /// Trigger timers on the processing clock.
    Processing = 2,
    /// Holds on the output watermark.
    Hold = 3,
}

/// Marks a queue in which a window has no entry.
pub(crate) const NOT_QUEUED: Timestamp = Timestamp::MAX;

/// The last pane a window emitted, kept in retracting mode to withdraw it later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct EmittedPane {
    /// The pane's value.
    #[serde(with = "crate::state::json")]
    pub value: Value,
    /// The pane's timestamp.
    pub timestamp: Timestamp,
    /// The pane's info.
    pub pane: PaneInfo,
}

/// Marks a window that has no input group in the bundle being processed.
pub(crate) const NO_GROUP: u32 = u32::MAX;

/// Everything kept for one (key, window). Fields every record touches come first;
/// the rest live in [`Rare`], allocated only for windows that need it.
///
/// For each field: what it holds; how it merges when windows merge
/// (`GroupByKeyAndWindow::merge_group`: "the result" is the merged window's own
/// earlier state when it was already active, "the donor" the source the merged
/// window grew from); and when it is cleared. A window's whole state is dropped at
/// its garbage-collection time. The serde layout is positional (postcard): a change
/// to it needs a new checkpoint format ([`crate::state`]).
///
/// A checkpoint stores all of it but the queue bookkeeping, which a restore rebuilds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WindowState<A> {
    /// The window. Merges: the merged window. Never changes.
    pub window: Window,
    /// The window's id in timer queues. Merges: the donor's, so that a growing
    /// session keeps its queue entries. Not stored; a restore numbers windows anew.
    #[serde(skip)]
    pub id: u64,
    /// Per [`QueueKind`], the time of the window's entry in that queue, or
    /// [`NOT_QUEUED`]. Merges: the donor's. Reset as entries surface
    /// (`timers::resolve`). Not stored.
    #[serde(skip, default = "not_queued")]
    pub queued: [Timestamp; 4],
    /// This window's input group in the bundle being processed, or [`NO_GROUP`].
    /// Set while a bundle is routed, reset when its arrivals are recorded. Not stored.
    #[serde(skip, default = "no_group")]
    pub group: u32,
    /// The trigger finished: the window takes no more data until it is collected.
    /// Merges: closed windows do not merge (merging into a closed result drops the
    /// sources). Set by the final pane; never cleared.
    pub closed: bool,
    /// Something arrived since the last pane. Merges: any source's. Cleared by every
    /// pane.
    pub has_new_content: bool,
    /// `acc` no longer reflects the retained inputs and must be recomputed. Merges:
    /// any source's. Cleared by the recompute before a pane.
    pub acc_stale: bool,
    /// The combined output time of the buffered elements that hold the output
    /// watermark ([`super::hold`]). Merges: combined by the timestamp combiner (an
    /// end-of-window hold moves to the merged window's end). Cleared by every pane.
    pub element_hold: Option<Timestamp>,
    /// The garbage-collection time, once scheduled (with the first timers). Merges:
    /// the result's, else scheduled anew for the merged window.
    pub gc_timer: Option<Timestamp>,
    /// The pending event-time timers the trigger asked for; they hold the output
    /// watermark. Merges: the result's; the trigger's `on_merge` asks again for what
    /// the merged window needs. Each is removed when it fires.
    pub event_timers: SmallVec<[Timestamp; 1]>,
    /// The last pane emitted, from which the next pane's timing and index follow
    /// ([`crate::pane::next_pane`]). Merges: the result's, else none (a merged
    /// session starts at index 0). Cleared by the final pane.
    pub last_pane: Option<PaneInfo>,
    /// The trigger's state: finished bits, counts, targets, and what data-driven
    /// triggers kept. Merges: the trigger runner's `on_merge` of the sources' states
    /// into the result's (or a fresh one); kept bytes are the donor's. Its per-pane
    /// parts reset as it fires and are cleared by the final pane; the finished bits
    /// and kept bytes stay (the plugin decides what to keep).
    pub trigger: TriggerState,
    /// The running combine state. Merges: the sources' merged by the combine function
    /// (a lone source's is renamed). Emptied by every pane in discarding mode and by
    /// the final pane.
    pub acc: A,
    /// State few windows need.
    pub rare: Option<Box<Rare>>,
}

fn not_queued() -> [Timestamp; 4] {
    [NOT_QUEUED; 4]
}

fn no_group() -> u32 {
    NO_GROUP
}

/// Window state that only some pipelines need; each field as in [`WindowState`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Rare {
    /// The window's inputs, kept when retractions may come and the combine function
    /// cannot subtract, to recompute `acc`. Merges: all sources', appended. Cleared
    /// whenever `acc` is emptied (discarding panes, the final pane).
    #[serde(with = "crate::state::json::list")]
    pub retained: Vec<Value>,
    /// The last pane emitted, in retracting mode, to withdraw before the next one.
    /// Merges: the result's; the other sources' panes are withdrawn as they merge
    /// away. Taken by the next pane, cleared by the final pane.
    pub last_emitted: Option<EmittedPane>,
    /// The pending processing-time timers the trigger asked for. Merges: the
    /// result's. Each is removed when it fires.
    pub processing_timers: SmallVec<[Timestamp; 1]>,
    /// The hold of elements too late to hold at their own output time: the window's
    /// GC time ([`super::hold`]). Merges: the merged window's GC time if any source
    /// had one. Cleared by every pane.
    pub late_hold: Option<Timestamp>,
}

impl<A> WindowState<A> {
    /// A fresh window with `acc` and `trigger` as its initial state.
    pub(crate) fn new(window: Window, id: u64, acc: A, trigger: TriggerState) -> Self {
        WindowState {
            window,
            id,
            queued: [NOT_QUEUED; 4],
            group: NO_GROUP,
            closed: false,
            has_new_content: false,
            acc_stale: false,
            element_hold: None,
            gc_timer: None,
            event_timers: SmallVec::new(),
            last_pane: None,
            trigger,
            acc,
            rare: None,
        }
    }

    /// The rare part, created on first use.
    pub(crate) fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The retained inputs.
    pub(crate) fn retained(&self) -> &[Value] {
        self.rare.as_ref().map_or(&[], |rare| &rare.retained)
    }

    /// The late hold, if any.
    pub(crate) fn late_hold(&self) -> Option<Timestamp> {
        self.rare.as_ref().and_then(|rare| rare.late_hold)
    }

    /// Removes and returns the last emitted pane.
    pub(crate) fn take_last_emitted(&mut self) -> Option<EmittedPane> {
        self.rare.as_mut().and_then(|rare| rare.last_emitted.take())
    }

    /// A window that was created but has seen nothing and done nothing.
    pub(crate) fn is_pristine(&self) -> bool {
        !self.has_new_content && self.last_pane.is_none() && self.rare.is_none()
    }

    /// The earliest time the window wants from the queue of `kind`.
    pub(crate) fn earliest(&self, kind: QueueKind) -> Option<Timestamp> {
        match kind {
            QueueKind::Event => self.event_timers.iter().copied().min(),
            QueueKind::Gc => self.gc_timer,
            QueueKind::Processing => self
                .rare
                .as_ref()
                .and_then(|rare| rare.processing_timers.iter().copied().min()),
            QueueKind::Hold => self.hold(),
        }
    }

    /// The earliest hold on the output watermark.
    pub(crate) fn hold(&self) -> Option<Timestamp> {
        match (self.element_hold, self.late_hold()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A key and its windows, sorted by window.
#[derive(Debug)]
pub(crate) struct KeySlot<A> {
    /// The key (absent while the slot is free).
    pub key: Option<Key>,
    generation: u32,
    /// The key has no windows and waits for the next sweep.
    idle: bool,
    /// The key is in [`Keys::dirty`].
    dirty: bool,
    /// The key's windows, sorted by (start, end).
    pub windows: SmallVec<[WindowState<A>; 1]>,
}

impl<A> KeySlot<A> {
    /// Where `window` is, or where it would go.
    #[inline]
    pub(crate) fn position(&self, window: &Window) -> Result<usize, usize> {
        self.windows
            .binary_search_by(|state| state.window.cmp(window))
    }

    /// The state of `window`.
    pub(crate) fn get(&self, window: &Window) -> Option<&WindowState<A>> {
        self.position(window).ok().map(|pos| &self.windows[pos])
    }

    /// The state of `window`, mutably.
    pub(crate) fn get_mut(&mut self, window: &Window) -> Option<&mut WindowState<A>> {
        self.position(window).ok().map(|pos| &mut self.windows[pos])
    }

    /// The key; slots in use always have one.
    pub(crate) fn key(&self) -> &Key {
        self.key.as_ref().expect("slots in use have a key")
    }
}

/// All keys of a grouping.
///
/// A key whose last window is collected becomes idle rather than being dropped at
/// once: keys usually come back within moments (the next fixed window), and idle
/// keys are swept in bulk once they are a good part of all keys.
#[derive(Debug)]
pub(crate) struct Keys<A> {
    index: HashMap<Key, u32, foldhash::fast::RandomState>,
    slots: Vec<KeySlot<A>>,
    free: Vec<u32>,
    idle: usize,
    /// Keys whose windows may have changed since the last [`Keys::take_dirty`].
    dirty: Vec<Key>,
}

impl<A> Default for Keys<A> {
    fn default() -> Self {
        Keys {
            index: HashMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            idle: 0,
            dirty: Vec::new(),
        }
    }
}

impl<A> Keys<A> {
    /// Notes that the key in `slot` may change.
    fn touch(slot: &mut KeySlot<A>, dirty: &mut Vec<Key>) {
        if !slot.dirty
            && let Some(key) = &slot.key
        {
            slot.dirty = true;
            dirty.push(key.clone());
        }
    }

    /// The id of `key`, giving it a slot if it has none.
    pub(crate) fn resolve(&mut self, key: &Key) -> KeyId {
        if let Some(&slot) = self.index.get(key) {
            let entry = &mut self.slots[slot as usize];
            if entry.idle {
                entry.idle = false;
                self.idle -= 1;
            }
            Self::touch(entry, &mut self.dirty);
            return KeyId {
                slot,
                generation: entry.generation,
            };
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(KeySlot {
                    key: None,
                    generation: 0,
                    idle: false,
                    dirty: false,
                    windows: SmallVec::new(),
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.slots[slot as usize].key = Some(key.clone());
        Self::touch(&mut self.slots[slot as usize], &mut self.dirty);
        self.index.insert(key.clone(), slot);
        KeyId {
            slot,
            generation: self.slots[slot as usize].generation,
        }
    }

    /// The slot of `id`, if the key still holds it.
    pub(crate) fn get(&self, id: KeyId) -> Option<&KeySlot<A>> {
        self.slots
            .get(id.slot as usize)
            .filter(|slot| slot.generation == id.generation && slot.key.is_some())
    }

    /// The slot of `id`, mutably.
    pub(crate) fn get_mut(&mut self, id: KeyId) -> Option<&mut KeySlot<A>> {
        let slot = self
            .slots
            .get_mut(id.slot as usize)
            .filter(|slot| slot.generation == id.generation && slot.key.is_some())?;
        Self::touch(slot, &mut self.dirty);
        Some(slot)
    }

    /// The state of the window a queue entry names.
    pub(crate) fn queued_window(&self, target: &TimerTarget) -> Option<&WindowState<A>> {
        self.get(target.key)?
            .windows
            .iter()
            .find(|state| state.id == target.id)
    }

    /// The state of the window a queue entry names, mutably.
    pub(crate) fn queued_window_mut(
        &mut self,
        target: &TimerTarget,
    ) -> Option<&mut WindowState<A>> {
        self.get_mut(target.key)?
            .windows
            .iter_mut()
            .find(|state| state.id == target.id)
    }

    /// The state of `target`'s window.
    pub(crate) fn window(&self, target: &Target) -> Option<&WindowState<A>> {
        self.get(target.key)?.get(&target.window)
    }

    /// The state of `target`'s window, mutably.
    pub(crate) fn window_mut(&mut self, target: &Target) -> Option<&mut WindowState<A>> {
        self.get_mut(target.key)?.get_mut(&target.window)
    }

    /// Marks the key idle if it has no windows left; sweeps idle keys when they
    /// make up a large share of all keys.
    pub(crate) fn release_if_empty(&mut self, id: KeyId) {
        let Some(slot) = self.get_mut(id) else {
            return;
        };
        if !slot.windows.is_empty() || slot.idle {
            return;
        }
        slot.idle = true;
        self.idle += 1;
        if self.idle > 4096 && self.idle * 2 > self.index.len() {
            self.sweep();
        }
    }

    /// Frees every idle key's slot.
    pub(crate) fn sweep(&mut self) {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if !slot.idle {
                continue;
            }
            slot.idle = false;
            if let Some(key) = slot.key.take() {
                self.index.remove(&key);
            }
            slot.generation = slot.generation.wrapping_add(1);
            slot.windows = SmallVec::new();
            slot.dirty = false;
            self.free.push(index as u32);
        }
        self.idle = 0;
    }

    /// The keys that may have changed since the last call, each with its windows
    /// (none if the key has no windows left).
    pub(crate) fn take_dirty(&mut self) -> Vec<(Key, &[WindowState<A>])> {
        let dirty = std::mem::take(&mut self.dirty);
        for key in &dirty {
            if let Some(&slot) = self.index.get(key) {
                self.slots[slot as usize].dirty = false;
            }
        }
        dirty
            .into_iter()
            .map(|key| {
                let windows = match self.index.get(&key) {
                    Some(&slot) => &self.slots[slot as usize].windows[..],
                    None => &[],
                };
                (key, windows)
            })
            .collect()
    }

    /// Gives `key` the windows `windows` (sorted) and returns its id; used when
    /// restoring (then call [`Keys::forget_dirty`]).
    pub(crate) fn restore(&mut self, key: &Key, windows: SmallVec<[WindowState<A>; 1]>) -> KeyId {
        let id = self.resolve(key);
        self.slots[id.slot as usize].windows = windows;
        id
    }

    /// Forgets which keys changed: they match the store.
    pub(crate) fn forget_dirty(&mut self) {
        for slot in &mut self.slots {
            slot.dirty = false;
        }
        self.dirty.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn released_slots_are_reused_under_a_new_generation() {
        let mut keys: Keys<()> = Keys::default();
        let a = keys.resolve(&Key::from_str_value("a"));
        assert_eq!(keys.resolve(&Key::from_str_value("a")), a);
        keys.release_if_empty(a);
        assert!(keys.get(a).is_some(), "idle until swept");
        assert_eq!(
            keys.resolve(&Key::from_str_value("a")),
            a,
            "an idle key comes back"
        );
        keys.release_if_empty(a);
        keys.sweep();
        assert!(keys.get(a).is_none());
        let b = keys.resolve(&Key::from_str_value("b"));
        assert_eq!(b.slot, a.slot);
        assert_ne!(b, a);
        assert_eq!(keys.get(b).map(|s| s.key().as_json()), Some("\"b\""));
    }
}
