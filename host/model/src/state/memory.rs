//! The in-memory backend: a sorted map. Its snapshots are one file holding every
//! entry, so that it can be restored like RocksDB's (at the cost of writing the
//! whole store each time; it is meant for tests and small pipelines).

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::ops::Bound;
use std::path::Path;

use super::{Change, StateBackend, StateBatch, StateError, Visitor};

const SNAPSHOT_FILE: &str = "entries.bin";

/// State in a sorted map; see the module docs.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        MemoryBackend::default()
    }

    /// How many entries the store holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl StateBackend for MemoryBackend {
    fn write(&mut self, batch: StateBatch) -> Result<(), StateError> {
        for change in batch.into_changes() {
            match change {
                Change::Put(key, value) => {
                    self.entries.insert(key, value);
                }
                Change::Delete(key) => {
                    self.entries.remove(&key);
                }
                Change::DeleteRange(start, end) => {
                    let doomed: Vec<Vec<u8>> = self
                        .entries
                        .range::<[u8], _>((Bound::Included(&start[..]), Bound::Excluded(&end[..])))
                        .map(|(key, _)| key.clone())
                        .collect();
                    for key in doomed {
                        self.entries.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    fn scan(&self, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<(), StateError> {
        let range = self
            .entries
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded));
        for (key, value) in range {
            if !key.starts_with(prefix) {
                break;
            }
            visit(key, value)?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.entries.get(key).cloned())
    }

    fn snapshot(&mut self, dir: &Path) -> Result<(), StateError> {
        std::fs::create_dir_all(dir).map_err(StateError::io("cannot create the snapshot"))?;
        let path = dir.join(SNAPSHOT_FILE);
        let file =
            std::fs::File::create(&path).map_err(StateError::io("cannot write the snapshot"))?;
        let mut out = BufWriter::new(file);
        let write = |out: &mut BufWriter<std::fs::File>, bytes: &[u8]| {
            out.write_all(&(bytes.len() as u32).to_le_bytes())?;
            out.write_all(bytes)
        };
        for (key, value) in &self.entries {
            write(&mut out, key)
                .and_then(|()| write(&mut out, value))
                .map_err(StateError::io("cannot write the snapshot"))?;
        }
        let file = out
            .into_inner()
            .map_err(|err| StateError::io("cannot write the snapshot")(err.into_error()))?;
        file.sync_all()
            .map_err(StateError::io("cannot write the snapshot"))
    }

    fn restore(&mut self, dir: &Path) -> Result<(), StateError> {
        let path = dir.join(SNAPSHOT_FILE);
        let file = std::fs::File::open(&path).map_err(StateError::io(format!(
            "cannot read the snapshot {}",
            path.display()
        )))?;
        let mut input = BufReader::new(file);
        let mut entries = BTreeMap::new();
        let truncated = || StateError::Corrupt {
            what: path.display().to_string(),
            message: "the file ends in the middle of an entry".to_owned(),
        };
        let read = |input: &mut BufReader<std::fs::File>| -> Result<Option<Vec<u8>>, StateError> {
            let mut len = [0u8; 4];
            match input.read_exact(&mut len) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(err) => return Err(StateError::io("cannot read the snapshot")(err)),
            }
            let mut bytes = vec![0u8; u32::from_le_bytes(len) as usize];
            input.read_exact(&mut bytes).map_err(|_| truncated())?;
            Ok(Some(bytes))
        };
        while let Some(key) = read(&mut input)? {
            let value = read(&mut input)?.ok_or_else(truncated)?;
            entries.insert(key, value);
        }
        self.entries = entries;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
