//! Building a plugin folder into a component. The folder's language is known by
//! its entry file: `Cargo.toml` is a Rust crate, built with cargo; `plugin.py`,
//! `plugin.js`, `plugin.c` and `plugin.go` are plugins of the Python, JavaScript, C
//! and Go SDKs, each built by its SDK's `build.sh`. Those builds are kept by the
//! hash of everything they are made of, so a folder is built again only when it,
//! its SDK or the WIT package changed.

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
    /// A `plugin.js` (an ES module) of the JavaScript SDK, `guest-sdk/js/`.
    #[cfg_attr(feature = "clap", value(alias = "javascript"))]
    Js,
    /// A `plugin.c` of the C SDK, `guest-sdk/c/`.
    C,
    /// A `plugin.go` of the Go SDK, `guest-sdk/go/`.
    Go,
}

impl Language {
    /// Every language, in the order folders are recognised.
    pub const ALL: [Language; 5] = [
        Language::Rust,
        Language::Python,
        Language::Js,
        Language::C,
        Language::Go,
    ];

    /// The language of the plugin folder `dir`, known by its entry file.
    pub fn of(dir: &Path) -> Result<Language, PluginError> {
        Language::ALL
            .into_iter()
            .find(|language| dir.join(language.entry_file()).is_file())
            .ok_or_else(|| {
                let entries: Vec<String> = Language::ALL
                    .iter()
                    .map(|language| format!("{} ({})", language.entry_file(), language.name()))
                    .collect();
                PluginError::Build {
                    dir: dir.to_owned(),
                    message: format!(
                        "the folder is no plugin this millrace can build: it has none of {}",
                        entries.join(", ")
                    ),
                }
            })
    }

    /// The file whose presence makes a folder a plugin of this language.
    pub fn entry_file(self) -> &'static str {
        match self {
            Language::Rust => "Cargo.toml",
            Language::Python => "plugin.py",
            Language::Js => "plugin.js",
            Language::C => "plugin.c",
            Language::Go => "plugin.go",
        }
    }

    /// The language's name, for people.
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
            Language::C => "C",
            Language::Go => "Go",
        }
    }

    /// The language's SDK: its folder under [`guest_sdk`].
    pub fn sdk(self) -> PathBuf {
        guest_sdk().join(self.folder())
    }

    /// The language's short name: its SDK's folder, its plugins' folder under
    /// `plugins/` and its builds' folder in the cache.
    pub fn folder(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
            Language::C => "c",
            Language::Go => "go",
        }
    }
}

/// The SDKs' folder: `MILLRACE_GUEST_SDK`, else the `guest-sdk/` this millrace was
/// built from.
pub fn guest_sdk() -> PathBuf {
    if let Some(dir) = std::env::var_os("MILLRACE_GUEST_SDK") {
        return PathBuf::from(dir);
    }
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest-sdk");
    sdk.canonicalize().unwrap_or(sdk)
}

/// Builds the plugin folder `dir`, in whichever language it is written, and
/// returns the path of the component.
pub fn build_plugin(dir: &Path) -> Result<PathBuf, PluginError> {
    match Language::of(dir)? {
        Language::Rust => build_crate(dir),
        language => build_with_sdk(language, dir),
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

/// Builds the plugin in `dir` with its language's `build.sh`, or finds the
/// component an earlier build of the same sources made.
fn build_with_sdk(language: Language, dir: &Path) -> Result<PathBuf, PluginError> {
    let failed = |message: String| PluginError::Build {
        dir: dir.to_owned(),
        message,
    };
    let sdk = language.sdk();
    let script = sdk.join("build.sh");
    if !script.is_file() {
        return Err(failed(format!(
            "the {} SDK is not at {} (set MILLRACE_GUEST_SDK to the guest-sdk folder)",
            language.name(),
            sdk.display()
        )));
    }
    let wit = std::env::var_os("MILLRACE_WIT").map_or_else(|| sdk.join("../../wit"), PathBuf::from);
    let mut hasher = Sha256::new();
    for root in [dir, &sdk, &wit] {
        hash_sources(root, root, &mut hasher)
            .map_err(|err| failed(format!("cannot read {}: {err}", root.display())))?;
    }
    let hash = super::hex(&hasher.finalize());
    let Some(cache) = super::cache_dir().map(|cache| cache.join(language.folder())) else {
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
    let partial = cache.join(format!("{hash}.{}.partial.wasm", std::process::id()));
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

/// Folders that builds and tests write into a plugin or SDK folder: never sources.
const GENERATED: &[&str] = &["__pycache__", "target", "node_modules", "build"];

/// Hashes the path (relative to `root`) and contents of every source file under
/// `dir`, in name order; components, caches, tests' output and hidden files are
/// left out.
fn hash_sources(root: &Path, dir: &Path, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || GENERATED.contains(&name.as_ref()) || name.ends_with(".wasm") {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            hash_sources(root, &path, hasher)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            hasher.update(relative.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(std::fs::read(&path)?);
            hasher.update([0]);
        }
    }
    Ok(())
}
