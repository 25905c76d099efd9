//! A serde deserializer over [`ConfigNode`] with SPIRE's HCL v1 decoding habits.
//!
//! - struct fields match keys ignoring ASCII case and underscores (`Country` and `country`;
//!   SPIRE's decoder folds case, and older samples write `CommonName`);
//! - a key that is not a field of the struct is an error naming the key and its line;
//! - numbers are accepted where strings are expected and numeric strings where numbers
//!   are expected (`bind_port = "8081"` and `bind_port = 8081` both work);
//! - a list of objects is accepted where one object is expected (JSON's
//!   `"plugins": [{...}]` form), and a single value where a list is expected.

use std::cell::Cell;
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::tree::{ConfigEntry, ConfigNode, NodeValue};
use crate::flags::parse_go_bool;

/// A deserialization failure before the file name is known.
#[derive(Debug)]
pub(crate) struct DeError {
    pub(crate) kind: DeErrorKind,
    pub(crate) line: Option<usize>,
    pub(crate) path: Option<String>,
}

#[derive(Debug)]
pub(crate) enum DeErrorKind {
    Custom(String),
    Missing(&'static str),
    Unknown {
        key: String,
        suggestion: Option<&'static str>,
    },
}

impl DeError {
    fn at(mut self, line: usize, path: &str) -> Self {
        if self.line.is_none() {
            self.line = Some(line);
            self.path = Some(path.to_owned());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DeErrorKind::Custom(message) => f.write_str(message),
            DeErrorKind::Missing(field) => write!(f, "missing required key `{field}`"),
            DeErrorKind::Unknown { key, .. } => write!(f, "unknown key `{key}`"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            kind: DeErrorKind::Custom(msg.to_string()),
            line: None,
            path: None,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self {
            kind: DeErrorKind::Missing(field),
            line: None,
            path: None,
        }
    }
}

/// Deserializes one node; `path` is the dotted key path used in messages.
pub(crate) struct NodeDeserializer<'a> {
    pub(crate) node: &'a ConfigNode,
    pub(crate) path: String,
}

impl<'a> NodeDeserializer<'a> {
    pub(crate) fn new(node: &'a ConfigNode, path: &str) -> Self {
        Self {
            node,
            path: path.to_owned(),
        }
    }

    fn invalid_type(&self, expected: &str) -> DeError {
        de::Error::custom(format!(
            "expected {expected}, found {}",
            self.node.kind_name()
        ))
    }

    fn map_entries(&self) -> Result<Vec<&'a ConfigEntry>, DeError> {
        match &self.node.value {
            NodeValue::Map(entries) => Ok(entries.iter().collect()),
            NodeValue::List(items) if items.iter().all(|i| i.entries().is_some()) => Ok(items
                .iter()
                .flat_map(|item| item.entries().unwrap_or_default())
                .collect()),
            _ => Err(self.invalid_type("a block or object")),
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDeserializer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Null => visitor.visit_unit(),
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            NodeValue::Int(i) => visitor.visit_i64(*i),
            NodeValue::Uint(u) => visitor.visit_u64(*u),
            NodeValue::Float(f) => visitor.visit_f64(*f),
            NodeValue::Str(s) => visitor.visit_str(s),
            NodeValue::List(_) => self.deserialize_seq(visitor),
            NodeValue::Map(_) => self.deserialize_map(visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Bool(b) => visitor.visit_bool(*b),
            NodeValue::Str(s) => match parse_go_bool(s) {
                Some(b) => visitor.visit_bool(b),
                None => Err(de::Error::custom(format!(
                    "expected true or false, found {s:?}"
                ))),
            },
            _ => Err(self.invalid_type("true or false")),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Int(i) => visitor.visit_i64(*i),
            NodeValue::Uint(u) => visitor.visit_u64(*u),
            NodeValue::Str(s) => match s.trim().parse::<i64>() {
                Ok(i) => visitor.visit_i64(i),
                Err(_) => match s.trim().parse::<u64>() {
                    Ok(u) => visitor.visit_u64(u),
                    Err(_) => Err(de::Error::custom(format!(
                        "expected an integer, found {s:?}"
                    ))),
                },
            },
            _ => Err(self.invalid_type("an integer")),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Int(i) => visitor.visit_i64(*i),
            NodeValue::Uint(u) => visitor.visit_u64(*u),
            NodeValue::Float(f) => visitor.visit_f64(*f),
            NodeValue::Str(s) => match s.trim().parse::<f64>() {
                Ok(f) => visitor.visit_f64(f),
                Err(_) => Err(de::Error::custom(format!("expected a number, found {s:?}"))),
            },
            _ => Err(self.invalid_type("a number")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Str(s) => visitor.visit_str(s),
            NodeValue::Int(i) => visitor.visit_string(i.to_string()),
            NodeValue::Uint(u) => visitor.visit_string(u.to_string()),
            NodeValue::Float(f) => visitor.visit_string(f.to_string()),
            NodeValue::Bool(b) => visitor.visit_string(b.to_string()),
            _ => Err(self.invalid_type("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let items: Vec<&ConfigNode> = match &self.node.value {
            NodeValue::List(items) => items.iter().collect(),
            NodeValue::Null => Vec::new(),
            _ => vec![self.node],
        };
        visitor.visit_seq(NodeSeq {
            items: items.into_iter().enumerate(),
            path: self.path,
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let entries = match &self.node.value {
            NodeValue::Null => Vec::new(),
            _ => self.map_entries()?,
        };
        let last = Cell::new(None);
        let result = visitor.visit_map(NodeMap {
            entries: entries.iter().copied().enumerate(),
            fields: None,
            path: &self.path,
            last: &last,
            pending: None,
        });
        result.map_err(|err| locate_visitor_error(err, &entries, &last, self.node, &self.path))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let entries = match &self.node.value {
            NodeValue::Null => Vec::new(),
            _ => self.map_entries()?,
        };
        let last = Cell::new(None);
        let result = visitor.visit_map(NodeMap {
            entries: entries.iter().copied().enumerate(),
            fields: Some(fields),
            path: &self.path,
            last: &last,
            pending: None,
        });
        result.map_err(|err| locate_visitor_error(err, &entries, &last, self.node, &self.path))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.value {
            NodeValue::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            NodeValue::Map(entries) if entries.len() == 1 => visitor.visit_enum(NodeEnum {
                entry: &entries[0],
                path: &self.path,
            }),
            _ => Err(self.invalid_type("a name or a block with one entry")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct tuple tuple_struct
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_i64(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }
}

/// Errors a visitor raises between our calls (missing or duplicate fields) get the
/// struct's line, or the line of the last entry read.
fn locate_visitor_error(
    err: DeError,
    entries: &[&ConfigEntry],
    last: &Cell<Option<usize>>,
    node: &ConfigNode,
    path: &str,
) -> DeError {
    if err.line.is_some() {
        return err;
    }
    match (&err.kind, last.get().and_then(|i| entries.get(i))) {
        (DeErrorKind::Missing(_), _) | (_, None) => err.at(node.line, path),
        (_, Some(entry)) => err.at(entry.line, &join(path, &entry.key)),
    }
}

struct NodeSeq<'a, I: Iterator<Item = (usize, &'a ConfigNode)>> {
    items: I,
    path: String,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a ConfigNode)>> SeqAccess<'de> for NodeSeq<'a, I> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((index, node)) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{index}]", self.path);
        seed.deserialize(NodeDeserializer::new(node, &path))
            .map(Some)
            .map_err(|err| err.at(node.line, &path))
    }
}

struct NodeMap<'a, 'p, I: Iterator<Item = (usize, &'a ConfigEntry)>> {
    entries: I,
    fields: Option<&'static [&'static str]>,
    path: &'p str,
    last: &'p Cell<Option<usize>>,
    pending: Option<&'a ConfigEntry>,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a ConfigEntry)>> MapAccess<'de> for NodeMap<'a, '_, I> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((index, entry)) = self.entries.next() else {
            return Ok(None);
        };
        self.last.set(Some(index));
        self.pending = Some(entry);

        let key: &str = match self.fields {
            None => &entry.key,
            Some(fields) => match_field(fields, &entry.key).ok_or_else(|| DeError {
                kind: DeErrorKind::Unknown {
                    key: entry.key.clone(),
                    suggestion: closest_field(fields, &entry.key),
                },
                line: Some(entry.line),
                path: Some(self.path.to_owned()),
            })?,
        };
        let key: StrDeserializer<'_, DeError> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(entry) = self.pending.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        let path = join(self.path, &entry.key);
        seed.deserialize(NodeDeserializer::new(&entry.value, &path))
            .map_err(|err| err.at(entry.line, &path))
    }
}

struct NodeEnum<'a, 'p> {
    entry: &'a ConfigEntry,
    path: &'p str,
}

impl<'de, 'a> EnumAccess<'de> for NodeEnum<'a, '_> {
    type Error = DeError;
    type Variant = NodeDeserializer<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), DeError> {
        let key: StrDeserializer<'_, DeError> = self.entry.key.as_str().into_deserializer();
        let variant = seed.deserialize(key)?;
        let path = join(self.path, &self.entry.key);
        Ok((variant, NodeDeserializer::new(&self.entry.value, &path)))
    }
}

impl<'de> VariantAccess<'de> for NodeDeserializer<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Finds the struct field `key` names, ignoring ASCII case and underscores.
fn match_field(fields: &'static [&'static str], key: &str) -> Option<&'static str> {
    if let Some(field) = fields.iter().find(|f| **f == key) {
        return Some(field);
    }
    let wanted = fold(key);
    fields.iter().copied().find(|f| fold(f) == wanted)
}

fn closest_field(fields: &'static [&'static str], key: &str) -> Option<&'static str> {
    let wanted = fold(key);
    fields
        .iter()
        .copied()
        .map(|f| (edit_distance(&fold(f), &wanted), f))
        .filter(|(distance, f)| *distance <= 2.max(f.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, f)| f)
}

fn fold(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
