//! A served pipeline's ingest log: the JSON Lines its tenant pushes, appended
//! by the API and followed by the pipeline.
//!
//! An append is whole or nothing: a batch is written and made durable, or the
//! log is cut back to where it was and the caller told so; only then does the
//! pipeline see the batch ([`IngestLog::followed`] reads no further than what
//! was acknowledged). A last line without its newline found when the log is
//! opened is what a crash left of a batch that was never acknowledged: it is cut
//! off, so that nothing appended later is merged with it.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use millrace_runner::source::Followed;

/// The ingest log of one pipeline.
#[derive(Debug)]
pub(crate) struct IngestLog {
    path: PathBuf,
    appender: Mutex<Appender>,
    /// Bytes acknowledged: the log's length after the last append that succeeded.
    acknowledged: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Appender {
    file: File,
    /// An append failed and the log could not be cut back yet: it holds bytes
    /// past what was acknowledged.
    dirty: bool,
}

impl IngestLog {
    /// Opens (or creates) the log at `path`, cutting off a torn last line.
    pub(crate) fn open(path: &Path) -> io::Result<IngestLog> {
        let file = File::options()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let length = cut_torn_tail(&file)?;
        Ok(IngestLog {
            path: path.to_owned(),
            appender: Mutex::new(Appender { file, dirty: false }),
            acknowledged: Arc::new(AtomicU64::new(length)),
        })
    }

    /// The log as the pipeline follows it, named `name` in what it reports.
    pub(crate) fn followed(&self, name: &str) -> Followed {
        Followed {
            path: self.path.clone(),
            name: name.to_owned(),
            readable: self.acknowledged.clone(),
        }
    }

    /// Appends `batch` (JSON Lines; a last line gets its newline here) durably;
    /// returns how many lines it holds. On an error nothing of it stays in the log.
    pub(crate) fn append(&self, batch: &[u8]) -> io::Result<u64> {
        let mut appender = self
            .appender
            .lock()
            .map_err(|_| io::Error::other("the ingest log's lock is poisoned"))?;
        let before = self.acknowledged.load(Ordering::Acquire);
        if appender.dirty {
            appender.cut(before)?;
        }
        if batch.is_empty() {
            return Ok(0);
        }
        let mut lines = batch.iter().filter(|b| **b == b'\n').count() as u64;
        appender.dirty = true;
        let mut written = appender.file.write_all(batch);
        if written.is_ok() && !batch.ends_with(b"\n") {
            written = appender.file.write_all(b"\n");
            lines += 1;
        }
        // Acknowledged means durable: a crash after this loses nothing.
        if let Err(err) = written.and_then(|()| appender.file.sync_data()) {
            // If cutting back fails too, the next append tries again first.
            let _ = appender.cut(before);
            return Err(err);
        }
        appender.dirty = false;
        let length = before + batch.len() as u64 + u64::from(!batch.ends_with(b"\n"));
        self.acknowledged.store(length, Ordering::Release);
        Ok(lines)
    }
}

impl Appender {
    /// Cuts the log back to `length` bytes, durably.
    fn cut(&mut self, length: u64) -> io::Result<()> {
        self.file.set_len(length)?;
        self.file.sync_data()?;
        self.dirty = false;
        Ok(())
    }
}

/// Cuts `file` after its last newline; returns its new length.
fn cut_torn_tail(file: &File) -> io::Result<u64> {
    let length = file.metadata()?.len();
    let mut end = length;
    let mut chunk = vec![0; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.read_exact_at(part, start)?;
        if let Some(newline) = part.iter().rposition(|b| *b == b'\n') {
            end = start + newline as u64 + 1;
            break;
        }
        end = start;
    }
    if end < length {
        tracing::warn!(
            "cutting {} bytes of a torn last line off an ingest log",
            length - end
        );
        file.set_len(end)?;
        file.sync_data()?;
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_cut_off_and_never_merged_with_what_follows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input.jsonl");
        std::fs::write(&path, "{\"a\": 1}\n{\"a\": 2}\n{\"a\"").unwrap();
        let log = IngestLog::open(&path).unwrap();
        assert_eq!(log.acknowledged.load(Ordering::Relaxed), 18);
        assert_eq!(log.append(b"{\"a\": 3}").unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n"
        );
        // A log that is one torn line is emptied; a whole one is kept as it is.
        std::fs::write(&path, "x".repeat(100_000)).unwrap();
        drop(IngestLog::open(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        std::fs::write(&path, "{}\n").unwrap();
        drop(IngestLog::open(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
    }

    #[test]
    fn a_failed_append_leaves_the_log_as_it_was() {
        // /dev/full takes no byte: every write fails as on a full disk.
        let Ok(full) = File::options().append(true).open("/dev/full") else {
            eprintln!("skipped: no /dev/full");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input.jsonl");
        std::fs::write(&path, "{}\n").unwrap();
        let log = IngestLog::open(&path).unwrap();
        let good = log.appender.lock().unwrap().file.try_clone().unwrap();
        log.appender.lock().unwrap().file = full;
        assert!(log.append(b"{\"lost\": true}\n").is_err());
        assert_eq!(log.acknowledged.load(Ordering::Relaxed), 3);
        log.appender.lock().unwrap().file = good;
        assert_eq!(log.append(b"{}\n{}\n").unwrap(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n{}\n{}\n");
    }
}
