//! Paged listing with opaque tokens.

/// Which page to return. A `page_size` of 0 returns everything at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub page_size: u32,
    /// The `next_page_token` of the previous page, or `None` for the first.
    pub page_token: Option<String>,
}

impl PageRequest {
    pub fn first(page_size: u32) -> Self {
        Self {
            page_size,
            page_token: None,
        }
    }
}

/// One page of results, in a stable order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more results follow; pass it back to get them.
    pub next_page_token: Option<String>,
}
