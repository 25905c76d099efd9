//! What `/live`, `/ready` and the health checks report.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// The agent's health, shared by the tasks that change it and the listeners that
/// report it. Cloning shares the state.
#[derive(Debug, Clone)]
pub struct HealthState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    failed: AtomicBool,
    synced: AtomicBool,
    agent_svid_expiry: Mutex<Option<SystemTime>>,
    server_error: Mutex<Option<String>>,
}

impl Default for HealthState {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthState {
    /// Live, not ready: no agent SVID yet, nothing synced.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                failed: AtomicBool::new(false),
                synced: AtomicBool::new(false),
                agent_svid_expiry: Mutex::new(None),
                server_error: Mutex::new(None),
            }),
        }
    }

    /// Records the current agent SVID's expiry.
    pub fn set_agent_svid(&self, not_after: SystemTime) {
        *self.expiry() = Some(not_after);
    }

    /// Records that entries were synced from the server at least once.
    pub fn set_synced(&self) {
        self.inner.synced.store(true, Ordering::Relaxed);
    }

    /// Records that the agent lost its identity for good; it is neither live nor ready.
    pub fn set_failed(&self) {
        self.inner.failed.store(true, Ordering::Relaxed);
        *self.expiry() = None;
    }

    /// Records why the agent cannot get an identity from its server (a refused
    /// certificate, an unreachable port), or `None` once it can.
    pub fn set_server_error(&self, reason: Option<String>) {
        *self
            .inner
            .server_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = reason;
    }

    /// Why the agent is not ready at `now`, or `None` when it is.
    pub fn not_ready_reason(&self, now: SystemTime) -> Option<String> {
        if !self.is_live() {
            return Some("the agent lost its identity".to_owned());
        }
        if self.is_ready(now) {
            return None;
        }
        let server_error = self
            .inner
            .server_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Some(match (server_error, *self.expiry()) {
            (Some(reason), _) => reason,
            (None, None) => "no agent SVID yet".to_owned(),
            (None, Some(not_after)) if now >= not_after => "the agent SVID has expired".to_owned(),
            (None, Some(_)) => "entries not synced from the server yet".to_owned(),
        })
    }

    /// Live: the agent has not given up.
    pub fn is_live(&self) -> bool {
        !self.inner.failed.load(Ordering::Relaxed)
    }

    /// Ready: live, holding an unexpired agent SVID, and synced at least once.
    pub fn is_ready(&self, now: SystemTime) -> bool {
        self.is_live()
            && self.inner.synced.load(Ordering::Relaxed)
            && self.expiry().is_some_and(|not_after| now < not_after)
    }

    fn expiry(&self) -> std::sync::MutexGuard<'_, Option<SystemTime>> {
        self.inner
            .agent_svid_expiry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ready_needs_a_valid_svid_and_a_sync() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let health = HealthState::new();
        assert!(health.is_live());
        assert!(!health.is_ready(now));

        health.set_agent_svid(now + Duration::from_secs(60));
        assert!(!health.is_ready(now), "not synced yet");
        health.set_synced();
        assert!(health.is_ready(now));
        assert!(
            !health.is_ready(now + Duration::from_secs(61)),
            "svid expired"
        );

        health.set_failed();
        assert!(!health.is_live());
        assert!(!health.is_ready(now));
    }

    #[test]
    fn not_ready_says_why() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let health = HealthState::new();
        assert_eq!(
            health.not_ready_reason(now).as_deref(),
            Some("no agent SVID yet")
        );
        health.set_server_error(Some("unknown issuer".to_owned()));
        assert_eq!(
            health.not_ready_reason(now).as_deref(),
            Some("unknown issuer")
        );
        health.set_server_error(None);
        health.set_agent_svid(now + Duration::from_secs(60));
        assert_eq!(
            health.not_ready_reason(now).as_deref(),
            Some("entries not synced from the server yet")
        );
        health.set_synced();
        assert_eq!(health.not_ready_reason(now), None);
    }
}
