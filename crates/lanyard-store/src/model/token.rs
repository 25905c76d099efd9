//! Join tokens. The store keeps only a SHA-256 of each token.

use lanyard_spiffe::SelectorSet;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What a redeemed join token grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinToken {
    #[serde(with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
    /// Node selectors bound at issuance (e.g. `node:xname:x1000c0s0b0n0`) that the
    /// node receives when it attests with this token.
    pub node_selectors: SelectorSet,
}

/// SHA-256 of a token, the only form in which tokens are stored.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}
