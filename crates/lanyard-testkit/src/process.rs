//! Child processes that never outlive their test.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::net::{WaitError, poll_until};

/// A spawned child process that is killed (SIGKILL) and reaped when dropped,
/// so a failing test leaves no process behind.
///
/// Only the direct child is signalled: run daemons in the foreground, not
/// through a wrapper that forks. A test process that is itself SIGKILLed
/// cannot run this drop; the run's cleanup has to catch those.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    /// Spawns `command` as configured by the caller (arguments, environment,
    /// standard streams).
    pub fn spawn(command: &mut Command) -> io::Result<Self> {
        Ok(Self {
            child: command.spawn()?,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The underlying child, for its standard streams.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The exit status if the process has exited, without blocking.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits until `addr` accepts TCP connections, failing early if the
    /// process exits first.
    pub fn wait_for_tcp(&mut self, addr: SocketAddr, timeout: Duration) -> Result<(), WaitError> {
        poll_until(
            &addr.to_string(),
            timeout,
            Some(&mut self.child),
            |remaining| {
                std::net::TcpStream::connect_timeout(&addr, remaining.min(Duration::from_secs(1)))
                    .is_ok()
            },
        )
    }

    /// Waits until the Unix socket at `path` accepts connections, failing
    /// early if the process exits first.
    pub fn wait_for_unix_socket(
        &mut self,
        path: &Path,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        poll_until(
            &path.display().to_string(),
            timeout,
            Some(&mut self.child),
            |_| std::os::unix::net::UnixStream::connect(path).is_ok(),
        )
    }

    /// Waits for the process to exit on its own (for commands that finish).
    pub fn wait(mut self) -> io::Result<ExitStatus> {
        self.child.wait()
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit, then SIGKILLs.
    /// Returns how the process ended, so tests can check a clean shutdown.
    pub fn terminate(mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        self.signal(Signal::TERM)?;

        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }

        self.child.kill()?;
        self.child.wait()
    }

    fn signal(&self, signal: Signal) -> io::Result<()> {
        let raw = i32::try_from(self.child.id())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
        let pid = Pid::from_raw(raw)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pid 0"))?;

        kill_process(pid, signal).map_err(io::Error::from)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if let Err(error) = self.child.kill() {
            eprintln!(
                "ChildGuard: could not kill pid {}: {error}",
                self.child.id()
            );
        }
        if let Err(error) = self.child.wait() {
            eprintln!(
                "ChildGuard: could not reap pid {}: {error}",
                self.child.id()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::unix::process::ExitStatusExt;

    fn is_running(pid: u32) -> bool {
        // A reaped child leaves no /proc entry; a zombie would still show one.
        Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn dropping_the_guard_kills_and_reaps_the_child() {
        let guard = ChildGuard::spawn(Command::new("sleep").arg("600")).unwrap();
        let pid = guard.id();
        assert!(is_running(pid));

        drop(guard);

        assert!(!is_running(pid));
    }

    #[test]
    fn terminate_delivers_sigterm() {
        let guard = ChildGuard::spawn(Command::new("sleep").arg("600")).unwrap();

        let status = guard.terminate(Duration::from_secs(10)).unwrap();

        assert_eq!(status.signal(), Some(15));
    }

    #[test]
    fn a_child_that_exits_before_listening_ends_the_wait() {
        let mut guard = ChildGuard::spawn(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        let addr: SocketAddr = ([127, 0, 0, 1], crate::free_tcp_port().unwrap()).into();

        let err = guard
            .wait_for_tcp(addr, Duration::from_secs(60))
            .unwrap_err();

        assert!(matches!(err, WaitError::ChildExited { status, .. } if status.code() == Some(3)));
    }

    #[test]
    fn a_child_that_listens_is_waited_for() {
        let port = crate::free_tcp_port().unwrap();
        let script = format!(
            "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(600)"
        );
        let mut guard = ChildGuard::spawn(Command::new("python3").args(["-c", &script])).unwrap();

        guard
            .wait_for_tcp(([127, 0, 0, 1], port).into(), Duration::from_secs(30))
            .unwrap();

        assert!(TcpListener::bind(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn wait_returns_the_exit_status_of_a_finished_command() {
        let guard = ChildGuard::spawn(Command::new("sh").args(["-c", "exit 7"])).unwrap();

        assert_eq!(guard.wait().unwrap().code(), Some(7));
    }
}
