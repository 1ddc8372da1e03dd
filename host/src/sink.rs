//! Sinks: where panes are written, as JSON Lines in DESIGN.md's pane format.
//!
//! ```json
//! {"key":"TeamX","window":{"start":0,"end":120000},"value":12,"ts":119999,
//!  "pane":{"timing":"ON_TIME","index":1,"first":false,"last":false},"retraction":false}
//! ```
//!
//! Standard output is at-least-once: after a crash, records written since the last
//! checkpoint may be written again.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::record::Record;
use crate::window::Window;

/// Where records go.
pub trait Sink: Send {
    /// Writes records, in order.
    fn write(&mut self, records: &[Record]) -> io::Result<()>;

    /// Makes everything written so far visible.
    fn flush(&mut self) -> io::Result<()>;

    /// How many records were written.
    fn written(&self) -> u64;

    /// Where the records go, for messages.
    fn description(&self) -> &str;
}

/// Writes records as JSON Lines.
pub struct JsonLinesSink {
    out: Box<dyn Write + Send>,
    description: String,
    written: u64,
}

impl JsonLinesSink {
    /// Writes to a file, created or truncated (its folder too).
    pub fn file(path: &Path) -> io::Result<Self> {
        Ok(JsonLinesSink {
            out: Box::new(BufWriter::with_capacity(1 << 16, create_file(path)?)),
            description: path.display().to_string(),
            written: 0,
        })
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        JsonLinesSink {
            out: Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
            description: "stdout".to_owned(),
            written: 0,
        }
    }
}

impl Sink for JsonLinesSink {
    fn write(&mut self, records: &[Record]) -> io::Result<()> {
        for record in records {
            write_record(&mut self.out, record)?;
        }
        self.written += records.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn description(&self) -> &str {
        &self.description
    }
}

/// Counts records and drops them; for benchmarks.
#[derive(Default)]
pub struct CountingSink {
    written: u64,
}

impl Sink for CountingSink {
    fn write(&mut self, records: &[Record]) -> io::Result<()> {
        self.written += records.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn description(&self) -> &str {
        "nowhere"
    }
}

/// Creates (or truncates) the file at `path`, and its folder if needed.
pub fn create_file(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    File::create(path)
}

/// Writes one record as a line of JSON.
pub fn write_record(out: &mut impl Write, record: &Record) -> io::Result<()> {
    out.write_all(b"{\"key\":")?;
    out.write_all(record.key.as_json().as_bytes())?;
    match record.window {
        Window::Global => out.write_all(b",\"window\":\"global\"")?,
        Window::Interval { start, end } => {
            write!(out, ",\"window\":{{\"start\":{start},\"end\":{end}}}")?
        }
    }
    out.write_all(b",\"value\":")?;
    serde_json::to_writer(&mut *out, &record.value)?;
    write!(out, ",\"ts\":{},\"pane\":", record.timestamp)?;
    serde_json::to_writer(&mut *out, &record.pane)?;
    writeln!(out, ",\"retraction\":{}}}", record.retraction)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pane::{PaneInfo, Timing};
    use crate::record::Key;
    use serde_json::json;

    #[test]
    fn writes_the_pane_format() {
        let record = Record {
            key: Key::from_str_value("TeamX"),
            value: json!(12),
            timestamp: 119_999,
            window: Window::interval(0, 120_000),
            pane: PaneInfo {
                timing: Timing::OnTime,
                index: 1,
                first: false,
                last: false,
            },
            retraction: false,
        };
        let mut out = Vec::new();
        write_record(&mut out, &record).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"key\":\"TeamX\",\"window\":{\"start\":0,\"end\":120000},\"value\":12,\"ts\":119999,\
             \"pane\":{\"timing\":\"ON_TIME\",\"index\":1,\"first\":false,\"last\":false},\"retraction\":false}\n"
        );
        let global = Record {
            window: Window::Global,
            key: Key::null(),
            ..record
        };
        let mut out = Vec::new();
        write_record(&mut out, &global).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.starts_with("{\"key\":null,\"window\":\"global\","),
            "{line}"
        );
    }
}
