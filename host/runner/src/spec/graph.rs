//! How a spec's names become a graph: each step's and sink's inputs resolved,
//! the steps ordered so that each comes after what it reads, and the graph
//! checked — unknown names, cycles, outputs nobody reads, steps given the wrong
//! number of inputs, and inputs of a flatten or cogroup windowed differently.
//!
//! A step without `input` reads the step before it (the first step, the only
//! source); a sink without `input` reads the last step. So a chain needs no names
//! at all, and a graph names only where it branches or joins.

use std::collections::HashMap;

use super::document::Mark;
use super::{
    At, Input, Reader, Result, SinkNode, SinkSpec, SourceNode, StepNode, StepSpec, closest,
};

/// A step as read, before its inputs are resolved.
pub(super) struct RawStep {
    /// Where it is, e.g. `steps[2]`.
    pub(super) at: At,
    pub(super) mark: Mark,
    /// Its `name`, if any.
    pub(super) name: Option<(String, Mark)>,
    /// Its `input` or `inputs`, if given.
    pub(super) inputs: Option<Vec<(String, Mark)>>,
    /// The step itself.
    pub(super) spec: StepSpec,
}

impl RawStep {
    fn label(&self) -> String {
        match &self.name {
            Some((name, _)) => format!("{} ({name})", self.at.path),
            None => self.at.path.clone(),
        }
    }
}

/// A sink as read, before its input is resolved.
pub(super) struct RawSink {
    pub(super) name: String,
    pub(super) path: String,
    /// Its `input`, if given.
    pub(super) input: Option<(String, Mark)>,
    pub(super) spec: SinkSpec,
    pub(super) mark: Mark,
}

/// What a name refers to, by index among the raw steps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Named {
    Source(usize),
    Step(usize),
    /// `step.output`: a pardo's declared side output.
    Side(usize, usize),
}

impl Reader<'_> {
    /// Resolves the steps' and sinks' inputs and orders the steps.
    pub(super) fn resolve(
        &self,
        sources: &[SourceNode],
        raw: Vec<RawStep>,
        raw_sinks: Vec<RawSink>,
    ) -> Result<(Vec<StepNode>, Vec<SinkNode>)> {
        let mut names: HashMap<&str, Named> = HashMap::new();
        for (index, source) in sources.iter().enumerate() {
            names.insert(&source.name, Named::Source(index));
        }
        for (index, step) in raw.iter().enumerate() {
            if let Some((name, mark)) = &step.name
                && names.insert(name, Named::Step(index)).is_some()
            {
                return Err(self.error(
                    &step.at.key("name"),
                    format!("{name:?} already names a source or an earlier step"),
                    *mark,
                ));
            }
        }
        let known: Vec<&str> = {
            let mut known: Vec<&str> = names.keys().copied().collect();
            known.sort_unstable();
            known
        };
        let lookup = |at: &At, name: &str, mark: Mark| -> Result<Named> {
            if let Some(&named) = names.get(name) {
                return Ok(named);
            }
            // `step.output` reads a side output.
            if let Some((step, output)) = name.rsplit_once('.')
                && let Some(&Named::Step(index)) = names.get(step)
            {
                let declared: &[String] = match &raw[index].spec {
                    StepSpec::ParDo { outputs, .. } => outputs,
                    _ => &[],
                };
                return match declared.iter().position(|o| o == output) {
                    Some(k) => Ok(Named::Side(index, k)),
                    None if declared.is_empty() => Err(self.error(
                        at,
                        format!("{} ({step}) declares no side outputs", raw[index].at.path),
                        mark,
                    )),
                    None => Err(self.error(
                        at,
                        format!(
                            "{} ({step}) declares no side output {output:?}; it declares {}",
                            raw[index].at.path,
                            declared.join(", ")
                        ),
                        mark,
                    )),
                };
            }
            Err({
                let message = match closest(name, &known) {
                    Some(suggestion) => {
                        format!("no source or step is named {name:?}; did you mean {suggestion:?}?")
                    }
                    None if known.is_empty() => {
                        format!(
                            "no source or step is named {name:?}; give steps a `name` to read them"
                        )
                    }
                    None => format!(
                        "no source or step is named {name:?}; the names are {}",
                        known.join(", ")
                    ),
                };
                self.error(at, message, mark)
            })
        };
        // Each raw step's inputs, as names resolved.
        let mut inputs: Vec<Vec<Named>> = Vec::with_capacity(raw.len());
        for (index, step) in raw.iter().enumerate() {
            let resolved = match &step.inputs {
                Some(given) => {
                    let key = if given.len() == 1 { "input" } else { "inputs" };
                    let at = step.at.key(key);
                    given
                        .iter()
                        .enumerate()
                        .map(|(i, (name, mark))| {
                            let at = if given.len() == 1 {
                                at.clone()
                            } else {
                                at.index(i)
                            };
                            lookup(&at, name, *mark)
                        })
                        .collect::<Result<Vec<_>>>()?
                }
                None if index > 0 => vec![Named::Step(index - 1)],
                None if sources.len() == 1 => vec![Named::Source(0)],
                None => {
                    return Err(self.error(
                        &step.at,
                        format!(
                            "the first step needs `input`: the pipeline has {} sources ({})",
                            sources.len(),
                            source_names(sources)
                        ),
                        step.mark,
                    ));
                }
            };
            self.check_arity(step, resolved.len())?;
            inputs.push(resolved);
        }
        let order = self.order(&raw, &inputs)?;
        let mut position = vec![0; raw.len()];
        for (sorted, &index) in order.iter().enumerate() {
            position[index] = sorted;
        }
        let to_input = |named: Named| match named {
            Named::Source(n) => Input::Source(n),
            Named::Step(n) => Input::Step(position[n]),
            Named::Side(n, output) => Input::Side {
                step: position[n],
                output,
            },
        };
        let mut sinks = Vec::with_capacity(raw_sinks.len());
        for sink in raw_sinks {
            let input =
                match &sink.input {
                    Some((name, mark)) => to_input(lookup(
                        &At {
                            path: format!("{}.input", sink.path),
                        },
                        name,
                        *mark,
                    )?),
                    None if !raw.is_empty() => Input::Step(position[raw.len() - 1]),
                    None if sources.len() == 1 => Input::Source(0),
                    None => {
                        return Err(self.error(
                        &At { path: sink.path.clone() },
                        format!(
                            "the sink needs `input`: the pipeline has no steps and {} sources ({})",
                            sources.len(),
                            source_names(sources)
                        ),
                        sink.mark,
                    ));
                    }
                };
            sinks.push(SinkNode {
                name: sink.name,
                path: sink.path,
                input,
                spec: sink.spec,
            });
        }
        let mut raw: Vec<Option<RawStep>> = raw.into_iter().map(Some).collect();
        let mut steps: Vec<StepNode> = Vec::with_capacity(raw.len());
        for &index in &order {
            let Some(step) = raw[index].take() else {
                continue;
            };
            let step_inputs: Vec<Input> = inputs[index].iter().map(|&n| to_input(n)).collect();
            let spec = step.spec.clone();
            let windowing = self.windowing(&step, &step_inputs, &steps, sources)?;
            let retractions = step_inputs.iter().any(|input| match input {
                Input::Source(_) => false,
                Input::Step(n) | Input::Side { step: n, .. } => {
                    produces_retractions(&steps[*n], &steps)
                }
            });
            steps.push(StepNode {
                name: step.name.map(|(name, _)| name),
                inputs: step_inputs,
                spec,
                windowing,
                retractions,
            });
        }
        self.check_all_read(sources, &steps, &sinks)?;
        Ok((steps, sinks))
    }

    /// A window or combine reads one input; a cogroup two or more; a pardo one or
    /// more (several arrive tagged with their input's name).
    fn check_arity(&self, step: &RawStep, count: usize) -> Result<()> {
        let message = match step.spec.kind() {
            "flatten" | "pardo" => return Ok(()),
            "cogroup" if count >= 2 => return Ok(()),
            "cogroup" => "a cogroup groups two or more inputs: give `inputs: [a, b]`".to_owned(),
            kind if count > 1 => {
                format!("a {kind} step reads one input; flatten several into one first")
            }
            _ => return Ok(()),
        };
        Err(self.error(&step.at.key("inputs"), message, step.mark))
    }

    /// The raw steps in an order where each comes after every step it reads (the
    /// spec's order where it allows), or the error naming a cycle.
    fn order(&self, raw: &[RawStep], inputs: &[Vec<Named>]) -> Result<Vec<usize>> {
        let mut placed = vec![false; raw.len()];
        let mut order = Vec::with_capacity(raw.len());
        while order.len() < raw.len() {
            let ready = (0..raw.len()).find(|&index| {
                !placed[index]
                    && inputs[index].iter().all(|named| match named {
                        Named::Source(_) => true,
                        Named::Step(n) | Named::Side(n, _) => placed[*n],
                    })
            });
            let Some(index) = ready else {
                // Every unplaced step waits on another: follow the waits to a cycle.
                let start = (0..raw.len()).find(|&i| !placed[i]).unwrap_or(0);
                let mut path = vec![start];
                let mut current = start;
                loop {
                    let next = inputs[current].iter().find_map(|named| match named {
                        Named::Step(n) | Named::Side(n, _) if !placed[*n] => Some(*n),
                        _ => None,
                    });
                    let Some(next) = next else { break };
                    if let Some(seen) = path.iter().position(|&p| p == next) {
                        path.drain(..seen);
                        path.push(next);
                        break;
                    }
                    path.push(next);
                    current = next;
                }
                let first = &raw[path[0]];
                let cycle: Vec<String> = path.iter().rev().map(|&i| raw[i].label()).collect();
                return Err(self.error(
                    &first.at,
                    format!(
                        "the steps read each other in a cycle: {}",
                        cycle.join(" → ")
                    ),
                    first.mark,
                ));
            };
            placed[index] = true;
            order.push(index);
        }
        Ok(order)
    }

    /// The windowing a step's input has: its inputs' (which must agree).
    fn windowing(
        &self,
        step: &RawStep,
        inputs: &[Input],
        steps: &[StepNode],
        sources: &[SourceNode],
    ) -> Result<Option<usize>> {
        let of = |input: Input| match input {
            Input::Source(_) => None,
            Input::Step(n) | Input::Side { step: n, .. } => output_windowing(n, steps),
        };
        let first = of(inputs[0]);
        for (k, &input) in inputs.iter().enumerate().skip(1) {
            let other = of(input);
            if !same_windowing(first, other, steps) {
                let name = |input: Input| match input {
                    Input::Source(n) => sources[n].name.clone(),
                    Input::Step(n) | Input::Side { step: n, .. } => steps[n]
                        .name
                        .clone()
                        .unwrap_or_else(|| steps[n].spec.path().to_owned()),
                };
                let describe = |windowing: Option<usize>| match windowing {
                    None => "the global window".to_owned(),
                    Some(n) => format!("the windowing of {}", steps[n].spec.path()),
                };
                return Err(self.error(
                    &step.at.key("inputs").index(k),
                    format!(
                        "{} has {}, but {} has {}: the inputs of a {} must be windowed alike",
                        name(input),
                        describe(other),
                        name(inputs[0]),
                        describe(first),
                        step.spec.kind(),
                    ),
                    step.inputs
                        .as_ref()
                        .and_then(|given| given.get(k))
                        .map_or(step.mark, |(_, mark)| *mark),
                ));
            }
        }
        Ok(first)
    }

    /// Every source and step is read by a step or a sink.
    fn check_all_read(
        &self,
        sources: &[SourceNode],
        steps: &[StepNode],
        sinks: &[SinkNode],
    ) -> Result<()> {
        let read = |input: Input| {
            steps.iter().any(|step| step.inputs.contains(&input))
                || sinks.iter().any(|sink| sink.input == input)
        };
        if let Some(source) = (0..sources.len()).find(|&n| !read(Input::Source(n))) {
            let source = &sources[source];
            return Err(super::SpecError {
                file: self.file.to_owned(),
                path: source.path.clone(),
                message: format!("no step or sink reads the source {:?}", source.name),
                mark: None,
            });
        }
        for (n, step) in steps.iter().enumerate() {
            let StepSpec::ParDo { path, outputs, .. } = &step.spec else {
                continue;
            };
            if let Some(output) =
                (0..outputs.len()).find(|&k| !read(Input::Side { step: n, output: k }))
            {
                return Err(super::SpecError {
                    file: self.file.to_owned(),
                    path: format!("{path}.outputs[{output}]"),
                    message: format!(
                        "no step or sink reads the side output {:?}: send it to a sink or remove it",
                        outputs[output]
                    ),
                    mark: None,
                });
            }
        }
        if let Some(step) = (0..steps.len()).find(|&n| !read(Input::Step(n))) {
            let step = &steps[step];
            let name = step
                .name
                .as_deref()
                .map(|name| format!(" ({name})"))
                .unwrap_or_default();
            return Err(super::SpecError {
                file: self.file.to_owned(),
                path: step.spec.path().to_owned(),
                message: format!(
                    "no step or sink reads the output of {}{name}: send it to a sink or remove it",
                    step.spec.path()
                ),
                mark: None,
            });
        }
        Ok(())
    }
}

/// The windowing of step `n`'s output: set by a window step, kept by the rest.
fn output_windowing(n: usize, steps: &[StepNode]) -> Option<usize> {
    match steps[n].spec {
        StepSpec::Window { .. } => Some(n),
        _ => steps[n].windowing,
    }
}

/// Whether two windowings are alike: the same window step, or two with the same
/// settings and no plugins.
fn same_windowing(a: Option<usize>, b: Option<usize>, steps: &[StepNode]) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if a == b => true,
        (Some(a), Some(b)) => match (&steps[a].spec, &steps[b].spec) {
            (
                StepSpec::Window {
                    strategy: first,
                    custom: None,
                    trigger_plugins: first_plugins,
                    ..
                },
                StepSpec::Window {
                    strategy: second,
                    custom: None,
                    trigger_plugins: second_plugins,
                    ..
                },
            ) => first == second && first_plugins.is_empty() && second_plugins.is_empty(),
            _ => false,
        },
        _ => false,
    }
}

/// Whether a step's output may hold retractions.
fn produces_retractions(step: &StepNode, steps: &[StepNode]) -> bool {
    let retracting_group = matches!(
        step.spec,
        StepSpec::Combine { .. } | StepSpec::CoGroup { .. }
    ) && step.windowing.is_some_and(|w| match &steps[w].spec {
        StepSpec::Window { strategy, .. } => {
            strategy.accumulation == millrace_model::pane::AccumulationMode::Retracting
        }
        _ => false,
    });
    retracting_group || step.retractions
}

fn source_names(sources: &[SourceNode]) -> String {
    sources
        .iter()
        .map(|source| source.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
