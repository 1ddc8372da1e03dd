//! Window-function plugins: `window: {custom: {plugin, config}}`.

use std::ops::Range;

use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::bindings::window::exports::millrace::plugin::window_fn;
use super::bindings::window::{WindowPlugin, WindowPluginPre};
use super::host::PluginData;
use super::{
    Attempt, PluginError, PluginSpec, Runtime, Sandbox, World, attempt, elements, isolate,
    window_from,
};
use millrace_model::record::Record;
use millrace_model::window::{AssignedWindows, CustomWindowFn, MergeGroup, Window, WindowAssigner};

/// The window-function world.
pub struct WindowWorld;

impl World for WindowWorld {
    type Bindings = WindowPlugin;
    type Pre = WindowPluginPre<PluginData>;
    type Info = window_fn::Info;
    const KIND: &'static str = "custom window";
    const EXPORT: &'static str = "millrace:plugin/window-fn@0.2.0";

    fn linker(runtime: &Runtime) -> &Linker<PluginData> {
        &runtime.window
    }

    fn pre(linker: &Linker<PluginData>, component: &Component) -> wasmtime::Result<Self::Pre> {
        WindowPluginPre::new(linker.instantiate_pre(component)?)
    }

    fn instantiate(
        pre: &Self::Pre,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<WindowPlugin> {
        pre.instantiate(store)
    }

    fn init(
        bindings: &WindowPlugin,
        store: &mut Store<PluginData>,
    ) -> wasmtime::Result<Result<Self::Info, String>> {
        Ok(bindings
            .millrace_plugin_window_fn()
            .call_init(store)?
            .map_err(|err| err.message))
    }
}

/// A window function in a plugin.
pub struct WasmWindows {
    sandbox: Sandbox<WindowWorld>,
}

impl WasmWindows {
    /// Loads the plugin `spec` names for the step `step`, as a [`CustomWindowFn`].
    pub fn load(spec: &PluginSpec, step: &str) -> Result<CustomWindowFn, PluginError> {
        let sandbox = Sandbox::<WindowWorld>::new(spec, step)?;
        let merging = sandbox.info().merging;
        Ok(CustomWindowFn::new(
            spec.shown(),
            merging,
            WasmWindows { sandbox },
        ))
    }
}

fn checked_window(start: i64, end: i64) -> Result<Window, String> {
    if end <= start {
        return Err(format!(
            "the plugin assigned an empty window [{start}, {end})"
        ));
    }
    Ok(window_from(start, end))
}

impl WindowAssigner for WasmWindows {
    fn assign(
        &mut self,
        records: &[Record],
    ) -> Result<Vec<Result<AssignedWindows, String>>, String> {
        let results = isolate(records.len(), |range: Range<usize>| {
            let batch = elements(&records[range.clone()]);
            let outcome = self.sandbox.call(
                |bindings, store| {
                    Ok(bindings
                        .millrace_plugin_window_fn()
                        .call_assign(store, &batch)?
                        .map_err(|err| err.message))
                },
                |assignment| assignment.as_ref().map_or(0, |a| 20 * a.starts.len()),
            );
            Ok(attempt(outcome)?
                .and_then(|assignment| Ok(read_assignment(&assignment, range.len()))))
        })?;
        let mut assigned = Vec::with_capacity(records.len());
        for (range, result) in results {
            match result {
                Ok(windows) => assigned.extend(windows),
                Err(reason) => assigned.extend(range.map(|_| Err(reason.clone()))),
            }
        }
        Ok(assigned)
    }

    fn merge(&mut self, per_key: &[Vec<Window>]) -> Result<Vec<Vec<MergeGroup>>, String> {
        let (mut starts, mut ends, mut key_ends) = (Vec::new(), Vec::new(), Vec::new());
        for windows in per_key {
            for window in windows {
                starts.push(window.start());
                ends.push(window.end());
            }
            key_ends.push(starts.len() as u32);
        }
        let outcome = self.sandbox.call(
            |bindings, store| {
                Ok(bindings
                    .millrace_plugin_window_fn()
                    .call_merge(store, &starts, &ends, &key_ends)?
                    .map_err(|err| err.message))
            },
            |merges| merges.as_ref().map_or(0, |m| 20 * m.members.len()),
        );
        let merges = match attempt(outcome)? {
            Attempt::Done(merges) => merges,
            // Without a verdict no window merges; the function may recover.
            Attempt::Failed(reason) => {
                tracing::warn!("window merge failed; merging nothing in this bundle: {reason}");
                return Ok(per_key.iter().map(|_| Vec::new()).collect());
            }
        };
        read_merges(&merges, per_key)
    }
}

/// Reads the windows a plugin assigned to a batch of `count` elements: each element's
/// windows, or why they are invalid. Windows of no element of the batch are ignored.
pub fn read_assignment(
    assignment: &window_fn::Assignment,
    count: usize,
) -> Vec<Result<AssignedWindows, String>> {
    let mut windows = vec![Ok(AssignedWindows::new()); count];
    for ((start, end), source) in assignment
        .starts
        .iter()
        .zip(&assignment.ends)
        .zip(&assignment.sources)
    {
        if let Some(Ok(assigned)) = windows.get_mut(*source as usize) {
            match checked_window(*start, *end) {
                Ok(window) => assigned.push(window),
                Err(reason) => windows[*source as usize] = Err(reason),
            }
        }
    }
    windows
}

/// Reads the merges a plugin found among `per_key`'s windows, which the call laid out
/// key after key: for each key, its merge groups.
pub fn read_merges(
    merges: &window_fn::Merges,
    per_key: &[Vec<Window>],
) -> Result<Vec<Vec<MergeGroup>>, String> {
    let owner: Vec<(usize, Window)> = per_key
        .iter()
        .enumerate()
        .flat_map(|(key, windows)| windows.iter().map(move |window| (key, *window)))
        .collect();
    let mut groups: Vec<Vec<MergeGroup>> = per_key.iter().map(|_| Vec::new()).collect();
    let mut start = 0usize;
    for (m, &end) in merges.member_ends.iter().enumerate() {
        let end = end as usize;
        let listed = merges.members.get(start.min(end)..end).ok_or_else(|| {
            format!(
                "the plugin's merge {m} ends at member {end} of {} members",
                merges.members.len()
            )
        })?;
        let members: Vec<(usize, Window)> = listed
            .iter()
            .filter_map(|&index| owner.get(index as usize).copied())
            .collect();
        start = end;
        let Some(&(key, _)) = members.first() else {
            continue;
        };
        if members.len() < 2 || members.iter().any(|(owner_key, _)| *owner_key != key) {
            return Err(
                "the plugin merged windows of different keys, or a window with nothing".to_owned(),
            );
        }
        let (Some(&result_start), Some(&result_end)) = (merges.starts.get(m), merges.ends.get(m))
        else {
            return Err(format!("the plugin's merge {m} has no resulting window"));
        };
        let result = checked_window(result_start, result_end)?;
        groups[key].push(MergeGroup {
            members: members.into_iter().map(|(_, window)| window).collect(),
            result,
        });
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merges(members: Vec<u32>, member_ends: Vec<u32>, results: usize) -> window_fn::Merges {
        window_fn::Merges {
            starts: vec![0; results],
            ends: vec![30; results],
            members,
            member_ends,
        }
    }

    fn one_key() -> Vec<Vec<Window>> {
        vec![vec![Window::interval(0, 10), Window::interval(5, 30)]]
    }

    #[test]
    fn merges_are_read_per_key() {
        let groups = read_merges(&merges(vec![0, 1], vec![2], 1), &one_key()).unwrap();
        assert_eq!(
            groups,
            vec![vec![MergeGroup {
                members: one_key()[0].clone(),
                result: Window::interval(0, 30),
            }]]
        );
    }

    #[test]
    fn member_ends_past_the_members_are_refused() {
        let err = read_merges(&merges(vec![0, 1], vec![3], 1), &one_key()).unwrap_err();
        assert!(err.contains("member 3 of 2 members"), "{err}");
    }

    #[test]
    fn a_merge_without_a_resulting_window_is_refused() {
        let err = read_merges(&merges(vec![0, 1], vec![2], 0), &one_key()).unwrap_err();
        assert!(err.contains("no resulting window"), "{err}");
    }
}
