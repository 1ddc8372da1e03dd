//! Bindings generated from the WIT package in `wit/`, one module per world.
//!
//! Plugin authors do not use these directly: the traits in the crate root and
//! [`crate::export!`] wrap them.

/// The DoFn world.
pub mod dofn {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "dofn-plugin",
        pub_export_macro: true,
        export_macro_name: "export_dofn",
        default_bindings_module: "millrace_sdk::bindings::dofn",
    });
}

/// The CombineFn world.
pub mod combine {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "combine-plugin",
        pub_export_macro: true,
        export_macro_name: "export_combine",
        default_bindings_module: "millrace_sdk::bindings::combine",
    });
}

/// The window-function world.
pub mod window {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "window-plugin",
        pub_export_macro: true,
        export_macro_name: "export_window",
        default_bindings_module: "millrace_sdk::bindings::window",
    });
}

/// The trigger world.
pub mod trigger {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "trigger-plugin",
        pub_export_macro: true,
        export_macro_name: "export_trigger",
        default_bindings_module: "millrace_sdk::bindings::trigger",
    });
}

/// The model-evaluator world.
pub mod scorer {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "scorer-plugin",
        pub_export_macro: true,
        export_macro_name: "export_scorer",
        default_bindings_module: "millrace_sdk::bindings::scorer",
    });
}
