//! Each way a plugin call can go wrong is told apart ([`FaultKind`]), with the real
//! `faulty` example plugin in a real sandbox, and too many faults in a row
//! quarantine the plugin.

use std::path::Path;
use std::time::Duration;

use millrace_model::record::{Key, Record};
use millrace_wasm::dofn::DoFnWorld;
use millrace_wasm::{CallError, FaultKind, PluginSpec, Sandbox, blobs_size, elements};
use serde_json::json;

fn sandbox(max_faults: u32) -> Sandbox<DoFnWorld> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/faulty");
    let mut spec = PluginSpec::new(dir);
    // Kept in wall-clock ticks: room for the bomb to reach the memory limit first
    // while other tests load the machine.
    spec.limits.cpu_per_call = Duration::from_secs(1);
    // Below the 8 MiB that `flood` emits, far below the default 64 MiB of memory.
    spec.limits.output = 1 << 20;
    spec.limits.max_faults = max_faults;
    Sandbox::new(&spec, "steps[0].pardo").expect("the faulty plugin loads")
}

/// Calls the plugin on one record whose value is `value`.
fn call(sandbox: &mut Sandbox<DoFnWorld>, value: serde_json::Value) -> Result<(), CallError> {
    let record = Record::new(Key::from_str_value("k"), value, 0);
    let batch = elements([&record]);
    sandbox
        .call(
            |bindings, store| bindings.millrace_plugin_dofn().call_process(store, &batch),
            |output| {
                output
                    .as_ref()
                    .map_or(0, |o| blobs_size(&o.keys) + blobs_size(&o.values))
            },
        )
        .map(drop)
}

fn kind_of(outcome: Result<(), CallError>) -> FaultKind {
    match outcome {
        Err(CallError::Fault(fault)) => fault.kind,
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[test]
fn every_fault_is_told_apart_and_the_next_call_gets_a_new_instance() {
    let mut sandbox = sandbox(100);
    for (fault, kind) in [
        ("panic", FaultKind::Trap),
        ("loop", FaultKind::CpuLimit),
        ("bomb", FaultKind::MemoryLimit),
        ("flood", FaultKind::OutputLimit),
    ] {
        assert_eq!(
            kind_of(call(&mut sandbox, json!({"fault": fault}))),
            kind,
            "{fault}"
        );
        assert!(
            call(&mut sandbox, json!("fine")).is_ok(),
            "a call after the {fault} fault works"
        );
    }
    // An error for one record is the plugin's answer, not a fault.
    assert!(call(&mut sandbox, json!({"fault": "error"})).is_ok());
}

#[test]
fn faults_in_a_row_quarantine_the_plugin() {
    let mut sandbox = sandbox(2);
    assert_eq!(
        kind_of(call(&mut sandbox, json!({"fault": "panic"}))),
        FaultKind::Trap
    );
    match call(&mut sandbox, json!({"fault": "panic"})) {
        Err(CallError::Quarantined { message, last }) => {
            assert_eq!(last.kind, FaultKind::Trap);
            assert!(
                message.contains("quarantined after 2 faults in a row"),
                "{message}"
            );
        }
        other => panic!("expected a quarantine, got {other:?}"),
    }
}
