//! Liveness and readiness, the `/live` and `/ready` HTTP listener, and metrics.

pub mod http;
pub mod metrics;
mod state;

pub use state::HealthState;
