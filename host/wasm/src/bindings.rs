//! Host bindings generated from `wit/`, one module per plugin world. The shared
//! `types` and `host` interfaces (and `state`) are generated once, in [`dofn`], and
//! reused by the other worlds. The generated items carry the WIT's own doc comments
//! where it has them; `missing_docs` is off for them, since `wit/millrace.wit` is
//! where they are documented.

/// The DoFn world; also home of the shared interfaces.
#[allow(missing_docs)]
pub mod dofn {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "dofn-plugin",
    });
}

/// The CombineFn world.
#[allow(missing_docs)]
pub mod combine {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "combine-plugin",
        with: {
            "millrace:plugin/types": super::dofn::millrace::plugin::types,
            "millrace:plugin/host": super::dofn::millrace::plugin::host,
        },
    });
}

/// The window-function world.
#[allow(missing_docs)]
pub mod window {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "window-plugin",
        with: {
            "millrace:plugin/types": super::dofn::millrace::plugin::types,
            "millrace:plugin/host": super::dofn::millrace::plugin::host,
        },
    });
}

/// The trigger world.
#[allow(missing_docs)]
pub mod trigger {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "trigger-plugin",
        with: {
            "millrace:plugin/types": super::dofn::millrace::plugin::types,
            "millrace:plugin/host": super::dofn::millrace::plugin::host,
        },
    });
}

/// The model-evaluator world.
#[allow(missing_docs)]
pub mod scorer {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "scorer-plugin",
        with: {
            "millrace:plugin/types": super::dofn::millrace::plugin::types,
            "millrace:plugin/host": super::dofn::millrace::plugin::host,
        },
    });
}

pub use dofn::millrace::plugin::types::{Blobs, ElementError, Elements, Error};
