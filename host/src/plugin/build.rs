//! Building a plugin crate folder into a component with cargo.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::PluginError;

/// The target plugins are built for; its output is already a component.
pub const TARGET: &str = "wasm32-wasip2";

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
    let package = package_name(&manifest);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut found = None;
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let matches_package = package.as_deref().is_none_or(|name| {
            message["target"]["name"]
                .as_str()
                .map(|n| n.replace('-', "_"))
                == Some(name.replace('-', "_"))
        });
        if !matches_package {
            continue;
        }
        if let Some(files) = message["filenames"].as_array() {
            for file in files.iter().filter_map(|f| f.as_str()) {
                if file.ends_with(".wasm") {
                    found = Some(PathBuf::from(file));
                }
            }
        }
    }
    found.ok_or_else(|| failed("cargo produced no .wasm file; is the crate a `cdylib`?".to_owned()))
}

/// The package name in a Cargo.toml, if it can be read.
fn package_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package
            && let Some(value) = line.strip_prefix("name")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}
