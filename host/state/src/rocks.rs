//! The RocksDB backend. Batches are written without the write-ahead log: every
//! batch is followed by a snapshot, which flushes the memtable, so the log would
//! only be written twice. Snapshots are RocksDB checkpoints (hard links to the
//! immutable table files); restoring links them back into the working database.

use std::path::{Path, PathBuf};

use rocksdb::checkpoint::Checkpoint;
use rocksdb::{DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};

use millrace_model::state::{Change, StateBackend, StateBatch, StateError, Visitor};

/// State in a RocksDB database; see the module docs.
pub struct RocksBackend {
    db: Option<DB>,
    path: PathBuf,
}

impl std::fmt::Debug for RocksBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksBackend")
            .field("path", &self.path)
            .finish()
    }
}

fn options() -> Options {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    options.set_paranoid_checks(true);
    // Small pipelines should not pay for many background threads.
    options.increase_parallelism(2);
    options
}

fn backend_error(err: rocksdb::Error) -> StateError {
    StateError::Backend(err.into_string())
}

impl RocksBackend {
    /// Opens (or creates) the database in `path`.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(path).map_err(StateError::io(format!(
            "cannot create the state directory {}",
            path.display()
        )))?;
        let db = DB::open(&options(), path).map_err(backend_error)?;
        Ok(RocksBackend {
            db: Some(db),
            path: path.to_owned(),
        })
    }

    fn db(&self) -> Result<&DB, StateError> {
        self.db
            .as_ref()
            .ok_or_else(|| StateError::Backend("the database is closed".to_owned()))
    }

    /// RocksDB's estimate of the number of keys.
    pub fn estimated_keys(&self) -> Option<u64> {
        self.db()
            .ok()?
            .property_int_value("rocksdb.estimate-num-keys")
            .ok()
            .flatten()
    }
}

impl StateBackend for RocksBackend {
    fn write(&mut self, batch: StateBatch) -> Result<(), StateError> {
        let mut rocks = WriteBatch::default();
        for change in batch.changes() {
            match change {
                Change::Put(key, value) => rocks.put(key, value),
                Change::Delete(key) => rocks.delete(key),
                Change::DeleteRange(start, end) => rocks.delete_range(start, end),
            }
        }
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        self.db()?.write_opt(rocks, &options).map_err(backend_error)
    }

    fn scan(&self, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<(), StateError> {
        let iter = self
            .db()?
            .iterator(IteratorMode::From(prefix, Direction::Forward));
        for entry in iter {
            let (key, value) = entry.map_err(backend_error)?;
            if !key.starts_with(prefix) {
                break;
            }
            visit(&key, &value)?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.db()?.get(key).map_err(backend_error)
    }

    fn snapshot(&mut self, dir: &Path) -> Result<(), StateError> {
        let db = self.db()?;
        let checkpoint = Checkpoint::new(db).map_err(backend_error)?;
        // 0: flush the memtable first, so that the unlogged batches are in tables.
        checkpoint
            .create_checkpoint_with_log_size(dir, 0)
            .map_err(backend_error)
    }

    fn restore(&mut self, dir: &Path) -> Result<(), StateError> {
        // Close the working database before replacing its files.
        self.db = None;
        let io = |what: &str| StateError::io(format!("{what} {}", self.path.display()));
        if self.path.exists() {
            std::fs::remove_dir_all(&self.path).map_err(io("cannot clear"))?;
        }
        std::fs::create_dir_all(&self.path).map_err(io("cannot create"))?;
        let entries = std::fs::read_dir(dir).map_err(StateError::io(format!(
            "cannot read the checkpoint {}",
            dir.display()
        )))?;
        for entry in entries {
            let entry = entry.map_err(io("cannot list"))?;
            let name = entry.file_name();
            let from = entry.path();
            let to = self.path.join(&name);
            if !entry.file_type().map_err(io("cannot list"))?.is_file() {
                continue;
            }
            // Table files never change: link them. RocksDB appends to the rest
            // (MANIFEST, logs), which must not reach back into the checkpoint.
            let immutable = name.to_string_lossy().ends_with(".sst")
                || name.to_string_lossy().ends_with(".blob");
            let linked = immutable && std::fs::hard_link(&from, &to).is_ok();
            if !linked {
                std::fs::copy(&from, &to).map_err(io("cannot copy into"))?;
            }
        }
        self.db = Some(DB::open(&options(), &self.path).map_err(backend_error)?);
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "rocksdb"
    }
}
