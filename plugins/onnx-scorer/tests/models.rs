//! Models built here, node by node, as skl2onnx writes them: what the evaluator
//! computes for them (worked out by hand), and how it refuses broken ones.

use millrace_sdk::{ModelKind, Scores};
use onnx_scorer::Model;
use onnx_scorer::proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, TensorShapeProto,
    TensorTypeProto, TypeProto, ValueInfoProto, data_type,
};
use prost::Message;

fn floats(name: &str, values: &[f32]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        floats: values.to_vec(),
        r#type: 6,
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: values.to_vec(),
        r#type: 7,
        ..Default::default()
    }
}

fn strings(name: &str, values: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        strings: values.iter().map(|s| s.as_bytes().to_vec()).collect(),
        r#type: 8,
        ..Default::default()
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        s: value.as_bytes().to_vec(),
        r#type: 3,
        ..Default::default()
    }
}

fn tensor(name: &str, elem_type: i32, features: Option<i64>) -> ValueInfoProto {
    let dim = |value: Option<i64>| Dimension {
        dim_value: value,
        dim_param: value.is_none().then(|| "N".into()),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: vec![dim(None), dim(features)],
                }),
            }),
        }),
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: outputs.iter().map(|s| (*s).into()).collect(),
        name: op.into(),
        op_type: op.into(),
        attribute,
        domain: if op == "Identity" {
            String::new()
        } else {
            "ai.onnx.ml".into()
        },
    }
}

fn model(nodes: Vec<NodeProto>, outputs: Vec<ValueInfoProto>) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        producer_name: "tests".into(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            input: vec![tensor("X", data_type::FLOAT, Some(2))],
            output: outputs,
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Two trees over two features: tree 0 splits on x0 <= 1, tree 1 on x1 < 0.
fn forest(true_child_of_tree_1: i64) -> Vec<u8> {
    let trees = node(
        "TreeEnsembleClassifier",
        &["X"],
        &["label", "probabilities"],
        vec![
            ints("nodes_treeids", &[0, 0, 0, 1, 1, 1]),
            ints("nodes_nodeids", &[0, 1, 2, 0, 1, 2]),
            ints("nodes_featureids", &[0, 0, 0, 1, 0, 0]),
            floats("nodes_values", &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            strings(
                "nodes_modes",
                &["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LT", "LEAF", "LEAF"],
            ),
            ints("nodes_truenodeids", &[1, 0, 0, true_child_of_tree_1, 0, 0]),
            ints("nodes_falsenodeids", &[2, 0, 0, 2, 0, 0]),
            ints("class_treeids", &[0, 0, 1, 1]),
            ints("class_nodeids", &[1, 2, 1, 2]),
            ints("class_ids", &[0, 0, 0, 0]),
            // A forest's vote for the second class, averaged: 0.5 per tree.
            floats("class_weights", &[0.5, 0.0, 0.25, 0.5]),
            ints("classlabels_int64s", &[0, 1]),
            string("post_transform", "NONE"),
        ],
    );
    model(
        vec![trees],
        vec![
            tensor("label", data_type::INT64, None),
            tensor("probabilities", data_type::FLOAT, None),
        ],
    )
}

fn scores(model: &Model, rows: &[[f32; 2]]) -> Scores {
    let features: Vec<f32> = rows.iter().flatten().copied().collect();
    let mut scores = Scores::default();
    model.score(&features, rows.len(), &mut scores).unwrap();
    scores
}

#[test]
fn a_binary_forest_sums_its_votes_for_the_second_class() {
    let model = Model::load(&forest(1)).unwrap();
    assert_eq!(model.info().kind, ModelKind::Classifier);
    assert_eq!(model.info().classes, vec!["0", "1"]);
    assert_eq!(model.info().producer, "tests");
    // (x0 <= 1 → 0.5, else 0) + (x1 < 0 → 0.25, else 0.5).
    let got = scores(&model, &[[0.5, -1.0], [2.0, 3.0], [1.0, 0.0]]);
    assert_eq!(got.values, vec![0.25, 0.75, 0.5, 0.5, 0.0, 1.0]);
    // The first of equal probabilities wins.
    assert_eq!(got.labels, vec![1, 0, 1]);
}

#[test]
fn a_missing_value_follows_the_branch_its_tree_says() {
    let mut bytes = ModelProto::decode(forest(1).as_slice()).unwrap();
    let trees = &mut bytes.graph.as_mut().unwrap().node[0];
    trees
        .attribute
        .push(ints("nodes_missing_value_tracks_true", &[1, 0, 0, 0, 0, 0]));
    let model = Model::load(&bytes.encode_to_vec()).unwrap();
    let got = scores(&model, &[[f32::NAN, f32::NAN]]);
    // Tree 0 takes its true branch (0.5); tree 1's NaN < 0 fails (0.5).
    assert_eq!(got.values, vec![0.0, 1.0]);
}

#[test]
fn a_linear_regressor_after_a_scaler_computes_its_dot_product() {
    let nodes = vec![
        node(
            "Scaler",
            &["X"],
            &["scaled"],
            vec![floats("offset", &[1.0, 0.0]), floats("scale", &[2.0, 0.5])],
        ),
        node(
            "LinearRegressor",
            &["scaled"],
            &["variable"],
            vec![
                floats("coefficients", &[3.0, -1.0]),
                floats("intercepts", &[0.5]),
            ],
        ),
    ];
    let model = Model::load(&model(
        nodes,
        vec![tensor("variable", data_type::FLOAT, None)],
    ))
    .unwrap();
    assert_eq!(model.info().kind, ModelKind::Regressor);
    assert_eq!(model.info().operators, vec!["Scaler", "LinearRegressor"]);
    // ((2 - 1) * 2) * 3 - (4 * 0.5) + 0.5
    assert_eq!(scores(&model, &[[2.0, 4.0]]).values, vec![4.5]);
}

fn refusal(bytes: &[u8]) -> String {
    Model::load(bytes).unwrap_err()
}

#[test]
fn broken_models_are_refused_with_what_is_wrong() {
    assert!(refusal(b"\x08\x07garbage").contains("not an ONNX model"));
    assert_eq!(
        refusal(&ModelProto::default().encode_to_vec()),
        "the ONNX model has no graph"
    );
    // A tree whose branch points back at its root never ends.
    assert!(
        refusal(&forest(0)).contains("tree 1"),
        "{}",
        refusal(&forest(0))
    );
    // A child that is not there.
    let missing = refusal(&forest(9));
    assert!(
        missing.contains("points to node 9, which the tree does not have"),
        "{missing}"
    );
    let unknown = model(
        vec![node(
            "SVMClassifier",
            &["X"],
            &["label", "probabilities"],
            vec![],
        )],
        vec![tensor("probabilities", data_type::FLOAT, None)],
    );
    let message = refusal(&unknown);
    assert!(
        message.contains("the operator ai.onnx.ml.SVMClassifier is not supported"),
        "{message}"
    );
    assert!(
        message.contains("TreeEnsembleRegressor"),
        "names what is supported: {message}"
    );
    let wide = model(
        vec![node(
            "LinearRegressor",
            &["X"],
            &["variable"],
            vec![floats("coefficients", &[1.0, 2.0, 3.0])],
        )],
        vec![tensor("variable", data_type::FLOAT, None)],
    );
    assert!(refusal(&wide).contains("3 coefficients, which is not a multiple of its input's 2"));
}

#[test]
fn a_batch_of_the_wrong_size_is_an_error_not_a_panic() {
    let model = Model::load(&forest(1)).unwrap();
    let mut out = Scores::default();
    let err = model.score(&[1.0, 2.0, 3.0], 2, &mut out).unwrap_err();
    assert_eq!(err, "the batch has 3 numbers, not 2 rows of 2 features");
}
