//! Durable state on disk: the RocksDB [`StateBackend`], and the checkpoints that make
//! a run resumable (manifests, the fingerprint of a pipeline, retention).
//!
//! The state interface itself — [`StateBackend`], [`StateBatch`], the key layout —
//! and the in-memory backend belong to the model (`millrace_model::state`), because
//! every operator names them; they are re-exported here so that this crate is the one
//! place to reach for state.

pub mod checkpoint;
mod rocks;
pub mod store;

pub use millrace_model::state::*;
pub use rocks::RocksBackend;
pub use store::{CheckpointStore, StoreError};

/// The behaviour every backend shares, checked against each.
#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use millrace_model::state::{Change, StateBackend, StateBatch, prefix_end};

    fn scan_all(backend: &dyn StateBackend, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut entries = Vec::new();
        backend
            .scan(prefix, &mut |key, value| {
                entries.push((key.to_vec(), value.to_vec()));
                Ok(())
            })
            .unwrap();
        entries
    }

    /// Writes, scans, deletes by range, snapshots and restores.
    fn exercise(backend: &mut dyn StateBackend, scratch: &Path) {
        let mut batch = StateBatch::default();
        for key in [&b"a1"[..], b"a2", b"a3", b"b1"] {
            batch.push(Change::Put(key.to_vec(), key.to_vec()));
        }
        batch.push(Change::Delete(b"a2".to_vec()));
        backend.write(batch).unwrap();
        let keys: Vec<Vec<u8>> = scan_all(backend, b"a").into_iter().map(|e| e.0).collect();
        assert_eq!(keys, [b"a1".to_vec(), b"a3".to_vec()]);
        assert_eq!(backend.get(b"b1").unwrap(), Some(b"b1".to_vec()));

        let snapshot = scratch.join("snapshot-1");
        backend.snapshot(&snapshot).unwrap();

        let mut batch = StateBatch::default();
        batch.push(Change::DeleteRange(
            b"a".to_vec(),
            prefix_end(b"a").unwrap(),
        ));
        batch.push(Change::Put(b"c".to_vec(), b"after".to_vec()));
        backend.write(batch).unwrap();
        assert!(scan_all(backend, b"a").is_empty());

        backend.restore(&snapshot).unwrap();
        assert_eq!(
            scan_all(backend, b"a").len(),
            2,
            "the snapshot kept a1 and a3"
        );
        assert_eq!(backend.get(b"c").unwrap(), None, "later writes are gone");
        // The snapshot stays usable after the restored store moves on.
        let mut batch = StateBatch::default();
        batch.push(Change::Delete(b"a1".to_vec()));
        backend.write(batch).unwrap();
        backend.restore(&snapshot).unwrap();
        assert_eq!(backend.get(b"a1").unwrap(), Some(b"a1".to_vec()));
    }

    #[test]
    fn memory_behaves_like_a_state_backend() {
        let dir = tempfile::tempdir().unwrap();
        exercise(&mut MemoryBackend::new(), dir.path());
    }

    #[test]
    fn rocksdb_behaves_like_a_state_backend() {
        let dir = tempfile::tempdir().unwrap();
        let mut backend = RocksBackend::open(&dir.path().join("db")).unwrap();
        exercise(&mut backend, dir.path());
    }
}
