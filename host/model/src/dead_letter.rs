//! The dead-letter output: records that could not be processed, each with where it
//! came from and why, so that nothing is lost silently.
//!
//! Each dead letter is one JSON line:
//!
//! ```json
//! {"source":"events.jsonl","line":12,"reason":"missing field `ts`","input":"{\"user\":\"a\"}"}
//! {"step":"steps[1].combine (sum)","reason":"sum needs numbers; got a string \"x\"","record":{"key":"a","value":"x","ts":5}}
//! {"topic":"events","partition":3,"offset":1234,"reason":"not valid JSON: …","input":"{oops"}
//! ```
//!
//! A line that is not UTF-8 text keeps its bytes: `input` is the text with each
//! invalid sequence replaced by U+FFFD, and `input_base64` the exact bytes (standard
//! base64 with padding), so the line can be recovered.

use serde::Serialize;

use crate::record::{Record, Value};
use crate::time::Timestamp;

/// A record that could not be processed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Where it came from.
    #[serde(flatten)]
    pub origin: Origin,
    /// Why it was set aside.
    pub reason: String,
}

/// Where a dead letter came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Origin {
    /// A line of input that could not be read.
    Input {
        /// The source, e.g. a file path.
        source: String,
        /// 1-based line number.
        line: u64,
        /// 0-based position within the line's bundle, for test-stream `add` events.
        #[serde(skip_serializing_if = "Option::is_none")]
        element: Option<usize>,
        /// The offending text (invalid UTF-8 replaced by U+FFFD).
        input: String,
        /// The exact bytes in base64, when they are not UTF-8 text.
        #[serde(skip_serializing_if = "Option::is_none")]
        input_base64: Option<String>,
    },
    /// A message of a partitioned log (a Kafka record) that could not be read.
    Message {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The record's offset in the partition.
        offset: i64,
        /// The offending value (invalid UTF-8 replaced by U+FFFD).
        input: String,
        /// The exact bytes in base64, when they are not UTF-8 text.
        #[serde(skip_serializing_if = "Option::is_none")]
        input_base64: Option<String>,
    },
    /// A record a step could not process.
    Step {
        /// The step, e.g. `steps[1].combine (sum)`.
        step: String,
        /// The record.
        record: DeadRecord,
    },
}

/// The parts of a record worth keeping in a dead letter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeadRecord {
    /// The record's key.
    pub key: Value,
    /// The record's value.
    pub value: Value,
    /// The record's event time.
    pub ts: Timestamp,
    /// Whether the record was a retraction.
    pub retraction: bool,
}

impl DeadLetter {
    /// A dead letter for a line of input.
    pub fn input(
        source: &str,
        line: u64,
        element: Option<usize>,
        input: &str,
        reason: impl Into<String>,
    ) -> Self {
        DeadLetter {
            origin: Origin::Input {
                source: source.to_owned(),
                line,
                element,
                input: input.to_owned(),
                input_base64: None,
            },
            reason: reason.into(),
        }
    }

    /// A dead letter for a line of input that is not UTF-8 text: its bytes are kept.
    pub fn input_bytes(source: &str, line: u64, bytes: &[u8], reason: impl Into<String>) -> Self {
        DeadLetter {
            origin: Origin::Input {
                source: source.to_owned(),
                line,
                element: None,
                input: String::from_utf8_lossy(bytes).into_owned(),
                input_base64: Some(base64(bytes)),
            },
            reason: reason.into(),
        }
    }

    /// A dead letter for the message at `offset` of `topic`'s `partition`, whose
    /// value is `bytes`: kept as text when it is UTF-8, with its bytes otherwise.
    pub fn message(
        topic: &str,
        partition: i32,
        offset: i64,
        bytes: &[u8],
        reason: impl Into<String>,
    ) -> Self {
        let (input, input_base64) = match std::str::from_utf8(bytes) {
            Ok(text) => (text.to_owned(), None),
            Err(_) => (
                String::from_utf8_lossy(bytes).into_owned(),
                Some(base64(bytes)),
            ),
        };
        DeadLetter {
            origin: Origin::Message {
                topic: topic.to_owned(),
                partition,
                offset,
                input,
                input_base64,
            },
            reason: reason.into(),
        }
    }

    /// A dead letter for a record that `step` could not process.
    pub fn step(step: &str, record: &Record, reason: impl Into<String>) -> Self {
        DeadLetter {
            origin: Origin::Step {
                step: step.to_owned(),
                record: DeadRecord {
                    key: record.key.to_value(),
                    value: record.value.clone(),
                    ts: record.timestamp,
                    retraction: record.retraction,
                },
            },
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.origin {
            Origin::Input {
                source,
                line,
                element,
                ..
            } => {
                write!(f, "{source} line {line}")?;
                if let Some(element) = element {
                    write!(f, ", element {element}")?;
                }
            }
            Origin::Message {
                topic,
                partition,
                offset,
                ..
            } => write!(f, "{topic} partition {partition} offset {offset}")?,
            Origin::Step { step, record } => {
                write!(f, "{step}, record with key {} at {}", record.key, record.ts)?;
            }
        }
        write!(f, ": {}", self.reason)
    }
}

/// Standard base64 (RFC 4648, with padding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk
            .iter()
            .enumerate()
            .fold(0u32, |word, (i, &b)| word | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(word >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Key;
    use serde_json::json;

    #[test]
    fn input_letters_carry_position_and_text() {
        let letter = DeadLetter::input("events.jsonl", 12, None, "{oops", "expected value");
        assert_eq!(
            serde_json::to_value(&letter).unwrap(),
            json!({"source": "events.jsonl", "line": 12, "input": "{oops", "reason": "expected value"})
        );
    }

    #[test]
    fn lines_that_are_not_text_keep_their_bytes() {
        let letter = DeadLetter::input_bytes("stdin", 2, b"{\"a\":\xff}", "not valid UTF-8");
        assert_eq!(
            serde_json::to_value(&letter).unwrap(),
            json!({"source": "stdin", "line": 2, "input": "{\"a\":\u{fffd}}",
                   "input_base64": "eyJhIjr/fQ==", "reason": "not valid UTF-8"})
        );
        for (bytes, encoded) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
        ] {
            assert_eq!(base64(bytes), encoded);
        }
    }

    #[test]
    fn step_letters_carry_the_record() {
        let record = Record::new(Key::from_str_value("a"), json!("x"), 5);
        let letter = DeadLetter::step("steps[1].combine (sum)", &record, "not a number");
        assert_eq!(
            serde_json::to_value(&letter).unwrap(),
            json!({"step": "steps[1].combine (sum)",
                   "record": {"key": "a", "value": "x", "ts": 5, "retraction": false},
                   "reason": "not a number"})
        );
    }
}
