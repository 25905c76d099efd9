//! Configuration files in SPIRE's format: HCL (or JSON with the same shape).
//!
//! Loading is two steps. [`ConfigDocument::load`] reads the file, optionally expands
//! `$VAR`/`${VAR}` from the environment (SPIRE's `-expandEnv`), and parses it into a tree of
//! [`ConfigNode`]s that remember their lines. [`ConfigDocument::deserialize`] then turns the
//! tree (or any subtree, see [`ConfigDocument::deserialize_node`]) into typed settings with
//! serde, following SPIRE's HCL v1 decoding habits (see the `de` module): keys match ignoring
//! case and underscores, numbers and numeric strings are interchangeable, and an unknown or
//! misspelled key is an error that names the key, its section and its line.
//!
//! Deviations from SPIRE's decoder, on purpose:
//! - unknown keys are errors in every section (SPIRE skips the check in `experimental`,
//!   `federation` and `telemetry`); daemons list the keys they accept but ignore;
//! - a key written twice is an error (HCL v1 lets the last one win silently);
//! - HCL2 syntax is parsed (a superset of what SPIRE's files use in practice); `${...}`
//!   inside strings is rejected instead of kept literally, because it almost always means
//!   `-expandEnv` was forgotten. Write `$${` for a literal `${`.

mod de;
mod env;
mod hcl1;
mod tree;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use env::{expand_env, expand_env_with};
pub use tree::{ConfigEntry, ConfigNode};

use de::{DeError, DeErrorKind, NodeDeserializer};
use tree::{Lines, TreeBuilder};

/// Where in which file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file path (or another name for the text).
    pub source_name: String,
    /// The 1-based line, or 0 when unknown.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.source_name)
        } else {
            write!(f, "{}:{}", self.source_name, self.line)
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file that a key or flag names (a join token, plugin data) could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    ReadFile {
        /// What the file holds, such as `join token file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid HCL or JSON, or uses a construct that is not supported.
    #[error("{location}: {message}")]
    Syntax {
        /// Where.
        location: Location,
        /// What is wrong.
        message: String,
    },
    /// The same key was set twice.
    #[error("{location}: duplicate key `{key}` (first set on line {first_line})")]
    DuplicateKey {
        /// Where the second one is.
        location: Location,
        /// The key.
        key: String,
        /// Where the first one is.
        first_line: usize,
    },
    /// A key this program does not know (often a typo).
    #[error("{location}: unknown key `{key}` in {}{}", section_name(section),
        suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownKey {
        /// Where.
        location: Location,
        /// The key as written.
        key: String,
        /// The dotted path of the enclosing block.
        section: String,
        /// The closest known key, when one is close.
        suggestion: Option<String>,
    },
    /// A required key is absent.
    #[error(
        "{location}: missing required key `{key}` in {}",
        section_name(section)
    )]
    MissingKey {
        /// Where the enclosing block starts.
        location: Location,
        /// The missing key.
        key: String,
        /// The dotted path of the enclosing block.
        section: String,
    },
    /// A value has the wrong type or does not parse.
    #[error("{location}: invalid value for `{key}`: {message}")]
    InvalidValue {
        /// Where.
        location: Location,
        /// The dotted key path.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    /// The location of the problem, when it is in the text.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Read { .. } | Self::ReadFile { .. } => None,
            Self::Syntax { location, .. }
            | Self::DuplicateKey { location, .. }
            | Self::UnknownKey { location, .. }
            | Self::MissingKey { location, .. }
            | Self::InvalidValue { location, .. } => Some(location),
        }
    }
}

/// The two syntaxes SPIRE accepts for its configuration files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    /// HashiCorp Configuration Language.
    Hcl,
    /// JSON with the same shape as the HCL.
    Json,
}

impl ConfigFormat {
    /// JSON when the file name ends in `.json` or the text starts with `{`, else HCL.
    pub fn detect(path: Option<&Path>, text: &str) -> Self {
        let json_name = path
            .and_then(Path::extension)
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        if json_name || text.trim_start().starts_with('{') {
            Self::Json
        } else {
            Self::Hcl
        }
    }
}

/// A parsed configuration file.
#[derive(Debug, Clone)]
pub struct ConfigDocument {
    source_name: String,
    root: ConfigNode,
}

impl ConfigDocument {
    /// Reads and parses `path`, expanding environment variables first when `expand_env`.
    pub fn load(path: &Path, expand_env: bool) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = if expand_env {
            env::expand_env(&text)
        } else {
            text
        };
        let format = ConfigFormat::detect(Some(path), &text);
        Self::parse(&text, format, &path.display().to_string())
    }

    /// Parses `text`; `source_name` names it in error messages.
    pub fn parse(text: &str, format: ConfigFormat, source_name: &str) -> Result<Self, ConfigError> {
        let root = match format {
            ConfigFormat::Hcl => {
                let relaxed = hcl1::relax_hcl1_layout(text);
                let lines = Lines::new(text, relaxed.inserted);
                let builder = TreeBuilder {
                    lines: &lines,
                    source_name,
                };
                let body = hcl_edit::parser::parse_body(&relaxed.text)
                    .map_err(|err| syntax_error(&lines, source_name, &err))?;
                builder.body(&body, 1)?
            }
            ConfigFormat::Json => {
                // An HCL expression parser reads the JSON: it takes no whitespace
                // around the value, which every editor and `jq` leave.
                let value = text.trim();
                let skipped = text.len() - text.trim_start().len();
                let lines = Lines::skipping(text, skipped);
                let builder = TreeBuilder {
                    lines: &lines,
                    source_name,
                };
                let expr = hcl_edit::parser::parse_expr(value)
                    .map_err(|err| syntax_error(&lines, source_name, &err))?;
                let root = builder.expr(&expr)?;
                if root.entries().is_none() {
                    return Err(ConfigError::Syntax {
                        location: Location {
                            source_name: source_name.to_owned(),
                            line: root.line(),
                        },
                        message: "a JSON configuration must be an object".to_owned(),
                    });
                }
                root
            }
        };

        Ok(Self {
            source_name: source_name.to_owned(),
            root,
        })
    }

    /// A document with no settings at all (every key takes its default).
    pub fn empty(source_name: &str) -> Self {
        Self {
            source_name: source_name.to_owned(),
            root: ConfigNode::empty_map(0),
        }
    }

    /// The name used for this text in messages (usually the file path).
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The top-level map.
    pub fn root(&self) -> &ConfigNode {
        &self.root
    }

    /// Deserializes the whole document.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.deserialize_node(&self.root, "")
    }

    /// Deserializes one subtree; `path` is its dotted key path, used in messages.
    pub fn deserialize_node<T: DeserializeOwned>(
        &self,
        node: &ConfigNode,
        path: &str,
    ) -> Result<T, ConfigError> {
        T::deserialize(NodeDeserializer::new(node, path))
            .map_err(|err| self.convert_error(err, node.line(), path))
    }

    /// An [`ConfigError::InvalidValue`] at `line` for checks done after deserializing.
    pub fn invalid_value(&self, line: usize, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            location: self.location(line),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// The location of `line` in this document.
    pub fn location(&self, line: usize) -> Location {
        Location {
            source_name: self.source_name.clone(),
            line,
        }
    }

    fn convert_error(
        &self,
        err: DeError,
        fallback_line: usize,
        fallback_path: &str,
    ) -> ConfigError {
        let location = self.location(err.line.unwrap_or(fallback_line));
        let path = err.path.unwrap_or_else(|| fallback_path.to_owned());
        match err.kind {
            DeErrorKind::Unknown { key, suggestion } => ConfigError::UnknownKey {
                location,
                key,
                section: path,
                suggestion: suggestion.map(str::to_owned),
            },
            DeErrorKind::Missing(key) => ConfigError::MissingKey {
                location,
                key: key.to_owned(),
                section: path,
            },
            DeErrorKind::Custom(message) => ConfigError::InvalidValue {
                location,
                key: path,
                message,
            },
        }
    }
}

fn syntax_error(lines: &Lines, source_name: &str, err: &hcl_edit::parser::Error) -> ConfigError {
    let (line, column) = lines.line_and_column(err.location().offset());
    ConfigError::Syntax {
        location: Location {
            source_name: source_name.to_owned(),
            line,
        },
        message: format!("syntax error at column {column}: {}", err.message()),
    }
}

fn section_name(section: &str) -> String {
    if section.is_empty() {
        "the top level".to_owned()
    } else {
        format!("`{section}`")
    }
}

#[cfg(test)]
mod tests;
