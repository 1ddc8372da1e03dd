//! Building a plugin folder into a component. The folder's language is known by
//! its files: `Cargo.toml` is a Rust crate, built with cargo; `plugin.py` is a
//! Python plugin, built with the Python SDK's `build.sh` (componentize-py).
//! Python builds are kept by the hash of everything they are made of, so a folder
//! is built again only when it, the SDK or the WIT package changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::PluginError;

/// A language a plugin folder is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Language {
    /// A crate (`Cargo.toml`) of the Rust SDK, `guest-sdk/rust/`.
    Rust,
    /// A `plugin.py` of the Python SDK, `guest-sdk/python/`.
    Python,
}

impl Language {
    /// The language of the plugin folder `dir`, known by its files.
    pub fn of(dir: &Path) -> Result<Language, PluginError> {
        if dir.join("Cargo.toml").is_file() {
            Ok(Language::Rust)
        } else if dir.join("plugin.py").is_file() {
            Ok(Language::Python)
        } else {
            Err(PluginError::Build {
                dir: dir.to_owned(),
                message: "the folder is no plugin this millrace can build: it has neither a \
                          Cargo.toml (a Rust crate) nor a plugin.py (a Python plugin)"
                    .to_owned(),
            })
        }
    }
}

/// Builds the plugin folder `dir`, in whichever language it is written, and
/// returns the path of the component.
pub fn build_plugin(dir: &Path) -> Result<PathBuf, PluginError> {
    match Language::of(dir)? {
        Language::Rust => build_crate(dir),
        Language::Python => build_python(dir),
    }
}

/// The target plugins are built for; its output is already a component.
pub(crate) const TARGET: &str = "wasm32-wasip2";

/// Builds the crate in `dir` for [`TARGET`] in release mode and returns the path of
/// the `.wasm` it produced.
pub fn build_crate(dir: &Path) -> Result<PathBuf, PluginError> {
    let manifest = dir.join("Cargo.toml");
    let failed = |message: String| PluginError::Build {
        dir: dir.to_owned(),
        message,
    };
    if !manifest.exists() {
        return Err(failed("the folder has no Cargo.toml".to_owned()));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "--release", "--quiet", "--target", TARGET])
        .arg("--message-format=json-render-diagnostics")
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .map_err(|err| failed(format!("cannot run cargo: {err}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("target may not be installed")
            || stderr.contains(TARGET) && stderr.contains("not installed")
        {
            return Err(failed(format!(
                "the {TARGET} target is not installed; run `rustup target add {TARGET}`"
            )));
        }
        return Err(failed(format!(
            "cargo build failed:\n{}",
            last_lines(&stderr)
        )));
    }
    // Only this crate's own artifact counts, not those of its dependencies.
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut found = None;
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact"
            || message["manifest_path"].as_str().map(Path::new) != Some(manifest.as_path())
        {
            continue;
        }
        let files = message["filenames"].as_array().into_iter().flatten();
        if let Some(file) = files
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".wasm"))
        {
            found = Some(PathBuf::from(file));
        }
    }
    found.ok_or_else(|| failed("cargo produced no .wasm file; is the crate a `cdylib`?".to_owned()))
}

/// The last 20 lines a failed build printed: where its error is.
fn last_lines(output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The Python SDK: `MILLRACE_PYTHON_SDK`, else the one beside the Rust SDK this
/// millrace was built with.
pub fn python_sdk() -> PathBuf {
    if let Some(dir) = std::env::var_os("MILLRACE_PYTHON_SDK") {
        return PathBuf::from(dir);
    }
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-sdk/python");
    sdk.canonicalize().unwrap_or(sdk)
}

/// Builds the Python plugin in `dir` with the SDK's `build.sh`, or finds the
/// component an earlier build of the same sources made.
fn build_python(dir: &Path) -> Result<PathBuf, PluginError> {
    let failed = |message: String| PluginError::Build {
        dir: dir.to_owned(),
        message,
    };
    let sdk = python_sdk();
    let script = sdk.join("build.sh");
    if !script.is_file() {
        return Err(failed(format!(
            "the Python SDK is not at {} (set MILLRACE_PYTHON_SDK to its folder)",
            sdk.display()
        )));
    }
    let wit = std::env::var_os("MILLRACE_WIT").map_or_else(|| sdk.join("../../wit"), PathBuf::from);
    let mut hasher = Sha256::new();
    for root in [dir, &sdk.join("millrace"), &wit] {
        hash_sources(root, root, &mut hasher)
            .map_err(|err| failed(format!("cannot read {}: {err}", root.display())))?;
    }
    hasher.update(std::fs::read(&script).unwrap_or_default());
    let hash = super::hex(&hasher.finalize());
    let Some(cache) = super::cache_dir().map(|dir| dir.join("python")) else {
        return Err(failed(
            "there is no cache folder: set MILLRACE_CACHE_DIR or HOME".to_owned(),
        ));
    };
    let out = cache.join(format!("{hash}.wasm"));
    if out.is_file() {
        return Ok(out);
    }
    std::fs::create_dir_all(&cache)
        .map_err(|err| failed(format!("cannot create {}: {err}", cache.display())))?;
    // Built under a name of its own, then renamed: a build that fails or runs
    // beside another leaves no half-written component under the hash.
    let partial = cache.join(format!("{hash}.{}.partial", std::process::id()));
    let output = Command::new("bash")
        .arg(&script)
        .arg(dir)
        .arg(&partial)
        .env("MILLRACE_WIT", &wit)
        .output()
        .map_err(|err| failed(format!("cannot run {}: {err}", script.display())))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(
            last_lines(&stderr)
                .trim_start_matches("build.sh: ")
                .to_owned(),
        ));
    }
    std::fs::rename(&partial, &out)
        .map_err(|err| failed(format!("cannot keep the component: {err}")))?;
    Ok(out)
}

/// Hashes the path (relative to `root`) and contents of every source file under
/// `dir`, in name order; caches, tests' output and hidden folders are left out.
fn hash_sources(root: &Path, dir: &Path, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "__pycache__" || name == "target" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            hash_sources(root, &path, hasher)?;
        } else if name.ends_with(".py") || name.ends_with(".wit") {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            hasher.update(relative.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(std::fs::read(&path)?);
            hasher.update([0]);
        }
    }
    Ok(())
}
