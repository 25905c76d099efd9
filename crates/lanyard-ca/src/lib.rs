//! The server's signing authorities: key managers (memory, disk), the X.509
//! CA (self-signed or under an upstream authority), JWT signing keys, and
//! their A/B rotation driven by a persisted journal.
//!
//! Everything here is blocking; the server wraps calls in `spawn_blocking`.
#![forbid(unsafe_code)]

mod clock;
mod fsutil;
pub mod journal;
mod jwt;
pub mod key;
pub mod manager;
mod public_key;
pub mod upstream;
pub mod x509;

pub use clock::{Clock, ManualClock, SystemClock};
pub use journal::{FileJournalStore, Journal, JournalError, JournalStore, MemoryJournalStore};
pub use jwt::{IssuedJwtSvid, JwtKey, JwtKeyError, JwtSvidRequest};
pub use key::{DiskKeyManager, KeyError, KeyId, KeyManager, KeyType, MemoryKeyManager, Signer};
pub use manager::{
    AuthorityKind, AuthorityState, AuthorityStates, CaConfig, CaError, CaManager,
    LocalAuthorityError, PublishedAuthorities, PublishedJwtAuthority, PublishedX509Authority,
    RotationEvent, Unpublished,
};
pub use public_key::{
    CsrError, PublicKey, PublicKeyAlgorithm, PublicKeyError, public_key_from_csr,
};
pub use upstream::{DiskUpstreamAuthority, UpstreamAuthority, UpstreamError};
pub use x509::{CaSubject, IssuedX509Svid, X509Authority, X509Error, X509SvidRequest};
