//! The server's signing authorities: key managers (memory, disk), the X.509
//! CA (self-signed or under an upstream authority), JWT signing keys, and
//! their A/B rotation driven by a persisted journal.
//!
//! Everything here is blocking; the server wraps calls in `spawn_blocking`.
//!
//! How a server uses it:
//! 1. Build a [`CaManager`] from a [`CaConfig`], a [`KeyManager`]
//!    ([`DiskKeyManager`] by default), a [`JournalStore`] (its datastore,
//!    one journal per server), an optional [`UpstreamAuthority`] and a
//!    [`Clock`]. Warn when configured SVID TTLs exceed
//!    [`CaManager::max_svid_ttl`].
//! 2. Call [`CaManager::rotate`] before serving and then every few seconds.
//!    When an event [changes the bundle](RotationEvent::changes_bundle), add
//!    what [`CaManager::published_authorities`] lists to the trust domain's
//!    bundle and remove what a `Pruned` event [unpublishes](Unpublished);
//!    the bundle of an HA deployment also holds the other servers' roots,
//!    so never replace it wholesale.
//! 3. Sign with [`CaManager::issue_x509_svid`] (public key from
//!    [`public_key_from_csr`]) and [`CaManager::issue_jwt_svid`].
//! 4. Serve the LocalAuthority API from the `*_authority*` methods; after a
//!    prepare, taint or revoke, update the bundle the same way.
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
