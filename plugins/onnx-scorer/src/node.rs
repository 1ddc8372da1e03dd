//! A node's attributes, read with errors that name the node and the attribute.

use crate::proto::{AttributeProto, NodeProto, data_type};

/// A node being read: its attributes by name, and how messages call it.
pub struct NodeReader<'a> {
    node: &'a NodeProto,
    /// How messages name the node, e.g. `node 1 (TreeEnsembleClassifier "trees")`.
    pub shown: String,
}

impl<'a> NodeReader<'a> {
    /// Reads the `index`th node of the graph.
    pub fn new(index: usize, node: &'a NodeProto) -> Self {
        let shown = if node.name.is_empty() {
            format!("node {index} ({})", node.op_type)
        } else {
            format!("node {index} ({} {:?})", node.op_type, node.name)
        };
        NodeReader { node, shown }
    }

    /// An error about this node.
    pub fn error(&self, message: impl std::fmt::Display) -> String {
        format!("{}: {message}", self.shown)
    }

    fn attribute(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    /// An integer attribute, or `default`.
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.attribute(name).map_or(default, |a| a.i)
    }

    /// A string attribute, or `default`.
    pub fn string(&self, name: &str, default: &str) -> Result<String, String> {
        match self.attribute(name) {
            None => Ok(default.to_owned()),
            Some(a) => String::from_utf8(a.s.clone())
                .map_err(|_| self.error(format!("attribute {name} is not UTF-8"))),
        }
    }

    /// A list of integers (empty when absent).
    pub fn ints(&self, name: &str) -> &'a [i64] {
        self.attribute(name).map_or(&[], |a| a.ints.as_slice())
    }

    /// A list of strings (empty when absent).
    pub fn strings(&self, name: &str) -> Result<Vec<String>, String> {
        let Some(a) = self.attribute(name) else {
            return Ok(Vec::new());
        };
        a.strings
            .iter()
            .map(|s| {
                String::from_utf8(s.clone()).map_err(|_| {
                    self.error(format!("attribute {name} holds a string that is not UTF-8"))
                })
            })
            .collect()
    }

    /// A list of numbers: the floats of `name`, or the float or double tensor
    /// `{name}_as_tensor` (ai.onnx.ml 3's double-precision form). `None` when neither
    /// is there.
    pub fn numbers(&self, name: &str) -> Result<Option<Vec<f64>>, String> {
        if let Some(a) = self.attribute(name) {
            return Ok(Some(a.floats.iter().map(|&f| f64::from(f)).collect()));
        }
        let Some(tensor) = self
            .attribute(&format!("{name}_as_tensor"))
            .and_then(|a| a.t.as_ref())
        else {
            return Ok(None);
        };
        let numbers = match tensor.data_type {
            data_type::FLOAT if !tensor.raw_data.is_empty() => tensor
                .raw_data
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect(),
            data_type::FLOAT => tensor.float_data.iter().map(|&f| f64::from(f)).collect(),
            data_type::DOUBLE if !tensor.raw_data.is_empty() => tensor
                .raw_data
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
            data_type::DOUBLE => tensor.double_data.clone(),
            other => {
                return Err(self.error(format!(
                    "attribute {name}_as_tensor has element type {other}, not float or double"
                )));
            }
        };
        Ok(Some(numbers))
    }

    /// Like [`NodeReader::numbers`], but required.
    pub fn require_numbers(&self, name: &str) -> Result<Vec<f64>, String> {
        self.numbers(name)?
            .ok_or_else(|| self.error(format!("attribute {name} is missing")))
    }

    /// The class labels of a classifier (`classlabels_ints`, `classlabels_int64s` or
    /// `classlabels_strings`), as JSON text.
    pub fn class_labels(&self) -> Result<Vec<String>, String> {
        let strings = self.strings("classlabels_strings")?;
        if !strings.is_empty() {
            return Ok(strings
                .iter()
                .map(|s| serde_json::Value::from(s.as_str()).to_string())
                .collect());
        }
        let ints = match self.ints("classlabels_ints") {
            [] => self.ints("classlabels_int64s"),
            ints => ints,
        };
        if ints.is_empty() {
            return Err(self.error("it names no class labels"));
        }
        Ok(ints.iter().map(i64::to_string).collect())
    }
}
