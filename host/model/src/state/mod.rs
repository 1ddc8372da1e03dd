//! Durable state as the model sees it: the [`StateBackend`] trait, the in-memory
//! backend, and how steps lay their state out in it. The RocksDB backend and the
//! checkpoints on disk are in the `millrace-state` crate.
//!
//! Operators work on their state in memory and track what changed. At each
//! checkpoint every step writes its changes — and only those — into one
//! [`StateBatch`], the backend applies the batch atomically, and then makes a
//! durable, immutable copy of the whole store ([`StateBackend::snapshot`]). With
//! RocksDB that copy is a RocksDB checkpoint: hard links to the immutable table
//! files, so each checkpoint costs what changed since the last one.
//!
//! Every key starts with the step's index and a one-byte tag, so that one step's
//! state of one kind is a prefix scan:
//!
//! ```text
//! [step: u16 BE] [tag: u8] [rest]
//!   tag b'm'  the step's metadata (watermarks, counters)
//!   tag b'w'  a grouping's windows of one key:   rest = key
//!   tag b'k'  a DoFn's keyed state:              rest = key, window, name
//!   tag b't'  a DoFn's timers:                   rest = key, window, name
//! ```
//!
//! A key is its canonical JSON text, length-prefixed; a window is a tag byte and
//! its bounds in order-preserving big-endian, so one (key, window) is a prefix and
//! dropping it is a range delete.

mod memory;

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::record::Key;
use crate::window::Window;

pub use memory::MemoryBackend;

/// A state store failed, or holds something that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store itself failed.
    #[error("the state store failed: {0}")]
    Backend(String),
    /// An entry could not be decoded.
    #[error("the state of {what} cannot be read: {message}")]
    Corrupt {
        /// What was being read.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
}

impl StateError {
    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StateError {
        let what = what.into();
        move |source| StateError::Io { what, source }
    }
}

/// One change to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Sets `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Removes `key`.
    Delete(Vec<u8>),
    /// Removes every key in `[start, end)`.
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// Changes applied together, atomically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateBatch {
    changes: Vec<Change>,
    bytes: usize,
}

impl StateBatch {
    /// Adds a change.
    pub fn push(&mut self, change: Change) {
        self.bytes += match &change {
            Change::Put(key, value) => key.len() + value.len(),
            Change::Delete(key) => key.len(),
            Change::DeleteRange(start, end) => start.len() + end.len(),
        };
        self.changes.push(change);
    }

    /// The changes, in order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The changes, in order, taken out of the batch.
    pub fn into_changes(self) -> Vec<Change> {
        self.changes
    }

    /// How many changes there are.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The bytes of keys and values in the batch.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Called with each entry (key, value) of a scan; an error stops the scan.
pub type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), StateError> + 'a;

/// Where state lives between checkpoints and across restarts.
pub trait StateBackend: Send {
    /// Applies `batch` atomically.
    fn write(&mut self, batch: StateBatch) -> Result<(), StateError>;

    /// Calls `visit` with every entry whose key starts with `prefix`, in key order,
    /// until it returns an error.
    fn scan(&self, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<(), StateError>;

    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Writes a durable, consistent copy of the whole store into `dir`, which must
    /// not exist yet; [`Self::restore`] turns it back into a store.
    fn snapshot(&mut self, dir: &Path) -> Result<(), StateError>;

    /// Replaces the store's contents with the copy in `dir`.
    fn restore(&mut self, dir: &Path) -> Result<(), StateError>;

    /// Which backend this is, for messages and checkpoint listings.
    fn kind(&self) -> &'static str;
}

/// Where one step writes its changes at a checkpoint.
pub struct StepWriter<'a> {
    step: u16,
    batch: &'a mut StateBatch,
}

impl<'a> StepWriter<'a> {
    /// Writes step `step`'s changes into `batch`.
    pub fn new(step: u16, batch: &'a mut StateBatch) -> Self {
        StepWriter { step, batch }
    }

    /// Starts a key of this step's `tag` state.
    pub fn key(&self, tag: Tag) -> KeyBuilder {
        KeyBuilder::new(self.step, tag)
    }

    /// Sets `key` to the encoding of `value`.
    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) -> Result<(), StateError> {
        let bytes = encode(value)?;
        self.batch.push(Change::Put(key, bytes));
        Ok(())
    }

    /// Sets `key` to the encoding of `value` unless `last` shows that the last
    /// checkpoint already holds it: what a step always writes (its watermarks,
    /// counters) costs an idle pipeline nothing.
    pub fn put_changed<T: Serialize>(
        &mut self,
        key: Vec<u8>,
        value: &T,
        last: &mut LastPut,
    ) -> Result<(), StateError> {
        let bytes = encode(value)?;
        if last.0.as_deref() != Some(bytes.as_slice()) {
            last.0 = Some(bytes.clone());
            self.batch.push(Change::Put(key, bytes));
        }
        Ok(())
    }

    /// Removes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.batch.push(Change::Delete(key));
    }

    /// Removes every key that starts with `prefix`.
    pub fn delete_prefix(&mut self, prefix: Vec<u8>) {
        if let Some(end) = prefix_end(&prefix) {
            self.batch.push(Change::DeleteRange(prefix, end));
        }
    }
}

/// The encoding of the value last put under one key (see
/// [`StepWriter::put_changed`]).
#[derive(Debug, Default)]
pub struct LastPut(Option<Vec<u8>>);

/// Where one step reads its state back when a run resumes.
pub struct StepReader<'a> {
    step: u16,
    backend: &'a dyn StateBackend,
}

impl<'a> StepReader<'a> {
    /// Reads step `step`'s state from `backend`.
    pub fn new(step: u16, backend: &'a dyn StateBackend) -> Self {
        StepReader { step, backend }
    }

    /// Starts a key of this step's `tag` state.
    pub fn key(&self, tag: Tag) -> KeyBuilder {
        KeyBuilder::new(self.step, tag)
    }

    /// The decoded value of `key`; `what` names it in errors.
    pub fn get<T: DeserializeOwned>(
        &self,
        key: &[u8],
        what: &str,
    ) -> Result<Option<T>, StateError> {
        self.backend
            .get(key)?
            .map(|bytes| decode(&bytes, what))
            .transpose()
    }

    /// Calls `visit` with every entry of this step's `tag` state, in key order.
    pub fn scan(&self, tag: Tag, visit: &mut Visitor<'_>) -> Result<(), StateError> {
        self.backend.scan(&self.key(tag).build(), visit)
    }
}

/// The smallest key greater than every key that starts with `prefix`, or `None` if
/// there is none (the prefix is all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Tags of the kinds of state a step keeps; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Tag {
    /// The step's metadata.
    Meta = b'm',
    /// A grouping's windows, per key.
    Windows = b'w',
    /// A DoFn's keyed state.
    Keyed = b'k',
    /// A DoFn's timers.
    Timers = b't',
}

/// Builds keys in the layout of the module docs.
#[derive(Clone, Debug)]
pub struct KeyBuilder(Vec<u8>);

impl KeyBuilder {
    /// The keys of `tag` state of step `step`.
    pub fn new(step: u16, tag: Tag) -> Self {
        let mut bytes = Vec::with_capacity(48);
        bytes.extend_from_slice(&step.to_be_bytes());
        bytes.push(tag as u8);
        KeyBuilder(bytes)
    }

    /// Appends a record key.
    pub fn key(mut self, key: &Key) -> Self {
        let json = key.as_json().as_bytes();
        self.0.extend_from_slice(&(json.len() as u32).to_be_bytes());
        self.0.extend_from_slice(json);
        self
    }

    /// Appends a window.
    pub fn window(mut self, window: &Window) -> Self {
        match window {
            Window::Global => self.0.push(0),
            Window::Interval { start, end } => {
                self.0.push(1);
                self.0.extend_from_slice(&ordered(*start));
                self.0.extend_from_slice(&ordered(*end));
            }
        }
        self
    }

    /// Appends a name.
    pub fn name(mut self, name: &str) -> Self {
        self.0.extend_from_slice(name.as_bytes());
        self
    }

    /// The key built so far.
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

/// `value` as big-endian bytes that sort as the numbers do.
fn ordered(value: i64) -> [u8; 8] {
    ((value as u64) ^ (1 << 63)).to_be_bytes()
}

fn from_ordered(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// Reads keys laid out by [`KeyBuilder`], after the step and tag.
pub struct KeyReader<'a> {
    rest: &'a [u8],
}

impl<'a> KeyReader<'a> {
    /// Reads `key`, skipping its step and tag.
    pub fn new(key: &'a [u8]) -> Self {
        KeyReader {
            rest: key.get(3..).unwrap_or_default(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StateError> {
        if self.rest.len() < n {
            return Err(StateError::Corrupt {
                what: "a key".to_owned(),
                message: "it is shorter than its layout".to_owned(),
            });
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// Reads a record key.
    pub fn key(&mut self) -> Result<Key, StateError> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().unwrap_or_default()) as usize;
        let json = std::str::from_utf8(self.take(len)?).map_err(|err| StateError::Corrupt {
            what: "a key".to_owned(),
            message: err.to_string(),
        })?;
        Ok(Key::from_canonical_json(json))
    }

    /// Reads a window.
    pub fn window(&mut self) -> Result<Window, StateError> {
        match self.take(1)?[0] {
            0 => Ok(Window::Global),
            _ => {
                let start = from_ordered(self.take(8)?.try_into().unwrap_or_default());
                let end = from_ordered(self.take(8)?.try_into().unwrap_or_default());
                Ok(Window::interval(start, end))
            }
        }
    }

    /// Reads the rest as a name.
    pub fn name(&mut self) -> Result<String, StateError> {
        let rest = std::mem::take(&mut self.rest);
        String::from_utf8(rest.to_vec()).map_err(|err| StateError::Corrupt {
            what: "a key".to_owned(),
            message: err.to_string(),
        })
    }
}

/// Encodes a value of a step's state compactly.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StateError> {
    postcard::to_stdvec(value).map_err(|err| StateError::Corrupt {
        what: std::any::type_name::<T>().to_owned(),
        message: err.to_string(),
    })
}

/// Decodes what [`encode`] wrote; `what` names it in errors.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StateError> {
    postcard::from_bytes(bytes).map_err(|err| StateError::Corrupt {
        what: what.to_owned(),
        message: err.to_string(),
    })
}

/// Serde helpers that store JSON values as their text, for [`encode`]'s format
/// (which cannot hold self-describing values).
pub mod json {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::record::Value;

    /// For a `Value` field.
    pub fn serialize<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
        value.to_string().serialize(serializer)
    }

    /// For a `Value` field.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        let text = String::deserialize(deserializer)?;
        serde_json::from_str(&text).map_err(serde::de::Error::custom)
    }

    /// For a `Vec<Value>` field.
    pub mod list {
        use super::*;

        /// For a `Vec<Value>` field.
        pub fn serialize<S: Serializer>(
            values: &[Value],
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            let texts: Vec<String> = values.iter().map(Value::to_string).collect();
            texts.serialize(serializer)
        }

        /// For a `Vec<Value>` field.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Vec<Value>, D::Error> {
            let texts = Vec::<String>::deserialize(deserializer)?;
            texts
                .iter()
                .map(|text| serde_json::from_str(text).map_err(serde::de::Error::custom))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_value_is_put_once() {
        let mut batch = StateBatch::default();
        let mut last = LastPut::default();
        let mut writer = StepWriter::new(0, &mut batch);
        for value in [1, 1, 2, 2, 1] {
            let key = writer.key(Tag::Meta).build();
            writer.put_changed(key, &value, &mut last).unwrap();
        }
        assert_eq!(batch.len(), 3, "1, 2, then 1 again");
    }

    #[test]
    fn keys_sort_by_step_tag_key_and_window() {
        let key = |k: &str, start: i64| {
            KeyBuilder::new(1, Tag::Keyed)
                .key(&Key::from_str_value(k))
                .window(&Window::interval(start, start + 10))
                .name("n")
                .build()
        };
        assert!(key("a", -5) < key("a", 3));
        assert!(key("a", 3) < key("a", 1_000_000));
        let prefix = KeyBuilder::new(1, Tag::Keyed)
            .key(&Key::from_str_value("a"))
            .build();
        assert!(key("a", 3).starts_with(&prefix));
        assert!(
            !key("ab", 3).starts_with(&prefix),
            "keys are length-prefixed"
        );

        let bytes = key("a", -5);
        let mut reader = KeyReader::new(&bytes);
        assert_eq!(reader.key().unwrap(), Key::from_str_value("a"));
        assert_eq!(reader.window().unwrap(), Window::interval(-5, 5));
        assert_eq!(reader.name().unwrap(), "n");
    }

    #[test]
    fn prefix_ends_bound_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
    }
}
