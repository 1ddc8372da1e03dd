//! Reading a record's feature vector out of its JSON value, and naming why a record
//! has none.

use serde_json::Value;

use crate::field::FieldPath;

/// Appends the features of `value` at `paths` to `row`, as 32-bit floats (a
/// boolean is 0 or 1); the error says which feature is missing or not a number. On
/// an error `row` is left as it was.
pub fn read_features(paths: &[FieldPath], value: &Value, row: &mut Vec<f32>) -> Result<(), String> {
    if !value.is_object() {
        return Err(format!(
            "the value is {}, not an object of features",
            kind_of(value)
        ));
    }
    let start = row.len();
    for path in paths {
        let (feature, shown) = match path.get(value) {
            Some(Value::Number(n)) => (n.as_f64().unwrap_or(f64::NAN), n),
            Some(Value::Bool(b)) => {
                row.push(f32::from(u8::from(*b)));
                continue;
            }
            Some(other) => {
                row.truncate(start);
                return Err(format!(
                    "the feature {} is {}, not a number",
                    path.as_str(),
                    kind_of(other)
                ));
            }
            None => {
                row.truncate(start);
                return Err(format!("the feature {} is missing", path.as_str()));
            }
        };
        let narrowed = feature as f32;
        if !narrowed.is_finite() {
            row.truncate(start);
            return Err(format!(
                "the feature {} is {shown}, beyond what a 32-bit float holds",
                path.as_str()
            ));
        }
        row.push(narrowed);
    }
    Ok(())
}

fn kind_of(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::String(s) if s.len() <= 40 => format!("the string {s:?}"),
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(names: &[&str]) -> Vec<FieldPath> {
        names.iter().map(|n| FieldPath::parse(n).unwrap()).collect()
    }

    #[test]
    fn features_are_read_from_nested_fields() {
        let mut row = Vec::new();
        read_features(
            &paths(&["a", "card.age", "flag"]),
            &json!({"a": 1.5, "card": {"age": 3}, "flag": true}),
            &mut row,
        )
        .unwrap();
        assert_eq!(row, vec![1.5, 3.0, 1.0]);
    }

    #[test]
    fn a_record_without_a_feature_is_named_and_leaves_the_row_alone() {
        let mut row = vec![9.0];
        let err = read_features(&paths(&["a", "b"]), &json!({"a": 1}), &mut row).unwrap_err();
        assert_eq!(err, "the feature b is missing");
        assert_eq!(row, vec![9.0]);
        let err = read_features(&paths(&["a"]), &json!({"a": "x"}), &mut row).unwrap_err();
        assert_eq!(err, "the feature a is the string \"x\", not a number");
        let err = read_features(&paths(&["a"]), &json!({"a": 1e300}), &mut row).unwrap_err();
        assert!(err.contains("beyond what a 32-bit float holds"), "{err}");
        let err = read_features(&paths(&["a"]), &json!([1]), &mut row).unwrap_err();
        assert_eq!(err, "the value is an array, not an object of features");
    }
}
