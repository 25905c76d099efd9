//! Who is calling: the peer credentials the kernel recorded for a Unix socket connection
//! (`SO_PEERCRED`), and a pin on the calling process so that a recycled pid cannot lend
//! its identity to another process.
//!
//! The pin is taken right after `accept`: the process start time is read from
//! `/proc/<pid>/stat`, a pidfd is opened, and the start time is read again (equal, or the
//! pid already changed hands). After attestation, [`ProcessPin::verify`] checks that the
//! pidfd's process has not exited and that `/proc/<pid>` still shows the same start time.
//! While the pinned process lives its pid cannot be reused, so everything the attestors
//! read under `/proc/<pid>` described that process.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tonic::transport::server::Connected;

/// Where the kernel's process information is mounted.
pub const PROC_ROOT: &str = "/proc";

/// Why the caller's process could not be identified or pinned.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The kernel gave no credentials for the connection.
    #[error("peer credentials are unavailable: {0}")]
    NoCredentials(String),
    /// The peer's pid is not visible (another pid namespace).
    #[error("the caller's pid is not visible to the agent")]
    NoPid,
    /// `/proc/<pid>/stat` could not be read or parsed.
    #[error("cannot read the start time of process {pid}: {reason}")]
    StartTime {
        /// The pid.
        pid: i32,
        /// Why.
        reason: String,
    },
    /// The pidfd could not be opened or polled.
    #[error("cannot pin process {pid}: {reason}")]
    Pidfd {
        /// The pid.
        pid: i32,
        /// Why.
        reason: String,
    },
    /// The pinned process exited.
    #[error("process {0} exited")]
    Exited(i32),
    /// The pid now belongs to a process started at another time.
    #[error("process {0} was replaced by another process with the same pid")]
    Replaced(i32),
    /// The process behind the pid does not run with the credentials the kernel recorded
    /// for the connection: another process took the pid before the connection was
    /// accepted, or the caller changed its effective uid or gid since it connected.
    #[error("process {0} does not run with the credentials it connected with")]
    CredentialsChanged(i32),
}

/// The caller as the kernel saw it at connect time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Process ID.
    pub pid: i32,
    /// Effective user ID at connect time.
    pub uid: u32,
    /// Effective group ID at connect time.
    pub gid: u32,
}

/// A pinned process: its pidfd, its start time (clock ticks since boot) and, once bound
/// to a connection, the effective uid and gid it connected with.
#[derive(Debug)]
pub struct ProcessPin {
    proc_root: PathBuf,
    pid: i32,
    pidfd: OwnedFd,
    start_time: u64,
    credentials: Option<(u32, u32)>,
}

impl ProcessPin {
    /// Pins the live process `pid`.
    pub fn open(proc_root: &Path, pid: i32) -> Result<Self, PinError> {
        let raw = Pid::from_raw(pid).ok_or(PinError::NoPid)?;
        let before = read_start_time(proc_root, pid)?;

        let pidfd = rustix::process::pidfd_open(raw, PidfdFlags::empty()).map_err(|err| {
            if err == rustix::io::Errno::SRCH {
                PinError::Exited(pid)
            } else {
                PinError::Pidfd {
                    pid,
                    reason: err.to_string(),
                }
            }
        })?;

        let after = read_start_time(proc_root, pid)?;
        if before != after {
            return Err(PinError::Replaced(pid));
        }
        Ok(Self {
            proc_root: proc_root.to_owned(),
            pid,
            pidfd,
            start_time: before,
            credentials: None,
        })
    }

    /// Binds the pin to the effective `uid` and `gid` the kernel recorded at connect
    /// time, refusing a process that does not run with them now.
    ///
    /// A pid can change hands between `connect` and `accept`; the pidfd then pins the
    /// newcomer. Requiring the recorded credentials closes that window for a process of
    /// another user. TODO(#5): a newcomer of the same user is only excluded with
    /// `SO_PEERPIDFD` (Linux 6.5), which rustix does not expose yet.
    pub fn bound_to_credentials(mut self, uid: u32, gid: u32) -> Result<Self, PinError> {
        self.credentials = Some((uid, gid));
        self.check_credentials()?;
        Ok(self)
    }

    /// The pinned pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The start time recorded when the pin was taken.
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// Checks that the pinned process is still alive and still owns its pid.
    pub fn verify(&self) -> Result<(), PinError> {
        let mut fds = [PollFd::new(&self.pidfd, PollFlags::IN)];
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        rustix::event::poll(&mut fds, Some(&zero)).map_err(|err| PinError::Pidfd {
            pid: self.pid,
            reason: err.to_string(),
        })?;
        if fds[0].revents().intersects(PollFlags::IN | PollFlags::HUP) {
            return Err(PinError::Exited(self.pid));
        }

        match read_start_time(&self.proc_root, self.pid) {
            Ok(now) if now == self.start_time => {}
            Ok(_) => return Err(PinError::Replaced(self.pid)),
            Err(_) => return Err(PinError::Exited(self.pid)),
        }
        self.check_credentials()
    }

    fn check_credentials(&self) -> Result<(), PinError> {
        let Some(expected) = self.credentials else {
            return Ok(());
        };
        let path = self.proc_root.join(self.pid.to_string()).join("status");
        let status = std::fs::read_to_string(path).map_err(|_| PinError::Exited(self.pid))?;
        if effective_ids(&status) == Some(expected) {
            Ok(())
        } else {
            Err(PinError::CredentialsChanged(self.pid))
        }
    }

    /// The same pin claiming another start time: what a pin of a process that has since
    /// been replaced looks like.
    #[cfg(test)]
    pub(crate) fn with_start_time(mut self, start_time: u64) -> Self {
        self.start_time = start_time;
        self
    }
}

/// The caller of one connection and its pin, as request extensions carry it.
#[derive(Debug, Clone)]
pub struct PeerInfo(Arc<Result<PinnedCaller, PinError>>);

/// A caller whose process is pinned.
#[derive(Debug)]
pub struct PinnedCaller {
    /// Credentials from `SO_PEERCRED`.
    pub caller: Caller,
    /// The pin.
    pub pin: ProcessPin,
}

impl PeerInfo {
    /// Reads the credentials of `stream` and pins the peer process.
    pub fn from_stream(stream: &UnixStream, proc_root: &Path) -> Self {
        Self(Arc::new(pin_peer(stream, proc_root)))
    }

    /// The pinned caller, or why there is none.
    pub fn pinned(&self) -> Result<&PinnedCaller, PinError> {
        self.0.as_ref().as_ref().map_err(Clone::clone)
    }
}

fn pin_peer(stream: &UnixStream, proc_root: &Path) -> Result<PinnedCaller, PinError> {
    let cred = stream
        .peer_cred()
        .map_err(|err| PinError::NoCredentials(err.to_string()))?;
    let pid = cred.pid().filter(|pid| *pid > 0).ok_or(PinError::NoPid)?;
    let pin = ProcessPin::open(proc_root, pid)?.bound_to_credentials(cred.uid(), cred.gid())?;
    Ok(PinnedCaller {
        caller: Caller {
            pid,
            uid: cred.uid(),
            gid: cred.gid(),
        },
        pin,
    })
}

/// An accepted connection of the public socket with its caller attached; tonic hands the
/// [`PeerInfo`] to every request of the connection as an extension.
#[derive(Debug)]
pub struct PeerStream {
    inner: UnixStream,
    peer: PeerInfo,
}

impl PeerStream {
    /// Wraps an accepted stream, pinning its peer.
    pub fn accept(inner: UnixStream, proc_root: &Path) -> Self {
        let peer = PeerInfo::from_stream(&inner, proc_root);
        Self { inner, peer }
    }
}

impl Connected for PeerStream {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.peer.clone()
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Field 22 of `/proc/<pid>/stat`: the start time in clock ticks since boot.
pub(crate) fn read_start_time(proc_root: &Path, pid: i32) -> Result<u64, PinError> {
    let path = proc_root.join(pid.to_string()).join("stat");
    let text = std::fs::read_to_string(&path).map_err(|err| PinError::StartTime {
        pid,
        reason: err.to_string(),
    })?;
    parse_start_time(&text).ok_or_else(|| PinError::StartTime {
        pid,
        reason: "malformed stat line".to_owned(),
    })
}

/// The effective uid and gid from the `Uid:` and `Gid:` lines of `/proc/<pid>/status`
/// (real, effective, saved, filesystem).
fn effective_ids(status: &str) -> Option<(u32, u32)> {
    let effective = |prefix: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(prefix))?
            .split_whitespace()
            .nth(1)?
            .parse::<u32>()
            .ok()
    };
    Some((effective("Uid:")?, effective("Gid:")?))
}

/// The command name in field 2 may hold spaces and parentheses, so fields are counted
/// from the last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state); the start time is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests;
