//! Tree ensembles laid out as perfect binary trees of one depth, the form most
//! scikit-learn ensembles fit in (a forest or boosting of `max_depth` 6 or so): a
//! row's walk is then `depth` steps with no data-dependent exit, node `i`'s
//! children being `2i + 1` (the comparison holds) and `2i + 2`, so the walks of
//! several rows interleave and the branch predictor has nothing to guess. A leaf
//! above the full depth is padded: both subtrees of its padding end in it.

/// The deepest trees laid out this way (2^10 leaf slots per tree).
pub const MAX_DEPTH: u32 = 10;

/// Rows walked together through one tree.
const LANES: usize = 4;

/// How the branches compare: `x <= t` (`BRANCH_LEQ`) or `x < t` (`BRANCH_LT`). A
/// missing feature (NaN) fails either, so it takes the false branch, as ONNX says
/// when `missing_value_tracks_true` is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `x <= t`.
    AtMost,
    /// `x < t`.
    Below,
}

/// A node of the trees being laid out: a branch (feature, threshold, the child
/// when it holds, the other), or a leaf.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// A branch.
    Branch {
        /// The feature it reads.
        feature: u32,
        /// Its threshold.
        threshold: f32,
        /// The child when the comparison holds.
        when_true: usize,
        /// The other child.
        when_false: usize,
    },
    /// A leaf, by its index.
    Leaf(u32),
}

/// The laid-out ensemble.
#[derive(Clone, Debug)]
pub struct PerfectTrees {
    depth: u32,
    comparison: Comparison,
    /// Per tree, `2^depth - 1` nodes.
    features: Vec<u32>,
    thresholds: Vec<f32>,
    /// Per tree, `2^depth` leaf slots: the leaf each ends in.
    leaves: Vec<u32>,
}

impl PerfectTrees {
    /// Lays out the trees whose roots are `roots`, reading nodes with `node`; `None`
    /// when one is deeper than [`MAX_DEPTH`].
    pub fn build(
        roots: &[usize],
        comparison: Comparison,
        node: impl Fn(usize) -> Shape,
    ) -> Option<PerfectTrees> {
        let depth = roots
            .iter()
            .map(|&root| depth_of(root, &node, 0))
            .max()?
            .max(1);
        if depth > MAX_DEPTH {
            return None;
        }
        let internal = (1usize << depth) - 1;
        let mut trees = PerfectTrees {
            depth,
            comparison,
            features: vec![0; roots.len() * internal],
            thresholds: vec![0.0; roots.len() * internal],
            leaves: vec![0; roots.len() * (internal + 1)],
        };
        for (t, &root) in roots.iter().enumerate() {
            trees.fill(t, root, 0, 0, &node);
        }
        Some(trees)
    }

    /// Places `at` (a node of tree `t`) at position `position`, `level` deep.
    fn fill(
        &mut self,
        t: usize,
        at: usize,
        position: usize,
        level: u32,
        node: &impl Fn(usize) -> Shape,
    ) {
        let internal = (1usize << self.depth) - 1;
        if level == self.depth {
            if let Shape::Leaf(leaf) = node(at) {
                self.leaves[t * (internal + 1) + position - internal] = leaf;
            }
            return;
        }
        let (left, right) = (2 * position + 1, 2 * position + 2);
        match node(at) {
            Shape::Branch {
                feature,
                threshold,
                when_true,
                when_false,
            } => {
                self.features[t * internal + position] = feature;
                self.thresholds[t * internal + position] = threshold;
                self.fill(t, when_true, left, level + 1, node);
                self.fill(t, when_false, right, level + 1, node);
            }
            // Padding: whichever way the row goes, it ends in this leaf.
            Shape::Leaf(_) => {
                self.fill(t, at, left, level + 1, node);
                self.fill(t, at, right, level + 1, node);
            }
        }
    }

    /// Walks every row of `input` (rows of `features` numbers) through every
    /// tree, tree by tree, calling `reach(row, leaf)` for each leaf reached.
    pub fn walk(&self, input: &[f32], features: usize, mut reach: impl FnMut(usize, u32)) {
        let rows = input.len().checked_div(features).unwrap_or(0);
        let internal = (1usize << self.depth) - 1;
        let trees = self.features.len() / internal;
        for t in 0..trees {
            let tree_features = &self.features[t * internal..(t + 1) * internal];
            let thresholds = &self.thresholds[t * internal..(t + 1) * internal];
            let leaves = &self.leaves[t * (internal + 1)..(t + 1) * (internal + 1)];
            let step = |row: usize, at: usize| {
                let x = input[row * features + tree_features[at] as usize];
                let holds = match self.comparison {
                    Comparison::AtMost => x <= thresholds[at],
                    Comparison::Below => x < thresholds[at],
                };
                2 * at + 1 + usize::from(!holds)
            };
            let mut row = 0;
            while row + LANES <= rows {
                let mut at = [0usize; LANES];
                for _ in 0..self.depth {
                    for (lane, at) in at.iter_mut().enumerate() {
                        *at = step(row + lane, *at);
                    }
                }
                for (lane, at) in at.iter().enumerate() {
                    reach(row + lane, leaves[at - internal]);
                }
                row += LANES;
            }
            for row in row..rows {
                let mut at = 0;
                for _ in 0..self.depth {
                    at = step(row, at);
                }
                reach(row, leaves[at - internal]);
            }
        }
    }
}

/// The depth of the tree under `at`, in branches (stopping past `MAX_DEPTH`).
fn depth_of(at: usize, node: &impl Fn(usize) -> Shape, level: u32) -> u32 {
    if level > MAX_DEPTH {
        return level;
    }
    match node(at) {
        Shape::Leaf(_) => level,
        Shape::Branch {
            when_true,
            when_false,
            ..
        } => depth_of(when_true, node, level + 1).max(depth_of(when_false, node, level + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tree: x0 <= 1 ? leaf 0 : (x1 <= 2 ? leaf 1 : leaf 2).
    fn shape(at: usize) -> Shape {
        match at {
            0 => Shape::Branch {
                feature: 0,
                threshold: 1.0,
                when_true: 1,
                when_false: 2,
            },
            1 => Shape::Leaf(0),
            2 => Shape::Branch {
                feature: 1,
                threshold: 2.0,
                when_true: 3,
                when_false: 4,
            },
            3 => Shape::Leaf(1),
            _ => Shape::Leaf(2),
        }
    }

    #[test]
    fn rows_reach_the_leaves_their_walks_end_in_padded_or_not() {
        let trees = PerfectTrees::build(&[0], Comparison::AtMost, shape).unwrap();
        let rows = [0.5, 9.0, 2.0, 1.0, 2.0, 3.0, 1.0, 0.0, f32::NAN, 0.0];
        let mut reached = Vec::new();
        trees.walk(&rows, 2, |row, leaf| reached.push((row, leaf)));
        // Rows 0-3 go four at a time, row 4 alone; a NaN takes the false branch.
        assert_eq!(reached, vec![(0, 0), (1, 1), (2, 2), (3, 0), (4, 1)]);
    }
}
