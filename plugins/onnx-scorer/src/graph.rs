//! A model's graph, checked and compiled into a list of steps over numbered value
//! slots, and run over a batch of rows.

use std::collections::HashMap;

use millrace_sdk::{ModelInfo, ModelKind, Scores};
use prost::Message;

use crate::linear::Linear;
use crate::node::NodeReader;
use crate::proto::{ModelProto, ValueInfoProto, data_type};
use crate::transform::{Matrix, Normalizer, Scaler};
use crate::tree::TreeEnsemble;

/// The operators this evaluator runs, as `(domain, operator)`.
pub const SUPPORTED: [(&str, &str); 7] = [
    ("ai.onnx.ml", "LinearClassifier"),
    ("ai.onnx.ml", "LinearRegressor"),
    ("ai.onnx.ml", "TreeEnsembleClassifier"),
    ("ai.onnx.ml", "TreeEnsembleRegressor"),
    ("ai.onnx.ml", "Scaler"),
    ("ai.onnx.ml", "Normalizer"),
    ("", "Identity"),
];

/// What a step computes.
#[derive(Clone, Debug)]
enum Operator {
    Scaler(Scaler),
    Normalizer(Normalizer),
    Linear(Linear),
    Trees(TreeEnsemble),
    Identity,
}

/// One node: its operator, the slot it reads and the slots it writes (a
/// classifier's label, then its scores; otherwise its one output).
#[derive(Clone, Debug)]
struct Step {
    operator: Operator,
    input: usize,
    outputs: Vec<usize>,
    /// Whether no later step reads `input` and it is no graph output, so the step
    /// may take it rather than copy it.
    takes_input: bool,
}

/// What a slot holds while a batch runs.
#[derive(Clone)]
enum Value {
    Empty,
    /// The batch's features, as the host sent them.
    Features,
    Rows(Matrix),
    Labels(Vec<u32>),
}

/// What a slot holds, known when the model loads.
#[derive(Clone, Debug, PartialEq)]
enum Shape {
    /// Rows of this many numbers.
    Rows(usize),
    /// Class labels, as JSON text, of a classifier.
    Labels(Vec<String>),
}

/// A loaded model.
#[derive(Clone, Debug)]
pub struct Model {
    features: usize,
    steps: Vec<Step>,
    slots: usize,
    input: usize,
    scores: usize,
    labels: Option<usize>,
    info: ModelInfo,
}

impl Model {
    /// Parses and checks an ONNX file.
    pub fn load(bytes: &[u8]) -> Result<Model, String> {
        let model = ModelProto::decode(bytes)
            .map_err(|err| format!("the file is not an ONNX model (protobuf: {err})"))?;
        let graph = model.graph.as_ref().ok_or("the ONNX model has no graph")?;
        if graph.node.is_empty() {
            return Err("the ONNX model's graph has no nodes".to_owned());
        }
        for opset in &model.opset_import {
            let known = matches!(opset.domain.as_str(), "" | "ai.onnx" | "ai.onnx.ml");
            if !known {
                return Err(format!(
                    "the model imports the operator set {:?}, which this evaluator does not run",
                    opset.domain
                ));
            }
        }
        if graph.node.iter().any(|node| node.op_type == "ZipMap") {
            return Err(
                "the model's probabilities go through a ZipMap (skl2onnx's default for \
                        classifiers), which this evaluator does not run: export the model with \
                        options={\"zipmap\": False}"
                    .to_owned(),
            );
        }
        let constants: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<&ValueInfoProto> = graph
            .input
            .iter()
            .filter(|input| !constants.contains(&input.name.as_str()))
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(format!(
                "the model has {} inputs; a model for a score step has one, a tensor of \
                 feature rows",
                inputs.len()
            ));
        };
        let features = feature_count(input)?;

        let mut slots: HashMap<&str, usize> = HashMap::new();
        let mut shapes: Vec<Shape> = Vec::new();
        slots.insert(input.name.as_str(), 0);
        shapes.push(Shape::Rows(features));
        let mut steps = Vec::with_capacity(graph.node.len());
        let mut operators = Vec::with_capacity(graph.node.len());
        for (index, node) in graph.node.iter().enumerate() {
            let reader = NodeReader::new(index, node);
            let domain = if node.domain == "ai.onnx" {
                ""
            } else {
                node.domain.as_str()
            };
            if !SUPPORTED.contains(&(domain, node.op_type.as_str())) {
                return Err(format!(
                    "{}: the operator {}{} is not supported; this evaluator runs {}",
                    reader.shown,
                    if domain.is_empty() {
                        String::new()
                    } else {
                        format!("{domain}.")
                    },
                    node.op_type,
                    SUPPORTED.map(|(_, op)| op).join(", ")
                ));
            }
            let [input_name] = node.input.as_slice() else {
                return Err(reader.error(format!("it has {} inputs, not one", node.input.len())));
            };
            let input = *slots.get(input_name.as_str()).ok_or_else(|| {
                reader.error(format!(
                    "it reads {input_name:?}, which no earlier node writes{}",
                    if constants.contains(&input_name.as_str()) {
                        " (constant inputs are not supported)"
                    } else {
                        ""
                    }
                ))
            })?;
            let cols = match &shapes[input] {
                Shape::Rows(cols) => *cols,
                Shape::Labels(_) if node.op_type == "Identity" => 0,
                Shape::Labels(_) => {
                    return Err(reader.error(format!("it reads the class labels {input_name:?}")));
                }
            };
            let classifier = node.op_type.ends_with("Classifier");
            let classes = if classifier {
                Some(reader.class_labels()?)
            } else {
                None
            };
            let class_count = classes.as_ref().map(Vec::len);
            let (operator, output_shapes) = match node.op_type.as_str() {
                "Scaler" => (
                    Operator::Scaler(Scaler::load(&reader, cols)?),
                    vec![Shape::Rows(cols)],
                ),
                "Normalizer" => (
                    Operator::Normalizer(Normalizer::load(&reader)?),
                    vec![Shape::Rows(cols)],
                ),
                "Identity" => (Operator::Identity, vec![shapes[input].clone()]),
                "LinearClassifier" | "LinearRegressor" => {
                    let linear = Linear::load(&reader, cols, class_count)?;
                    let rows = Shape::Rows(linear.outputs());
                    (Operator::Linear(linear), with_labels(classes, rows))
                }
                _ => {
                    let trees = TreeEnsemble::load(&reader, cols, class_count)?;
                    let rows = Shape::Rows(trees.outputs());
                    (Operator::Trees(trees), with_labels(classes, rows))
                }
            };
            if node.output.len() != output_shapes.len() {
                return Err(reader.error(format!(
                    "it has {} outputs; a {} has {}",
                    node.output.len(),
                    node.op_type,
                    output_shapes.len()
                )));
            }
            let mut outputs = Vec::with_capacity(output_shapes.len());
            for (name, shape) in node.output.iter().zip(output_shapes) {
                let slot = shapes.len();
                if slots.insert(name.as_str(), slot).is_some() {
                    return Err(
                        reader.error(format!("it writes {name:?}, which is already written"))
                    );
                }
                shapes.push(shape);
                outputs.push(slot);
            }
            operators.push(node.op_type.clone());
            steps.push(Step {
                operator,
                input,
                outputs,
                takes_input: false,
            });
        }

        // The graph's outputs: a classifier's label and probabilities, or a
        // regressor's values.
        let mut labels = None;
        let mut scores = None;
        for output in &graph.output {
            let slot = *slots.get(output.name.as_str()).ok_or_else(|| {
                format!("the graph's output {:?} is written by no node", output.name)
            })?;
            match &shapes[slot] {
                Shape::Labels(classes) => labels = Some((slot, classes.clone())),
                Shape::Rows(cols) if scores.is_none() => scores = Some((slot, *cols)),
                Shape::Rows(_) => {
                    return Err(format!(
                        "the graph has more than one numeric output ({:?} is another); a \
                         score step reads one",
                        output.name
                    ));
                }
            }
        }
        let (scores, outputs) =
            scores.ok_or("the graph has no numeric output (probabilities or values)")?;
        for i in 0..steps.len() {
            let slot = steps[i].input;
            let read_later = steps[i + 1..].iter().any(|later| later.input == slot);
            let is_output = slot == scores || labels.as_ref().is_some_and(|(l, _)| *l == slot);
            steps[i].takes_input = !read_later && !is_output;
        }
        let (kind, classes) = match &labels {
            Some((_, classes)) if classes.len() == outputs => {
                (ModelKind::Classifier, classes.clone())
            }
            Some((_, classes)) => {
                return Err(format!(
                    "the model has {} classes but {outputs} probabilities per row",
                    classes.len()
                ));
            }
            None => (ModelKind::Regressor, Vec::new()),
        };
        let producer = [
            model.producer_name.as_str(),
            model.producer_version.as_str(),
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
        let info = ModelInfo {
            kind,
            features,
            classes,
            outputs,
            operators,
            producer,
            metadata: model
                .metadata_props
                .iter()
                .map(|entry| (entry.key.clone(), entry.value.clone()))
                .collect(),
        };
        Ok(Model {
            features,
            steps,
            slots: shapes.len(),
            input: 0,
            scores,
            labels: labels.map(|(slot, _)| slot),
            info,
        })
    }

    /// What the host is told about the model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Scores `rows` rows of features, appending to `out`.
    pub fn score(&self, features: &[f32], rows: usize, out: &mut Scores) -> Result<(), String> {
        if Some(features.len()) != rows.checked_mul(self.features) {
            return Err(format!(
                "the batch has {} numbers, not {rows} rows of {} features",
                features.len(),
                self.features
            ));
        }
        let mut values: Vec<Value> = (0..self.slots).map(|_| Value::Empty).collect();
        values[self.input] = Value::Features;
        for step in &self.steps {
            let input = if step.takes_input {
                std::mem::replace(&mut values[step.input], Value::Empty)
            } else {
                values[step.input].clone()
            };
            let mut labels = Vec::new();
            let wants_labels = step.outputs.len() == 2;
            let result = match &step.operator {
                Operator::Identity => match input {
                    Value::Features => Value::Rows(widen(features, self.features)),
                    other => other,
                },
                Operator::Scaler(scaler) => {
                    let mut m = rows_of(input, features, self.features);
                    scaler.apply(&mut m);
                    Value::Rows(m)
                }
                Operator::Normalizer(normalizer) => {
                    let mut m = rows_of(input, features, self.features);
                    normalizer.apply(&mut m);
                    Value::Rows(m)
                }
                Operator::Linear(linear) => {
                    let m = rows_of(input, features, self.features);
                    Value::Rows(linear.apply(&m, wants_labels.then_some(&mut labels)))
                }
                Operator::Trees(trees) => {
                    let narrowed;
                    let rows: &[f32] = match &input {
                        Value::Rows(m) => {
                            narrowed = m.data.iter().map(|&x| x as f32).collect::<Vec<f32>>();
                            &narrowed
                        }
                        _ => features,
                    };
                    Value::Rows(trees.apply(rows, wants_labels.then_some(&mut labels)))
                }
            };
            if wants_labels {
                values[step.outputs[0]] = Value::Labels(labels);
                values[step.outputs[1]] = result;
            } else {
                values[step.outputs[0]] = result;
            }
        }
        match std::mem::replace(&mut values[self.scores], Value::Empty) {
            Value::Rows(m) => out.values.extend_from_slice(&m.data),
            Value::Features => out.values.extend(features.iter().map(|&x| f64::from(x))),
            _ => return Err("the model computed no scores".to_owned()),
        }
        if let Some(slot) = self.labels
            && let Value::Labels(labels) = std::mem::replace(&mut values[slot], Value::Empty)
        {
            out.labels.extend_from_slice(&labels);
        }
        Ok(())
    }
}

fn with_labels(classes: Option<Vec<String>>, rows: Shape) -> Vec<Shape> {
    match classes {
        Some(classes) => vec![Shape::Labels(classes), rows],
        None => vec![rows],
    }
}

/// The feature rows as `f64` rows.
fn widen(features: &[f32], cols: usize) -> Matrix {
    Matrix {
        cols,
        data: features.iter().map(|&x| f64::from(x)).collect(),
    }
}

/// The rows a value holds (the features, widened, if it is the graph's input).
fn rows_of(value: Value, features: &[f32], cols: usize) -> Matrix {
    match value {
        Value::Rows(m) => m,
        _ => widen(features, cols),
    }
}

/// The feature count of the graph's input: a float tensor `[N, F]`.
fn feature_count(input: &ValueInfoProto) -> Result<usize, String> {
    let tensor = input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .ok_or_else(|| format!("the model's input {:?} is not a tensor", input.name))?;
    if !matches!(tensor.elem_type, data_type::FLOAT | data_type::DOUBLE) {
        return Err(format!(
            "the model's input {:?} has element type {}; a score step sends floats (1) or \
             doubles (11)",
            input.name, tensor.elem_type
        ));
    }
    let dims = tensor
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    match dims {
        [_, columns] => columns
            .dim_value
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                format!(
                    "the model's input {:?} has no fixed number of features (its second \
                     dimension is {:?})",
                    input.name,
                    columns.dim_param.as_deref().unwrap_or("unknown")
                )
            }),
        _ => Err(format!(
            "the model's input {:?} has {} dimensions; a score step sends rows of features \
             ([N, F])",
            input.name,
            dims.len()
        )),
    }
}
