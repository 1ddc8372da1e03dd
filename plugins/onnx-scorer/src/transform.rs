//! Element-wise operators and the post-transforms of the ML operators: `Scaler`,
//! `Normalizer`, and `NONE`/`LOGISTIC`/`SOFTMAX`/`SOFTMAX_ZERO` on scores.

use crate::node::NodeReader;

/// A batch of rows of numbers, row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix {
    /// How many numbers a row has.
    pub cols: usize,
    /// The numbers, row after row.
    pub data: Vec<f64>,
}

impl Matrix {
    /// A matrix of `rows` rows of `cols` zeros.
    pub fn zeros(rows: usize, cols: usize) -> Matrix {
        Matrix {
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// How many rows it has.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.cols).unwrap_or(0)
    }

    /// The rows.
    pub fn row_iter(&self) -> std::slice::ChunksExact<'_, f64> {
        self.data.chunks_exact(self.cols.max(1))
    }

    /// The rows, to change.
    pub fn row_iter_mut(&mut self) -> std::slice::ChunksExactMut<'_, f64> {
        self.data.chunks_exact_mut(self.cols.max(1))
    }
}

/// What a classifier or regressor does to its raw scores (`post_transform`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostTransform {
    /// Nothing.
    None,
    /// The logistic function, element by element.
    Logistic,
    /// Softmax over each row.
    Softmax,
    /// Softmax over each row's non-zero scores; zeros stay zero.
    SoftmaxZero,
}

impl PostTransform {
    /// The node's `post_transform` attribute.
    pub fn of(node: &NodeReader<'_>) -> Result<PostTransform, String> {
        match node.string("post_transform", "NONE")?.as_str() {
            "NONE" => Ok(PostTransform::None),
            "LOGISTIC" => Ok(PostTransform::Logistic),
            "SOFTMAX" => Ok(PostTransform::Softmax),
            "SOFTMAX_ZERO" => Ok(PostTransform::SoftmaxZero),
            other => Err(node.error(format!(
                "post_transform {other} is not supported (NONE, LOGISTIC, SOFTMAX and \
                 SOFTMAX_ZERO are)"
            ))),
        }
    }

    /// Applies the transform to one row of scores.
    pub fn apply(self, row: &mut [f64]) {
        match self {
            PostTransform::None => {}
            PostTransform::Logistic => row.iter_mut().for_each(|x| *x = logistic(*x)),
            PostTransform::Softmax => softmax(row, false),
            PostTransform::SoftmaxZero => softmax(row, true),
        }
    }
}

/// The logistic function, computed so that neither tail overflows.
pub fn logistic(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn softmax(row: &mut [f64], skip_zeros: bool) {
    let max = row
        .iter()
        .copied()
        .filter(|&x| !skip_zeros || x != 0.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for x in row.iter_mut() {
        if !(skip_zeros && *x == 0.0) {
            *x = (*x - max).exp();
            sum += *x;
        }
    }
    if sum > 0.0 {
        row.iter_mut().for_each(|x| *x /= sum);
    }
}

/// `Scaler`: `(x - offset) * scale`, per column (or one offset and scale for all).
#[derive(Clone, Debug)]
pub struct Scaler {
    offset: Vec<f64>,
    scale: Vec<f64>,
}

impl Scaler {
    /// Reads the node, for rows of `cols` numbers.
    pub fn load(node: &NodeReader<'_>, cols: usize) -> Result<Scaler, String> {
        let widen = |name: &str, default: f64| -> Result<Vec<f64>, String> {
            let values = node.numbers(name)?.unwrap_or_else(|| vec![default]);
            match values.len() {
                1 => Ok(vec![values[0]; cols]),
                n if n == cols => Ok(values),
                n => Err(node.error(format!(
                    "{name} has {n} numbers; its input has {cols} columns"
                ))),
            }
        };
        Ok(Scaler {
            offset: widen("offset", 0.0)?,
            scale: widen("scale", 1.0)?,
        })
    }

    /// Scales `input` in place.
    pub fn apply(&self, input: &mut Matrix) {
        for row in input.row_iter_mut() {
            for ((x, offset), scale) in row.iter_mut().zip(&self.offset).zip(&self.scale) {
                *x = (*x - offset) * scale;
            }
        }
    }
}

/// `Normalizer`: each row divided by its largest value (`MAX`), the sum of its
/// absolute values (`L1`) or its Euclidean length (`L2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalizer {
    /// By the largest value.
    Max,
    /// By the sum of absolute values.
    L1,
    /// By the Euclidean length.
    L2,
}

impl Normalizer {
    /// Reads the node.
    pub fn load(node: &NodeReader<'_>) -> Result<Normalizer, String> {
        match node.string("norm", "MAX")?.as_str() {
            "MAX" => Ok(Normalizer::Max),
            "L1" => Ok(Normalizer::L1),
            "L2" => Ok(Normalizer::L2),
            other => Err(node.error(format!("norm {other} is not MAX, L1 or L2"))),
        }
    }

    /// Normalizes `input` in place; a row whose norm is zero stays as it is.
    pub fn apply(self, input: &mut Matrix) {
        for row in input.row_iter_mut() {
            let norm = match self {
                Normalizer::Max => row.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Normalizer::L1 => row.iter().map(|x| x.abs()).sum(),
                Normalizer::L2 => row.iter().map(|x| x * x).sum::<f64>().sqrt(),
            };
            if norm != 0.0 && norm.is_finite() {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
    }
}

/// The index of each row's largest number (the first, on a tie).
pub fn argmax(row: &[f64]) -> u32 {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut row = [1.0, 3.0, 2.0];
        PostTransform::Softmax.apply(&mut row);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(argmax(&row), 1);
        let mut zeros = [0.0, 2.0, 2.0];
        PostTransform::SoftmaxZero.apply(&mut zeros);
        assert_eq!(zeros, [0.0, 0.5, 0.5]);
    }

    #[test]
    fn logistic_does_not_overflow() {
        assert_eq!(logistic(-1000.0), 0.0);
        assert_eq!(logistic(1000.0), 1.0);
        assert!((logistic(0.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn normalizers_divide_by_their_norm() {
        let mut m = Matrix {
            cols: 2,
            data: vec![3.0, 4.0, 0.0, 0.0],
        };
        Normalizer::L2.apply(&mut m);
        assert_eq!(m.data, vec![0.6, 0.8, 0.0, 0.0]);
        let mut m = Matrix {
            cols: 2,
            data: vec![1.0, 3.0],
        };
        Normalizer::L1.apply(&mut m);
        assert_eq!(m.data, vec![0.25, 0.75]);
    }
}
