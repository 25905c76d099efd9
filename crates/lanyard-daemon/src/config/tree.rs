//! The parsed configuration as a tree of values that remember their line.
//!
//! HCL bodies and JSON documents both become a [`ConfigNode`]: blocks turn into nested maps
//! keyed by block type and then by each label (`DataStore "sql" {}` becomes
//! `DataStore -> sql -> {...}`), repeated blocks of one type merge, and every key keeps the
//! line it was written on so errors can point at it.

use std::ops::Range;

use hcl_edit::Span;
use hcl_edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl_edit::structure::{Body, Structure};
use hcl_edit::template::{Element, Template};

use super::hcl1::original_offset;
use super::{ConfigError, Location};

/// One value of the configuration, with the line (1-based) where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigNode {
    pub(crate) line: usize,
    pub(crate) value: NodeValue,
}

/// One `key = value` or block entry of a map, with the line of its key.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub(crate) key: String,
    pub(crate) line: usize,
    pub(crate) value: ConfigNode,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    List(Vec<ConfigNode>),
    Map(Vec<ConfigEntry>),
}

impl ConfigNode {
    /// The line (1-based) where this value starts.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The entries of a map (a block or an object), or `None` for any other value.
    pub fn entries(&self) -> Option<&[ConfigEntry]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items of a list, or `None` for any other value.
    pub fn items(&self) -> Option<&[Self]> {
        match &self.value {
            NodeValue::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of a map, or of every map in a list of maps (JSON's
    /// `"NodeAttestor": [{"join_token": {...}}]` form), in order.
    pub fn map_entries(&self) -> Vec<&ConfigEntry> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().collect(),
            NodeValue::List(items) => items.iter().flat_map(Self::map_entries).collect(),
            _ => Vec::new(),
        }
    }

    /// The entry named `key` (exact match) in a map.
    pub fn get(&self, key: &str) -> Option<&ConfigEntry> {
        self.entries()?.iter().find(|entry| entry.key == key)
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn kind_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) | NodeValue::Uint(_) | NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::List(_) => "a list",
            NodeValue::Map(_) => "a block or object",
        }
    }

    pub(crate) fn empty_map(line: usize) -> Self {
        Self {
            line,
            value: NodeValue::Map(Vec::new()),
        }
    }
}

impl ConfigEntry {
    /// The key as written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The line (1-based) of the key.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The value.
    pub fn value(&self) -> &ConfigNode {
        &self.value
    }
}

/// Maps byte offsets of the parsed text to 1-based lines of the original text.
pub(crate) struct Lines {
    starts: Vec<usize>,
    inserted: Vec<usize>,
    skipped: usize,
}

impl Lines {
    /// `inserted` lists the offsets of characters added to `original` before parsing.
    pub(crate) fn new(original: &str, inserted: Vec<usize>) -> Self {
        let starts = std::iter::once(0)
            .chain(original.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            starts,
            inserted,
            skipped: 0,
        }
    }

    /// Lines of `original` when only `original[skipped..]` is parsed.
    pub(crate) fn skipping(original: &str, skipped: usize) -> Self {
        Self {
            skipped,
            ..Self::new(original, Vec::new())
        }
    }

    pub(crate) fn line_of(&self, span: Option<Range<usize>>) -> usize {
        let Some(span) = span else { return 0 };
        self.line_and_column(span.start).0
    }

    /// Line and column (both 1-based) of an offset in the parsed text.
    pub(crate) fn line_and_column(&self, parsed_offset: usize) -> (usize, usize) {
        let offset = original_offset(&self.inserted, parsed_offset) + self.skipped;
        let index = match self.starts.binary_search(&offset) {
            Ok(index) => index,
            Err(index) => index.saturating_sub(1),
        };
        let line_start = self.starts.get(index).copied().unwrap_or(0);
        (index + 1, offset.saturating_sub(line_start) + 1)
    }
}

/// Converts hcl-edit syntax trees into [`ConfigNode`]s.
pub(crate) struct TreeBuilder<'a> {
    pub(crate) lines: &'a Lines,
    pub(crate) source_name: &'a str,
}

impl TreeBuilder<'_> {
    pub(crate) fn body(&self, body: &Body, line: usize) -> Result<ConfigNode, ConfigError> {
        let mut map = ConfigNode::empty_map(line);

        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let key_line = self.lines.line_of(attr.key.span());
                    let value = self.expr(&attr.value)?;
                    self.insert(&mut map, attr.key.as_str(), key_line, value)?;
                }
                Structure::Block(block) => {
                    let key_line = self.lines.line_of(block.ident.span());
                    let mut value = self.body(&block.body, key_line)?;
                    for label in block.labels.iter().rev() {
                        let mut wrapper = ConfigNode::empty_map(key_line);
                        self.insert(&mut wrapper, label.as_str(), key_line, value)?;
                        value = wrapper;
                    }
                    self.insert(&mut map, block.ident.as_str(), key_line, value)?;
                }
            }
        }

        Ok(map)
    }

    pub(crate) fn expr(&self, expr: &Expression) -> Result<ConfigNode, ConfigError> {
        let line = self.lines.line_of(expr.span());
        let value = match expr {
            Expression::Null(_) => NodeValue::Null,
            Expression::Bool(b) => NodeValue::Bool(*b.value()),
            Expression::Number(n) => {
                let n = n.value();
                if let Some(i) = n.as_i64() {
                    NodeValue::Int(i)
                } else if let Some(u) = n.as_u64() {
                    NodeValue::Uint(u)
                } else {
                    NodeValue::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Expression::String(s) => NodeValue::Str(s.value().clone()),
            Expression::StringTemplate(t) => NodeValue::Str(self.literal_template(t, line)?),
            Expression::HeredocTemplate(h) => {
                NodeValue::Str(self.literal_template(&h.template, line)?)
            }
            Expression::Array(items) => NodeValue::List(
                items
                    .iter()
                    .map(|item| self.expr(item))
                    .collect::<Result<_, _>>()?,
            ),
            Expression::Object(object) => {
                let mut map = ConfigNode::empty_map(line);
                for (key, value) in object.iter() {
                    let key_line = self.lines.line_of(key.span());
                    let name = self.object_key(key, key_line)?;
                    let value = self.expr(value.expr())?;
                    self.insert(&mut map, &name, key_line, value)?;
                }
                return Ok(map);
            }
            Expression::Parenthesis(inner) => return self.expr(inner.inner()),
            Expression::UnaryOp(op) if *op.operator.value() == UnaryOperator::Neg => {
                let inner = self.expr(&op.expr)?;
                match inner.value {
                    NodeValue::Int(i) => NodeValue::Int(-i),
                    NodeValue::Float(f) => NodeValue::Float(-f),
                    _ => return Err(self.unsupported(line, "`-` applies only to numbers")),
                }
            }
            _ => {
                return Err(self.unsupported(
                    line,
                    "only literal values are allowed (strings, numbers, booleans, lists, objects)",
                ));
            }
        };
        Ok(ConfigNode { line, value })
    }

    fn object_key(&self, key: &ObjectKey, line: usize) -> Result<String, ConfigError> {
        match key {
            ObjectKey::Ident(ident) => Ok(ident.as_str().to_owned()),
            ObjectKey::Expression(expr) => match self.expr(expr)?.value {
                NodeValue::Str(s) => Ok(s),
                _ => Err(self.unsupported(line, "object keys must be names or strings")),
            },
        }
    }

    fn literal_template(&self, template: &Template, line: usize) -> Result<String, ConfigError> {
        let mut out = String::new();
        for element in template.iter() {
            match element {
                Element::Literal(text) => out.push_str(text.value()),
                Element::Interpolation(_) | Element::Directive(_) => {
                    return Err(self.unsupported(
                        line,
                        "`${...}` interpolation is not supported; \
                         run with -expandEnv to substitute environment variables",
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Adds `key` to `map`; a key written twice is an error unless both are blocks or
    /// objects, which merge (so `NodeAttestor "a" {}` and `NodeAttestor "b" {}` coexist).
    fn insert(
        &self,
        map: &mut ConfigNode,
        key: &str,
        line: usize,
        value: ConfigNode,
    ) -> Result<(), ConfigError> {
        let NodeValue::Map(entries) = &mut map.value else {
            return Ok(());
        };
        let Some(existing) = entries.iter_mut().find(|entry| entry.key == key) else {
            entries.push(ConfigEntry {
                key: key.to_owned(),
                line,
                value,
            });
            return Ok(());
        };

        match (&existing.value.value, value.value) {
            (NodeValue::Map(_), NodeValue::Map(new_entries)) => {
                for entry in new_entries {
                    self.insert(&mut existing.value, &entry.key, entry.line, entry.value)?;
                }
                Ok(())
            }
            _ => Err(ConfigError::DuplicateKey {
                location: self.location(line),
                key: key.to_owned(),
                first_line: existing.line,
            }),
        }
    }

    fn unsupported(&self, line: usize, message: &str) -> ConfigError {
        ConfigError::Syntax {
            location: self.location(line),
            message: message.to_owned(),
        }
    }

    fn location(&self, line: usize) -> Location {
        Location {
            source_name: self.source_name.to_owned(),
            line,
        }
    }
}
