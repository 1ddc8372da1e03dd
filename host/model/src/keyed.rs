//! Keyed state and timers of stateful DoFns, kept by the host.
//!
//! During a call, a plugin's writes go to an overlay ([`CallState`]) that is applied
//! only when the call succeeds: a call that traps half-way leaves no trace, so
//! re-running its elements one by one sees the state as it was.
//!
//! The store remembers which (key, window) pairs and timers changed, so that a
//! checkpoint writes only those: values under `[step] k [key][window][name]`,
//! timers under `[step] t [key][window][name]`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::record::Key;
use crate::state::{KeyReader, StateError, StepReader, StepWriter, Tag, decode};
use crate::time::Timestamp;
use crate::timer::TimeDomain;
use crate::window::Window;

/// A timer of a stateful DoFn: key, window and name.
pub type TimerId = (Key, Window, String);

/// The state and timers of one stateful DoFn step.
#[derive(Debug, Default)]
pub struct KeyedStore {
    values: HashMap<(Key, Window), HashMap<String, Vec<u8>>>,
    timers: HashMap<TimerId, (TimeDomain, Timestamp)>,
    event: BTreeSet<(Timestamp, TimerId)>,
    processing: BTreeSet<(Timestamp, TimerId)>,
    changed_values: HashSet<(Key, Window)>,
    changed_timers: HashSet<TimerId>,
}

impl KeyedStore {
    fn queue(&mut self, domain: TimeDomain) -> &mut BTreeSet<(Timestamp, TimerId)> {
        match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        }
    }

    fn set_timer(&mut self, id: TimerId, timer: Option<(TimeDomain, Timestamp)>) {
        self.changed_timers.insert(id.clone());
        if let Some((domain, time)) = self.timers.remove(&id) {
            self.queue(domain).remove(&(time, id.clone()));
        }
        if let Some((domain, time)) = timer {
            self.queue(domain).insert((time, id.clone()));
            self.timers.insert(id, (domain, time));
        }
    }

    /// Removes and returns the timers of `domain` strictly before `bound`, in time order.
    pub fn take_due(&mut self, domain: TimeDomain, bound: Timestamp) -> Vec<(Timestamp, TimerId)> {
        let mut due = Vec::new();
        while let Some(first) = self.queue(domain).first() {
            if first.0 >= bound {
                break;
            }
            if let Some(entry) = self.queue(domain).pop_first() {
                self.timers.remove(&entry.1);
                self.changed_timers.insert(entry.1.clone());
                due.push(entry);
            }
        }
        due
    }

    /// The earliest pending timer of `domain`.
    pub fn earliest(&self, domain: TimeDomain) -> Option<Timestamp> {
        match domain {
            TimeDomain::EventTime => self.event.first(),
            TimeDomain::ProcessingTime => self.processing.first(),
        }
        .map(|(time, _)| *time)
    }

    /// How many (key, window) pairs hold state.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Writes the values and timers that changed since the last call.
    pub fn write_changes(&mut self, state: &mut StepWriter<'_>) -> Result<(), StateError> {
        for (key, window) in self.changed_values.drain() {
            let prefix = state.key(Tag::Keyed).key(&key).window(&window);
            state.delete_prefix(prefix.clone().build());
            if let Some(names) = self.values.get(&(key, window)) {
                for (name, value) in names {
                    state.put(prefix.clone().name(name).build(), value)?;
                }
            }
        }
        for id in self.changed_timers.drain() {
            let (key, window, name) = &id;
            let entry = state
                .key(Tag::Timers)
                .key(key)
                .window(window)
                .name(name)
                .build();
            match self.timers.get(&id) {
                Some(&(domain, time)) => {
                    state.put(entry, &(domain == TimeDomain::EventTime, time))?;
                }
                None => state.delete(entry),
            }
        }
        Ok(())
    }

    /// The store a checkpoint holds.
    pub fn read(state: &StepReader<'_>, what: &str) -> Result<KeyedStore, StateError> {
        let mut store = KeyedStore::default();
        state.scan(Tag::Keyed, &mut |key, value| {
            let mut reader = KeyReader::new(key);
            let target = (reader.key()?, reader.window()?);
            let name = reader.name()?;
            let value: Vec<u8> = decode(value, what)?;
            store.values.entry(target).or_default().insert(name, value);
            Ok(())
        })?;
        let mut timers = Vec::new();
        state.scan(Tag::Timers, &mut |key, value| {
            let mut reader = KeyReader::new(key);
            let id = (reader.key()?, reader.window()?, reader.name()?);
            let (event, time): (bool, Timestamp) = decode(value, what)?;
            let domain = if event {
                TimeDomain::EventTime
            } else {
                TimeDomain::ProcessingTime
            };
            timers.push((id, (domain, time)));
            Ok(())
        })?;
        for (id, timer) in timers {
            store.set_timer(id, Some(timer));
        }
        store.changed_timers.clear();
        Ok(store)
    }
}

/// Pending writes for one key and window: tag to new value (`None` deletes).
type Writes = HashMap<String, Option<Vec<u8>>>;

/// The state a call in progress reads and writes.
pub struct CallState {
    /// The key and window of each element (or fired timer) of the call.
    targets: Vec<(Key, Window)>,
    store: Arc<Mutex<KeyedStore>>,
    values: HashMap<(Key, Window), Writes>,
    timers: Vec<(TimerId, Option<(TimeDomain, Timestamp)>)>,
}

impl CallState {
    /// A call over elements with these keys and windows.
    pub fn new(store: Arc<Mutex<KeyedStore>>, targets: Vec<(Key, Window)>) -> Self {
        CallState {
            targets,
            store,
            values: HashMap::new(),
            timers: Vec::new(),
        }
    }

    /// The value `name` of element `element`'s key and window.
    pub fn get(&self, element: u32, name: &str) -> Option<Vec<u8>> {
        let target = self.targets.get(element as usize)?;
        if let Some(written) = self.values.get(target).and_then(|names| names.get(name)) {
            return written.clone();
        }
        let store = self.store.lock().ok()?;
        store.values.get(target)?.get(name).cloned()
    }

    /// Writes (or, with `None`, removes) the value `name`.
    pub fn set(&mut self, element: u32, name: String, value: Option<Vec<u8>>) {
        if let Some(target) = self.targets.get(element as usize) {
            self.values
                .entry(target.clone())
                .or_default()
                .insert(name, value);
        }
    }

    /// Sets (or, with `None`, cancels) the timer `name`.
    pub fn set_timer(
        &mut self,
        element: u32,
        name: String,
        timer: Option<(TimeDomain, Timestamp)>,
    ) {
        if let Some((key, window)) = self.targets.get(element as usize) {
            self.timers.push(((key.clone(), *window, name), timer));
        }
    }

    /// Applies the call's writes: it succeeded.
    pub fn commit(self) {
        let Ok(mut store) = self.store.lock() else {
            return;
        };
        for (target, names) in self.values {
            store.changed_values.insert(target.clone());
            let values = store.values.entry(target.clone()).or_default();
            for (name, value) in names {
                match value {
                    Some(value) => values.insert(name, value),
                    None => values.remove(&name),
                };
            }
            if values.is_empty() {
                store.values.remove(&target);
            }
        }
        for (id, timer) in self.timers {
            store.set_timer(id, timer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> (Key, Window) {
        (Key::from_str_value("k"), Window::Global)
    }

    #[test]
    fn writes_show_up_only_after_commit() {
        let store = Arc::new(Mutex::new(KeyedStore::default()));
        let mut call = CallState::new(store.clone(), vec![target()]);
        call.set(0, "seen".into(), Some(vec![1]));
        assert_eq!(
            call.get(0, "seen"),
            Some(vec![1]),
            "a call reads its own writes"
        );
        let fresh = CallState::new(store.clone(), vec![target()]);
        assert_eq!(fresh.get(0, "seen"), None, "others do not until commit");
        call.commit();
        assert_eq!(fresh.get(0, "seen"), Some(vec![1]));
    }

    #[test]
    fn timers_move_and_fire_in_order() {
        let store = Arc::new(Mutex::new(KeyedStore::default()));
        let mut call = CallState::new(store.clone(), vec![target()]);
        call.set_timer(0, "a".into(), Some((TimeDomain::EventTime, 50)));
        call.set_timer(0, "a".into(), Some((TimeDomain::EventTime, 30)));
        call.set_timer(0, "b".into(), Some((TimeDomain::EventTime, 40)));
        call.commit();
        let mut store = store.lock().unwrap();
        assert_eq!(store.earliest(TimeDomain::EventTime), Some(30));
        let due: Vec<_> = store
            .take_due(TimeDomain::EventTime, 45)
            .into_iter()
            .map(|(time, id)| (time, id.2))
            .collect();
        assert_eq!(due, vec![(30, "a".to_owned()), (40, "b".to_owned())]);
        assert_eq!(store.earliest(TimeDomain::EventTime), None);
    }
}
