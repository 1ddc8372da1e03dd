//! Sources: where records come from, turned into [`Event`]s.
//!
//! - [`TestStream`] replays a script of bundles, watermarks and processing-time
//!   advances on a virtual clock, so its output is fully deterministic.
//! - [`JsonLines`] reads a file or standard input, one JSON object per line, with a
//!   bounded-out-of-orderness watermark and the wall clock. A followed file
//!   ([`JsonLines::follow`]) never ends: lines appended to it are read as they come
//!   (the log behind `millrace serve`'s ingest endpoint).
//! - [`Generator`] makes records for benchmarks and demos.
//! - [`crate::kafka::KafkaSource`] reads Kafka topics.
//!
//! Lines that cannot be read become [`DeadLetter`]s with their line number and the
//! reason; the source carries on.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::spec::{FieldPath, GeneratorSpec, JsonLinesSpec, NexmarkSpec, TimestampFormat};
use millrace_model::dead_letter::DeadLetter;
use millrace_model::pipeline::Event;
use millrace_model::record::{Key, Record, Value};
use millrace_model::time::{MIN_TIMESTAMP, Timestamp, event_time, parse_rfc3339};
use millrace_model::watermark::BoundedOutOfOrderness;

/// Which clock a source's pipeline runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The source advances processing time itself (test streams).
    Virtual,
    /// Processing time is the wall clock.
    Wall,
}

/// What one poll of a source produced.
#[derive(Debug, PartialEq)]
pub enum Poll {
    /// Some events (possibly none, if every line was bad).
    Events,
    /// Nothing arrived before the timeout.
    Idle,
    /// The input is exhausted.
    End,
}

/// A source of events.
pub trait Source: Send {
    /// Reads the next events into `events` and bad lines into `dead`. Waits at most
    /// `timeout` for input when none is ready (`None`: as long as needed).
    fn poll(
        &mut self,
        events: &mut Vec<Event>,
        dead: &mut Vec<DeadLetter>,
        timeout: Option<Duration>,
    ) -> io::Result<Poll>;

    /// The clock the pipeline should run on.
    fn clock(&self) -> Clock;

    /// Bytes read and total bytes, when the size is known.
    fn progress(&self) -> Option<(u64, u64)> {
        None
    }

    /// Records read so far.
    fn records_read(&self) -> u64;

    /// Whether output should be flushed as it is produced (live input).
    fn is_live(&self) -> bool {
        false
    }

    /// Where the source is, to resume from after a restart (see [`Source::seek`]);
    /// `None` for input that cannot be read again (standard input).
    fn position(&self) -> Option<Value> {
        None
    }

    /// Continues from `position`, which [`Source::position`] returned.
    fn seek(&mut self, position: &Value) -> io::Result<()> {
        let _ = position;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this input cannot be read again from a position",
        ))
    }

    /// A checkpoint that recorded the current [`Source::position`] is complete
    /// (a Kafka source commits its offsets to its group, for lag tools to see).
    fn checkpointed(&mut self) {}
}

/// Wakes a waiting source (or its pipeline) when there is something to do: lines
/// appended to a followed file, or a command for the pipeline.
#[derive(Debug, Default)]
pub struct Wakeup {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Wakeup {
    /// Wakes whoever waits.
    pub fn wake(&self) {
        if let Ok(mut generation) = self.generation.lock() {
            *generation += 1;
            self.changed.notify_all();
        }
    }

    /// The current generation, to wait for a change from.
    pub fn generation(&self) -> u64 {
        self.generation.lock().map_or(0, |g| *g)
    }

    /// Waits until woken after `seen` was read, or for `timeout`.
    pub fn wait(&self, seen: u64, timeout: Duration) {
        if let Ok(generation) = self.generation.lock() {
            let _ = self
                .changed
                .wait_timeout_while(generation, timeout, |g| *g == seen);
        }
    }
}

/// A file that grows at its end while it is read: the ingest log of a served
/// pipeline. Only its first `readable` bytes are read — those its writer has made
/// durable and acknowledged; bytes past them may still be rolled back.
#[derive(Clone, Debug)]
pub struct Followed {
    /// The file.
    pub path: PathBuf,
    /// What dead letters and errors call it.
    pub name: String,
    /// How many of its bytes may be read; grows as the writer acknowledges more.
    pub readable: Arc<AtomicU64>,
}

/// A file read no further than a limit that grows.
struct Bounded {
    file: File,
    at: u64,
    limit: Arc<AtomicU64>,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let allowed = self.limit.load(Ordering::Acquire).saturating_sub(self.at);
        let wanted = buf
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        if wanted == 0 {
            return Ok(0);
        }
        let read = self.file.read(&mut buf[..wanted])?;
        self.at += read as u64;
        Ok(read)
    }
}

/// How long a followed file waits for lines when the pipeline has no timer due.
const FOLLOW_WAIT: Duration = Duration::from_millis(500);

/// Reads lines and knows the byte offset of each, so that a file source can
/// resume at a line.
struct LineReader {
    input: Box<dyn BufRead + Send>,
    /// The file, for seeking; `None` for standard input.
    path: Option<PathBuf>,
    /// Offset of the next line.
    offset: u64,
    buffer: Vec<u8>,
    /// A followed file, read up to this limit: a last line without its newline is
    /// still being written, so it stays in `buffer` until it is complete.
    follow: Option<Arc<AtomicU64>>,
    /// Inside a line longer than [`MAX_LINE_BYTES`]: how many of its bytes were read.
    skipping: Option<u64>,
}

/// One line: its text (or why it cannot be read, and its bytes) and its start
/// offset.
type Line = (Result<String, BadLine>, u64);

/// A line that is not UTF-8 text, or too long to read.
#[derive(Debug)]
struct BadLine {
    reason: String,
    /// The line, or the start of one that is too long.
    bytes: Vec<u8>,
}

/// The longest line a source reads: a longer one is a dead letter holding its first
/// KiB, so that input without newlines cannot take all memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

impl LineReader {
    fn file(path: &Path) -> io::Result<(Self, u64)> {
        Self::open(path, None)
    }

    /// Opens `path`; a followed file is read up to `follow`'s limit only.
    fn open(path: &Path, follow: Option<Arc<AtomicU64>>) -> io::Result<(Self, u64)> {
        let file = File::open(path)?;
        let size = file.metadata().map_or(0, |m| m.len());
        let reader = LineReader {
            input: Self::buffered(file, 0, &follow),
            path: Some(path.to_owned()),
            offset: 0,
            buffer: Vec::new(),
            follow,
            skipping: None,
        };
        Ok((reader, size))
    }

    fn buffered(file: File, at: u64, follow: &Option<Arc<AtomicU64>>) -> Box<dyn BufRead + Send> {
        match follow {
            Some(limit) => Box::new(BufReader::with_capacity(
                1 << 16,
                Bounded {
                    file,
                    at,
                    limit: limit.clone(),
                },
            )),
            None => Box::new(BufReader::with_capacity(1 << 16, file)),
        }
    }

    fn stream(input: Box<dyn BufRead + Send>) -> Self {
        LineReader {
            input,
            path: None,
            offset: 0,
            buffer: Vec::new(),
            follow: None,
            skipping: None,
        }
    }

    fn next_line(&mut self) -> io::Result<Option<Line>> {
        if self.follow.is_none() {
            self.buffer.clear();
        }
        if self.skipping.is_none() {
            // One byte past the limit tells a line that is too long.
            let room = (MAX_LINE_BYTES + 1).saturating_sub(self.buffer.len()) as u64;
            (&mut self.input)
                .take(room)
                .read_until(b'\n', &mut self.buffer)?;
            if self.buffer.len() > MAX_LINE_BYTES && !self.buffer.ends_with(b"\n") {
                self.skipping = Some(self.buffer.len() as u64);
                self.buffer.truncate(1024);
            }
        }
        if let Some(read) = self.skipping {
            let (read, ended) = self.skip_rest_of_line(read)?;
            self.skipping = Some(read);
            if !ended && self.follow.is_some() {
                return Ok(None);
            }
            self.skipping = None;
            let start = self.offset;
            self.offset += read;
            let bad_line = BadLine {
                reason: format!(
                    "the line is longer than the limit of {} MiB (the input holds its first KiB)",
                    MAX_LINE_BYTES >> 20
                ),
                bytes: std::mem::take(&mut self.buffer),
            };
            return Ok(Some((Err(bad_line), start)));
        }
        if self.buffer.is_empty() || self.follow.is_some() && !self.buffer.ends_with(b"\n") {
            return Ok(None);
        }
        let start = self.offset;
        self.offset += self.buffer.len() as u64;
        let mut bytes = self.buffer.as_slice();
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|err| BadLine {
                reason: format!("not valid UTF-8: {err}"),
                bytes: bytes.to_vec(),
            });
        self.buffer.clear();
        Ok(Some((text, start)))
    }

    /// Consumes the rest of a line too long to keep, of which `read` bytes were
    /// read: how many now, and whether its end (a newline or the end of input) came.
    fn skip_rest_of_line(&mut self, mut read: u64) -> io::Result<(u64, bool)> {
        loop {
            let available = self.input.fill_buf()?;
            if available.is_empty() {
                return Ok((read, false));
            }
            let (used, ended) = match available.iter().position(|&b| b == b'\n') {
                Some(newline) => (newline + 1, true),
                None => (available.len(), false),
            };
            self.input.consume(used);
            read += used as u64;
            if ended {
                return Ok((read, true));
            }
        }
    }

    fn seek(&mut self, offset: u64) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "standard input cannot be read again from a position",
            ));
        };
        let mut file = File::open(path)?;
        let size = file.metadata()?.len();
        if offset > size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} has {size} bytes, fewer than the {offset} already read: it is not the file the checkpoint was taken on",
                    path.display()
                ),
            ));
        }
        io::Seek::seek(&mut file, io::SeekFrom::Start(offset))?;
        self.input = Self::buffered(file, offset, &self.follow);
        self.offset = offset;
        self.buffer.clear();
        self.skipping = None;
        Ok(())
    }
}

/// Reads a position field.
pub(crate) fn field<T: serde::de::DeserializeOwned>(position: &Value, name: &str) -> io::Result<T> {
    position
        .get(name)
        .cloned()
        .and_then(|value| serde_json::from_value(value).ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the checkpoint's source position has no valid {name:?}"),
            )
        })
}

/// A scripted stream; see the test_stream format in docs/spec.md.
pub struct TestStream {
    name: String,
    lines: LineReader,
    line: u64,
    watermark: Timestamp,
    processing_time: Timestamp,
    records: u64,
    size: u64,
}

impl TestStream {
    /// Opens the script at `path`.
    pub fn open(path: &Path) -> io::Result<Self> {
        let (lines, size) = LineReader::file(path)?;
        Ok(Self::new(path.display().to_string(), lines, size))
    }

    /// Reads the script from standard input.
    pub fn stdin() -> Self {
        let input = Box::new(BufReader::new(io::stdin()));
        Self::new("stdin".to_owned(), LineReader::stream(input), 0)
    }

    fn new(name: String, lines: LineReader, size: u64) -> Self {
        TestStream {
            name,
            lines,
            line: 0,
            watermark: MIN_TIMESTAMP,
            processing_time: 0,
            records: 0,
            size,
        }
    }

    fn event(&mut self, text: &str, dead: &mut Vec<DeadLetter>) -> Result<Option<Event>, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|err| format!("not valid JSON: {err}"))?;
        let Value::Object(object) = value else {
            return Err(EVENT_SHAPE.to_owned());
        };
        if object.len() != 1 {
            return Err(EVENT_SHAPE.to_owned());
        }
        let (kind, body) = object.into_iter().next().ok_or(EVENT_SHAPE)?;
        match kind.as_str() {
            "add" => {
                let Value::Array(elements) = body else {
                    return Err("\"add\" must be a list of elements".to_owned());
                };
                let mut records = Vec::with_capacity(elements.len());
                for (index, element) in elements.into_iter().enumerate() {
                    match test_element(element.clone()) {
                        Ok(record) => records.push(record),
                        Err(reason) => dead.push(DeadLetter::input(
                            &self.name,
                            self.line,
                            Some(index),
                            &element.to_string(),
                            reason,
                        )),
                    }
                }
                self.records += records.len() as u64;
                Ok((!records.is_empty()).then_some(Event::Records(records)))
            }
            "watermark" => advance(&mut self.watermark, &body, "watermark")
                .map(|watermark| Some(Event::Watermark(watermark))),
            "processing_time" => advance(&mut self.processing_time, &body, "processing time")
                .map(|now| Some(Event::ProcessingTime(now))),
            _ => Err(EVENT_SHAPE.to_owned()),
        }
    }
}

const EVENT_SHAPE: &str =
    "expected one of {\"add\": [...]}, {\"watermark\": ms} or {\"processing_time\": ms}";

/// Moves a clock forward to the milliseconds in `body`, a supported event time; it
/// never moves back.
fn advance(clock: &mut Timestamp, body: &Value, what: &str) -> Result<Timestamp, String> {
    let time = body
        .as_i64()
        .ok_or_else(|| format!("the {what} must be milliseconds, found {body}"))?;
    let time = event_time(time).map_err(|err| format!("the {what}: {err}"))?;
    if time < *clock {
        return Err(format!(
            "the {what} {time} is behind the current {what} {clock}"
        ));
    }
    *clock = time;
    Ok(time)
}

/// Reads one test-stream element: `{"key": …, "value": …, "ts": ms}`.
fn test_element(element: Value) -> Result<Record, String> {
    let Value::Object(mut fields) = element else {
        return Err(
            "an element must be an object with \"ts\", \"value\" and optionally \"key\"".to_owned(),
        );
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["key", "value", "ts"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown field {unknown:?}; an element has \"key\", \"value\" and \"ts\""
        ));
    }
    let ts = fields
        .get("ts")
        .ok_or("an element needs \"ts\"")
        .map_err(std::borrow::ToOwned::to_owned)
        .and_then(|ts| {
            read_timestamp(ts, TimestampFormat::Auto).map_err(|err| format!("\"ts\": {err}"))
        })?;
    let key = fields.get("key").map_or_else(Key::null, Key::from_value);
    let value = fields.remove("value").unwrap_or(Value::Null);
    Ok(Record::new(key, value, ts))
}

/// Reads an event time written in `format`; it must be in the supported range.
fn read_timestamp(value: &Value, format: TimestampFormat) -> Result<Timestamp, String> {
    let ts = match (format, value) {
        (TimestampFormat::Auto | TimestampFormat::Millis, Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("expected integer milliseconds, found {n}"))?,
        (TimestampFormat::Seconds, Value::Number(n)) => {
            let seconds = n.as_f64().unwrap_or(f64::NAN);
            let millis = (seconds * 1000.0).round();
            if !millis.is_finite() {
                return Err(format!("expected seconds since the epoch, found {n}"));
            }
            // Saturates, and the range check below refuses what saturated.
            millis as i64
        }
        (TimestampFormat::Auto | TimestampFormat::Rfc3339, Value::String(text)) => {
            parse_rfc3339(text)?
        }
        (TimestampFormat::Millis, other) => {
            return Err(format!("expected integer milliseconds, found {other}"));
        }
        (TimestampFormat::Seconds, other) => {
            return Err(format!("expected seconds since the epoch, found {other}"));
        }
        (_, other) => {
            return Err(format!(
                "expected milliseconds or an RFC 3339 time, found {other}"
            ));
        }
    };
    event_time(ts).map_err(|err| err.to_string())
}

impl Source for TestStream {
    fn poll(
        &mut self,
        events: &mut Vec<Event>,
        dead: &mut Vec<DeadLetter>,
        _timeout: Option<Duration>,
    ) -> io::Result<Poll> {
        loop {
            let Some((line, _)) = self.lines.next_line()? else {
                return Ok(Poll::End);
            };
            self.line += 1;
            let line = match line {
                Ok(line) => line,
                Err(BadLine { reason, bytes }) => {
                    dead.push(DeadLetter::input_bytes(
                        &self.name, self.line, &bytes, reason,
                    ));
                    return Ok(Poll::Events);
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            match self.event(&line, dead) {
                Ok(Some(event)) => {
                    events.push(event);
                    return Ok(Poll::Events);
                }
                Ok(None) => return Ok(Poll::Events),
                Err(reason) => {
                    dead.push(DeadLetter::input(
                        &self.name, self.line, None, &line, reason,
                    ));
                    return Ok(Poll::Events);
                }
            }
        }
    }

    fn clock(&self) -> Clock {
        Clock::Virtual
    }

    fn progress(&self) -> Option<(u64, u64)> {
        (self.size > 0).then_some((self.lines.offset.min(self.size), self.size))
    }

    fn records_read(&self) -> u64 {
        self.records
    }

    fn position(&self) -> Option<Value> {
        self.lines.path.as_ref()?;
        Some(serde_json::json!({
            "offset": self.lines.offset,
            "line": self.line,
            "records": self.records,
            "watermark": self.watermark,
            "processing_time": self.processing_time,
        }))
    }

    fn seek(&mut self, position: &Value) -> io::Result<()> {
        self.lines.seek(field(position, "offset")?)?;
        self.line = field(position, "line")?;
        self.records = field(position, "records")?;
        self.watermark = field(position, "watermark")?;
        self.processing_time = field(position, "processing_time")?;
        Ok(())
    }
}

/// Which fields of a JSON value hold a record's event time, key and value: what
/// the JSON Lines and Kafka sources share.
#[derive(Clone, Debug)]
pub(crate) struct RecordFields {
    /// The event-time field (`None`: the source has its own, Kafka's timestamp).
    pub(crate) timestamp: Option<FieldPath>,
    pub(crate) timestamp_format: TimestampFormat,
    /// The key field (`None`: the source's own key, or the null key).
    pub(crate) key: Option<FieldPath>,
    /// The value field (`None`: the whole value).
    pub(crate) value: Option<FieldPath>,
}

impl RecordFields {
    /// `value` as a record; `timestamp` and `key` give the event time and key
    /// when no field is named for them.
    pub(crate) fn read(
        &self,
        value: Value,
        timestamp: impl FnOnce() -> Result<Timestamp, String>,
        key: impl FnOnce() -> Result<Key, String>,
    ) -> Result<Record, String> {
        let ts = match &self.timestamp {
            Some(path) => path
                .get(&value)
                .ok_or_else(|| format!("missing the event-time field {:?}", path.to_string()))
                .and_then(|ts| {
                    read_timestamp(ts, self.timestamp_format)
                        .map_err(|err| format!("field {:?}: {err}", path.to_string()))
                })?,
            None => timestamp()?,
        };
        let key = match &self.key {
            None => key()?,
            Some(path) => Key::from_value(
                path.get(&value)
                    .ok_or_else(|| format!("missing the key field {:?}", path.to_string()))?,
            ),
        };
        let value = match &self.value {
            None => value,
            Some(path) => take_field(value, path)
                .ok_or_else(|| format!("missing the value field {:?}", path.to_string()))?,
        };
        Ok(Record::new(key, value, ts))
    }
}

/// Turns JSON objects into records as a [`JsonLinesSpec`] says.
#[derive(Clone, Debug)]
pub struct LineFormat {
    fields: RecordFields,
}

impl LineFormat {
    /// The format of `spec`.
    pub fn new(spec: &JsonLinesSpec) -> Self {
        LineFormat {
            fields: RecordFields {
                timestamp: Some(spec.timestamp.clone()),
                timestamp_format: spec.timestamp_format,
                key: spec.key.clone(),
                value: spec.value.clone(),
            },
        }
    }

    /// Reads one line into a record.
    pub fn read(&self, line: &str) -> Result<Record, String> {
        let value: Value =
            serde_json::from_str(line).map_err(|err| format!("not valid JSON: {err}"))?;
        let Value::Object(_) = value else {
            return Err("expected a JSON object".to_owned());
        };
        // A line's event-time field is always named (`ts` by default).
        self.fields.read(
            value,
            || Err("no event-time field".to_owned()),
            || Ok(Key::null()),
        )
    }
}

fn take_field(value: Value, path: &FieldPath) -> Option<Value> {
    let mut current = value;
    for part in path.parts() {
        let Value::Object(mut map) = current else {
            return None;
        };
        current = map.remove(part)?;
    }
    Some(current)
}

/// Where JSON Lines come from.
enum LineInput {
    File {
        lines: LineReader,
        size: u64,
        /// For a followed file, what wakes the source when lines are appended.
        follow: Option<Arc<Wakeup>>,
    },
    Stdin(Receiver<io::Result<Result<String, BadLine>>>),
}

/// JSON Lines from a file or standard input.
pub struct JsonLines {
    name: String,
    input: LineInput,
    format: LineFormat,
    watermark: BoundedOutOfOrderness,
    emitted_watermark: Timestamp,
    bundle_size: usize,
    /// A record held back to start the next bundle, after a watermark advance,
    /// with the offset and number of its line.
    carried: Option<(Record, u64, u64)>,
    line: u64,
    records: u64,
}

impl JsonLines {
    /// Reads the file at `path`.
    pub fn file(path: &Path, spec: &JsonLinesSpec) -> io::Result<Self> {
        let (lines, size) = LineReader::file(path)?;
        Ok(Self::new(
            path.display().to_string(),
            LineInput::File {
                lines,
                size,
                follow: None,
            },
            spec,
        ))
    }

    /// Follows `followed` (created if missing): at the end of what may be read the
    /// source waits for more lines, woken by `wakeup`, and never ends by itself.
    pub fn follow(
        followed: &Followed,
        spec: &JsonLinesSpec,
        wakeup: Arc<Wakeup>,
    ) -> io::Result<Self> {
        File::options()
            .create(true)
            .append(true)
            .open(&followed.path)?;
        let (lines, _) = LineReader::open(&followed.path, Some(followed.readable.clone()))?;
        Ok(Self::new(
            followed.name.clone(),
            LineInput::File {
                lines,
                size: 0,
                follow: Some(wakeup),
            },
            spec,
        ))
    }

    /// Reads standard input (on a thread, so that timers fire while input is idle).
    pub fn stdin(spec: &JsonLinesSpec) -> Self {
        Self::reader("stdin", io::stdin(), spec)
    }

    /// Reads any byte stream the way stdin is read.
    pub fn reader(name: &str, reader: impl Read + Send + 'static, spec: &JsonLinesSpec) -> Self {
        let (sender, receiver) = mpsc::sync_channel(spec.bundle_size.max(1) * 4);
        std::thread::Builder::new()
            .name("millrace-stdin".to_owned())
            .spawn(move || {
                // The decoder of files, so that a line means the same on stdin.
                let mut lines = LineReader::stream(Box::new(BufReader::new(reader)));
                loop {
                    let line = match lines.next_line() {
                        Ok(Some((line, _))) => Ok(line),
                        Ok(None) => break,
                        Err(err) => Err(err),
                    };
                    let stop = line.is_err();
                    if sender.send(line).is_err() || stop {
                        break;
                    }
                }
            })
            .ok();
        Self::new(name.to_owned(), LineInput::Stdin(receiver), spec)
    }

    fn new(name: String, input: LineInput, spec: &JsonLinesSpec) -> Self {
        JsonLines {
            name,
            input,
            format: LineFormat::new(spec),
            watermark: BoundedOutOfOrderness::new(spec.max_out_of_orderness),
            emitted_watermark: MIN_TIMESTAMP,
            bundle_size: spec.bundle_size.max(1),
            carried: None,
            line: 0,
            records: 0,
        }
    }

    fn next_line(&mut self, wait: Option<Duration>, first: bool) -> io::Result<LineRead> {
        match &mut self.input {
            LineInput::File {
                lines,
                follow: None,
                ..
            } => Ok(match lines.next_line()? {
                Some((Ok(line), offset)) => LineRead::Line(line, offset),
                Some((Err(bad_line), _)) => LineRead::Invalid(bad_line),
                None => LineRead::End,
            }),
            LineInput::File {
                lines,
                follow: Some(wakeup),
                ..
            } => {
                let seen = wakeup.generation();
                let mut next = lines.next_line()?;
                if next.is_none() && first {
                    wakeup.wait(seen, wait.unwrap_or(FOLLOW_WAIT).min(FOLLOW_WAIT));
                    next = lines.next_line()?;
                }
                Ok(match next {
                    Some((Ok(line), offset)) => LineRead::Line(line, offset),
                    Some((Err(bad_line), _)) => LineRead::Invalid(bad_line),
                    None => LineRead::Pending,
                })
            }
            LineInput::Stdin(receiver) => {
                let received = if first {
                    match wait {
                        Some(wait) => receiver.recv_timeout(wait),
                        None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    }
                } else {
                    receiver.try_recv().map_err(|err| match err {
                        mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                        mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    })
                };
                match received {
                    Ok(line) => Ok(match line? {
                        Ok(line) => LineRead::Line(line, 0),
                        Err(bad_line) => LineRead::Invalid(bad_line),
                    }),
                    Err(RecvTimeoutError::Timeout) => Ok(LineRead::Pending),
                    Err(RecvTimeoutError::Disconnected) => Ok(LineRead::End),
                }
            }
        }
    }
}

enum LineRead {
    /// A line and its offset.
    Line(String, u64),
    /// A line that is not text.
    Invalid(BadLine),
    Pending,
    End,
}

impl Source for JsonLines {
    fn poll(
        &mut self,
        events: &mut Vec<Event>,
        dead: &mut Vec<DeadLetter>,
        timeout: Option<Duration>,
    ) -> io::Result<Poll> {
        let mut records: Vec<Record> = self.carried.take().map(|c| c.0).into_iter().collect();
        let mut ended = false;
        let mut read_any = !records.is_empty();
        while records.len() < self.bundle_size {
            let (line, offset) = match self.next_line(timeout, !read_any)? {
                LineRead::Line(line, offset) => (line, offset),
                LineRead::Invalid(BadLine { reason, bytes }) => {
                    read_any = true;
                    self.line += 1;
                    dead.push(DeadLetter::input_bytes(
                        &self.name, self.line, &bytes, reason,
                    ));
                    continue;
                }
                LineRead::Pending => break,
                LineRead::End => {
                    ended = true;
                    break;
                }
            };
            read_any = true;
            self.line += 1;
            if line.trim().is_empty() {
                continue;
            }
            match self.format.read(&line) {
                Ok(record) => {
                    // A record behind the watermark its predecessors imply starts a new
                    // bundle after that watermark, so lateness is judged record by
                    // record whatever the bundle size.
                    let behind = record.timestamp < self.watermark.current()
                        && self.watermark.current() > self.emitted_watermark;
                    self.watermark.observe(record.timestamp);
                    if behind {
                        self.carried = Some((record, offset, self.line));
                        break;
                    }
                    records.push(record);
                }
                Err(reason) => dead.push(DeadLetter::input(
                    &self.name, self.line, None, &line, reason,
                )),
            }
        }
        self.records += records.len() as u64;
        if !records.is_empty() {
            events.push(Event::Records(records));
        }
        // A carried record is behind the watermark, so observing it moved nothing.
        let watermark = self.watermark.current();
        if watermark > self.emitted_watermark {
            self.emitted_watermark = watermark;
            events.push(Event::Watermark(watermark));
        }
        Ok(if read_any {
            Poll::Events
        } else if ended {
            Poll::End
        } else {
            Poll::Idle
        })
    }

    fn clock(&self) -> Clock {
        Clock::Wall
    }

    fn progress(&self) -> Option<(u64, u64)> {
        match &self.input {
            LineInput::File {
                follow: Some(_), ..
            }
            | LineInput::Stdin(_) => None,
            LineInput::File { size, lines, .. } => Some((lines.offset.min(*size), *size)),
        }
    }

    fn records_read(&self) -> u64 {
        self.records
    }

    fn is_live(&self) -> bool {
        matches!(
            self.input,
            LineInput::Stdin(_)
                | LineInput::File {
                    follow: Some(_),
                    ..
                }
        )
    }

    fn position(&self) -> Option<Value> {
        let LineInput::File { lines, .. } = &self.input else {
            return None;
        };
        // A carried record has been read but not delivered: resume at its line.
        let (offset, line) = match &self.carried {
            Some((_, offset, line)) => (*offset, line - 1),
            None => (lines.offset, self.line),
        };
        Some(serde_json::json!({
            "offset": offset,
            "line": line,
            "records": self.records,
            "latest": self.watermark.latest(),
            "watermark": self.emitted_watermark,
        }))
    }

    fn seek(&mut self, position: &Value) -> io::Result<()> {
        let LineInput::File { lines, .. } = &mut self.input else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "standard input cannot be read again from a position",
            ));
        };
        lines.seek(field(position, "offset")?)?;
        self.carried = None;
        self.line = field(position, "line")?;
        self.records = field(position, "records")?;
        self.watermark.restore(field(position, "latest")?);
        self.emitted_watermark = field(position, "watermark")?;
        Ok(())
    }
}

/// Generated records: `keys` keys, `rate` records per second of event time, each up
/// to `out_of_orderness` behind, with a watermark that trails by that much (so no
/// record is late). Values are integers from 0 to 99.
pub struct Generator {
    spec: GeneratorSpec,
    keys: Vec<Key>,
    rng: fastrand::Rng,
    produced: u64,
}

impl Generator {
    /// A generator as `spec` describes.
    pub fn new(spec: &GeneratorSpec) -> Self {
        let width = spec.keys.to_string().len();
        Generator {
            keys: (0..spec.keys)
                .map(|i| Key::from_str_value(&format!("key-{i:0width$}")))
                .collect(),
            rng: fastrand::Rng::with_seed(spec.seed),
            spec: spec.clone(),
            produced: 0,
        }
    }

    fn base_time(&self, index: u64) -> Timestamp {
        self.spec
            .start
            .saturating_add((i128::from(index) * 1000 / i128::from(self.spec.rate)) as i64)
    }
}

impl Source for Generator {
    fn poll(
        &mut self,
        events: &mut Vec<Event>,
        dead: &mut Vec<DeadLetter>,
        _timeout: Option<Duration>,
    ) -> io::Result<Poll> {
        let remaining = self
            .spec
            .elements
            .map_or(u64::MAX, |total| total - self.produced);
        if remaining == 0 {
            return Ok(Poll::End);
        }
        let count = remaining.min(self.spec.bundle_size as u64);
        let mut records = Vec::with_capacity(count as usize);
        let jitter = self.spec.out_of_orderness.max(0) as u64;
        for _ in 0..count {
            let index = self.produced;
            self.produced += 1;
            let key = self.keys[self.rng.u64(0..self.spec.keys) as usize].clone();
            let late = if jitter == 0 {
                0
            } else {
                self.rng.u64(0..=jitter) as i64
            };
            let ts = self.base_time(index).saturating_sub(late);
            let value = Value::from(self.rng.u8(0..100));
            // An unbounded generator eventually runs past the supported range.
            match event_time(ts) {
                Ok(ts) => records.push(Record::new(key, value, ts)),
                Err(err) => dead.push(DeadLetter::input(
                    "generator",
                    index + 1,
                    None,
                    &value.to_string(),
                    err.to_string(),
                )),
            }
        }
        if !records.is_empty() {
            events.push(Event::Records(records));
        }
        events.push(Event::Watermark(
            self.base_time(self.produced - 1)
                .saturating_sub(self.spec.out_of_orderness),
        ));
        Ok(Poll::Events)
    }

    fn clock(&self) -> Clock {
        Clock::Wall
    }

    fn progress(&self) -> Option<(u64, u64)> {
        self.spec.elements.map(|total| (self.produced, total))
    }

    fn records_read(&self) -> u64 {
        self.produced
    }

    fn position(&self) -> Option<Value> {
        Some(serde_json::json!({"produced": self.produced, "seed": self.rng.get_seed()}))
    }

    fn seek(&mut self, position: &Value) -> io::Result<()> {
        self.produced = field(position, "produced")?;
        self.rng.seed(field(position, "seed")?);
        Ok(())
    }
}

/// The Nexmark benchmark's events (persons, auctions and bids), generated as
/// Beam's generator does (`millrace_nexmark`). Each record's value is one event,
/// `{"person": {…}}`, `{"auction": {…}}` or `{"bid": {…}}` in Beam's field names,
/// its key null and its time the event's `dateTime`; after each bundle the
/// watermark is the generator's (no later event is earlier).
pub struct Nexmark {
    generator: millrace_nexmark::Generator,
    bundle_size: usize,
}

impl Nexmark {
    /// The events `spec` describes, from the first.
    pub fn new(spec: &NexmarkSpec) -> Result<Self, millrace_nexmark::ConfigError> {
        Ok(Nexmark {
            generator: millrace_nexmark::Generator::new(spec.config.clone())?,
            bundle_size: spec.bundle_size,
        })
    }
}

impl Source for Nexmark {
    fn poll(
        &mut self,
        events: &mut Vec<Event>,
        dead: &mut Vec<DeadLetter>,
        _timeout: Option<Duration>,
    ) -> io::Result<Poll> {
        let mut records = Vec::with_capacity(self.bundle_size);
        let dead_before = dead.len();
        for _ in 0..self.bundle_size {
            let number = self.generator.next_event_number();
            let Some(event) = self.generator.next() else {
                break;
            };
            let value = serde_json::to_value(&event).unwrap_or(Value::Null);
            match event_time(event.timestamp()) {
                Ok(ts) => records.push(Record::new(Key::null(), value, ts)),
                Err(err) => dead.push(DeadLetter::input(
                    "nexmark",
                    number + 1,
                    None,
                    &value.to_string(),
                    err.to_string(),
                )),
            }
        }
        if records.is_empty() && dead.len() == dead_before {
            return Ok(Poll::End);
        }
        if !records.is_empty() {
            events.push(Event::Records(records));
        }
        events.push(Event::Watermark(self.generator.watermark()));
        Ok(Poll::Events)
    }

    fn clock(&self) -> Clock {
        Clock::Wall
    }

    fn progress(&self) -> Option<(u64, u64)> {
        Some((
            self.generator.next_event_number(),
            self.generator.config().num_events,
        ))
    }

    fn records_read(&self) -> u64 {
        self.generator.next_event_number()
    }

    fn position(&self) -> Option<Value> {
        Some(serde_json::json!({"event": self.generator.next_event_number()}))
    }

    fn seek(&mut self, position: &Value) -> io::Result<()> {
        let event = field(position, "event")?;
        self.generator = millrace_nexmark::Generator::at(self.generator.config().clone(), event)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err.to_string()))?;
        Ok(())
    }
}

/// The path a source reads, for overrides and messages.
pub fn describe(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or_else(|| "stdin".to_owned(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    fn drain(source: &mut dyn Source) -> (Vec<Event>, Vec<DeadLetter>) {
        let (mut events, mut dead) = (Vec::new(), Vec::new());
        while source
            .poll(&mut events, &mut dead, Some(Duration::from_secs(5)))
            .unwrap()
            != Poll::End
        {}
        (events, dead)
    }

    fn temp_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn test_stream_replays_events_and_dead_letters_bad_lines() {
        let file = temp_file(
            "{\"watermark\": 0}\n\
             {\"processing_time\": 299000}\n\
             {\"add\": [{\"key\": \"TeamX\", \"value\": 5, \"ts\": 26000}, {\"value\": 1}]}\n\
             not json\n\
             {\"watermark\": -5}\n\
             {\"add\": [{\"value\": 2, \"ts\": 1}]}\n",
        );
        let mut stream = TestStream::open(file.path()).unwrap();
        let (events, dead) = drain(&mut stream);
        assert_eq!(events.len(), 4);
        assert_eq!(events[0], Event::Watermark(0));
        assert_eq!(events[1], Event::ProcessingTime(299_000));
        let Event::Records(records) = &events[2] else {
            panic!("expected records")
        };
        assert_eq!(records[0].key.as_json(), "\"TeamX\"");
        assert_eq!(records[0].value, json!(5));
        let Event::Records(records) = &events[3] else {
            panic!("expected records")
        };
        assert_eq!(records[0].key, Key::null());
        let reasons: Vec<(u64, String)> = dead
            .iter()
            .map(|d| match &d.origin {
                millrace_model::dead_letter::Origin::Input { line, .. } => {
                    (*line, d.reason.clone())
                }
                _ => panic!("input origin expected"),
            })
            .collect();
        assert_eq!(reasons[0], (3, "an element needs \"ts\"".to_owned()));
        assert_eq!(reasons[1].0, 4);
        assert!(reasons[1].1.starts_with("not valid JSON"));
        assert_eq!(
            reasons[2],
            (
                5,
                "the watermark -5 is behind the current watermark 0".to_owned()
            )
        );
        assert_eq!(stream.records_read(), 2);
    }

    #[test]
    fn json_lines_bundles_and_trails_the_watermark() {
        let file = temp_file(
            "{\"user\": \"a\", \"score\": 5, \"ts\": 1000}\n\
             {\"user\": \"b\", \"score\": 7, \"ts\": \"1970-01-01T00:00:09Z\"}\n\
             \n\
             {\"user\": \"a\", \"ts\": 5000}\n\
             {\"score\": 1, \"ts\": 2000}\n",
        );
        let spec = JsonLinesSpec {
            key: FieldPath::parse("user").ok(),
            value: FieldPath::parse("score").ok(),
            max_out_of_orderness: 2000,
            bundle_size: 2,
            ..JsonLinesSpec::defaults()
        };
        let mut source = JsonLines::file(file.path(), &spec).unwrap();
        let (events, dead) = drain(&mut source);
        assert_eq!(
            events,
            vec![
                Event::Records(vec![
                    Record::new(Key::from_str_value("a"), json!(5), 1000),
                    Record::new(Key::from_str_value("b"), json!(7), 9000),
                ]),
                Event::Watermark(7000),
            ]
        );
        assert_eq!(dead.len(), 2);
        assert_eq!(dead[0].reason, "missing the value field \"score\"");
        assert_eq!(dead[1].reason, "missing the key field \"user\"");
    }

    #[test]
    fn stdin_style_reader_ends_when_the_stream_closes() {
        let spec = JsonLinesSpec::defaults();
        let input = io::Cursor::new(b"{\"ts\": 1}\n{\"ts\": 2}\n".to_vec());
        let mut source = JsonLines::reader("stdin", input, &spec);
        let (events, dead) = drain(&mut source);
        assert!(dead.is_empty());
        let records: usize = events
            .iter()
            .map(|e| match e {
                Event::Records(r) => r.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(records, 2);
    }

    #[test]
    fn invalid_utf8_is_a_dead_letter_with_its_bytes_on_stdin_as_in_a_file() {
        let text = b"{\"ts\": 1}\n{\"ts\": \xff}\n{\"ts\": 2}\n";
        let spec = JsonLinesSpec::defaults();
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        let mut from_file = JsonLines::file(file.path(), &spec).unwrap();
        let mut from_stdin = JsonLines::reader("stdin", io::Cursor::new(text.to_vec()), &spec);
        for source in [&mut from_file as &mut dyn Source, &mut from_stdin] {
            let (_, dead) = drain(source);
            // Lines on stdin come in as a thread reads them: count, not bundles.
            assert_eq!(source.records_read(), 2);
            assert_eq!(dead.len(), 1);
            let letter = serde_json::to_value(&dead[0]).unwrap();
            assert_eq!(letter["line"], 2);
            assert_eq!(letter["input"], "{\"ts\": \u{fffd}}");
            assert_eq!(letter["input_base64"], "eyJ0cyI6IP99");
            assert!(dead[0].reason.starts_with("not valid UTF-8"));
        }
    }

    #[test]
    fn a_line_past_the_length_limit_is_a_dead_letter_and_reading_goes_on() {
        let mut text = b"{\"ts\": 1}\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        text.extend_from_slice(b"\n{\"ts\": 2}\n");
        let spec = JsonLinesSpec::defaults();
        let mut source = JsonLines::reader("stdin", io::Cursor::new(text), &spec);
        let (_, dead) = drain(&mut source);
        assert_eq!(source.records_read(), 2);
        assert_eq!(dead.len(), 1);
        assert!(dead[0].reason.contains("longer than the limit of 16 MiB"));
        let letter = serde_json::to_value(&dead[0]).unwrap();
        assert_eq!(letter["line"], 2);
        assert_eq!(letter["input"].as_str().unwrap().len(), 1024);
    }

    #[test]
    fn times_outside_the_supported_range_are_dead_letters() {
        let file = temp_file(
            "{\"ts\": -9223372036854775807}\n{\"ts\": 9223372036854775806}\n\
             {\"ts\": 9223372036854775}\n{\"ts\": \"9999-12-31T23:59:59Z\"}\n",
        );
        let mut source = JsonLines::file(file.path(), &JsonLinesSpec::defaults()).unwrap();
        let (events, dead) = drain(&mut source);
        assert_eq!(source.records_read(), 2);
        assert_eq!(dead.len(), 2);
        assert!(
            dead[0].reason.contains("outside the supported range"),
            "{}",
            dead[0].reason
        );
        let times: Vec<Timestamp> = events
            .iter()
            .flat_map(|event| match event {
                Event::Records(records) => records.iter().map(|r| r.timestamp).collect(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(times, [9_223_372_036_854_775, 253_402_300_799_000]);
        let script = temp_file(
            "{\"watermark\": -9223372036854775807}\n{\"processing_time\": 9223372036854775807}\n\
             {\"add\": [{\"ts\": -9223372036854775807}, {\"ts\": 5}]}\n{\"watermark\": 10}\n",
        );
        let mut stream = TestStream::open(script.path()).unwrap();
        let (events, dead) = drain(&mut stream);
        assert_eq!(dead.len(), 3);
        assert!(
            dead.iter()
                .all(|d| d.reason.contains("outside the supported range"))
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[1], Event::Watermark(10));
    }

    #[test]
    fn timestamp_formats() {
        assert_eq!(
            read_timestamp(&json!(1.5), TimestampFormat::Seconds),
            Ok(1500)
        );
        assert_eq!(
            read_timestamp(&json!(1500), TimestampFormat::Millis),
            Ok(1500)
        );
        assert!(read_timestamp(&json!("1970-01-01T00:00:01Z"), TimestampFormat::Millis).is_err());
        assert_eq!(
            read_timestamp(&json!("1970-01-01T00:00:01Z"), TimestampFormat::Rfc3339),
            Ok(1000)
        );
        assert!(read_timestamp(&json!(i64::MAX), TimestampFormat::Auto).is_err());
    }

    #[test]
    fn generator_is_deterministic_and_never_late() {
        let spec = GeneratorSpec {
            elements: Some(2500),
            keys: 10,
            rate: 100,
            out_of_orderness: 500,
            bundle_size: 1000,
            ..GeneratorSpec::defaults()
        };
        let (a, _) = drain(&mut Generator::new(&spec));
        let (b, _) = drain(&mut Generator::new(&spec));
        assert_eq!(a, b);
        let mut watermark = MIN_TIMESTAMP;
        for event in &a {
            match event {
                Event::Records(records) => {
                    assert!(records.iter().all(|r| r.timestamp >= watermark));
                }
                Event::Watermark(w) => watermark = *w,
                Event::ProcessingTime(_) => {}
            }
        }
        assert_eq!(a.len(), 6);
    }
}
