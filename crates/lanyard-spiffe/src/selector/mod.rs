//! Selectors (`type:value`) and selector sets.

mod error;
#[allow(
    clippy::module_inception,
    reason = "the type lives in a file of its name"
)]
mod selector;
mod set;

pub use error::SelectorError;
pub use selector::{MAX_SELECTOR_TYPE_LEN, MAX_SELECTOR_VALUE_LEN, Selector};
pub use set::{SelectorMatch, SelectorSet};

#[cfg(test)]
mod tests;
