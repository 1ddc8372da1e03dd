//! The JSON Lines decoders on arbitrary bytes: the record reader a `file`, `stdin` or
//! `ingest` source applies to each line (`LineFormat::read`), the whole `file` source
//! over those bytes (line splitting, UTF-8, bundles, the watermark), and the
//! test-stream script reader over the same bytes. Bad lines must become dead letters,
//! never a panic; every record must carry an event time inside the supported range.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use millrace_model::dead_letter::DeadLetter;
use millrace_model::pipeline::Event;
use millrace_model::time::{MAX_EVENT_TIME, MIN_EVENT_TIME, MIN_TIMESTAMP, Timestamp};
use millrace_runner::source::{JsonLines, LineFormat, Poll, Source, TestStream};
use millrace_runner::spec::{FieldPath, JsonLinesSpec, TimestampFormat};

/// Field paths a spec might name: those of the seed corpus, nested, odd (an empty
/// name is not a field path: the spec reader refuses it).
const PATHS: [&str; 8] = [
    "ts",
    "player",
    "points",
    "key",
    "value",
    "meta.ts",
    "a.b",
    "ü.ß.deeper",
];

/// Watermark bounds from none to the largest a spec accepts.
const BOUNDS: [i64; 4] = [0, 1, 120_000, i64::MAX];

/// How the source is configured; the rest of the input is the file.
#[derive(Arbitrary, Debug)]
struct Config {
    format: u8,
    timestamp: u8,
    key: Option<u8>,
    value: Option<u8>,
    bound: u8,
    bundle_size: u8,
}

impl Config {
    fn spec(&self) -> JsonLinesSpec {
        // Every entry of PATHS is a field path.
        let path = |index: u8| {
            FieldPath::parse(PATHS[index as usize % PATHS.len()]).expect("a field path")
        };
        JsonLinesSpec {
            path: None,
            timestamp: path(self.timestamp),
            timestamp_format: [
                TimestampFormat::Auto,
                TimestampFormat::Millis,
                TimestampFormat::Seconds,
                TimestampFormat::Rfc3339,
            ][self.format as usize % 4],
            key: self.key.map(path),
            value: self.value.map(path),
            max_out_of_orderness: BOUNDS[self.bound as usize % BOUNDS.len()],
            bundle_size: 1 + self.bundle_size as usize % 4,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Unstructured::new(data);
    let Ok(config) = Config::arbitrary(&mut input) else {
        return;
    };
    let bytes = input.take_rest();
    let spec = config.spec();
    let format = LineFormat::new(&spec);
    for line in bytes.split(|&b| b == b'\n') {
        if let Ok(line) = std::str::from_utf8(line)
            && let Ok(record) = format.read(line)
        {
            check_time(record.timestamp);
        }
    }
    let lines = bytes.split(|&b| b == b'\n').count() as u64;
    std::fs::write(scratch(), bytes).expect("the scratch file can be written");
    let source = JsonLines::file(scratch(), &spec).expect("the scratch file opens");
    drain(source, lines);
    let source = TestStream::open(scratch()).expect("the scratch file opens");
    drain(source, lines);
});

/// This process's scratch file (libFuzzer may run several processes side by side).
fn scratch() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::var_os("MILLRACE_FUZZ_SCRATCH")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        dir.join(format!("millrace-fuzz-json-lines-{}", std::process::id()))
    })
}

/// Polls `source` to its end: each poll consumes a line or ends, so `lines` lines
/// take a bounded number of polls. Checks what comes out.
fn drain(mut source: impl Source, lines: u64) {
    let mut events = Vec::new();
    let mut dead: Vec<DeadLetter> = Vec::new();
    let (mut watermark, mut now) = (MIN_TIMESTAMP, MIN_TIMESTAMP);
    for _ in 0..2 * lines + 4 {
        let poll = source
            .poll(&mut events, &mut dead, None)
            .expect("reading the scratch file works");
        for event in events.drain(..) {
            match event {
                Event::Records(batch) => {
                    batch.iter().for_each(|record| check_time(record.timestamp));
                }
                Event::Watermark(next) => {
                    assert!(next >= watermark, "the watermark went back to {next}");
                    watermark = next;
                }
                Event::ProcessingTime(next) => {
                    assert!(next >= now, "processing time went back to {next}");
                    now = next;
                }
            }
        }
        for letter in dead.drain(..) {
            assert!(!letter.reason.is_empty(), "a dead letter without a reason");
        }
        if poll == Poll::End {
            return;
        }
    }
    panic!(
        "the source did not end after {} polls of {lines} lines",
        2 * lines + 4
    );
}

fn check_time(ts: Timestamp) {
    assert!(
        (MIN_EVENT_TIME..=MAX_EVENT_TIME).contains(&ts),
        "a record at {ts}, outside the range of event times"
    );
}
