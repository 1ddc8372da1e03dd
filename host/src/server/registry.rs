//! Plugins as versioned artifacts: each push stores a component under its sha256,
//! immutable, after checking that it is a component of the world its kind names.
//!
//! Layout: `tenants/<tenant>/plugins/<name>/<sha256>.wasm` and an `index.json` per
//! name listing its versions in push order.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ApiError, write_json_atomically};
use crate::plugin::{
    PluginKind, Runtime, combine::CombineWorld, dofn::DoFnWorld, trigger::TriggerWorld,
    window::WindowWorld,
};

/// One stored version of a plugin.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Version {
    /// sha256 of the component, hex.
    pub version: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was pushed (ms since the epoch).
    pub pushed: i64,
}

/// A plugin: a name, a kind and its versions.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plugin {
    /// Its name.
    pub name: String,
    /// Which world it implements.
    pub kind: PluginKind,
    /// Its versions, oldest first.
    pub versions: Vec<Version>,
}

/// A tenant's plugins.
pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// The registry in `dir` (`tenants/<tenant>/plugins`).
    pub fn new(dir: PathBuf) -> Registry {
        Registry { dir }
    }

    /// Every plugin.
    pub fn list(&self) -> Vec<Plugin> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut plugins: Vec<Plugin> = entries
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| self.get(&entry.file_name().to_string_lossy()))
            .collect();
        plugins.sort_by(|a, b| a.name.cmp(&b.name));
        plugins
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Option<Plugin> {
        self.read(name).ok().flatten()
    }

    /// The plugin called `name`: `None` if there is none, an error if its index
    /// cannot be read (so that, say, running out of file descriptors is not
    /// reported as a missing plugin).
    fn read(&self, name: &str) -> Result<Option<Plugin>, String> {
        let path = self.dir.join(name).join("index.json");
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("cannot read plugin {name}: {err}")),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| format!("plugin {name}'s index is damaged: {err}"))
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
        super::check_name("plugin", name)?;
        let mut plugin = self.get(name).unwrap_or_else(|| Plugin {
            name: name.to_owned(),
            kind,
            versions: Vec::new(),
        });
        if plugin.kind != kind {
            return Err(ApiError::invalid(format!(
                "plugin {name} is a {} plugin; a {} cannot be pushed under its name",
                plugin.kind, kind
            )));
        }
        let hash = super::tenants::sha256_hex(bytes);
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
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
        let path = dir.join(format!("{hash}.wasm"));
        let temp = dir.join(format!(".{hash}.tmp"));
        std::fs::write(&temp, bytes).map_err(ApiError::internal)?;
        if let Err(err) = validate(&temp, kind) {
            let _ = std::fs::remove_file(&temp);
            return Err(ApiError::invalid(
                err.replace(&temp.display().to_string(), name),
            ));
        }
        std::fs::rename(&temp, &path).map_err(ApiError::internal)?;
        let version = Version {
            version: hash,
            size: bytes.len() as u64,
            pushed: crate::time::wall_clock_now(),
        };
        plugin.versions.push(version.clone());
        write_json_atomically(&dir.join("index.json"), &plugin).map_err(ApiError::internal)?;
        Ok((plugin, version))
    }

    /// Finds `reference`: `name` (its newest version) or `name@version`, where the
    /// version may be any unambiguous prefix of the sha256. Returns the plugin, the
    /// full version and the component's path.
    pub fn resolve(&self, reference: &str) -> Result<(Plugin, String, PathBuf), String> {
        let (name, wanted) = match reference.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (reference, None),
        };
        let plugin = self
            .read(name)?
            .ok_or_else(|| format!("there is no plugin {name}; push it first"))?;
        let version = match wanted {
            None => plugin.versions.last().map(|v| v.version.clone()),
            Some(prefix) => {
                let matches: Vec<&Version> = plugin
                    .versions
                    .iter()
                    .filter(|v| !prefix.is_empty() && v.version.starts_with(prefix))
                    .collect();
                if matches.len() > 1 {
                    return Err(format!("{reference} matches several versions of {name}"));
                }
                matches.first().map(|v| v.version.clone())
            }
        }
        .ok_or_else(|| format!("plugin {name} has no version {}", wanted.unwrap_or("")))?;
        let path = self.path(name, &version);
        Ok((plugin, version, path))
    }

    /// Where version `version` of `name` is stored.
    pub fn path(&self, name: &str, version: &str) -> PathBuf {
        self.dir.join(name).join(format!("{version}.wasm"))
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
}
