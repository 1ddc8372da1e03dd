//! The languages plugins are written in, for the suites every language passes:
//! each case is one function taking a [`Language`], and [`in_every_language!`] makes
//! a test of it per language (`rust::case`, `python::case`), so that
//! `cargo test --test languages python::` runs one language's suite.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::root;

/// A plugin language, as the tests see it.
pub struct Language {
    /// The name `millrace plugin new --lang` takes.
    pub name: &'static str,
    /// The folder under `plugins/` holding its example plugins (Rust's are
    /// `plugins/*` themselves).
    plugins: &'static str,
    /// The file a scaffolded plugin keeps its own test in.
    pub own_test: &'static str,
    /// A part of the dead letter the faulty plugin's `panic` gets: the language's
    /// own words for the exception or panic.
    pub panic_reason: &'static str,
}

/// Rust, through `guest-sdk/rust`.
pub const RUST: Language = Language {
    name: "rust",
    plugins: "",
    own_test: "src/lib.rs",
    panic_reason: "panicked at faulty/src/lib.rs",
};

/// Python, through `guest-sdk/python` (componentize-py).
pub const PYTHON: Language = Language {
    name: "python",
    plugins: "python",
    own_test: "test_plugin.py",
    panic_reason: "RuntimeError: boom: a deliberate exception (at plugin.py:",
};

/// JavaScript, through `guest-sdk/js` (componentize-qjs, QuickJS).
pub const JS: Language = Language {
    name: "js",
    plugins: "js",
    own_test: "plugin.test.js",
    panic_reason: "Error: boom: a deliberate exception",
};

/// C, through `guest-sdk/c` (clang and wasi-libc).
pub const C: Language = Language {
    name: "c",
    plugins: "c",
    own_test: "test_plugin.c",
    panic_reason: "panicked at plugin.c:",
};

/// Go, through `guest-sdk/go` (Go's wasip1 port and a component adapter).
pub const GO: Language = Language {
    name: "go",
    plugins: "go",
    own_test: "plugin_test.go",
    panic_reason: "panic: boom: a deliberate panic (at plugin.go:",
};

impl Language {
    /// The example plugin `name` of this language: its folder, which millrace builds
    /// on first use.
    pub fn plugin(&self, name: &str) -> String {
        super::plugin(&self.example(name))
    }

    /// The example plugin `name` of this language, as a path under `plugins/`.
    pub fn example(&self, name: &str) -> String {
        Path::new(self.plugins)
            .join(name)
            .to_string_lossy()
            .into_owned()
    }

    /// The language's SDK folder.
    pub fn sdk(&self) -> PathBuf {
        root().join("guest-sdk").join(self.name)
    }

    /// Runs the native test of the plugin folder `folder` in the language's own
    /// test tool, through its SDK's `test.sh` (Rust has none to run here: its
    /// scaffolds are checked by building them).
    pub fn run_own_test(&self, folder: &Path) {
        if self.name == "rust" {
            return;
        }
        let output = Command::new("bash")
            .arg(self.sdk().join("test.sh"))
            .arg(folder)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}{}",
            folder.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Makes a module per language, each with a `#[test]` per case that calls the
/// case (a function of `&Language` at the test crate's root) with that language.
// Like the rest of `common`, unused in the test binaries without such cases.
#[allow(unused_macros)]
macro_rules! in_every_language {
    ($($case:ident),+ $(,)?) => {
        in_every_language!(@language rust RUST $($case),+);
        in_every_language!(@language python PYTHON $($case),+);
        in_every_language!(@language js JS $($case),+);
        in_every_language!(@language c C $($case),+);
        in_every_language!(@language go GO $($case),+);
    };
    (@language $module:ident $language:ident $($case:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $case() {
                    super::$case(&crate::common::languages::$language);
                }
            )+
        }
    };
}
#[allow(unused_imports)]
pub(crate) use in_every_language;
