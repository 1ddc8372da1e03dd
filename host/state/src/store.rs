//! The checkpoint store: where checkpoints go so that any process can resume
//! from them (`checkpoint: {store: URL}`), through the `object_store` crate.
//!
//! A run still writes its checkpoints into its local state directory (RocksDB
//! checkpoints are local files); each completed one is then uploaded, its
//! manifest last, so a checkpoint whose manifest is in the store is whole. A run
//! that opens a state directory takes the store as the truth: local checkpoints
//! the store lacks were never uploaded (a crash before) and are dropped, and the
//! store's newest ones are downloaded; a store with none yet is given the
//! directory's. Keys mirror the local layout under the
//! store's prefix: `<pipeline>[/task-N]/checkpoints/000042/<file>`.
//!
//! `file:///path` (or a plain path) is a local or shared directory; `s3://`,
//! `gs://` and `az://` URLs need millrace built with the `cloud` feature and take
//! their credentials from the environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`).

use std::sync::Arc;

use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio::runtime::Runtime;

use crate::checkpoint::{Checkpoints, MANIFEST, Manifest};

/// Why the checkpoint store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no store this build can reach.
    #[error("checkpoint store {url}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store refused or failed an operation.
    #[error("checkpoint store {url}: cannot {what}: {source}")]
    Store {
        /// The store's URL.
        url: String,
        /// What was being done.
        what: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// A local file could not be read or written.
    #[error("checkpoint store {url}: cannot {what}: {source}")]
    Local {
        /// The store's URL.
        url: String,
        /// What was being done.
        what: String,
        /// The file system's error.
        source: std::io::Error,
    },
}

/// A checkpoint store; cheap to clone (one connection and runtime shared).
#[derive(Clone)]
pub struct CheckpointStore {
    url: String,
    store: Arc<dyn ObjectStore>,
    prefix: Key,
    runtime: Arc<Runtime>,
}

impl std::fmt::Debug for CheckpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointStore")
            .field("url", &self.url)
            .finish()
    }
}

impl CheckpointStore {
    /// Connects to the store at `url`: `file:///…` (created if missing), or, with
    /// the `cloud` feature, `s3://`, `gs://` or `az://`.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::Url {
            url: url.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|err| bad(format!("not a URL: {err}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| bad(format!("cannot start its I/O runtime: {err}")))?;
        let (store, prefix): (Arc<dyn ObjectStore>, Key) = match parsed.scheme() {
            "file" => {
                let dir = parsed
                    .to_file_path()
                    .map_err(|()| bad("a file URL needs an absolute path".to_owned()))?;
                std::fs::create_dir_all(&dir)
                    .map_err(|err| bad(format!("cannot create {}: {err}", dir.display())))?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|err| bad(err.to_string()))?;
                (Arc::new(local), Key::default())
            }
            "s3" | "s3a" | "gs" | "az" | "abfs" | "abfss" | "azure" => {
                cloud(&parsed).map_err(bad)?
            }
            other => {
                return Err(bad(format!(
                    "unknown scheme {other}: expected file, s3, gs or az"
                )));
            }
        };
        Ok(CheckpointStore {
            url: url.to_owned(),
            store,
            prefix,
            runtime: Arc::new(runtime),
        })
    }

    /// The store's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, parts: &[&str]) -> Key {
        let mut key = self.prefix.clone();
        for part in parts.iter().flat_map(|part| part.split('/')) {
            key = key.join(part);
        }
        key
    }

    fn failed<'a>(&'a self, what: &'a str) -> impl Fn(object_store::Error) -> StoreError + 'a {
        move |source| StoreError::Store {
            url: self.url.clone(),
            what: what.to_owned(),
            source,
        }
    }

    fn local<'a>(&'a self, what: &'a str) -> impl Fn(std::io::Error) -> StoreError + 'a {
        move |source| StoreError::Local {
            url: self.url.clone(),
            what: what.to_owned(),
            source,
        }
    }

    /// The numbers of the whole checkpoints (their manifest uploaded) of the
    /// state at `name` (`<pipeline>[/task-N]`), oldest first.
    pub fn ids(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        let dir = self.key(&[name, "checkpoints"]);
        let listed = self
            .runtime
            .block_on(self.store.list_with_delimiter(Some(&dir)))
            .map_err(self.failed("list the checkpoints"))?;
        let mut ids = Vec::new();
        for checkpoint in listed.common_prefixes {
            let Some(id) = checkpoint.filename().and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let manifest = checkpoint.clone().join(MANIFEST);
            if self.runtime.block_on(self.store.head(&manifest)).is_ok() {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The manifest of checkpoint `id`, as uploaded (not verified).
    pub fn manifest(&self, name: &str, id: u64) -> Result<Manifest, StoreError> {
        let key = self.key(&[name, "checkpoints", &format!("{id:06}"), MANIFEST]);
        let bytes = self
            .runtime
            .block_on(async { self.store.get(&key).await?.bytes().await })
            .map_err(self.failed("read a manifest"))?;
        serde_json::from_slice(&bytes).map_err(|err| StoreError::Local {
            url: self.url.clone(),
            what: format!("read the manifest of checkpoint {id}"),
            source: err.into(),
        })
    }

    /// Uploads the completed checkpoint `manifest` names from `checkpoints`.
    pub fn upload(
        &self,
        name: &str,
        checkpoints: &Checkpoints,
        manifest: &Manifest,
    ) -> Result<(), StoreError> {
        let dir = checkpoints.path(manifest.id);
        let id = format!("{:06}", manifest.id);
        for file in files(manifest) {
            let bytes = std::fs::read(dir.join(file)).map_err(self.local("read a checkpoint"))?;
            let key = self.key(&[name, "checkpoints", &id, file]);
            self.runtime
                .block_on(self.store.put(&key, PutPayload::from(bytes)))
                .map_err(self.failed("upload a checkpoint"))?;
        }
        Ok(())
    }

    /// Makes `checkpoints` the store's: drops the local ones the store lacks and
    /// downloads the newest `keep` the store has and the directory does not. A
    /// store that has none of `name`'s yet is given the directory's good ones
    /// instead (a pipeline that had run without a store keeps its state).
    pub fn sync(
        &self,
        name: &str,
        checkpoints: &Checkpoints,
        keep: usize,
    ) -> Result<(), StoreError> {
        let remote = self.ids(name)?;
        let local = checkpoints
            .ids()
            .map_err(self.local("list the local checkpoints"))?;
        if remote.is_empty() {
            for id in local {
                if let Ok(manifest) = crate::checkpoint::verify(&checkpoints.path(id)) {
                    self.upload(name, checkpoints, &manifest)?;
                }
            }
            return Ok(());
        }
        for id in local.iter().filter(|id| !remote.contains(id)) {
            std::fs::remove_dir_all(checkpoints.path(*id))
                .map_err(self.local("drop a checkpoint"))?;
        }
        for &id in remote.iter().rev().take(keep.max(1)) {
            let manifest = self.manifest(name, id)?;
            if local.contains(&id) {
                // The same checkpoint, or another owner's of the same number.
                let same = crate::checkpoint::verify(&checkpoints.path(id))
                    .is_ok_and(|here| here.checksum == manifest.checksum);
                if same {
                    continue;
                }
                std::fs::remove_dir_all(checkpoints.path(id))
                    .map_err(self.local("drop a checkpoint"))?;
            }
            self.download(name, checkpoints, &manifest)?;
        }
        Ok(())
    }

    fn download(
        &self,
        name: &str,
        checkpoints: &Checkpoints,
        manifest: &Manifest,
    ) -> Result<(), StoreError> {
        let id = manifest.id;
        let partial = checkpoints.partial_path(id);
        std::fs::create_dir_all(&partial).map_err(self.local("create a checkpoint"))?;
        let number = format!("{id:06}");
        for file in files(manifest) {
            let key = self.key(&[name, "checkpoints", &number, file]);
            let bytes = self
                .runtime
                .block_on(async { self.store.get(&key).await?.bytes().await })
                .map_err(self.failed("download a checkpoint"))?;
            std::fs::write(partial.join(file), &bytes).map_err(self.local("write a checkpoint"))?;
        }
        // Whole once renamed, as a checkpoint written here is.
        std::fs::rename(&partial, checkpoints.path(id)).map_err(self.local("place a checkpoint"))
    }

    /// Removes from the store the checkpoints older than `oldest_kept`.
    pub fn prune(&self, name: &str, oldest_kept: u64) -> Result<(), StoreError> {
        for id in self.ids(name)?.into_iter().filter(|&id| id < oldest_kept) {
            self.remove(name, id)?;
        }
        Ok(())
    }

    /// Removes every checkpoint of `name` from the store (a run that starts over).
    pub fn clear(&self, name: &str) -> Result<(), StoreError> {
        for id in self.ids(name)? {
            self.remove(name, id)?;
        }
        Ok(())
    }

    /// Removes checkpoint `id` of `name` from the store.
    pub fn remove(&self, name: &str, id: u64) -> Result<(), StoreError> {
        let dir = self.key(&[name, "checkpoints", &format!("{id:06}")]);
        let listed = self
            .runtime
            .block_on(self.store.list_with_delimiter(Some(&dir)))
            .map_err(self.failed("list a checkpoint"))?;
        // The manifest first: a checkpoint half removed is no longer whole.
        let mut keys: Vec<Key> = listed.objects.into_iter().map(|o| o.location).collect();
        keys.sort_by_key(|key| key.filename() != Some(MANIFEST));
        for key in keys {
            self.runtime
                .block_on(self.store.delete(&key))
                .map_err(self.failed("remove an old checkpoint"))?;
        }
        Ok(())
    }
}

/// A checkpoint's files, its manifest last: its presence says the checkpoint is
/// whole.
fn files(manifest: &Manifest) -> impl Iterator<Item = &str> {
    manifest
        .files
        .iter()
        .map(|(file, _)| file.as_str())
        .chain([MANIFEST])
}

/// A cloud store, configured from the environment as each cloud's tools are.
#[cfg(feature = "cloud")]
fn cloud(url: &url::Url) -> Result<(Arc<dyn ObjectStore>, Key), String> {
    let failed = |err: object_store::Error| err.to_string();
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .build()
                .map_err(failed)?,
        ),
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url.as_str())
                .build()
                .map_err(failed)?,
        ),
        _ => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url.as_str())
                .build()
                .map_err(failed)?,
        ),
    };
    let prefix = Key::from_url_path(url.path()).map_err(|err| err.to_string())?;
    Ok((store, prefix))
}

#[cfg(not(feature = "cloud"))]
fn cloud(_url: &url::Url) -> Result<(Arc<dyn ObjectStore>, Key), String> {
    Err(
        "this millrace was built without cloud stores: build it with `--features cloud` \
         (S3, GCS and Azure through object_store)"
            .to_owned(),
    )
}
