//! Errors for selectors.

use thiserror::Error;

/// Why a string is not a valid selector.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// The selector has no `:` between type and value.
    #[error("selector must have the form \"type:value\"")]
    MissingSeparator,

    /// The type is empty.
    #[error("selector type is empty")]
    EmptyType,

    /// The type holds a `:`.
    #[error("selector type must not contain ':'")]
    TypeContainsColon,

    /// The value is empty.
    #[error("selector value is empty")]
    EmptyValue,

    /// The type or value holds a control character.
    #[error("selector must not contain control characters, found {0:?}")]
    ControlCharacter(char),

    /// The type is longer than [`super::MAX_SELECTOR_TYPE_LEN`].
    #[error("selector type is {len} bytes long, the limit is {max}")]
    TypeTooLong {
        /// Length of the rejected type in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The value is longer than [`super::MAX_SELECTOR_VALUE_LEN`].
    #[error("selector value is {len} bytes long, the limit is {max}")]
    ValueTooLong {
        /// Length of the rejected value in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The match mode name is not one of `exact`, `subset`, `superset`, `any`.
    #[error("unknown selector match mode {0:?}, expected exact, subset, superset or any")]
    UnknownMatchMode(String),
}
