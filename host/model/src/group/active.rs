//! The active windows of each key (Beam's `ActiveWindowSet`, with
//! `MergingActiveWindowSet`'s part for sessions).
//!
//! This module owns which windows a key has, how many are live in the grouping, and
//! the ids that let queue entries follow a window whose bounds change when it merges.
//! A merge takes the merging windows out of their key and puts the result back; how
//! each per-window field merges is its owner's decision: holds
//! ([`WatermarkHold::merge`](super::hold::WatermarkHold::merge)), trigger state
//! ([`TriggerRunner::on_merge`](crate::trigger::TriggerRunner::on_merge)), timers
//! ([`super::timers::merge`]), pane history ([`super::panes::merge`]) and the
//! accumulator (the [`CombineFn`](crate::combine::CombineFn)).

use smallvec::SmallVec;

use super::state::{KeyId, Keys, Target, WindowState};
use crate::record::Key;
use crate::trigger::TriggerState;
use crate::window::Window;

/// Every key's windows, closed ones included until they are collected.
#[derive(Debug)]
pub(super) struct ActiveWindows<A> {
    /// The keys and their windows.
    pub(super) keys: Keys<A>,
    live: usize,
    last_id: u64,
}

impl<A> Default for ActiveWindows<A> {
    fn default() -> Self {
        ActiveWindows {
            keys: Keys::default(),
            live: 0,
            last_id: 0,
        }
    }
}

/// What a merge learns when it takes its windows out of their key.
pub(super) struct Merging {
    /// The key they belong to.
    pub(super) key: Key,
    /// The result window is already there and its trigger has finished.
    pub(super) result_closed: bool,
}

/// The result window's own earlier state among a merge's `sources`, when it was
/// active.
pub(super) fn base<A>(sources: &[WindowState<A>], result: &Window) -> Option<usize> {
    sources.iter().position(|source| source.window == *result)
}

impl<A> ActiveWindows<A> {
    /// How many (key, window) states are live, closed windows included.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// A new state for `window`, with an id no other window of the grouping has.
    pub(super) fn fresh(
        &mut self,
        window: Window,
        acc: A,
        trigger: TriggerState,
    ) -> WindowState<A> {
        self.last_id += 1;
        WindowState::new(window, self.last_id, acc, trigger)
    }

    /// The position of `window` among the key's windows, creating its state with
    /// `fresh` if it is new.
    #[inline]
    pub(super) fn ensure(
        &mut self,
        key: KeyId,
        window: Window,
        fresh: impl FnOnce() -> (A, TriggerState),
    ) -> usize {
        let Some(position) = self.keys.get(key).map(|slot| slot.position(&window)) else {
            return 0;
        };
        match position {
            Ok(pos) => pos,
            Err(pos) => {
                let (acc, trigger) = fresh();
                let state = self.fresh(window, acc, trigger);
                if let Some(slot) = self.keys.get_mut(key) {
                    slot.windows.insert(pos, state);
                    self.live += 1;
                }
                pos
            }
        }
    }

    /// The windows that may merge for a key: its open windows and the windows of
    /// newly arrived records.
    #[inline]
    pub(super) fn merge_candidates(&self, key: KeyId, arriving: &[Window]) -> Vec<Window> {
        let mut candidates: Vec<Window> = self.keys.get(key).map_or_else(Vec::new, |slot| {
            slot.windows
                .iter()
                .filter(|state| !state.closed)
                .map(|state| state.window)
                .collect()
        });
        candidates.extend_from_slice(arriving);
        candidates
    }

    /// Takes the open windows among `members` out of the key into `sources` (in
    /// place: window states are large) for a merge into `result`; `None` when none
    /// of them is active yet (only new windows merge, and their state is created as
    /// their records arrive).
    #[inline]
    pub(super) fn take_merging(
        &mut self,
        key: KeyId,
        members: &[Window],
        result: &Window,
        sources: &mut SmallVec<[WindowState<A>; 2]>,
    ) -> Option<Merging> {
        let slot = self.keys.get_mut(key)?;
        for member in members {
            if let Ok(pos) = slot.position(member)
                && !slot.windows[pos].closed
            {
                sources.push(slot.windows.remove(pos));
            }
        }
        if sources.is_empty() {
            return None;
        }
        self.live -= sources.len();
        Some(Merging {
            key: slot.key().clone(),
            result_closed: slot.get(result).is_some_and(|state| state.closed),
        })
    }

    /// Puts the merged state of a window back into its key.
    #[inline]
    pub(super) fn put_merged(&mut self, key: KeyId, merged: WindowState<A>) {
        if let Some(slot) = self.keys.get_mut(key) {
            match slot.position(&merged.window) {
                Ok(pos) => slot.windows[pos] = merged,
                Err(pos) => {
                    slot.windows.insert(pos, merged);
                    self.live += 1;
                }
            }
        }
    }

    /// Drops a window's state (it is past its garbage-collection time, or was
    /// created for records that were all rejected).
    #[inline]
    pub(super) fn remove(&mut self, target: &Target) {
        if let Some(slot) = self.keys.get_mut(target.key)
            && let Ok(pos) = slot.position(&target.window)
        {
            slot.windows.remove(pos);
            self.live -= 1;
        }
        self.keys.release_if_empty(target.key);
    }

    /// Puts back a key's windows from a checkpoint, with fresh ids.
    pub(super) fn restore(
        &mut self,
        key: &Key,
        mut windows: SmallVec<[WindowState<A>; 1]>,
    ) -> KeyId {
        for window in &mut windows {
            self.last_id += 1;
            window.id = self.last_id;
        }
        self.live += windows.len();
        self.keys.restore(key, windows)
    }
}
