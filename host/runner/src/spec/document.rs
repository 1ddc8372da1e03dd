//! A YAML (or JSON) document as a tree whose every node remembers where it was
//! written, so that spec errors can point at a line and column.

use std::collections::{HashMap, HashSet};
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

/// The largest spec text, in bytes (real specs are a few KiB).
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// The most nodes (scalars, lists, maps, map keys) a document may have once its
/// aliases are expanded: each alias copies its anchor, so a few hundred bytes of
/// nested aliases could otherwise stand for billions of nodes.
pub const MAX_NODES: usize = 100_000;

/// The most text (scalar bytes) a document may hold once its aliases are expanded.
pub const MAX_EXPANDED_TEXT: usize = 8 << 20;

/// The deepest nesting of lists and maps: a spec needs about ten levels, and the
/// readers of a document recurse.
pub const MAX_DEPTH: usize = 100;

/// Parses a YAML 1.2 document (JSON is YAML too), within [`MAX_DOCUMENT_BYTES`],
/// [`MAX_NODES`], [`MAX_EXPANDED_TEXT`] and [`MAX_DEPTH`]: an error, never
/// unbounded memory or a deep recursion, whatever the text.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(SyntaxError {
            message: format!(
                "the document is {} bytes, more than the limit of {} (1 MiB)",
                text.len(),
                MAX_DOCUMENT_BYTES
            ),
            mark: mark_at(text, MAX_DOCUMENT_BYTES),
        });
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Events are pulled one by one rather than through `Parser::load`, which recurses
    // once per level of nesting, so that parsing stops at the first limit passed.
    loop {
        let (event, marker) = parser.next_token().map_err(|err| SyntaxError {
            message: err.info().to_owned(),
            mark: (*err.marker()).into(),
        })?;
        let end = matches!(event, Event::DocumentEnd | Event::StreamEnd);
        builder.on_event(event, marker);
        if let Some(error) = builder.error.take() {
            return Err(error);
        }
        if end {
            break;
        }
    }
    Ok(builder.document.unwrap_or(Node {
        value: NodeValue::Null,
        mark: Mark { line: 1, column: 1 },
    }))
}

/// The line and column of byte `offset` of `text`.
fn mark_at(text: &str, offset: usize) -> Mark {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Mark {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

enum Partial {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        /// The keys so far, so that a duplicate is found without a quadratic scan.
        keys: HashSet<String>,
        key: Option<(String, Mark)>,
    },
}

/// A list or map being read.
struct Frame {
    partial: Partial,
    mark: Mark,
    anchor: usize,
    /// The document's node and text counts when it started, to size it at its end.
    nodes_before: usize,
    text_before: usize,
    /// How many levels of lists and maps it holds, itself included.
    height: usize,
}

/// A node with an anchor, and what copying it costs.
struct Anchored {
    node: Node,
    nodes: usize,
    text: usize,
    height: usize,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    document: Option<Node>,
    error: Option<SyntaxError>,
    /// Nodes and scalar bytes so far, aliases expanded.
    nodes: usize,
    text: usize,
}

impl Builder {
    fn fail(&mut self, message: String, mark: Mark) {
        if self.error.is_none() {
            self.error = Some(SyntaxError { message, mark });
        }
    }

    /// Counts `nodes` more nodes, `text` more bytes and a nesting `height` below the
    /// current level; false (and an error) past a limit.
    fn account(&mut self, nodes: usize, text: usize, height: usize, mark: Mark) -> bool {
        self.nodes = self.nodes.saturating_add(nodes);
        self.text = self.text.saturating_add(text);
        if self.nodes > MAX_NODES {
            self.fail(
                format!(
                    "the document has more than {MAX_NODES} nodes once its aliases are expanded"
                ),
                mark,
            );
        } else if self.text > MAX_EXPANDED_TEXT {
            self.fail(
                format!(
                    "the document has more than {} MiB of text once its aliases are expanded",
                    MAX_EXPANDED_TEXT >> 20
                ),
                mark,
            );
        } else if self.stack.len() + height > MAX_DEPTH {
            self.fail(
                format!("lists and maps are nested more than {MAX_DEPTH} levels deep"),
                mark,
            );
        }
        self.error.is_none()
    }

    /// Adds a finished node, `height` levels of lists and maps tall, to its parent.
    fn insert(&mut self, node: Node, height: usize) {
        let Some(frame) = self.stack.last_mut() else {
            self.document = Some(node);
            return;
        };
        frame.height = frame.height.max(height + 1);
        match &mut frame.partial {
            Partial::Seq(items) => items.push(node),
            Partial::Map { entries, keys, key } => match key.take() {
                None => match node.value {
                    NodeValue::Str(text) => {
                        if keys.contains(&text) {
                            let message = format!("the key {text:?} appears twice");
                            self.fail(message, node.mark);
                        } else {
                            keys.insert(text.clone());
                            *key = Some((text, node.mark));
                        }
                    }
                    NodeValue::Int(_)
                    | NodeValue::Bool(_)
                    | NodeValue::Float(_)
                    | NodeValue::Null => {
                        // Plain scalars used as keys keep their text.
                        let text = scalar_text(&node.value);
                        keys.insert(text.clone());
                        *key = Some((text, node.mark));
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

    fn remember(&mut self, anchor: usize, anchored: Anchored) {
        if anchor != 0 {
            self.anchors.insert(anchor, anchored);
        }
    }

    fn start(&mut self, partial: Partial, anchor: usize, mark: Mark) {
        let (nodes_before, text_before) = (self.nodes, self.text);
        if self.account(1, 0, 1, mark) {
            self.stack.push(Frame {
                partial,
                mark,
                anchor,
                nodes_before,
                text_before,
                height: 1,
            });
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
        if self.error.is_some() {
            return;
        }
        let mark = Mark::from(marker);
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let bytes = text.len();
                if !self.account(1, bytes, 0, mark) {
                    return;
                }
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
                if anchor != 0 {
                    let anchored = Anchored {
                        node: node.clone(),
                        nodes: 1,
                        text: bytes,
                        height: 0,
                    };
                    self.remember(anchor, anchored);
                }
                self.insert(node, 0);
            }
            Event::SequenceStart(anchor, _) => self.start(Partial::Seq(Vec::new()), anchor, mark),
            Event::MappingStart(anchor, _) => self.start(
                Partial::Map {
                    entries: Vec::new(),
                    keys: HashSet::new(),
                    key: None,
                },
                anchor,
                mark,
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let (value, mark) = match frame.partial {
                        Partial::Seq(items) => (NodeValue::Seq(items), frame.mark),
                        // A block map is reported at its first colon; its first key
                        // is where a reader looks.
                        Partial::Map { entries, .. } => {
                            let mark = entries.first().map_or(frame.mark, |entry| entry.key_mark);
                            (NodeValue::Map(entries), mark)
                        }
                    };
                    let node = Node { value, mark };
                    if frame.anchor != 0 {
                        let anchored = Anchored {
                            node: node.clone(),
                            nodes: self.nodes - frame.nodes_before,
                            text: self.text - frame.text_before,
                            height: frame.height,
                        };
                        self.remember(frame.anchor, anchored);
                    }
                    self.insert(node, frame.height);
                }
            }
            Event::Alias(anchor) => {
                let Some(anchored) = self.anchors.get(&anchor) else {
                    self.fail("an alias refers to an unknown anchor".to_owned(), mark);
                    return;
                };
                let (nodes, text, height) = (anchored.nodes, anchored.text, anchored.height);
                // Counted before the copy is made, so a copy past a limit never is.
                if self.account(nodes, text, height, mark) {
                    let node = self.anchors[&anchor].node.clone();
                    self.insert(node, height);
                }
            }
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
    fn nested_aliases_stop_at_the_node_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = parse(&text).unwrap_err();
        assert_eq!(
            err.message,
            "the document has more than 100000 nodes once its aliases are expanded"
        );
        assert!(err.mark.line <= 10);
        // Long strings copied many times are bounded as text.
        let long = "y".repeat(100_000);
        let text = format!("s: &s {long}\nl: [{}]\n", vec!["*s"; 200].join(", "));
        assert!(parse(&text).unwrap_err().message.contains("MiB of text"));
    }

    #[test]
    fn deep_nesting_and_huge_documents_are_errors() {
        for text in [
            "[".repeat(100_000),
            format!("{}x", "- ".repeat(20_000)),
            "a:\n".to_owned()
                + &(1..200)
                    .map(|i| format!("{}b{i}:\n", " ".repeat(i)))
                    .collect::<String>(),
        ] {
            let err = parse(&text).unwrap_err();
            assert!(
                err.message.contains("more than 100 levels")
                    || err.message.contains("recursion limit"),
                "{}",
                err.message
            );
        }
        let err = parse(&format!("a: {}\n", "z".repeat(MAX_DOCUMENT_BYTES))).unwrap_err();
        assert!(
            err.message.contains("more than the limit of 1048576"),
            "{}",
            err.message
        );
        assert_eq!(err.mark.line, 1);
        // A map of many keys is read without a quadratic scan, and duplicates found.
        let many: String = (0..40_000).map(|i| format!("k{i}: {i}\n")).collect();
        assert!(parse(&many).is_ok());
        assert!(
            parse(&(many + "k7: 1\n"))
                .unwrap_err()
                .message
                .contains("twice")
        );
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
