//! `LinearClassifier` and `LinearRegressor`: scores `X · Wᵀ + b`, then a
//! post-transform.

use crate::node::NodeReader;
use crate::transform::{Matrix, PostTransform, argmax};

/// A linear model: `outputs` rows of coefficients over `inputs` columns.
#[derive(Clone, Debug)]
pub struct Linear {
    inputs: usize,
    outputs: usize,
    /// Row-major, `outputs × inputs`.
    coefficients: Vec<f64>,
    intercepts: Vec<f64>,
    post: PostTransform,
    /// A binary classifier given one row of coefficients scores `[-s, s]`.
    binary: bool,
}

impl Linear {
    /// Reads a `LinearClassifier` (`classes` labels) or, with `classes` `None`, a
    /// `LinearRegressor`, over rows of `inputs` numbers.
    pub fn load(
        node: &NodeReader<'_>,
        inputs: usize,
        classes: Option<usize>,
    ) -> Result<Linear, String> {
        let coefficients = node.require_numbers("coefficients")?;
        if inputs == 0 || coefficients.len() % inputs != 0 {
            return Err(node.error(format!(
                "it has {} coefficients, which is not a multiple of its input's {inputs} columns",
                coefficients.len()
            )));
        }
        let rows = coefficients.len() / inputs;
        let (outputs, binary) = match classes {
            Some(2) if rows == 1 => (2, true),
            Some(classes) if classes == rows => (classes, false),
            Some(classes) => {
                return Err(node.error(format!(
                    "it has coefficients for {rows} classes but {classes} class labels"
                )));
            }
            None => {
                let targets = usize::try_from(node.int("targets", 1)).unwrap_or(0);
                if targets != rows {
                    return Err(node.error(format!(
                        "it has coefficients for {rows} targets, not its {targets}"
                    )));
                }
                (targets, false)
            }
        };
        let intercepts = node
            .numbers("intercepts")?
            .unwrap_or_else(|| vec![0.0; rows]);
        if intercepts.len() != rows {
            return Err(node.error(format!(
                "it has {} intercepts for {rows} rows of coefficients",
                intercepts.len()
            )));
        }
        Ok(Linear {
            inputs,
            outputs,
            coefficients,
            intercepts,
            post: PostTransform::of(node)?,
            binary,
        })
    }

    /// How many numbers a row's output has.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Scores `input`; a classifier's labels go to `labels`.
    pub fn apply(&self, input: &Matrix, labels: Option<&mut Vec<u32>>) -> Matrix {
        let rows = input.rows();
        let mut out = Matrix::zeros(rows, self.outputs);
        let mut raw_labels = Vec::with_capacity(if labels.is_some() { rows } else { 0 });
        for (x, scores) in input.row_iter().zip(out.row_iter_mut()) {
            let weights = self.coefficients.chunks_exact(self.inputs);
            if self.binary {
                let s = dot(x, &self.coefficients) + self.intercepts[0];
                scores[0] = -s;
                scores[1] = s;
            } else {
                for ((score, w), b) in scores.iter_mut().zip(weights).zip(&self.intercepts) {
                    *score = dot(x, w) + b;
                }
            }
            if labels.is_some() {
                raw_labels.push(argmax(scores));
            }
            self.post.apply(scores);
        }
        if let Some(labels) = labels {
            *labels = raw_labels;
        }
        out
    }
}

fn dot(x: &[f64], w: &[f64]) -> f64 {
    x.iter().zip(w).map(|(x, w)| x * w).sum()
}
