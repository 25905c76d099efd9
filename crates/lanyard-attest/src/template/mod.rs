//! A safe subset of Go `text/template` for agent ID path templates such as
//! SPIRE's `/{{ .PluginName }}/{{ .Fingerprint }}`: literal text and field
//! references (`{{ .A }}`, `{{ .A.B }}`, `{{ .Map.key }}`), with optional
//! `{{-`/`-}}` whitespace trimming. Pipelines, functions and control
//! structures are rejected, as is any field the attestor does not define, so
//! a template is fully checked when the configuration is loaded.

use std::borrow::Cow;

use thiserror::Error;

/// The fields a template may reference.
#[derive(Debug, Clone, Copy)]
pub struct TemplateSchema {
    /// Plain fields, such as `PluginName` or `Subject.CommonName`.
    pub fields: &'static [&'static str],
    /// Map fields, referenced as `.<Map>.<key>` with any identifier key.
    pub maps: &'static [&'static str],
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A field reference in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateField {
    /// A plain field, e.g. `Fingerprint` or `Subject.CommonName`.
    Field(&'static str),
    /// A map entry, e.g. `URISanSelectors` and `datacenter`.
    MapEntry {
        /// The map field.
        map: &'static str,
        /// The key.
        key: String,
    },
}

/// Why a template cannot be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template is empty.
    #[error("template is empty")]
    Empty,

    /// A `{{` has no matching `}}`.
    #[error("template has an unclosed action at byte {0}")]
    Unclosed(usize),

    /// An action is not a field reference.
    #[error(
        "template action {{{{{0}}}}} is not supported: only field references like {{{{ .Fingerprint }}}}"
    )]
    UnsupportedAction(String),

    /// A field reference names a field the attestor does not provide.
    #[error("template field .{0} is unknown")]
    UnknownField(String),

    /// A field the attestor knows is not available in this configuration.
    #[error("template field .{field} is not available: {reason}")]
    UnavailableField {
        /// The field.
        field: String,
        /// Why.
        reason: &'static str,
    },

    /// Rendering found no value for a field (such as a missing map key).
    #[error("template field .{0} has no value for this certificate")]
    MissingValue(String),
}

impl Template {
    /// Parses `text`, accepting only fields of `schema`.
    pub fn parse(text: &str, schema: &TemplateSchema) -> Result<Self, TemplateError> {
        if text.is_empty() {
            return Err(TemplateError::Empty);
        }

        let mut parts = Vec::new();
        let mut rest = text;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            push_literal(&mut parts, &rest[..open], trim_next);
            let after_open = &rest[open + 2..];
            let close = after_open
                .find("}}")
                .ok_or(TemplateError::Unclosed(text.len() - rest.len() + open))?;
            let action = &after_open[..close];
            rest = &after_open[close + 2..];

            let (action, trim_before, trim_after) = strip_trim_markers(action);
            if trim_before && let Some(Part::Literal(prev)) = parts.last_mut() {
                prev.truncate(prev.trim_end().len());
            }
            trim_next = trim_after;
            parts.push(Part::Field(parse_field(action.trim(), schema)?));
        }
        push_literal(&mut parts, rest, trim_next);

        Ok(Self { parts })
    }

    /// The fields the template references, in order.
    pub fn fields(&self) -> impl Iterator<Item = &TemplateField> {
        self.parts.iter().filter_map(|part| match part {
            Part::Field(field) => Some(field),
            Part::Literal(_) => None,
        })
    }

    /// Renders with `lookup` supplying each field's value; `None` fails with
    /// [`TemplateError::MissingValue`].
    pub fn render<'v>(
        &self,
        lookup: impl Fn(&TemplateField) -> Option<Cow<'v, str>>,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(field) => {
                    let value =
                        lookup(field).ok_or_else(|| TemplateError::MissingValue(field.name()))?;
                    out.push_str(&value);
                }
            }
        }
        Ok(out)
    }
}

impl TemplateField {
    /// The dotted name without the leading dot, e.g. `URISanSelectors.datacenter`.
    pub fn name(&self) -> String {
        match self {
            Self::Field(name) => (*name).to_owned(),
            Self::MapEntry { map, key } => format!("{map}.{key}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(TemplateField),
}

fn push_literal(parts: &mut Vec<Part>, text: &str, trim_start: bool) {
    let text = if trim_start { text.trim_start() } else { text };
    if !text.is_empty() {
        parts.push(Part::Literal(text.to_owned()));
    }
}

/// Go's trim markers are `{{- ` and ` -}}`: the dash must be separated from
/// the action by whitespace, otherwise it is part of the action (`{{-3}}`).
fn strip_trim_markers(action: &str) -> (&str, bool, bool) {
    let mut action = action;
    let trim_before = action.starts_with("- ") || action.starts_with("-\t") || action == "-";
    if trim_before {
        action = &action[1..];
    }
    let trim_after = action.ends_with(" -") || action.ends_with("\t-");
    if trim_after {
        action = &action[..action.len() - 1];
    }
    (action, trim_before, trim_after)
}

fn parse_field(action: &str, schema: &TemplateSchema) -> Result<TemplateField, TemplateError> {
    let unsupported = || TemplateError::UnsupportedAction(action.to_owned());
    let Some(path) = action.strip_prefix('.') else {
        return Err(unsupported());
    };
    if path.is_empty() || !path.split('.').all(is_identifier) {
        return Err(unsupported());
    }

    if let Some(name) = schema.fields.iter().find(|name| **name == path) {
        return Ok(TemplateField::Field(name));
    }
    for map in schema.maps {
        if let Some(key) = path.strip_prefix(map).and_then(|k| k.strip_prefix('.'))
            && !key.contains('.')
        {
            return Ok(TemplateField::MapEntry {
                map,
                key: key.to_owned(),
            });
        }
    }
    Err(TemplateError::UnknownField(path.to_owned()))
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
