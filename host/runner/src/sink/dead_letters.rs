//! The dead-letter writer: where a run's dead letters go, a file beside the
//! output (exactly-once with it) or standard error.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::FileOutput;
use millrace_model::dead_letter::DeadLetter;
use millrace_state::checkpoint::SinkCommit;

/// Where dead letters are written: a file (exactly-once when the pipeline
/// checkpoints, like the output) or standard error.
pub struct DeadLetterWriter {
    out: FileOutput,
    description: String,
    written: u64,
}

impl DeadLetterWriter {
    /// Writes to a file, created or truncated.
    pub fn file(path: &Path) -> io::Result<Self> {
        Ok(Self::to(FileOutput::direct(path)?, path))
    }

    /// Writes to `out`, which is the file `path`.
    pub fn to(out: FileOutput, path: &Path) -> Self {
        DeadLetterWriter {
            out,
            description: path.display().to_string(),
            written: 0,
        }
    }

    /// Writes to standard error.
    pub fn stderr() -> Self {
        DeadLetterWriter {
            out: FileOutput::Direct(Box::new(io::stderr())),
            description: "stderr".to_owned(),
            written: 0,
        }
    }

    /// At a checkpoint; see [`crate::sink::Sink::prepare`].
    pub fn prepare(&mut self) -> io::Result<Option<SinkCommit>> {
        self.out.prepare()
    }

    /// See [`crate::sink::Sink::publish`].
    pub fn publish(&mut self) -> io::Result<()> {
        self.out.publish()
    }

    /// Appends one dead letter.
    pub fn write(&mut self, letter: &DeadLetter) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, letter)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// How many dead letters were written.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Where they go, for messages.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// The default dead-letter file next to a file sink: `out.jsonl` → `out.dead.jsonl`.
pub fn default_path_for(sink: &Path) -> PathBuf {
    let stem = sink.file_stem().map_or_else(
        || "output".to_owned(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    sink.with_file_name(format!("{stem}.dead.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_sits_next_to_the_sink() {
        assert_eq!(
            default_path_for(Path::new("out/scores.jsonl")),
            PathBuf::from("out/scores.dead.jsonl")
        );
    }
}
