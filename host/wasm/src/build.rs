//! Building a plugin crate folder into a component with cargo.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::PluginError;

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
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(failed(format!("cargo build failed:\n{}", tail.join("\n"))));
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
