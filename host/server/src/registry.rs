//! Plugins and models as versioned artifacts: each push stores a file under its
//! sha256, immutable, after checking it — a plugin is a component of the world its
//! kind names; a model is one the first-party evaluator loads and that reproduces
//! the reference set it ships.
//!
//! Layout: `tenants/<tenant>/plugins/<name>/<sha256>.wasm` and
//! `tenants/<tenant>/models/<name>/<sha256>.onnx`, with an `index.json` per name
//! listing its versions in push order. One [`Registry`] serves each [`Shelf`].
//!
//! A name a tenant gives is never joined to a path as it comes: it becomes a
//! [`PluginName`] (checked by [`super::check_name`]) and a version a [`Sha256`]
//! (64 hex digits), and [`Registry::file`] alone turns those into a file of this
//! tenant's folder.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ApiError, write_json_atomically};
use millrace_wasm::{
    ModelFile, PluginKind, Runtime,
    combine::CombineWorld,
    dofn::DoFnWorld,
    scorer::{ScorerWorld, WasmScorer},
    trigger::TriggerWorld,
    window::WindowWorld,
};

/// What a registry holds: its artifacts' noun, file extension, kinds and check.
pub trait Shelf {
    /// What an artifact is to its pusher: a plugin's world, a model's format.
    type Kind: Clone + fmt::Display + PartialEq + Serialize + DeserializeOwned;
    /// What messages call an artifact.
    const NOUN: &'static str;
    /// The stored files' extension.
    const EXTENSION: &'static str;
    /// Checks the file at `path`, pushed as `name`, as a `kind`.
    fn validate(path: &Path, name: &str, kind: &Self::Kind) -> Result<(), String>;
}

/// Plugins: components.
pub struct Plugins;

impl Shelf for Plugins {
    type Kind = PluginKind;
    const NOUN: &'static str = "plugin";
    const EXTENSION: &'static str = "wasm";

    fn validate(path: &Path, _name: &str, kind: &PluginKind) -> Result<(), String> {
        let runtime = Runtime::shared().map_err(|err| err.to_string())?;
        let checked = match kind {
            PluginKind::Dofn => runtime.check::<DoFnWorld>(path),
            PluginKind::Combine => runtime.check::<CombineWorld>(path),
            PluginKind::Window => runtime.check::<WindowWorld>(path),
            PluginKind::Trigger => runtime.check::<TriggerWorld>(path),
            PluginKind::Scorer => runtime.check::<ScorerWorld>(path),
        };
        checked.map_err(|err| err.to_string())
    }
}

/// A model file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// ONNX, which the first-party evaluator (`plugins/onnx-scorer`) runs.
    Onnx,
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("onnx")
    }
}

/// Trained models.
pub struct Models;

impl Shelf for Models {
    type Kind = ModelFormat;
    const NOUN: &'static str = "model";
    const EXTENSION: &'static str = "onnx";

    fn validate(path: &Path, name: &str, _format: &ModelFormat) -> Result<(), String> {
        let bytes = std::fs::read(path).map_err(|err| err.to_string())?;
        let model = ModelFile::new(name, bytes);
        let evaluator = millrace_runner::spec::score::default_evaluator();
        WasmScorer::load(&evaluator, &model, "push")
            .map(drop)
            .map_err(|err| err.to_string())
    }
}

/// A plugin's (or model's) name, checked: lowercase letters, digits, `-` and `_`,
/// so it names one folder of its tenant's registry and nothing else.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PluginName(String);

impl PluginName {
    /// Checks `name` (see [`super::check_name`]).
    pub fn new(name: &str) -> Result<PluginName, ApiError> {
        super::check_name("plugin", name)?;
        Ok(PluginName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PluginName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        PluginName::new(&name).map_err(|err| err.message)
    }
}

impl From<PluginName> for String {
    fn from(name: PluginName) -> String {
        name.0
    }
}

impl fmt::Display for PluginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A version: the sha256 of a component, 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256(String);

impl Sha256 {
    /// The sha256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(super::tenants::sha256_hex(bytes))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sha256 {
    type Error = String;

    fn try_from(digits: String) -> Result<Self, Self::Error> {
        if digits.len() == 64 && digits.bytes().all(is_lower_hex) {
            Ok(Sha256(digits))
        } else {
            Err(format!("{digits:?} is not a version (64 hex digits)"))
        }
    }
}

impl From<Sha256> for String {
    fn from(version: Sha256) -> String {
        version.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// One stored version of an artifact.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Version {
    /// sha256 of the component, hex.
    pub version: Sha256,
    /// Size in bytes.
    pub size: u64,
    /// When it was pushed (ms since the epoch).
    pub pushed: i64,
}

/// An artifact: a name, a kind and its versions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Artifact<K> {
    /// Its name.
    pub name: PluginName,
    /// What it is (a plugin's world, a model's format).
    pub kind: K,
    /// Its versions, oldest first.
    pub versions: Vec<Version>,
}

/// A plugin and its versions.
pub type Plugin = Artifact<PluginKind>;

/// A model and its versions.
pub type Model = Artifact<ModelFormat>;

/// A file of one artifact's folder.
enum PluginFile<'a> {
    /// The folder itself.
    Folder,
    /// `index.json`: the plugin's kind and versions.
    Index,
    /// A stored version.
    Component(&'a Sha256),
    /// A version being pushed, before it is checked.
    Pushing(&'a Sha256),
}

/// A tenant's plugins, or its models.
pub struct Registry<S: Shelf = Plugins> {
    dir: PathBuf,
    shelf: PhantomData<S>,
}

/// Why a name is not found: the same words whether the name is malformed, someone
/// else's, or simply not pushed.
fn no_artifact<S: Shelf>(name: &str) -> String {
    format!("there is no {} {name}; push it first", S::NOUN)
}

impl<S: Shelf> Registry<S> {
    /// The registry in `dir` (`tenants/<tenant>/plugins` or `…/models`).
    pub fn new(dir: PathBuf) -> Registry<S> {
        Registry {
            dir,
            shelf: PhantomData,
        }
    }

    /// The one place an artifact's name becomes a path: `file` of `name`.
    fn file(&self, name: &PluginName, file: PluginFile<'_>) -> PathBuf {
        let folder = self.dir.join(name.as_str());
        match file {
            PluginFile::Folder => folder,
            PluginFile::Index => folder.join("index.json"),
            PluginFile::Component(version) => folder.join(format!("{version}.{}", S::EXTENSION)),
            PluginFile::Pushing(version) => folder.join(format!(".{version}.tmp")),
        }
    }

    /// Every artifact.
    pub fn list(&self) -> Vec<Artifact<S::Kind>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut plugins: Vec<Artifact<S::Kind>> = entries
            .filter_map(std::result::Result::ok)
            .filter_map(|entry| PluginName::new(entry.file_name().to_str()?).ok())
            .filter_map(|name| self.read(&name).ok().flatten())
            .collect();
        plugins.sort_by(|a, b| a.name.cmp(&b.name));
        plugins
    }

    /// The artifact called `name`, as a caller gives it: 404 for a name that is
    /// not one of this tenant's, whatever it looks like.
    pub fn get(&self, name: &str) -> Result<Artifact<S::Kind>, ApiError> {
        let checked =
            PluginName::new(name).map_err(|_| ApiError::not_found(no_artifact::<S>(name)))?;
        self.read(&checked)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(no_artifact::<S>(name)))
    }

    /// The artifact called `name`: `None` if there is none, an error if its index
    /// cannot be read (so that, say, running out of file descriptors is not
    /// reported as a missing artifact).
    fn read(&self, name: &PluginName) -> Result<Option<Artifact<S::Kind>>, String> {
        let noun = S::NOUN;
        let bytes = match std::fs::read(self.file(name, PluginFile::Index)) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("cannot read {noun} {name}: {err}")),
        };
        let artifact: Artifact<S::Kind> = serde_json::from_slice(&bytes)
            .map_err(|err| format!("{noun} {name}'s index is damaged: {err}"))?;
        if artifact.name != *name {
            return Err(format!("{noun} {name}'s index names {}", artifact.name));
        }
        Ok(Some(artifact))
    }

    /// Bytes stored, all artifacts and versions together.
    pub fn bytes(&self) -> u64 {
        self.list()
            .iter()
            .flat_map(|plugin| &plugin.versions)
            .map(|version| version.size)
            .sum()
    }

    /// Stores `bytes` as a version of `name` after checking it ([`Shelf::validate`];
    /// a name keeps its kind). Pushing a version that exists is a no-op that
    /// returns it. `used` is what the tenant already stores, of `quota`.
    pub fn push(
        &self,
        name: &str,
        kind: S::Kind,
        bytes: &[u8],
        used: u64,
        quota: u64,
    ) -> Result<(Artifact<S::Kind>, Version), ApiError> {
        let noun = S::NOUN;
        let name = PluginName::new(name)?;
        let mut plugin = self
            .read(&name)
            .map_err(ApiError::internal)?
            .unwrap_or_else(|| Artifact {
                name: name.clone(),
                kind: kind.clone(),
                versions: Vec::new(),
            });
        if plugin.kind != kind {
            return Err(ApiError::invalid(format!(
                "{noun} {name} is a {} {noun}; a {} cannot be pushed under its name",
                plugin.kind, kind
            )));
        }
        let hash = Sha256::of(bytes);
        if let Some(existing) = plugin.versions.iter().find(|v| v.version == hash) {
            let existing = existing.clone();
            return Ok((plugin, existing));
        }
        if used + bytes.len() as u64 > quota {
            return Err(ApiError::quota(format!(
                "{} more bytes would exceed the tenant's quota of plugins and models ({used} \
                 of {quota} used)",
                bytes.len()
            )));
        }
        std::fs::create_dir_all(self.file(&name, PluginFile::Folder))
            .map_err(ApiError::internal)?;
        let temp = self.file(&name, PluginFile::Pushing(&hash));
        std::fs::write(&temp, bytes).map_err(ApiError::internal)?;
        if let Err(err) = S::validate(&temp, name.as_str(), &kind) {
            let _ = std::fs::remove_file(&temp);
            return Err(ApiError::invalid(
                err.replace(&temp.display().to_string(), name.as_str()),
            ));
        }
        std::fs::rename(&temp, self.file(&name, PluginFile::Component(&hash)))
            .map_err(ApiError::internal)?;
        let version = Version {
            version: hash,
            size: bytes.len() as u64,
            pushed: millrace_model::time::wall_clock_now(),
        };
        plugin.versions.push(version.clone());
        write_json_atomically(&self.file(&name, PluginFile::Index), &plugin)
            .map_err(ApiError::internal)?;
        Ok((plugin, version))
    }

    /// Finds `reference`: `name` (its newest version) or `name@version`, where the
    /// version may be any unambiguous prefix of the sha256. Returns the artifact,
    /// the full version and the stored file's path.
    pub fn resolve(&self, reference: &str) -> Result<(Artifact<S::Kind>, Sha256, PathBuf), String> {
        let (name, wanted) = match reference.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (reference, None),
        };
        let checked = PluginName::new(name).map_err(|_| no_artifact::<S>(name))?;
        let plugin = self.read(&checked)?.ok_or_else(|| no_artifact::<S>(name))?;
        let version = match wanted {
            None => plugin.versions.last().map(|v| v.version.clone()),
            Some(prefix) => {
                let matches: Vec<&Version> = plugin
                    .versions
                    .iter()
                    .filter(|v| !prefix.is_empty() && v.version.as_str().starts_with(prefix))
                    .collect();
                if matches.len() > 1 {
                    return Err(format!("{reference} matches several versions of {name}"));
                }
                matches.first().map(|v| v.version.clone())
            }
        }
        .ok_or_else(|| format!("{} {name} has no version {}", S::NOUN, wanted.unwrap_or("")))?;
        let path = self.component(&plugin.name, &version);
        Ok((plugin, version, path))
    }

    /// Where version `version` of `name` is stored.
    pub fn component(&self, name: &PluginName, version: &Sha256) -> PathBuf {
        self.file(name, PluginFile::Component(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn an_unreadable_index_is_an_error_not_a_missing_plugin() {
        let dir = tempfile::tempdir().unwrap();
        let registry: Registry = Registry::new(dir.path().to_owned());
        let missing = registry.resolve("nothing").unwrap_err();
        assert!(missing.contains("there is no plugin nothing"), "{missing}");
        // A folder where the index should be: reading it fails with another error.
        std::fs::create_dir_all(dir.path().join("broken").join("index.json")).unwrap();
        let broken = registry.resolve("broken").unwrap_err();
        assert!(broken.contains("cannot read plugin broken"), "{broken}");
        std::fs::create_dir_all(dir.path().join("damaged")).unwrap();
        std::fs::write(dir.path().join("damaged").join("index.json"), "{").unwrap();
        let damaged = registry.resolve("damaged").unwrap_err();
        assert!(damaged.contains("index is damaged"), "{damaged}");
    }

    #[test]
    fn names_that_are_paths_name_no_plugin() {
        let root = tempfile::tempdir().unwrap();
        let ours = root.path().join("acme").join("plugins");
        let theirs = root.path().join("bob").join("plugins").join("secret");
        std::fs::create_dir_all(&ours).unwrap();
        std::fs::create_dir_all(&theirs).unwrap();
        let index = r#"{"name": "secret", "kind": "combine", "versions": []}"#;
        std::fs::write(theirs.join("index.json"), index).unwrap();
        let registry: Registry = Registry::new(ours);
        for name in [
            "../../bob/plugins/secret",
            "../bob",
            "/etc",
            ".",
            "a/../secret",
        ] {
            assert_eq!(
                registry.get(name).unwrap_err().kind,
                ErrorKind::NotFound,
                "{name}"
            );
            let err = registry.resolve(name).unwrap_err();
            assert_eq!(err, no_artifact::<Plugins>(name));
            let err = registry.resolve(&format!("{name}@00")).unwrap_err();
            assert_eq!(err, no_artifact::<Plugins>(name));
            assert_eq!(
                registry
                    .push(name, PluginKind::Combine, b"", 0, 1 << 20)
                    .unwrap_err()
                    .kind,
                ErrorKind::Invalid
            );
        }
        let version: Result<Sha256, _> = "../x".to_owned().try_into();
        assert!(version.is_err());
    }
}
