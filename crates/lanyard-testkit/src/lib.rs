//! Fixtures for Lanyard's tests. Everything here is synchronous, so it works
//! the same from plain `#[test]` functions and from inside an async runtime.
//!
//! - [`net`]: a free loopback TCP port; waiting until a TCP port or a Unix
//!   socket accepts connections.
//! - [`dir`]: temporary directories with paths short enough for Unix sockets.
//! - [`process`]: a child process that is killed and reaped when dropped.
//! - [`postgres`]: `require_postgres()` and a fresh database per test.
//! - [`interop`]: SPIRE binaries and the Python virtualenv for interop tests.
//! - [`require`]: the skip-or-fail rule for tests that need outside programs.
//! - [`swtpm`]: a TPM 2.0 simulator per test, from a private manufacturer CA.

#![forbid(unsafe_code)]

pub mod dir;
pub mod interop;
pub mod net;
pub mod postgres;
pub mod process;
pub mod require;
pub mod swtpm;

pub use dir::ShortTempDir;
pub use interop::{interop_program, interop_python};
pub use net::{WaitError, free_tcp_port, wait_for_tcp, wait_for_unix_socket};
pub use postgres::{TestDatabase, require_postgres};
pub use process::ChildGuard;
