//! Field paths: `amount`, or `card.age_days` for a field of a nested object, as a
//! spec names the parts of a record's JSON value it reads or writes.

use std::fmt;

use serde_json::Value;

/// A field of a record's value, as a spec writes it: `amount`, or `card.age_days`
/// for a field of a nested object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldPath {
    text: String,
    parts: Vec<String>,
}

impl FieldPath {
    /// The path `text` (dot-separated names; none of them empty).
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let parts: Vec<String> = text.split('.').map(str::to_owned).collect();
        if parts.iter().any(String::is_empty) {
            return Err(format!(
                "{text:?} is not a field path (names separated by dots, e.g. card.age_days)"
            ));
        }
        Ok(FieldPath {
            text: text.to_owned(),
            parts,
        })
    }

    /// The path to the top-level field `name` (taken whole, dots and all).
    pub fn field(name: &str) -> FieldPath {
        FieldPath {
            text: name.to_owned(),
            parts: vec![name.to_owned()],
        }
    }

    /// The names along the path.
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at the path, if there is one.
    pub fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.parts
            .iter()
            .try_fold(value, |value, part| value.as_object()?.get(part))
    }

    /// Sets the value at the path, making the objects on the way; `false` if a
    /// value on the way is not an object.
    pub fn set(&self, target: &mut Value, value: Value) -> bool {
        let Some((last, parents)) = self.parts.split_last() else {
            return false;
        };
        let mut at = target;
        for part in parents {
            let Some(object) = at.as_object_mut() else {
                return false;
            };
            at = object
                .entry(part.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
        }
        match at.as_object_mut() {
            Some(object) => {
                object.insert(last.clone(), value);
                true
            }
            None => false,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_get_and_set_nested_fields() {
        assert_eq!(
            FieldPath::parse("a.b")
                .unwrap()
                .get(&json!({"a": {"b": 2}})),
            Some(&json!(2))
        );
        let mut value = json!({"a": 1});
        assert!(
            FieldPath::parse("out.p")
                .unwrap()
                .set(&mut value, json!(0.5))
        );
        assert_eq!(value, json!({"a": 1, "out": {"p": 0.5}}));
        assert!(!FieldPath::parse("a.p").unwrap().set(&mut value, json!(0.5)));
        assert!(FieldPath::parse("a..b").is_err());
    }
}
