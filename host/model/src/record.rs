//! The records that flow between steps: a key, a value, an event time, a window and
//! the pane that produced it.

use std::fmt;
use std::sync::{Arc, LazyLock};

use crate::pane::PaneInfo;
use crate::time::Timestamp;
use crate::window::Window;

/// A record's value. Built-in steps work on JSON values; plugins see bytes.
pub type Value = serde_json::Value;

/// A grouping key, kept as its canonical (compact) JSON text.
///
/// Keys compare as that text, which is also the order in which output is written.
/// Cloning is a reference-count increment.
///
/// ```
/// use millrace_model::record::Key;
/// let key = Key::from_value(&serde_json::json!("TeamX"));
/// assert_eq!(key.as_json(), "\"TeamX\"");
/// assert_eq!(Key::null().as_json(), "null");
/// ```
#[derive(Clone, PartialOrd, Ord)]
pub struct Key(Arc<str>);

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        // Records from one source usually share their key's allocation.
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Equal keys have equal text, so hashing the text agrees with `eq`.
        self.0.hash(state);
    }
}

static NULL_KEY: LazyLock<Key> = LazyLock::new(|| Key(Arc::from("null")));

impl Key {
    /// The key of records that have none.
    pub fn null() -> Key {
        NULL_KEY.clone()
    }

    /// The key whose JSON form is `value`.
    pub fn from_value(value: &Value) -> Key {
        match value {
            Value::Null => Key::null(),
            other => Key(Arc::from(other.to_string())),
        }
    }

    /// A string key.
    pub fn from_str_value(text: &str) -> Key {
        Key(Arc::from(Value::from(text).to_string()))
    }

    /// The key whose canonical JSON text is `json`, as [`Key::as_json`] returned it
    /// (read back from state written earlier; it is not re-checked).
    pub fn from_canonical_json(json: &str) -> Key {
        match json {
            "null" => Key::null(),
            other => Key(Arc::from(other)),
        }
    }

    /// The key's canonical JSON text.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// The key as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One element of a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// What the element is grouped by.
    pub key: Key,
    /// The element's payload.
    pub value: Value,
    /// Event time.
    pub timestamp: Timestamp,
    /// The window the element is in (the global window until a `window` step).
    pub window: Window,
    /// The pane that produced the element, for the output of a grouping.
    pub pane: PaneInfo,
    /// Whether this record withdraws an earlier, identical one.
    pub retraction: bool,
}

impl Record {
    /// A fresh element from a source: global window, no pane.
    pub fn new(key: Key, value: Value, timestamp: Timestamp) -> Record {
        Record {
            key,
            value,
            timestamp,
            window: Window::Global,
            pane: PaneInfo::NO_FIRING,
            retraction: false,
        }
    }
}
