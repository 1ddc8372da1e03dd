//! The spec reader on arbitrary bytes: YAML and JSON text from a file (`millrace
//! run`, `validate`) or from a tenant (`millrace serve`, plugins and models resolved
//! by name).
//! Every input must give a spec or a [`SpecError`] — never a panic, a hang or memory
//! without bound — and an error must say where it is.

#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use millrace_runner::spec::score::ModelRef;
use millrace_runner::spec::{self, SpecError};

fuzz_target!(|data: &[u8]| {
    // `spec::load` refuses text that is not UTF-8 before parsing, and the server's
    // JSON body is a string: only text reaches the reader.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/specs/fuzz.yaml");
    check(file, spec::parse(file, text));
    // A served spec names plugins and models that the tenant's registry resolves.
    let resolve = |name: &str| -> Result<PathBuf, String> {
        if name.len().is_multiple_of(2) {
            Ok(PathBuf::from("/registry").join(name))
        } else {
            Err(format!("no plugin {name:?}"))
        }
    };
    let resolve_model = |name: &str| -> Result<ModelRef, String> {
        resolve(name).map(|path| ModelRef {
            path,
            name: name.to_owned(),
        })
    };
    check(
        file,
        spec::parse_with_registry(file, text, &resolve, &resolve_model),
    );
});

/// A spec was read, or the error names the file and renders.
fn check<T>(file: &Path, result: Result<T, SpecError>) {
    if let Err(err) = result {
        assert_eq!(err.file, file, "the error names another file: {err}");
        assert!(
            !err.message.is_empty(),
            "an error without a message: {err:?}"
        );
        let _ = err.to_string();
    }
}
