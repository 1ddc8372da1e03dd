//! Sinks: where panes are written, as JSON Lines in the pane format of docs/panes.md.
//!
//! ```json
//! {"key":"TeamX","window":{"start":0,"end":120000},"value":12,"ts":119999,
//!  "pane":{"timing":"ON_TIME","index":1,"first":false,"last":false},"retraction":false}
//! ```
//!
//! Files are exactly-once when the pipeline checkpoints: output goes to a staging
//! file first and is appended to the real file only once the checkpoint that
//! covers it is complete ([`StagedFile`]), so a reader never sees output that a
//! restarted run would write again. Standard output is at-least-once: after a
//! crash, records written since the last checkpoint are written again.

pub mod dead_letters;

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use millrace_model::record::Record;
use millrace_model::time::Timestamp;
use millrace_model::window::Window;
use millrace_state::checkpoint::SinkCommit;

/// Where records go.
pub trait Sink: Send {
    /// Writes records, in order.
    fn write(&mut self, records: &[Record]) -> io::Result<()>;

    /// Pushes out buffered output (to the staging file, for an exactly-once sink).
    fn flush(&mut self) -> io::Result<()>;

    /// At a checkpoint, before [`Sink::prepare`]: the watermark of the sink's
    /// input. A sink that carries event time on to another stage (a repartition
    /// topic) writes it after the records it covers; others have no use for it.
    fn watermark(&mut self, watermark: Timestamp) -> io::Result<()> {
        let _ = watermark;
        Ok(())
    }

    /// At a checkpoint: makes everything written so far durable, and says what the
    /// checkpoint must record to publish it (`None` for an at-least-once sink).
    fn prepare(&mut self) -> io::Result<Option<SinkCommit>> {
        self.flush().map(|()| None)
    }

    /// The checkpoint completed: publishes what [`Sink::prepare`] covered.
    fn publish(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// How many records were written.
    fn written(&self) -> u64;

    /// Where the records go, for messages.
    fn description(&self) -> &str;

    /// From now on, adds `versions` (the plugin version of each step, by step name)
    /// to the pane metadata of every record; `None` stops it.
    fn trace_versions(&mut self, versions: Option<&[(String, String)]>) {
        let _ = versions;
    }
}

/// A checkpoint as an outside transaction names it: the state directory's
/// lineage (random, chosen when it starts afresh, so that a directory started
/// over is not taken for its predecessor) and the checkpoint's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    /// The state directory's lineage (31 bits).
    pub lineage: u32,
    /// The checkpoint's number.
    pub checkpoint: u64,
}

/// Output that a transaction outside millrace commits: a Kafka transaction per
/// checkpoint. Its records are sent as they come, inside the open transaction;
/// the checkpoint is written first, then the transaction commits with the
/// checkpoint's [`Marker`]. After a crash, [`Transaction::committed`] says which
/// checkpoint's transaction committed last, and newer checkpoints are dropped,
/// since their output is gone with their transaction.
pub trait Transaction: Send + Sync {
    /// The marker of the last transaction committed (`None`: none was).
    fn committed(&self) -> io::Result<Option<Marker>>;

    /// Output from now on belongs to the checkpoint `marker` names.
    fn begin(&self, marker: Marker);

    /// Records sent since the last commit.
    fn pending(&self) -> u64;

    /// Before a checkpoint: waits until everything sent is acknowledged.
    fn prepare(&self) -> io::Result<()>;

    /// The checkpoint `marker` names is complete: commits its transaction.
    fn commit(&self, marker: Marker) -> io::Result<()>;
}

/// An output file: written directly, or staged until checkpoints publish it.
pub enum FileOutput {
    /// Written as it comes (no checkpoints), or a standard stream.
    Direct(Box<dyn Write + Send>),
    /// Exactly-once.
    Staged(StagedFile),
}

impl FileOutput {
    /// Writes straight into `path`, created or truncated (its folder too).
    pub fn direct(path: &Path) -> io::Result<Self> {
        let file = create_file(path)?;
        Ok(FileOutput::Direct(Box::new(BufWriter::with_capacity(
            1 << 16,
            file,
        ))))
    }

    /// At a checkpoint; see [`Sink::prepare`].
    pub fn prepare(&mut self) -> io::Result<Option<SinkCommit>> {
        match self {
            FileOutput::Direct(out) => out.flush().map(|()| None),
            FileOutput::Staged(staged) => staged.prepare().map(Some),
        }
    }

    /// See [`Sink::publish`].
    pub fn publish(&mut self) -> io::Result<()> {
        match self {
            FileOutput::Direct(_) => Ok(()),
            FileOutput::Staged(staged) => staged.publish(),
        }
    }
}

impl Write for FileOutput {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            FileOutput::Direct(out) => out.write(bytes),
            FileOutput::Staged(staged) => staged.write(bytes),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            FileOutput::Direct(out) => out.write_all(bytes),
            FileOutput::Staged(staged) => staged.write_all(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            FileOutput::Direct(out) => out.flush(),
            FileOutput::Staged(staged) => staged.staging.flush(),
        }
    }
}

/// A file whose new bytes become visible only when a checkpoint completes.
///
/// Bytes go to a staging file. At a checkpoint the staging file is made durable
/// and its length recorded ([`SinkCommit`]); once the checkpoint is complete the
/// staged bytes are appended to the target and the staging file emptied. After a
/// crash, [`StagedFile::resume`] finishes a publication the crash interrupted and
/// drops whatever came after the checkpoint, which the resumed run writes again.
pub struct StagedFile {
    target: PathBuf,
    staging_path: PathBuf,
    staging: BufWriter<File>,
    staged: u64,
    published: u64,
}

impl StagedFile {
    /// Starts afresh: the target and the staging file are emptied.
    pub fn create(target: &Path, staging: &Path) -> io::Result<Self> {
        create_file(target)?.sync_all()?;
        Self::open(target, staging, 0)
    }

    /// Continues from the checkpoint that recorded `commit`.
    pub fn resume(target: &Path, staging: &Path, commit: &SinkCommit) -> io::Result<Self> {
        let committed = commit.committed();
        let length = std::fs::metadata(target).map_or(0, |m| m.len());
        if length < commit.published {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} has {length} bytes but {} were published before the checkpoint: it was changed outside millrace",
                    target.display(),
                    commit.published
                ),
            ));
        }
        let mut file = OpenOptions::new().write(true).open(target)?;
        if length > committed {
            // Published after a checkpoint that is not the one resumed (it was
            // damaged): the resumed run writes these bytes again.
            tracing::warn!(
                "{}: dropping {} bytes published after the checkpoint being resumed",
                target.display(),
                length - committed
            );
            file.set_len(committed)?;
        } else if length < committed {
            // The crash came while publishing: finish it from the staging file.
            let mut staged = File::open(staging)?;
            let skip = length - commit.published;
            staged.seek(SeekFrom::Start(skip))?;
            let mut missing = staged.take(committed - length);
            file.seek(SeekFrom::End(0))?;
            let copied = io::copy(&mut missing, &mut file)?;
            if copied != committed - length {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the staging file {} lost output the checkpoint covers",
                        staging.display()
                    ),
                ));
            }
        }
        file.sync_all()?;
        Self::open(target, staging, committed)
    }

    fn open(target: &Path, staging: &Path, published: u64) -> io::Result<Self> {
        let file = create_file(staging)?;
        Ok(StagedFile {
            target: target.to_owned(),
            staging_path: staging.to_owned(),
            staging: BufWriter::with_capacity(1 << 16, file),
            staged: 0,
            published,
        })
    }

    /// Makes the staged bytes durable and returns what the checkpoint records.
    pub fn prepare(&mut self) -> io::Result<SinkCommit> {
        self.staging.flush()?;
        self.staging.get_ref().sync_data()?;
        Ok(SinkCommit {
            path: self.target.display().to_string(),
            published: self.published,
            staged: self.staged,
        })
    }

    /// Appends the staged bytes to the target and empties the staging file.
    pub fn publish(&mut self) -> io::Result<()> {
        if self.staged == 0 {
            return Ok(());
        }
        self.staging.flush()?;
        let mut staged = File::open(&self.staging_path)?;
        let mut target = OpenOptions::new().append(true).open(&self.target)?;
        let copied = io::copy(&mut (&mut staged).take(self.staged), &mut target)?;
        if copied != self.staged {
            return Err(io::Error::other(format!(
                "the staging file {} is shorter than what was staged",
                self.staging_path.display()
            )));
        }
        target.sync_data()?;
        self.published += self.staged;
        self.staged = 0;
        let file = self.staging.get_mut();
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(())
    }
}

impl Write for StagedFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let written = self.staging.write(bytes)?;
        self.staged += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.staging.flush()
    }
}

/// Writes records as JSON Lines.
pub struct JsonLinesSink {
    out: FileOutput,
    description: String,
    written: u64,
    /// The plugin versions to add to each pane, as a JSON object.
    versions: Option<String>,
}

impl JsonLinesSink {
    /// Writes to a file, created or truncated (its folder too).
    pub fn file(path: &Path) -> io::Result<Self> {
        Ok(Self::to(FileOutput::direct(path)?, path))
    }

    /// Writes to `out`, which is the file `path`.
    pub fn to(out: FileOutput, path: &Path) -> Self {
        JsonLinesSink {
            out,
            description: path.display().to_string(),
            written: 0,
            versions: None,
        }
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        JsonLinesSink {
            out: FileOutput::Direct(Box::new(BufWriter::with_capacity(1 << 16, io::stdout()))),
            description: "stdout".to_owned(),
            written: 0,
            versions: None,
        }
    }
}

impl Sink for JsonLinesSink {
    fn write(&mut self, records: &[Record]) -> io::Result<()> {
        match &self.versions {
            None => {
                for record in records {
                    write_record(&mut self.out, record)?;
                }
            }
            Some(versions) => {
                for record in records {
                    write_traced_record(&mut self.out, record, versions)?;
                }
            }
        }
        self.written += records.len() as u64;
        Ok(())
    }

    fn trace_versions(&mut self, versions: Option<&[(String, String)]>) {
        self.versions = versions.map(versions_object);
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn prepare(&mut self) -> io::Result<Option<SinkCommit>> {
        self.out.prepare()
    }

    fn publish(&mut self) -> io::Result<()> {
        self.out.publish()
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn description(&self) -> &str {
        &self.description
    }
}

/// The plugin version of each step, by step name, as a JSON object's text.
pub(crate) fn versions_object(versions: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = versions
        .iter()
        .map(|(step, version)| (step.clone(), version.clone().into()))
        .collect();
    serde_json::Value::Object(map).to_string()
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
    write_head(out, record)?;
    serde_json::to_writer(&mut *out, &record.pane)?;
    writeln!(out, ",\"retraction\":{}}}", record.retraction)
}

/// Everything of a record's line up to its pane's value.
fn write_head(out: &mut impl Write, record: &Record) -> io::Result<()> {
    out.write_all(b"{\"key\":")?;
    out.write_all(record.key.as_json().as_bytes())?;
    match record.window {
        Window::Global => out.write_all(b",\"window\":\"global\"")?,
        Window::Interval { start, end } => {
            write!(out, ",\"window\":{{\"start\":{start},\"end\":{end}}}")?;
        }
    }
    out.write_all(b",\"value\":")?;
    serde_json::to_writer(&mut *out, &record.value)?;
    write!(out, ",\"ts\":{},\"pane\":", record.timestamp)
}

/// Writes one record with `versions` (a JSON object) in its pane metadata.
pub(crate) fn write_traced_record(
    out: &mut impl Write,
    record: &Record,
    versions: &str,
) -> io::Result<()> {
    write_head(out, record)?;
    let mut pane = serde_json::to_vec(&record.pane)?;
    pane.pop(); // the closing brace, to add a field before it
    out.write_all(&pane)?;
    writeln!(
        out,
        ",\"versions\":{versions}}},\"retraction\":{}}}",
        record.retraction
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use millrace_model::pane::{PaneInfo, Timing};

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn staged_bytes_appear_only_when_published() {
        let dir = tempfile::tempdir().unwrap();
        let (target, staging) = (dir.path().join("out.jsonl"), dir.path().join("staged"));
        let mut file = StagedFile::create(&target, &staging).unwrap();
        file.write_all(b"one\n").unwrap();
        let commit = file.prepare().unwrap();
        assert_eq!((commit.published, commit.staged), (0, 4));
        assert_eq!(read(&target), "", "not yet published");
        file.publish().unwrap();
        assert_eq!(read(&target), "one\n");
        file.write_all(b"two\n").unwrap();
        file.flush().unwrap();
        assert_eq!(read(&target), "one\n");
        let commit = file.prepare().unwrap();
        assert_eq!((commit.published, commit.staged), (4, 4));
    }

    #[test]
    fn resuming_finishes_an_interrupted_publication_and_drops_later_output() {
        let dir = tempfile::tempdir().unwrap();
        let (target, staging) = (dir.path().join("out.jsonl"), dir.path().join("staged"));
        let mut file = StagedFile::create(&target, &staging).unwrap();
        file.write_all(b"one\n").unwrap();
        file.prepare().unwrap();
        file.publish().unwrap();
        file.write_all(b"two\nthree\n").unwrap();
        let commit = file.prepare().unwrap();
        drop(file);
        // The crash came half-way through publishing: "two\nth" made it.
        std::fs::write(&target, "one\ntwo\nth").unwrap();
        let mut resumed = StagedFile::resume(&target, &staging, &commit).unwrap();
        assert_eq!(read(&target), "one\ntwo\nthree\n");
        resumed.write_all(b"four\n").unwrap();
        resumed.prepare().unwrap();
        resumed.publish().unwrap();
        assert_eq!(read(&target), "one\ntwo\nthree\nfour\n");

        // Resuming an older checkpoint drops what was published after it.
        let older = SinkCommit {
            path: String::new(),
            published: 0,
            staged: 4,
        };
        StagedFile::resume(&target, &staging, &older).unwrap();
        assert_eq!(read(&target), "one\n");

        let truncated = SinkCommit {
            path: String::new(),
            published: 100,
            staged: 0,
        };
        let err = StagedFile::resume(&target, &staging, &truncated)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("changed outside millrace"),
            "{err}"
        );
    }
    use millrace_model::record::Key;
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
