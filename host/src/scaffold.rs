//! New plugin crates (`millrace plugin new`): a crate of one of the five kinds, with
//! a working example and a test, that builds into a component as is.

use std::path::{Path, PathBuf};

use millrace_wasm::PluginKind as Kind;

/// The example source of a plugin of `kind`.
fn template(kind: Kind) -> &'static str {
    match kind {
        Kind::Dofn => include_str!("../templates/plugin/dofn.rs.in"),
        Kind::Combine => include_str!("../templates/plugin/combine.rs.in"),
        Kind::Window => include_str!("../templates/plugin/window.rs.in"),
        Kind::Trigger => include_str!("../templates/plugin/trigger.rs.in"),
        Kind::Scorer => include_str!("../templates/plugin/scorer.rs.in"),
    }
}

/// Why a crate could not be scaffolded.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The folder's name cannot be a crate name.
    #[error(
        "{name:?} cannot name a crate: use letters, digits, `-` and `_`, starting with a letter"
    )]
    BadName {
        /// The name.
        name: String,
    },
    /// The folder exists and holds files.
    #[error("{} already exists and is not empty", .0.display())]
    Exists(PathBuf),
    /// The SDK is not where it was expected.
    #[error(
        "the millrace SDK is not at {}; pass --sdk with the path of the guest-sdk folder",
        .0.display()
    )]
    NoSdk(PathBuf),
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The SDK this binary was built with, when its sources are still where they were.
pub fn bundled_sdk() -> PathBuf {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk/rust");
    sdk.canonicalize().unwrap_or(sdk)
}

/// Creates the crate in `dir` (named after the folder), depending on the SDK at
/// `sdk`; returns the files written.
pub fn scaffold(dir: &Path, kind: Kind, sdk: &Path) -> Result<Vec<PathBuf>, ScaffoldError> {
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_crate_name(&name) {
        return Err(ScaffoldError::BadName { name });
    }
    if dir
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        return Err(ScaffoldError::Exists(dir.to_owned()));
    }
    let sdk = sdk
        .canonicalize()
        .ok()
        .filter(|sdk| sdk.join("Cargo.toml").exists())
        .ok_or_else(|| ScaffoldError::NoSdk(sdk.to_owned()))?;
    let fill = |template: &str| {
        template
            .replace("{{name}}", &name)
            .replace("{{type}}", &type_name(&name))
            .replace("{{dir}}", &dir.display().to_string())
            .replace("{{sdk}}", &toml_escape(&sdk.display().to_string()))
    };
    let files = [
        (
            PathBuf::from("Cargo.toml"),
            fill(include_str!("../templates/plugin/Cargo.toml.in")),
        ),
        (
            PathBuf::from(".gitignore"),
            include_str!("../templates/plugin/gitignore.in").to_owned(),
        ),
        (PathBuf::from("src/lib.rs"), fill(template(kind))),
    ];
    let mut written = Vec::new();
    for (file, text) in files {
        let path = dir.join(file);
        let io = |source| ScaffoldError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, text).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}

/// Whether Cargo accepts `name` as a package name (conservatively).
fn is_crate_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `my-fn` → `MyFn`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect()
}

/// The text of a TOML basic string.
fn toml_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_types() {
        assert_eq!(type_name("my-fn"), "MyFn");
        assert_eq!(type_name("top_k2"), "TopK2");
        assert!(is_crate_name("a-b_c1"));
        assert!(!is_crate_name("1abc"));
        assert!(!is_crate_name("a b"));
        assert!(!is_crate_name(""));
    }

    #[test]
    fn refuses_a_folder_with_files() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full");
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("x"), "").unwrap();
        let err = scaffold(&full, Kind::Dofn, &bundled_sdk()).unwrap_err();
        assert!(matches!(err, ScaffoldError::Exists(_)), "{err}");
    }

    #[test]
    fn fills_every_placeholder() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [Kind::Dofn, Kind::Combine, Kind::Window, Kind::Trigger] {
            let crate_dir = dir.path().join(format!("{kind:?}-plugin").to_lowercase());
            let files = scaffold(&crate_dir, kind, &bundled_sdk()).unwrap();
            for file in files {
                let text = std::fs::read_to_string(&file).unwrap();
                assert!(!text.contains("{{"), "{}: {text}", file.display());
            }
        }
    }
}
