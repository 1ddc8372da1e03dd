//! A YAML (or JSON) document as a tree whose every node remembers where it was
//! written, so that spec errors can point at a line and column.

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

impl From<Marker> for Mark {
    fn from(marker: Marker) -> Self {
        Mark {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

/// A node of the document.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: NodeValue,
    /// Where it starts.
    pub mark: Mark,
}

/// The value of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A map with string keys, in document order.
    Map(Vec<Entry>),
}

/// One `key: value` pair of a map.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// Where the key is written.
    pub key_mark: Mark,
    /// The value.
    pub value: Node,
}

impl Node {
    /// How the node reads in an error message: `the string "x"`, `a list`, …
    pub fn describe(&self) -> String {
        match &self.value {
            NodeValue::Null => "nothing".to_owned(),
            NodeValue::Bool(b) => format!("{b}"),
            NodeValue::Int(i) => format!("{i}"),
            NodeValue::Float(f) => format!("{f}"),
            NodeValue::Str(s) => format!("{s:?}"),
            NodeValue::Seq(items) => format!("a list of {}", items.len()),
            NodeValue::Map(entries) => {
                let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
                if keys.is_empty() {
                    "an empty map".to_owned()
                } else {
                    format!("a map with {}", keys.join(", "))
                }
            }
        }
    }
}

/// A document that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub mark: Mark,
}

/// Parses a YAML 1.2 document (JSON is YAML too).
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|err| SyntaxError {
            message: err.info().to_owned(),
            mark: (*err.marker()).into(),
        })?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.document.unwrap_or(Node {
        value: NodeValue::Null,
        mark: Mark { line: 1, column: 1 },
    }))
}

enum Partial {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        key: Option<(String, Mark)>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<(Partial, Mark, usize)>,
    anchors: HashMap<usize, Node>,
    document: Option<Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn fail(&mut self, message: String, mark: Mark) {
        if self.error.is_none() {
            self.error = Some(SyntaxError { message, mark });
        }
    }

    fn insert(&mut self, node: Node) {
        let Some((partial, _, _)) = self.stack.last_mut() else {
            self.document = Some(node);
            return;
        };
        match partial {
            Partial::Seq(items) => items.push(node),
            Partial::Map { entries, key } => match key.take() {
                None => match node.value {
                    NodeValue::Str(text) => {
                        if entries.iter().any(|entry| entry.key == text) {
                            let message = format!("the key {text:?} appears twice");
                            self.fail(message, node.mark);
                        } else {
                            *key = Some((text, node.mark));
                        }
                    }
                    NodeValue::Int(_)
                    | NodeValue::Bool(_)
                    | NodeValue::Float(_)
                    | NodeValue::Null => {
                        // Plain scalars used as keys keep their text.
                        *key = Some((scalar_text(&node.value), node.mark));
                    }
                    _ => self.fail("map keys must be plain text".to_owned(), node.mark),
                },
                Some((text, key_mark)) => entries.push(Entry {
                    key: text,
                    key_mark,
                    value: node,
                }),
            },
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }
}

fn scalar_text(value: &NodeValue) -> String {
    match value {
        NodeValue::Null => "null".to_owned(),
        NodeValue::Bool(b) => b.to_string(),
        NodeValue::Int(i) => i.to_string(),
        NodeValue::Float(f) => f.to_string(),
        NodeValue::Str(s) => s.clone(),
        _ => String::new(),
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let mark = Mark::from(marker);
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = if style == TScalarStyle::Plain {
                    match Yaml::from_str(&text) {
                        Yaml::Integer(i) => NodeValue::Int(i),
                        Yaml::Real(r) => r.parse().map_or(NodeValue::Str(text), NodeValue::Float),
                        Yaml::Boolean(b) => NodeValue::Bool(b),
                        Yaml::Null => NodeValue::Null,
                        _ => NodeValue::Str(text),
                    }
                } else {
                    NodeValue::Str(text)
                };
                let node = Node { value, mark };
                self.remember(anchor, &node);
                self.insert(node);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push((Partial::Seq(Vec::new()), mark, anchor))
            }
            Event::MappingStart(anchor, _) => self.stack.push((
                Partial::Map {
                    entries: Vec::new(),
                    key: None,
                },
                mark,
                anchor,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((partial, start, anchor)) = self.stack.pop() {
                    let (value, mark) = match partial {
                        Partial::Seq(items) => (NodeValue::Seq(items), start),
                        // A block map is reported at its first colon; its first key
                        // is where a reader looks.
                        Partial::Map { entries, .. } => {
                            let mark = entries.first().map_or(start, |entry| entry.key_mark);
                            (NodeValue::Map(entries), mark)
                        }
                    };
                    let node = Node { value, mark };
                    self.remember(anchor, &node);
                    self.insert(node);
                }
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor).cloned() {
                Some(node) => self.insert(node),
                None => self.fail("an alias refers to an unknown anchor".to_owned(), mark),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scalars_lists_and_maps_with_positions() {
        let doc = parse(
            "name: x\nsteps:\n  - combine: sum\n  - count: 3\nlate: 1.5\nok: true\nnone: ~\n",
        )
        .unwrap();
        let NodeValue::Map(entries) = &doc.value else {
            panic!("expected a map")
        };
        assert_eq!(entries[0].key, "name");
        assert_eq!(entries[0].value.value, NodeValue::Str("x".into()));
        let NodeValue::Seq(steps) = &entries[1].value.value else {
            panic!("expected a list")
        };
        assert_eq!(steps[1].mark, Mark { line: 4, column: 5 });
        assert_eq!(entries[2].value.value, NodeValue::Float(1.5));
        assert_eq!(entries[3].value.value, NodeValue::Bool(true));
        assert_eq!(entries[4].value.value, NodeValue::Null);
    }

    #[test]
    fn quoted_numbers_stay_strings_and_json_is_accepted() {
        let doc = parse(r#"{"size": "2m", "count": 2}"#).unwrap();
        let NodeValue::Map(entries) = &doc.value else {
            panic!("expected a map")
        };
        assert_eq!(entries[0].value.value, NodeValue::Str("2m".into()));
        assert_eq!(entries[1].value.value, NodeValue::Int(2));
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_have_positions() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.mark.line, 2);
        assert!(err.message.contains("twice"));
        let err = parse("a: [1, 2\n").unwrap_err();
        assert!(err.mark.line >= 1);
    }

    #[test]
    fn aliases_copy_their_anchor() {
        let doc = parse("t: &t {after_count: 2}\nu: *t\n").unwrap();
        let NodeValue::Map(entries) = &doc.value else {
            panic!("expected a map")
        };
        assert_eq!(entries[0].value.value, entries[1].value.value);
    }
}
