//! Loopback ports and readiness waits.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_millis(20);
const MAX_CONNECT_ATTEMPT: Duration = Duration::from_secs(1);

/// Why a wait for a listener ended without one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// Nothing accepted connections before the timeout.
    #[error("{target} accepted no connection within {waited:?}")]
    TimedOut {
        /// What was waited for (an address or a socket path).
        target: String,
        /// How long the wait lasted.
        waited: Duration,
    },
    /// The process that was to listen exited first.
    #[error("the process exited ({status}) before {target} accepted a connection")]
    ChildExited {
        /// What was waited for (an address or a socket path).
        target: String,
        /// How the process ended.
        status: ExitStatus,
    },
    /// The state of the process could not be read.
    #[error("could not check the listening process")]
    ChildStatus {
        /// The error from `try_wait`.
        #[source]
        source: io::Error,
    },
}

/// A TCP port on 127.0.0.1 that was free when this returned. Another process
/// may take it before the caller binds it; callers that can retry should.
pub fn free_tcp_port() -> io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))?;

    Ok(listener.local_addr()?.port())
}

/// Waits until a TCP connection to `addr` succeeds.
pub fn wait_for_tcp(addr: SocketAddr, timeout: Duration) -> Result<(), WaitError> {
    poll_until(&addr.to_string(), timeout, None, |remaining| {
        TcpStream::connect_timeout(&addr, remaining.min(MAX_CONNECT_ATTEMPT)).is_ok()
    })
}

/// Waits until a connection to the Unix socket at `path` succeeds.
pub fn wait_for_unix_socket(path: &Path, timeout: Duration) -> Result<(), WaitError> {
    poll_until(&path.display().to_string(), timeout, None, |_| {
        UnixStream::connect(path).is_ok()
    })
}

/// Calls `probe` with the remaining time until it returns true, the deadline
/// passes, or `child` (when given) exits.
pub(crate) fn poll_until(
    target: &str,
    timeout: Duration,
    mut child: Option<&mut Child>,
    mut probe: impl FnMut(Duration) -> bool,
) -> Result<(), WaitError> {
    let start = Instant::now();

    loop {
        let remaining = timeout.saturating_sub(start.elapsed());
        if probe(remaining.max(POLL_INTERVAL)) {
            return Ok(());
        }

        if let Some(child) = child.as_deref_mut() {
            let exited = child
                .try_wait()
                .map_err(|source| WaitError::ChildStatus { source })?;
            if let Some(status) = exited {
                return Err(WaitError::ChildExited {
                    target: target.to_owned(),
                    status,
                });
            }
        }

        if start.elapsed() >= timeout {
            return Err(WaitError::TimedOut {
                target: target.to_owned(),
                waited: start.elapsed(),
            });
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dir::ShortTempDir;
    use std::os::unix::net::UnixListener;

    const SHORT: Duration = Duration::from_millis(200);

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_tcp_port().unwrap();

        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();

        assert_eq!(listener.local_addr().unwrap().port(), port);
    }

    #[test]
    fn waiting_for_a_listening_tcp_port_succeeds() {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();

        wait_for_tcp(listener.local_addr().unwrap(), Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn waiting_for_a_closed_tcp_port_times_out() {
        let addr: SocketAddr = ([127, 0, 0, 1], free_tcp_port().unwrap()).into();

        let err = wait_for_tcp(addr, SHORT).unwrap_err();

        assert!(matches!(err, WaitError::TimedOut { target, .. } if target == addr.to_string()));
    }

    #[test]
    fn waiting_for_a_listening_unix_socket_succeeds() {
        let dir = ShortTempDir::new().unwrap();
        let path = dir.socket_path("s.sock").unwrap();
        let _listener = UnixListener::bind(&path).unwrap();

        wait_for_unix_socket(&path, Duration::from_secs(5)).unwrap();
    }

    #[test]
    fn a_plain_file_at_the_socket_path_is_not_a_listener() {
        let dir = ShortTempDir::new().unwrap();
        let path = dir.join("not-a-socket");
        std::fs::write(&path, b"").unwrap();

        let err = wait_for_unix_socket(&path, SHORT).unwrap_err();

        assert!(matches!(err, WaitError::TimedOut { .. }));
    }

    #[test]
    fn a_socket_that_appears_later_is_found() {
        let dir = ShortTempDir::new().unwrap();
        let path = dir.socket_path("late.sock").unwrap();
        let bind_path = path.clone();
        let binder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            UnixListener::bind(bind_path).unwrap()
        });

        wait_for_unix_socket(&path, Duration::from_secs(10)).unwrap();

        drop(binder.join().unwrap());
    }
}
