//! Random bytes from the system CSPRNG (aws-lc-rs).

use thiserror::Error;

/// The system random number generator failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("system random number generator failed")]
pub struct RngError;

/// `N` random bytes.
pub(crate) fn random_array<const N: usize>() -> Result<[u8; N], RngError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| RngError)?;
    Ok(bytes)
}
