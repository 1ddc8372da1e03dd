//! The host's readers of what a guest returns, on arbitrary answers: columnar `blobs`
//! (bytes and end offsets that may point anywhere), element-error lists with any
//! index, a DoFn's output, a CombineFn's accumulators and outputs, a window
//! function's assignment and merges, a trigger's decision. A guest is untrusted: any
//! answer must be read or refused with a reason, never panic the host.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use millrace_model::window::Window;
use millrace_wasm::bindings::combine::exports::millrace::plugin::combine_fn::Added;
use millrace_wasm::bindings::dofn::exports::millrace::plugin::dofn::Output;
use millrace_wasm::bindings::trigger::exports::millrace::plugin::trigger::Decision;
use millrace_wasm::bindings::window::exports::millrace::plugin::window_fn::{Assignment, Merges};
use millrace_wasm::bindings::{Blobs, ElementError};
use millrace_wasm::{combine, dofn, items, trigger, window};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = read_one(&mut u);
});

/// Builds one guest answer from the input and reads it as the host does.
fn read_one(u: &mut Unstructured<'_>) -> Result<()> {
    // How many items the host sent: the answer must be read against it.
    let sent = usize::from(u.int_in_range(0u8..=16)?);
    match u.int_in_range(0u8..=6)? {
        0 => {
            let blobs = blobs(u)?;
            let read: Vec<&[u8]> = items(&blobs).collect();
            assert_eq!(read.len(), blobs.ends.len(), "one item per end offset");
            assert!(read.iter().map(|item| item.len()).sum::<usize>() <= blobs.bytes.len());
        }
        1 => {
            let output = Output {
                keys: blobs(u)?,
                values: blobs(u)?,
                timestamps: u.arbitrary()?,
                sources: indexes(u)?,
                tags: blobs(u)?,
                errors: errors(u)?,
            };
            let declared = ["side".to_owned()];
            for (source, _) in dofn::read_output(output, sent, &declared) {
                assert!(source < sent, "an output of input {source} of {sent}");
            }
        }
        2 => {
            let added = Added {
                accumulators: blobs(u)?,
                rejected: errors(u)?,
            };
            let order: Vec<usize> = (0..sent).map(|i| i * 3).collect();
            if let Ok((accumulators, rejected)) = combine::read_added(added, sent, &order) {
                assert_eq!(accumulators.len(), sent);
                for (input, _) in rejected {
                    assert!(
                        order.contains(&input),
                        "rejected input {input} was not sent"
                    );
                }
            }
        }
        3 => {
            if let Ok(values) = combine::read_outputs(&blobs(u)?, sent) {
                assert_eq!(values.len(), sent);
            }
        }
        4 => {
            let assignment = Assignment {
                starts: times(u)?,
                ends: times(u)?,
                sources: indexes(u)?,
            };
            let assigned = window::read_assignment(&assignment, sent);
            assert_eq!(assigned.len(), sent);
            for window in assigned.iter().flatten().flatten() {
                assert!(
                    *window == Window::Global || window.start() < window.end(),
                    "an empty window {window}"
                );
            }
        }
        5 => {
            let mut per_key: Vec<Vec<Window>> = Vec::with_capacity(sent);
            for _ in 0..sent {
                per_key.push(list(u, |u| {
                    Ok(Window::interval(u.arbitrary()?, u.arbitrary()?))
                })?);
            }
            let merges = Merges {
                starts: times(u)?,
                ends: times(u)?,
                members: indexes(u)?,
                member_ends: indexes(u)?,
            };
            if let Ok(groups) = window::read_merges(&merges, &per_key) {
                assert_eq!(groups.len(), per_key.len());
                for (key, merges) in groups.iter().enumerate() {
                    for merge in merges {
                        assert!(merge.members.len() >= 2, "a merge of one window");
                        assert!(merge.members.iter().all(|w| per_key[key].contains(w)));
                    }
                }
            }
        }
        _ => {
            let decision = Decision {
                states: blobs(u)?,
                fire: u.arbitrary()?,
            };
            if let Ok(decisions) = trigger::read_decision(decision, sent) {
                assert_eq!(decisions.len(), sent);
            }
        }
    }
    Ok(())
}

/// An index or offset a guest returns: mostly near the sizes the host sent, sometimes
/// anything.
fn index(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => u.arbitrary()?,
        1 => u32::MAX - u32::from(u.arbitrary::<u8>()?),
        _ => u32::from(u.arbitrary::<u8>()? % 32),
    })
}

fn indexes(u: &mut Unstructured<'_>) -> Result<Vec<u32>> {
    list(u, index)
}

/// Items made by `item` while the input says so.
fn list<'a, T>(
    u: &mut Unstructured<'a>,
    mut item: impl FnMut(&mut Unstructured<'a>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut list = Vec::new();
    while u.arbitrary::<bool>()? {
        list.push(item(u)?);
    }
    Ok(list)
}

fn times(u: &mut Unstructured<'_>) -> Result<Vec<i64>> {
    u.arbitrary()
}

/// A `blobs` buffer whose end offsets need not fit its bytes nor grow.
fn blobs(u: &mut Unstructured<'_>) -> Result<Blobs> {
    let bytes: Vec<u8> = u.arbitrary()?;
    Ok(Blobs {
        bytes,
        ends: indexes(u)?,
    })
}

fn errors(u: &mut Unstructured<'_>) -> Result<Vec<ElementError>> {
    list(u, |u| {
        Ok(ElementError {
            index: index(u)?,
            message: u.arbitrary()?,
        })
    })
}
