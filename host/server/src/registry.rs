//! Plugins as versioned artifacts: each push stores a component under its sha256,
//! immutable, after checking that it is a component of the world its kind names.
//!
//! Layout: `tenants/<tenant>/plugins/<name>/<sha256>.wasm` and an `index.json` per
//! name listing its versions in push order.
//!
//! A name a tenant gives is never joined to a path as it comes: it becomes a
//! [`PluginName`] (checked by [`super::check_name`]) and a version a [`Sha256`]
//! (64 hex digits), and [`Registry::file`] alone turns those into a file of this
//! tenant's folder.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ApiError, write_json_atomically};
use millrace_wasm::{
    PluginKind, Runtime, combine::CombineWorld, dofn::DoFnWorld, trigger::TriggerWorld,
    window::WindowWorld,
};

/// A plugin's name, checked: lowercase letters, digits, `-` and `_`, so it names
/// one folder of its tenant's registry and nothing else.
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

/// One stored version of a plugin.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Version {
    /// sha256 of the component, hex.
    pub version: Sha256,
    /// Size in bytes.
    pub size: u64,
    /// When it was pushed (ms since the epoch).
    pub pushed: i64,
}

/// A plugin: a name, a kind and its versions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plugin {
    /// Its name.
    pub name: PluginName,
    /// Which world it implements.
    pub kind: PluginKind,
    /// Its versions, oldest first.
    pub versions: Vec<Version>,
}

/// A file of one plugin's folder.
enum PluginFile<'a> {
    /// The folder itself.
    Folder,
    /// `index.json`: the plugin's kind and versions.
    Index,
    /// A stored component.
    Component(&'a Sha256),
    /// A component being pushed, before it is checked.
    Pushing(&'a Sha256),
}

/// A tenant's plugins.
pub struct Registry {
    dir: PathBuf,
}

/// Why a name is not found: the same words whether the name is malformed, someone
/// else's, or simply not pushed.
fn no_plugin(name: &str) -> String {
    format!("there is no plugin {name}; push it first")
}

impl Registry {
    /// The registry in `dir` (`tenants/<tenant>/plugins`).
    pub fn new(dir: PathBuf) -> Registry {
        Registry { dir }
    }

    /// The one place a plugin's name becomes a path: `file` of plugin `name`.
    fn file(&self, name: &PluginName, file: PluginFile<'_>) -> PathBuf {
        let folder = self.dir.join(name.as_str());
        match file {
            PluginFile::Folder => folder,
            PluginFile::Index => folder.join("index.json"),
            PluginFile::Component(version) => folder.join(format!("{version}.wasm")),
            PluginFile::Pushing(version) => folder.join(format!(".{version}.tmp")),
        }
    }

    /// Every plugin.
    pub fn list(&self) -> Vec<Plugin> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut plugins: Vec<Plugin> = entries
            .filter_map(std::result::Result::ok)
            .filter_map(|entry| PluginName::new(entry.file_name().to_str()?).ok())
            .filter_map(|name| self.read(&name).ok().flatten())
            .collect();
        plugins.sort_by(|a, b| a.name.cmp(&b.name));
        plugins
    }

    /// The plugin called `name`, as a caller gives it: 404 for a name that is not
    /// a plugin of this tenant, whatever it looks like.
    pub fn get(&self, name: &str) -> Result<Plugin, ApiError> {
        let checked = PluginName::new(name).map_err(|_| ApiError::not_found(no_plugin(name)))?;
        self.read(&checked)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(no_plugin(name)))
    }

    /// The plugin called `name`: `None` if there is none, an error if its index
    /// cannot be read (so that, say, running out of file descriptors is not
    /// reported as a missing plugin).
    fn read(&self, name: &PluginName) -> Result<Option<Plugin>, String> {
        let bytes = match std::fs::read(self.file(name, PluginFile::Index)) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("cannot read plugin {name}: {err}")),
        };
        let plugin: Plugin = serde_json::from_slice(&bytes)
            .map_err(|err| format!("plugin {name}'s index is damaged: {err}"))?;
        if plugin.name != *name {
            return Err(format!("plugin {name}'s index names {}", plugin.name));
        }
        Ok(Some(plugin))
    }

    /// Bytes stored, all plugins and versions together.
    pub fn bytes(&self) -> u64 {
        self.list()
            .iter()
            .flat_map(|plugin| &plugin.versions)
            .map(|version| version.size)
            .sum()
    }

    /// Stores `bytes` as a version of `name` after checking it is a component of
    /// `kind`'s world (a name keeps its kind). Pushing a version that exists is a
    /// no-op that returns it.
    pub fn push(
        &self,
        name: &str,
        kind: PluginKind,
        bytes: &[u8],
        quota: u64,
    ) -> Result<(Plugin, Version), ApiError> {
        let name = PluginName::new(name)?;
        let mut plugin = self
            .read(&name)
            .map_err(ApiError::internal)?
            .unwrap_or_else(|| Plugin {
                name: name.clone(),
                kind,
                versions: Vec::new(),
            });
        if plugin.kind != kind {
            return Err(ApiError::invalid(format!(
                "plugin {name} is a {} plugin; a {} cannot be pushed under its name",
                plugin.kind, kind
            )));
        }
        let hash = Sha256::of(bytes);
        if let Some(existing) = plugin.versions.iter().find(|v| v.version == hash) {
            let existing = existing.clone();
            return Ok((plugin, existing));
        }
        let used = self.bytes();
        if used + bytes.len() as u64 > quota {
            return Err(ApiError::quota(format!(
                "{} more bytes of plugins would exceed the tenant's quota ({used} of {quota} used)",
                bytes.len()
            )));
        }
        std::fs::create_dir_all(self.file(&name, PluginFile::Folder))
            .map_err(ApiError::internal)?;
        let temp = self.file(&name, PluginFile::Pushing(&hash));
        std::fs::write(&temp, bytes).map_err(ApiError::internal)?;
        if let Err(err) = validate(&temp, kind) {
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
    /// version may be any unambiguous prefix of the sha256. Returns the plugin, the
    /// full version and the component's path.
    pub fn resolve(&self, reference: &str) -> Result<(Plugin, Sha256, PathBuf), String> {
        let (name, wanted) = match reference.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (reference, None),
        };
        let checked = PluginName::new(name).map_err(|_| no_plugin(name))?;
        let plugin = self.read(&checked)?.ok_or_else(|| no_plugin(name))?;
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
        .ok_or_else(|| format!("plugin {name} has no version {}", wanted.unwrap_or("")))?;
        let path = self.component(&plugin.name, &version);
        Ok((plugin, version, path))
    }

    /// Where version `version` of `name` is stored.
    pub fn component(&self, name: &PluginName, version: &Sha256) -> PathBuf {
        self.file(name, PluginFile::Component(version))
    }
}

/// Checks that the component at `path` implements `kind`'s world.
fn validate(path: &Path, kind: PluginKind) -> Result<(), String> {
    let runtime = Runtime::shared().map_err(|err| err.to_string())?;
    let checked = match kind {
        PluginKind::Dofn => runtime.check::<DoFnWorld>(path),
        PluginKind::Combine => runtime.check::<CombineWorld>(path),
        PluginKind::Window => runtime.check::<WindowWorld>(path),
        PluginKind::Trigger => runtime.check::<TriggerWorld>(path),
    };
    checked.map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn an_unreadable_index_is_an_error_not_a_missing_plugin() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(dir.path().to_owned());
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
        let registry = Registry::new(ours);
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
            assert_eq!(err, no_plugin(name));
            let err = registry.resolve(&format!("{name}@00")).unwrap_err();
            assert_eq!(err, no_plugin(name));
            assert_eq!(
                registry
                    .push(name, PluginKind::Combine, b"", 1 << 20)
                    .unwrap_err()
                    .kind,
                ErrorKind::Invalid
            );
        }
        let version: Result<Sha256, _> = "../x".to_owned().try_into();
        assert!(version.is_err());
    }
}
