//! The server's signing authorities: key managers (memory, disk), the X.509
//! CA (self-signed or under an upstream authority), JWT signing keys, and
//! their A/B rotation driven by a persisted journal.
//!
//! Everything here is blocking; the server wraps calls in `spawn_blocking`.
#![forbid(unsafe_code)]

mod fsutil;
pub mod key;

pub use key::{DiskKeyManager, KeyError, KeyId, KeyManager, KeyType, MemoryKeyManager, Signer};
