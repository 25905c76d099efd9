//! Workload attestation: the configured attestors turn a pinned caller into selectors.
//!
//! Every attestor runs concurrently on the blocking pool (they read `/proc`, unit files
//! and the user database); their selectors are unioned. Any attestor failing, or the
//! pinned process exiting before the last attestor finished, fails the whole attestation:
//! a partial or stale view of the caller must never pick its identity.
//!
//! At most [`MAX_CONCURRENT_ATTESTATIONS`] attestations run at once; later callers wait
//! their turn without holding a thread. A burst of a thousand callers would otherwise
//! start as many blocking threads (each with its stack and allocator arena) to do work
//! that two cores run one piece at a time anyway.

mod systemd;
mod unix;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lanyard_spiffe::{Selector, SelectorError, SelectorSet};
use tokio::sync::Semaphore;

pub use systemd::SystemdAttestor;
pub use unix::UnixAttestor;

use super::peer::{Caller, PinError, PinnedCaller};
use crate::config::PluginsConfig;

/// Why a caller could not be attested.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The caller's process could not be identified or pinned, or no longer is the
    /// process that connected.
    #[error("caller process check failed")]
    Pin(#[source] PinError),
    /// One attestor failed.
    #[error("workload attestor {attestor:?} failed: {reason}")]
    Attestor {
        /// The attestor's name.
        attestor: &'static str,
        /// Why.
        reason: String,
    },
}

/// One workload attestor: selectors for a caller.
pub trait WorkloadAttestor: Send + Sync + 'static {
    /// The plugin name (`unix`, `systemd`).
    fn name(&self) -> &'static str;

    /// The caller's selectors. Blocking: called on the blocking pool.
    fn attest(&self, caller: &Caller) -> Result<Vec<Selector>, String>;
}

/// Most attestations running at the same time.
pub const MAX_CONCURRENT_ATTESTATIONS: usize = 16;

/// The configured attestors.
#[derive(Clone)]
pub struct WorkloadAttestation {
    attestors: Vec<Arc<dyn WorkloadAttestor>>,
    running: Arc<Semaphore>,
}

impl std::fmt::Debug for WorkloadAttestation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.attestors.iter().map(|a| a.name()).collect();
        f.debug_struct("WorkloadAttestation")
            .field("attestors", &names)
            .finish()
    }
}

impl WorkloadAttestation {
    /// The attestors `plugins` names, reading the live `/proc` and unit directories.
    pub fn from_config(plugins: &PluginsConfig) -> Self {
        let mut attestors: Vec<Arc<dyn WorkloadAttestor>> = Vec::new();
        if let Some(unix) = &plugins.unix_attestor {
            attestors.push(Arc::new(UnixAttestor::new(unix.clone(), ProcFs::live())));
        }
        if plugins.systemd_attestor.is_some() {
            attestors.push(Arc::new(SystemdAttestor::new(
                ProcFs::live(),
                PathBuf::from("/"),
            )));
        }
        Self::new(attestors)
    }

    /// Attestation with exactly `attestors`.
    pub fn new(attestors: Vec<Arc<dyn WorkloadAttestor>>) -> Self {
        Self {
            attestors,
            running: Arc::new(Semaphore::new(MAX_CONCURRENT_ATTESTATIONS)),
        }
    }

    /// Runs every attestor for `pinned`, then checks the pin still holds.
    pub async fn attest(&self, pinned: &PinnedCaller) -> Result<SelectorSet, AttestationError> {
        // The semaphore is never closed, so a permit always comes.
        let _turn = self.running.acquire().await.ok();
        let caller = pinned.caller;
        let runs = self.attestors.iter().map(|attestor| {
            let attestor = Arc::clone(attestor);
            async move {
                let name = attestor.name();
                tokio::task::spawn_blocking(move || attestor.attest(&caller))
                    .await
                    .map_err(|err| AttestationError::Attestor {
                        attestor: name,
                        reason: format!("attestor task failed: {err}"),
                    })?
                    .map_err(|reason| AttestationError::Attestor {
                        attestor: name,
                        reason,
                    })
            }
        });

        let mut selectors = SelectorSet::new();
        for result in futures::future::join_all(runs).await {
            selectors.extend(result?);
        }

        pinned.pin.verify().map_err(AttestationError::Pin)?;
        Ok(selectors)
    }
}

/// The files of one `/proc` tree (the live one, or a fixture in tests).
#[derive(Debug, Clone)]
pub struct ProcFs {
    root: PathBuf,
}

impl ProcFs {
    /// `/proc`.
    pub fn live() -> Self {
        Self::at(Path::new(super::peer::PROC_ROOT))
    }

    /// A `/proc`-shaped tree at `root`.
    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    /// `<root>/<pid>/<name>`.
    pub fn path(&self, pid: i32, name: &str) -> PathBuf {
        self.root.join(pid.to_string()).join(name)
    }

    /// Reads `<root>/<pid>/<name>` as text.
    pub fn read(&self, pid: i32, name: &str) -> Result<String, String> {
        std::fs::read_to_string(self.path(pid, name))
            .map_err(|err| format!("cannot read /proc/{pid}/{name}: {err}"))
    }
}

/// `kind:value`, or a message saying which selector could not be built.
pub(crate) fn selector(kind: &str, value: &str) -> Result<Selector, String> {
    Selector::new(kind, value)
        .map_err(|err: SelectorError| format!("cannot build selector {kind}:{value}: {err}"))
}

#[cfg(test)]
mod tests;
