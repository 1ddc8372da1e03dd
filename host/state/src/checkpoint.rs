//! Checkpoints: consistent, durable copies of a pipeline's state, from which a
//! restarted run resumes.
//!
//! A pipeline's state directory holds its working store (`db/`), its checkpoints
//! (`checkpoints/000042/`) and the staging files of its exactly-once sinks
//! (`staging/`). A checkpoint is the store's snapshot plus a manifest
//! ([`Manifest`]): where the source was, how much of each sink's output it
//! publishes, and a description of the pipeline that wrote it ([`fingerprint`]).
//!
//! A checkpoint is written into `NNNNNN.partial/` and renamed into place once its
//! manifest — with the list of its files and a checksum — is durable, so a crash
//! never leaves a checkpoint that looks complete but is not. One that is damaged
//! later (a missing or truncated file, a manifest that does not match its
//! checksum) is reported and skipped in favour of the one before.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::CheckpointStore;

/// The manifest's file name inside a checkpoint.
pub const MANIFEST: &str = "MILLRACE-CHECKPOINT.json";

const PARTIAL: &str = ".partial";

/// How much of one exactly-once sink's output a checkpoint covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkCommit {
    /// The sink's file.
    pub path: String,
    /// The file's published length before this checkpoint.
    pub published: u64,
    /// The bytes staged for this checkpoint, published when it completes.
    pub staged: u64,
}

impl SinkCommit {
    /// The file's published length once this checkpoint is complete.
    pub fn committed(&self) -> u64 {
        self.published + self.staged
    }
}

/// What a checkpoint records besides the state itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The checkpoint's number, increasing.
    pub id: u64,
    /// When it was taken, in milliseconds since the epoch.
    pub created: i64,
    /// The state backend that wrote it.
    pub backend: String,
    /// The pipeline that wrote it; see [`fingerprint`].
    pub fingerprint: Value,
    /// Where the source was; `None` for sources that cannot resume.
    pub source: Option<Value>,
    /// Records read from the source so far.
    pub records_read: u64,
    /// The exactly-once sinks.
    pub sinks: Vec<SinkCommit>,
    /// Whether the input had ended: a run that finished.
    pub finished: bool,
    /// State entries written or deleted for this checkpoint.
    pub changes: u64,
    /// Records written to the sink so far.
    #[serde(default)]
    pub emitted: u64,
    /// Of those, retractions.
    #[serde(default)]
    pub retractions: u64,
    /// Dead letters written so far.
    #[serde(default)]
    pub dead_lettered: u64,
    /// The state directory's lineage: random, chosen when it started afresh, the
    /// same in every checkpoint resumed from it. An outside transaction (Kafka's)
    /// names a checkpoint by lineage and number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<u32>,
    /// The checkpoint's files and their sizes.
    pub files: Vec<(String, u64)>,
    /// SHA-256 of the manifest with this field empty.
    #[serde(default)]
    pub checksum: String,
}

impl Manifest {
    fn digest(&self) -> String {
        let mut unsigned = self.clone();
        unsigned.checksum = String::new();
        let text = serde_json::to_vec(&unsigned).unwrap_or_default();
        Sha256::digest(&text)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The bytes of the checkpoint's files.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|(_, size)| size).sum()
    }
}

/// A checkpoint found on disk: its manifest, or why it cannot be used.
#[derive(Debug)]
pub struct Listed {
    /// The checkpoint's number.
    pub id: u64,
    /// Its folder.
    pub path: PathBuf,
    /// Its manifest, verified against its files.
    pub manifest: Result<Manifest, String>,
}

/// The checkpoints of one pipeline's state directory.
#[derive(Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    keep: usize,
    /// Where completed checkpoints are uploaded, and their state's name there.
    store: Option<(CheckpointStore, String)>,
}

impl Checkpoints {
    /// The checkpoints under `state_dir`, keeping the newest `keep` (at least 1).
    /// Leftovers of checkpoints that were never completed are removed.
    pub fn open(state_dir: &Path, keep: usize) -> io::Result<Self> {
        let dir = state_dir.join("checkpoints");
        fs::create_dir_all(&dir)?;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.to_string_lossy().ends_with(PARTIAL) {
                fs::remove_dir_all(&path)?;
            }
        }
        Ok(Checkpoints {
            dir,
            keep: keep.max(1),
            store: None,
        })
    }

    /// Keeps these checkpoints in `store` too, as the state `name` there: the
    /// store's are taken as the truth now (see [`crate::store`]), and every
    /// checkpoint completed, pruned or removed from now on is so in the store.
    pub fn with_store(mut self, store: CheckpointStore, name: &str) -> io::Result<Self> {
        store
            .sync(name, &self, self.keep)
            .map_err(io::Error::other)?;
        self.store = Some((store, name.to_owned()));
        Ok(self)
    }

    /// The checkpoints under `state_dir` as seen from outside the run that owns
    /// them (it may be writing one): for listing only, nothing is removed.
    pub fn observe(state_dir: &Path) -> Self {
        Checkpoints {
            dir: state_dir.join("checkpoints"),
            keep: 1,
            store: None,
        }
    }

    /// Where checkpoint `id` lives once complete.
    pub fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:06}"))
    }

    /// Where checkpoint `id` is written before it is complete.
    pub fn partial_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:06}{PARTIAL}"))
    }

    /// The numbers of the complete checkpoints, oldest first.
    pub fn ids(&self) -> io::Result<Vec<u64>> {
        let mut ids: Vec<u64> = fs::read_dir(&self.dir)?
            .filter_map(std::result::Result::ok)
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// The number the next checkpoint takes.
    pub fn next_id(&self) -> io::Result<u64> {
        Ok(self.ids()?.last().map_or(1, |last| last + 1))
    }

    /// Every checkpoint, oldest first, each verified.
    pub fn list(&self) -> io::Result<Vec<Listed>> {
        Ok(self
            .ids()?
            .into_iter()
            .map(|id| {
                let path = self.path(id);
                Listed {
                    id,
                    manifest: verify(&path),
                    path,
                }
            })
            .collect())
    }

    /// Completes the checkpoint written into [`Self::partial_path`]: records its
    /// files and checksum in `manifest`, makes it durable and moves it into place.
    /// The oldest checkpoints beyond the number to keep stay until [`Self::prune`]:
    /// one whose output an outside transaction has still to commit may yet be
    /// dropped, and the one before it is then resumed.
    pub fn complete(&self, mut manifest: Manifest) -> io::Result<Manifest> {
        let partial = self.partial_path(manifest.id);
        fs::create_dir_all(&partial)?;
        manifest.files = files_of(&partial)?;
        manifest.checksum = manifest.digest();
        let mut file = fs::File::create(partial.join(MANIFEST))?;
        file.write_all(&serde_json::to_vec_pretty(&manifest).map_err(io::Error::other)?)?;
        file.sync_all()?;
        sync_dir(&partial)?;
        fs::rename(&partial, self.path(manifest.id))?;
        sync_dir(&self.dir)?;
        if let Some((store, name)) = &self.store {
            store
                .upload(name, self, &manifest)
                .map_err(io::Error::other)?;
        }
        Ok(manifest)
    }

    /// Drops the oldest checkpoints beyond the number to keep.
    pub fn prune(&self) -> io::Result<()> {
        let ids = self.ids()?;
        for old in ids.iter().take(ids.len().saturating_sub(self.keep)) {
            fs::remove_dir_all(self.path(*old))?;
        }
        if let (Some((store, name)), Some(oldest)) = (
            &self.store,
            ids.len().checked_sub(self.keep).and_then(|n| ids.get(n)),
        ) {
            store.prune(name, *oldest).map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Drops checkpoint `id`.
    pub fn remove(&self, id: u64) -> io::Result<()> {
        if let Some((store, name)) = &self.store {
            store.remove(name, id).map_err(io::Error::other)?;
        }
        fs::remove_dir_all(self.path(id))?;
        sync_dir(&self.dir)
    }

    /// Removes every checkpoint.
    pub fn clear(&self) -> io::Result<()> {
        if let Some((store, name)) = &self.store {
            store.clear(name).map_err(io::Error::other)?;
        }
        for id in self.ids()? {
            fs::remove_dir_all(self.path(id))?;
        }
        Ok(())
    }
}

/// The files in `dir` (not the manifest), with their sizes, sorted by name.
fn files_of(dir: &Path) -> io::Result<Vec<(String, u64)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != MANIFEST && entry.file_type()?.is_file() {
            files.push((name, entry.metadata()?.len()));
        }
    }
    files.sort();
    Ok(files)
}

/// Reads the manifest of the checkpoint in `path` and checks it against its files.
pub fn verify(path: &Path) -> Result<Manifest, String> {
    let text = fs::read(path.join(MANIFEST)).map_err(|err| format!("no manifest: {err}"))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|err| format!("unreadable manifest: {err}"))?;
    if manifest.checksum != manifest.digest() {
        return Err("the manifest does not match its checksum".to_owned());
    }
    let files = files_of(path).map_err(|err| format!("cannot list its files: {err}"))?;
    for (name, size) in &manifest.files {
        match files.iter().find(|(found, _)| found == name) {
            None => return Err(format!("the file {name} is missing")),
            Some((_, found)) if found != size => {
                return Err(format!(
                    "the file {name} has {found} bytes instead of {size}"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(manifest)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Describes how a pipeline lays out its state: its source and sinks, and each
/// step's kind and settings. A state directory is only resumed by a pipeline with
/// the same description; `steps` gives one JSON value per step.
pub fn fingerprint(source: Value, sinks: Vec<String>, steps: Vec<Value>) -> Value {
    serde_json::json!({
        // 2: step descriptions no longer carry a type's `Debug` text.
        // 3: a window's data-driven trigger bytes moved into its trigger state.
        "format": 3,
        "source": source,
        "sinks": sinks,
        "steps": steps,
    })
}

/// Where `current` differs from `stored`, as a path and both values; `None` if
/// they are the same.
pub fn difference(stored: &Value, current: &Value) -> Option<String> {
    fn walk(path: &str, stored: &Value, current: &Value) -> Option<String> {
        match (stored, current) {
            (Value::Object(a), Value::Object(b)) => {
                let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                keys.sort();
                keys.dedup();
                keys.into_iter().find_map(|key| {
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(
                        &child,
                        a.get(key).unwrap_or(&Value::Null),
                        b.get(key).unwrap_or(&Value::Null),
                    )
                })
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
                .iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (a, b))| walk(&format!("{path}[{i}]"), a, b)),
            (a, b) if a == b => None,
            (a, b) => Some(format!("{path}: was {a}, now {b}")),
        }
    }
    walk("", stored, current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: u64) -> Manifest {
        Manifest {
            id,
            created: 0,
            backend: "memory".to_owned(),
            fingerprint: fingerprint(Value::Null, vec![], vec![]),
            source: None,
            records_read: 0,
            sinks: vec![],
            finished: false,
            changes: 0,
            emitted: 0,
            retractions: 0,
            dead_lettered: 0,
            lineage: None,
            files: vec![],
            checksum: String::new(),
        }
    }

    #[test]
    fn complete_checkpoints_verify_and_the_oldest_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::open(dir.path(), 2).unwrap();
        for id in 1..=3 {
            assert_eq!(checkpoints.next_id().unwrap(), id);
            let partial = checkpoints.partial_path(id);
            fs::create_dir_all(&partial).unwrap();
            fs::write(partial.join("data"), vec![1u8; id as usize]).unwrap();
            checkpoints.complete(manifest(id)).unwrap();
        }
        let ids = |checkpoints: &Checkpoints| -> Vec<u64> {
            checkpoints.list().unwrap().iter().map(|l| l.id).collect()
        };
        assert_eq!(ids(&checkpoints), [1, 2, 3]);
        checkpoints.prune().unwrap();
        let listed = checkpoints.list().unwrap();
        assert_eq!(ids(&checkpoints), [2, 3]);
        let third = listed[1].manifest.as_ref().unwrap();
        assert_eq!(third.files, [("data".to_owned(), 3)]);

        fs::write(checkpoints.path(3).join("data"), [0u8]).unwrap();
        let broken = verify(&checkpoints.path(3)).unwrap_err();
        assert_eq!(broken, "the file data has 1 bytes instead of 3");
        fs::remove_file(checkpoints.path(2).join("data")).unwrap();
        assert_eq!(
            verify(&checkpoints.path(2)).unwrap_err(),
            "the file data is missing"
        );
    }

    #[test]
    fn a_store_carries_checkpoints_to_another_directory_and_is_the_truth() {
        let root = tempfile::tempdir().unwrap();
        let url = format!("file://{}", root.path().join("store").display());
        let store = || crate::store::CheckpointStore::open(&url).unwrap();
        // A directory that ran without a store gives it its checkpoints.
        let before = Checkpoints::open(&root.path().join("here"), 2).unwrap();
        fs::create_dir_all(before.partial_path(1)).unwrap();
        fs::write(before.partial_path(1).join("data"), [7u8]).unwrap();
        before.complete(manifest(1)).unwrap();
        let here = Checkpoints::open(&root.path().join("here"), 2)
            .unwrap()
            .with_store(store(), "job/task-3")
            .unwrap();
        assert_eq!(store().ids("job/task-3").unwrap(), [1]);
        for id in 2..=3 {
            let partial = here.partial_path(id);
            fs::create_dir_all(&partial).unwrap();
            fs::write(partial.join("data"), vec![7u8; id as usize]).unwrap();
            here.complete(manifest(id)).unwrap();
        }
        here.prune().unwrap();
        assert_eq!(
            store().ids("job/task-3").unwrap(),
            [2, 3],
            "pruned in the store too"
        );
        assert!(
            root.path()
                .join("store/job/task-3/checkpoints/000003/data")
                .is_file()
        );

        // Another machine's directory, with a checkpoint the store never got.
        let there_dir = root.path().join("there");
        let stale = Checkpoints::open(&there_dir, 2).unwrap();
        fs::create_dir_all(stale.partial_path(9)).unwrap();
        stale.complete(manifest(9)).unwrap();
        // And one of the store's numbers, written by an owner the store forgot.
        fs::create_dir_all(stale.partial_path(3)).unwrap();
        fs::write(stale.partial_path(3).join("data"), [1u8]).unwrap();
        stale.complete(manifest(3)).unwrap();
        let there = Checkpoints::open(&there_dir, 2)
            .unwrap()
            .with_store(store(), "job/task-3")
            .unwrap();
        let listed = there.list().unwrap();
        assert_eq!(listed.iter().map(|l| l.id).collect::<Vec<_>>(), [2, 3]);
        let third = listed[1].manifest.as_ref().expect("verified as downloaded");
        assert_eq!(third.files, [("data".to_owned(), 3)]);
        assert_eq!(fs::read(there.path(3).join("data")).unwrap(), [7u8; 3]);

        there.remove(3).unwrap();
        assert_eq!(store().ids("job/task-3").unwrap(), [2]);
        there.clear().unwrap();
        assert!(store().ids("job/task-3").unwrap().is_empty());
        assert!(
            store().ids("job/task-4").unwrap().is_empty(),
            "another task's are apart"
        );
    }

    #[test]
    fn store_urls_name_what_is_wrong() {
        let message = |url: &str| {
            crate::store::CheckpointStore::open(url)
                .unwrap_err()
                .to_string()
        };
        assert!(
            message("ftp://host/x").contains("unknown scheme ftp"),
            "{}",
            message("ftp://x/y")
        );
        assert!(message("not a url").contains("not a URL"));
        assert!(
            message("file://relative").contains("absolute path")
                || message("file://relative").contains("cannot create")
        );
    }

    #[test]
    fn partial_checkpoints_are_swept_and_tampered_manifests_fail() {
        let dir = tempfile::tempdir().unwrap();
        let checkpoints = Checkpoints::open(dir.path(), 3).unwrap();
        fs::create_dir_all(checkpoints.partial_path(1)).unwrap();
        checkpoints.complete(manifest(1)).unwrap();
        fs::create_dir_all(checkpoints.partial_path(2)).unwrap();
        let reopened = Checkpoints::open(dir.path(), 3).unwrap();
        assert!(!reopened.partial_path(2).exists());
        let path = reopened.path(1).join(MANIFEST);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(
            &path,
            text.replace("\"finished\": false", "\"finished\": true"),
        )
        .unwrap();
        assert_eq!(
            verify(&reopened.path(1)).unwrap_err(),
            "the manifest does not match its checksum"
        );
    }

    #[test]
    fn differences_name_the_path() {
        let a = fingerprint(
            Value::from("f"),
            vec![],
            vec![serde_json::json!({"gap": 1})],
        );
        let b = fingerprint(
            Value::from("f"),
            vec![],
            vec![serde_json::json!({"gap": 2})],
        );
        assert_eq!(difference(&a, &a), None);
        assert_eq!(difference(&a, &b).unwrap(), "steps[0].gap: was 1, now 2");
    }
}
