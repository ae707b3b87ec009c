//! Where something is written in a scenario file, for the errors found after
//! deserializing: a value checked against another, a default that a written
//! key made impossible, a fault the protocol cannot carry out. A path such as
//! `faults[2].node` or `params.heartbeat_interval` is looked up in the
//! parsed document; when its last part is not written (the key was left at
//! its default), the deepest part that is — the table header, say — is the
//! place, so no error is ever without a line and a column.

use std::ops::Range;

use toml_edit::{ImDocument, Item, Table, TableLike, Value};

/// One step of a path into a scenario: a key of a table, or an element of
/// an array (of tables, usually: the second `[[faults]]` is `Index(1)`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// A table, written as a header section or inline, or any other value.
#[derive(Copy, Clone)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Node<'a> {
    fn table(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(i) => i.as_table_like(),
            Node::Table(t) => Some(t),
            Node::Value(v) => v.as_inline_table().map(|t| t as &dyn TableLike),
        }
    }

    fn value(self) -> Option<&'a Value> {
        match self {
            Node::Item(i) => i.as_value(),
            Node::Value(v) => Some(v),
            Node::Table(_) => None,
        }
    }

    /// Element `i` and where it is written.
    fn index(self, i: usize) -> Option<(Node<'a>, Option<Range<usize>>)> {
        if let Node::Item(Item::ArrayOfTables(tables)) = self {
            return tables.get(i).map(|t| (Node::Table(t), t.span()));
        }
        let element = self.value()?.as_array()?.get(i)?;
        Some((Node::Value(element), element.span()))
    }
}

/// Where `path` is written in `source`: the span of the key it ends at, or,
/// when it is not written, of the deepest written part of it; with how many
/// of its steps are written (all of them: the key itself was found). `None`
/// when the document does not parse or not even the first step is written.
pub fn locate(source: &str, path: &[Step<'_>]) -> Option<(Range<usize>, usize)> {
    let doc = ImDocument::parse(source).ok()?;
    let mut node = Node::Item(doc.as_item());
    let mut found: Option<Range<usize>> = None;
    let mut steps = 0;
    for step in path {
        let next = match *step {
            // A table with a header of its own is placed at its header.
            Step::Key(k) => node.table().and_then(|t| t.get_key_value(k)).map(|(key, item)| {
                let header = item.as_table().and_then(Table::span);
                (Node::Item(item), header.or_else(|| key.span()))
            }),
            Step::Index(i) => node.index(i),
        };
        let Some((child, span)) = next else { break };
        found = span.or(found);
        steps += 1;
        node = child;
    }
    found.map(|span| (span, steps))
}

/// The byte span of the value at `path`, if it is written.
pub fn locate_value(source: &str, path: &[Step<'_>]) -> Option<Range<usize>> {
    let doc = ImDocument::parse(source).ok()?;
    let mut node = Node::Item(doc.as_item());
    for step in path {
        node = match *step {
            Step::Key(k) => Node::Item(node.table()?.get(k)?),
            Step::Index(i) => node.index(i)?.0,
        };
    }
    node.value()?.span()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::{Index, Key};

    /// The text at the place found, up to the end of its line (a table's
    /// span runs to its last key; only where it starts matters).
    fn at(source: &str, path: &[Step<'_>]) -> Option<String> {
        locate(source, path).map(|(span, _)| source[span].lines().next().unwrap_or("").to_string())
    }

    #[test]
    fn finds_keys_headers_and_elements() {
        let source =
            "nodes = 3\n[params]\npre_vote = true\n[[faults]]\nat = \"1s\"\n[[faults]]\nat = \"2s\"\nnode = 1\n";
        assert_eq!(at(source, &[Key("nodes")]).as_deref(), Some("nodes"));
        assert_eq!(at(source, &[Key("params"), Key("pre_vote")]).as_deref(), Some("pre_vote"));
        // A key left at its default: the table's header.
        assert_eq!(at(source, &[Key("params"), Key("heartbeat_interval")]).as_deref(), Some("[params]"));
        assert_eq!(locate(source, &[Key("params"), Key("pre_vote")]).map(|(_, steps)| steps), Some(2));
        assert_eq!(at(source, &[Key("faults"), Index(1), Key("node")]).as_deref(), Some("node"));
        assert_eq!(at(source, &[Key("faults"), Index(0), Key("node")]).as_deref(), Some("[[faults]]"));
        assert_eq!(locate(source, &[Key("seed")]), None);
        assert_eq!(locate_value(source, &[Key("faults"), Index(1), Key("node")]).map(|s| &source[s]), Some("1"));
    }

    #[test]
    fn finds_inline_and_dotted_tables() {
        let source = "params = { pre_vote = true }\nworkload.clients = 2\nfaults = [{ at = \"1s\", node = 0 }]\n";
        assert_eq!(at(source, &[Key("params"), Key("pre_vote")]).as_deref(), Some("pre_vote"));
        assert_eq!(at(source, &[Key("workload"), Key("clients")]).as_deref(), Some("clients"));
        assert_eq!(at(source, &[Key("faults"), Index(0), Key("node")]).as_deref(), Some("node"));
    }
}
