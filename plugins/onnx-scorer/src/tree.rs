//! `TreeEnsembleClassifier` and `TreeEnsembleRegressor` (ai.onnx.ml 1–3), compiled
//! from the operator's parallel attribute arrays into flat trees that a row walks
//! from root to leaf, one comparison per level.

use std::collections::HashMap;

use crate::node::NodeReader;
use crate::perfect::{Comparison, PerfectTrees, Shape};
use crate::transform::{Matrix, PostTransform, argmax};

/// Marks a child reference as a leaf (the rest of the bits are the leaf's index).
const LEAF: u32 = 1 << 31;

/// How a branch compares a feature with its threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

impl Mode {
    #[inline]
    fn holds(self, x: f32, threshold: f32) -> bool {
        match self {
            Mode::Leq => x <= threshold,
            Mode::Lt => x < threshold,
            Mode::Gte => x >= threshold,
            Mode::Gt => x > threshold,
            Mode::Eq => x == threshold,
            Mode::Neq => x != threshold,
        }
    }
}

/// A branch: where a row goes next, by one feature.
#[derive(Clone, Copy, Debug)]
struct Branch {
    threshold: f32,
    feature: u32,
    /// The child when the comparison holds (or the feature is missing and
    /// `missing_true`): a branch index, or `LEAF | leaf index`.
    when_true: u32,
    when_false: u32,
    mode: Mode,
    missing_true: bool,
}

/// How a regressor combines its trees' leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// How a classifier's scores become probabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Classes {
    /// One score per class.
    Each,
    /// Two classes, one score `s` for the second: `[1 - s, s]` when every weight is
    /// positive (a forest's vote share), `[-s, s]` otherwise, before the
    /// post-transform (boosting's `LOGISTIC` then gives `[1 - σ(s), σ(s)]`).
    Binary { positive_weights: bool },
}

/// A compiled tree ensemble.
#[derive(Clone, Debug)]
pub struct TreeEnsemble {
    branches: Vec<Branch>,
    /// Each tree's root: a branch index or a leaf.
    roots: Vec<u32>,
    /// Leaf `l`'s weights are `weights[leaf_starts[l]..leaf_starts[l + 1]]`.
    leaf_starts: Vec<u32>,
    /// (output column, weight).
    weights: Vec<(u32, f64)>,
    base_values: Vec<f64>,
    /// Columns of the raw scores.
    columns: usize,
    outputs: usize,
    aggregate: Aggregate,
    classes: Option<Classes>,
    post: PostTransform,
    features: usize,
    /// The same trees as perfect binary trees, when they fit ([`PerfectTrees`]).
    perfect: Option<PerfectTrees>,
}

impl TreeEnsemble {
    /// Reads a `TreeEnsembleClassifier` (`classes` labels) or, with `classes`
    /// `None`, a `TreeEnsembleRegressor`, over rows of `features` numbers.
    pub fn load(
        node: &NodeReader<'_>,
        features: usize,
        classes: Option<usize>,
    ) -> Result<TreeEnsemble, String> {
        let tree_ids = node.ints("nodes_treeids");
        let node_ids = node.ints("nodes_nodeids");
        let feature_ids = node.ints("nodes_featureids");
        let true_ids = node.ints("nodes_truenodeids");
        let false_ids = node.ints("nodes_falsenodeids");
        let modes = node.strings("nodes_modes")?;
        let thresholds = node.numbers("nodes_values")?.unwrap_or_default();
        let missing = node.ints("nodes_missing_value_tracks_true");
        let count = tree_ids.len();
        if count == 0 {
            return Err(node.error("it has no nodes"));
        }
        for (name, len) in [
            ("nodes_nodeids", node_ids.len()),
            ("nodes_featureids", feature_ids.len()),
            ("nodes_truenodeids", true_ids.len()),
            ("nodes_falsenodeids", false_ids.len()),
            ("nodes_modes", modes.len()),
            ("nodes_values", thresholds.len()),
        ] {
            if len != count {
                return Err(node.error(format!(
                    "{name} has {len} entries; nodes_treeids has {count}"
                )));
            }
        }
        if !missing.is_empty() && missing.len() != count {
            return Err(node.error(format!(
                "nodes_missing_value_tracks_true has {} entries; nodes_treeids has {count}",
                missing.len()
            )));
        }

        // Leaf weights: `class_*` for a classifier, `target_*` for a regressor.
        let prefix = if classes.is_some() { "class" } else { "target" };
        let weight_trees = node.ints(&format!("{prefix}_treeids"));
        let weight_nodes = node.ints(&format!("{prefix}_nodeids"));
        let weight_columns = node.ints(&format!("{prefix}_ids"));
        let weight_values = node.require_numbers(&format!("{prefix}_weights"))?;
        let weight_count = weight_values.len();
        for (name, len) in [
            (format!("{prefix}_treeids"), weight_trees.len()),
            (format!("{prefix}_nodeids"), weight_nodes.len()),
            (format!("{prefix}_ids"), weight_columns.len()),
        ] {
            if len != weight_count {
                return Err(node.error(format!(
                    "{name} has {len} entries; {prefix}_weights has {weight_count}"
                )));
            }
        }

        // Output columns and the binary case.
        let (columns, outputs, class_mode) = match classes {
            Some(classes) => {
                let mut distinct: Vec<i64> = weight_columns.to_vec();
                distinct.sort_unstable();
                distinct.dedup();
                if classes == 2 && distinct.len() <= 1 {
                    let positive_weights = weight_values.iter().all(|&w| w >= 0.0);
                    (1, 2, Some(Classes::Binary { positive_weights }))
                } else {
                    (classes, classes, Some(Classes::Each))
                }
            }
            None => {
                let targets = usize::try_from(node.int("n_targets", 1)).unwrap_or(0);
                if targets == 0 {
                    return Err(node.error("n_targets must be at least 1"));
                }
                (targets, targets, None)
            }
        };
        // A binary classifier's one column may be named 0 or 1.
        let column_limit = match class_mode {
            Some(Classes::Binary { .. }) => 2,
            _ => columns,
        };
        if let Some(&bad) = weight_columns
            .iter()
            .find(|&&c| usize::try_from(c).map_or(true, |c| c >= column_limit))
        {
            return Err(node.error(format!(
                "{prefix}_ids names output {bad}, but the model has {column_limit}"
            )));
        }
        let base_values = node.numbers("base_values")?.unwrap_or_default();
        if !base_values.is_empty() && base_values.len() != columns {
            return Err(node.error(format!(
                "base_values has {} numbers for {columns} outputs",
                base_values.len()
            )));
        }
        let aggregate = match node.string("aggregate_function", "SUM")?.as_str() {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => {
                return Err(node.error(format!(
                    "aggregate_function {other} is not SUM, AVERAGE, MIN or MAX"
                )));
            }
        };

        // Index every node by (tree, node id); leaves get their own numbering.
        let mut index: HashMap<(i64, i64), u32> = HashMap::with_capacity(count);
        let mut branches = Vec::new();
        let mut leaf_of_node: HashMap<(i64, i64), u32> = HashMap::new();
        let mut parsed_modes = Vec::with_capacity(count);
        for i in 0..count {
            let key = (tree_ids[i], node_ids[i]);
            let mode = match modes[i].as_str() {
                "LEAF" => None,
                "BRANCH_LEQ" => Some(Mode::Leq),
                "BRANCH_LT" => Some(Mode::Lt),
                "BRANCH_GTE" => Some(Mode::Gte),
                "BRANCH_GT" => Some(Mode::Gt),
                "BRANCH_EQ" => Some(Mode::Eq),
                "BRANCH_NEQ" => Some(Mode::Neq),
                other => {
                    return Err(node.error(format!(
                        "node {} of tree {} has mode {other:?}, which is not a known branch \
                         mode or LEAF",
                        key.1, key.0
                    )));
                }
            };
            let reference = match mode {
                None => {
                    let leaf = leaf_of_node.len() as u32;
                    leaf_of_node.insert(key, leaf);
                    LEAF | leaf
                }
                Some(_) => {
                    branches.push(i);
                    (branches.len() - 1) as u32
                }
            };
            if index.insert(key, reference).is_some() {
                return Err(
                    node.error(format!("node {} of tree {} is defined twice", key.1, key.0))
                );
            }
            parsed_modes.push(mode);
        }
        if leaf_of_node.len() >= LEAF as usize {
            return Err(node.error("it has too many leaves"));
        }

        let child = |tree: i64, id: i64, of: i64| -> Result<u32, String> {
            index.get(&(tree, id)).copied().ok_or_else(|| {
                node.error(format!(
                    "node {of} of tree {tree} points to node {id}, which the tree does not have"
                ))
            })
        };
        let mut compiled = Vec::with_capacity(branches.len());
        let mut referenced = std::collections::HashSet::with_capacity(count);
        for &i in &branches {
            let (tree, id) = (tree_ids[i], node_ids[i]);
            let feature = usize::try_from(feature_ids[i])
                .ok()
                .filter(|&f| f < features)
                .ok_or_else(|| {
                    node.error(format!(
                        "node {id} of tree {tree} reads feature {}, but the model has {features}",
                        feature_ids[i]
                    ))
                })?;
            let when_true = child(tree, true_ids[i], id)?;
            let when_false = child(tree, false_ids[i], id)?;
            referenced.insert((tree, true_ids[i]));
            referenced.insert((tree, false_ids[i]));
            compiled.push(Branch {
                threshold: thresholds[i] as f32,
                feature: feature as u32,
                when_true,
                when_false,
                mode: parsed_modes[i].unwrap_or(Mode::Leq),
                missing_true: missing.get(i).is_some_and(|&m| m != 0),
            });
        }

        // Each tree's root is its one node no other node points to.
        let mut roots: Vec<(i64, u32)> = Vec::new();
        for i in 0..count {
            let key = (tree_ids[i], node_ids[i]);
            if !referenced.contains(&key) {
                if roots.iter().any(|&(tree, _)| tree == key.0) {
                    return Err(node.error(format!(
                        "tree {} has more than one root (node {} is not reached)",
                        key.0, key.1
                    )));
                }
                roots.push((key.0, index[&key]));
            }
        }
        let mut tree_set: Vec<i64> = tree_ids.to_vec();
        tree_set.sort_unstable();
        tree_set.dedup();
        if roots.len() != tree_set.len() {
            return Err(node.error("a tree has no root: its nodes form a cycle"));
        }
        let leaves = leaf_of_node.len();
        check_trees(node, &compiled, leaves, &roots, |at| {
            let i = branches[at];
            (tree_ids[i], node_ids[i])
        })?;

        // Leaf weights, grouped by leaf.
        let mut per_leaf: Vec<Vec<(u32, f64)>> = vec![Vec::new(); leaf_of_node.len()];
        for w in 0..weight_count {
            let key = (weight_trees[w], weight_nodes[w]);
            let leaf = leaf_of_node.get(&key).ok_or_else(|| {
                node.error(format!(
                    "{prefix}_weights[{w}] belongs to node {} of tree {}, which is not a leaf",
                    key.1, key.0
                ))
            })?;
            let column = if columns == 1 {
                0
            } else {
                weight_columns[w] as u32
            };
            per_leaf[*leaf as usize].push((column, weight_values[w]));
        }
        let mut leaf_starts = Vec::with_capacity(per_leaf.len() + 1);
        let mut weights = Vec::with_capacity(weight_count);
        leaf_starts.push(0);
        for leaf in per_leaf {
            weights.extend(leaf);
            leaf_starts.push(weights.len() as u32);
        }
        let post = PostTransform::of(node)?;
        let roots: Vec<u32> = roots.into_iter().map(|(_, root)| root).collect();
        let perfect = perfect_layout(&compiled, &roots, aggregate);
        Ok(TreeEnsemble {
            branches: compiled,
            roots,
            leaf_starts,
            weights,
            base_values,
            columns,
            outputs,
            aggregate,
            classes: class_mode,
            post,
            features,
            perfect,
        })
    }

    /// How many numbers a row's output has.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    #[inline]
    fn leaf(&self, root: u32, row: &[f32]) -> usize {
        let mut at = root;
        while at & LEAF == 0 {
            let branch = &self.branches[at as usize];
            let x = row[branch.feature as usize];
            let holds = if x.is_nan() {
                branch.missing_true
            } else {
                branch.mode.holds(x, branch.threshold)
            };
            at = if holds {
                branch.when_true
            } else {
                branch.when_false
            };
        }
        (at & !LEAF) as usize
    }

    /// Scores rows of `features` numbers (row-major); a classifier's labels go to
    /// `labels`.
    pub fn apply(&self, input: &[f32], labels: Option<&mut Vec<u32>>) -> Matrix {
        let rows = input.len().checked_div(self.features).unwrap_or(0);
        let columns = self.columns;
        // Each row's raw scores: its trees' leaf weights, aggregated.
        let mut raw = vec![0.0; rows * columns];
        match &self.perfect {
            Some(perfect) => perfect.walk(input, self.features, |row, leaf| {
                let leaf = leaf as usize;
                let (start, end) = (self.leaf_starts[leaf], self.leaf_starts[leaf + 1]);
                for &(column, weight) in &self.weights[start as usize..end as usize] {
                    raw[row * columns + column as usize] += weight;
                }
            }),
            None => {
                let mut found = vec![false; columns];
                for (row, sums) in input
                    .chunks_exact(self.features.max(1))
                    .zip(raw.chunks_exact_mut(columns))
                {
                    found.iter_mut().for_each(|x| *x = false);
                    for &root in &self.roots {
                        let leaf = self.leaf(root, row);
                        let (start, end) = (self.leaf_starts[leaf], self.leaf_starts[leaf + 1]);
                        for &(column, weight) in &self.weights[start as usize..end as usize] {
                            let slot = &mut sums[column as usize];
                            *slot = match self.aggregate {
                                Aggregate::Sum | Aggregate::Average => *slot + weight,
                                Aggregate::Min if found[column as usize] => slot.min(weight),
                                Aggregate::Max if found[column as usize] => slot.max(weight),
                                Aggregate::Min | Aggregate::Max => weight,
                            };
                            found[column as usize] = true;
                        }
                    }
                }
            }
        }
        let mut out = Matrix::zeros(rows, self.outputs);
        let mut raw_labels = Vec::with_capacity(if labels.is_some() { rows } else { 0 });
        for (sums, scores) in raw.chunks_exact_mut(columns).zip(out.row_iter_mut()) {
            if self.aggregate == Aggregate::Average {
                let trees = self.roots.len() as f64;
                sums.iter_mut().for_each(|x| *x /= trees);
            }
            for (x, base) in sums.iter_mut().zip(&self.base_values) {
                *x += base;
            }
            match self.classes {
                Some(Classes::Binary { positive_weights }) => {
                    let s = sums[0];
                    scores[0] = if positive_weights { 1.0 - s } else { -s };
                    scores[1] = s;
                }
                _ => scores.copy_from_slice(sums),
            }
            if self.classes.is_some() {
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

/// The ensemble as perfect binary trees, when every branch compares one way
/// (`BRANCH_LEQ` or `BRANCH_LT`) with missing values taking the false branch,
/// leaves add up (`SUM`, `AVERAGE`), and no tree is deeper than
/// [`crate::perfect::MAX_DEPTH`].
fn perfect_layout(
    branches: &[Branch],
    roots: &[u32],
    aggregate: Aggregate,
) -> Option<PerfectTrees> {
    if !matches!(aggregate, Aggregate::Sum | Aggregate::Average)
        || branches.iter().any(|b| b.missing_true)
    {
        return None;
    }
    let comparison = match branches.first().map(|b| b.mode) {
        None | Some(Mode::Leq) => Comparison::AtMost,
        Some(Mode::Lt) => Comparison::Below,
        Some(_) => return None,
    };
    let wanted = match comparison {
        Comparison::AtMost => Mode::Leq,
        Comparison::Below => Mode::Lt,
    };
    if branches.iter().any(|b| b.mode != wanted) {
        return None;
    }
    let roots: Vec<usize> = roots.iter().map(|&r| r as usize).collect();
    PerfectTrees::build(&roots, comparison, |at| {
        if at as u32 & LEAF != 0 {
            return Shape::Leaf(at as u32 & !LEAF);
        }
        let branch = &branches[at];
        Shape::Branch {
            feature: branch.feature,
            threshold: branch.threshold,
            when_true: branch.when_true as usize,
            when_false: branch.when_false as usize,
        }
    })
}

/// Checks that every tree is a tree: from its root, no node is reached twice (so
/// that a row's walk always ends at a leaf) and every node is reached (so that
/// nothing in the file is silently ignored). `key` names branch `b` as (tree, node).
fn check_trees(
    node: &NodeReader<'_>,
    branches: &[Branch],
    leaves: usize,
    roots: &[(i64, u32)],
    key: impl Fn(usize) -> (i64, i64),
) -> Result<(), String> {
    let mut seen = vec![false; branches.len()];
    let mut leaves_seen = vec![false; leaves];
    let mut stack = Vec::new();
    for &(tree, root) in roots {
        stack.push(root);
        while let Some(at) = stack.pop() {
            let visited = if at & LEAF != 0 {
                &mut leaves_seen[(at & !LEAF) as usize]
            } else {
                &mut seen[at as usize]
            };
            if *visited {
                return Err(node.error(format!(
                    "tree {tree} is not a tree: one of its nodes is reached twice"
                )));
            }
            *visited = true;
            if at & LEAF == 0 {
                stack.push(branches[at as usize].when_true);
                stack.push(branches[at as usize].when_false);
            }
        }
    }
    if let Some(unreached) = seen.iter().position(|&s| !s) {
        let (tree, id) = key(unreached);
        return Err(node.error(format!(
            "node {id} of tree {tree} is not reached from the tree's root: its nodes do not \
             form a tree"
        )));
    }
    if leaves_seen.iter().any(|&s| !s) {
        return Err(
            node.error("a leaf is not reached from its tree's root: its nodes do not form a tree")
        );
    }
    Ok(())
}
