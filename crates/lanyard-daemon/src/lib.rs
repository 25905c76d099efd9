//! Plumbing shared by the Lanyard daemons and their CLIs.
//!
//! - [`flags`]: SPIRE's Go-style single-dash long flags (`-socketPath x`) on top of clap;
//! - [`config`]: HCL/JSON configuration files with SPIRE's conventions and errors that name
//!   the key and the line;
//! - [`Duration`] and the other typed values parsed at load time;
//! - [`logging`]: `log_level`/`log_format`/`log_file` with a runtime level handle;
//! - [`socket`]: Unix-socket listeners for the daemons and gRPC channels for the CLIs;
//! - [`output`]: SPIRE-like `-output pretty|json` printing and one-line CLI errors;
//! - [`trust_domain`]: the forms a configured trust domain may take.
#![forbid(unsafe_code)]

pub mod config;
pub mod duration;
pub mod flags;
pub mod logging;
pub mod output;
pub mod socket;
pub mod trust_domain;

pub use config::{ConfigDocument, ConfigError, ConfigFormat};
pub use duration::{Duration, DurationError};
pub use flags::normalize_go_style_args;
pub use logging::{LogFormat, LogHandle, LogLevel, LogSettings};
pub use output::OutputFormat;
