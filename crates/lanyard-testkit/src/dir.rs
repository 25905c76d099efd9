//! Temporary directories whose paths stay short enough to hold Unix sockets.
//!
//! A socket path must fit in `sun_path` (108 bytes with its NUL on Linux);
//! `$TMPDIR` or a cargo target dir can be much longer than that.

use std::fs::Permissions;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Longest socket path, in bytes, that fits in `sockaddr_un.sun_path` with its NUL.
pub const MAX_SOCKET_PATH_BYTES: usize = 107;

/// A fresh, private (mode 0700) directory under `/tmp`, removed with its
/// contents when dropped.
#[derive(Debug)]
pub struct ShortTempDir {
    dir: tempfile::TempDir,
}

/// A socket path that would not fit in `sockaddr_un`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("socket path is {len} bytes, longer than the {max} a unix socket allows", max = MAX_SOCKET_PATH_BYTES)]
pub struct SocketPathTooLong {
    /// Length of the rejected path in bytes.
    pub len: usize,
}

impl ShortTempDir {
    /// Creates the directory under `/tmp` (or the system temp dir when `/tmp`
    /// does not exist).
    pub fn new() -> io::Result<Self> {
        let base = Path::new("/tmp");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("ly-")
            .permissions(Permissions::from_mode(0o700))
            .tempdir_in(base)?;

        Ok(Self { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `name` inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `name` inside the directory, checked to be usable as a Unix socket path.
    pub fn socket_path(&self, name: impl AsRef<Path>) -> Result<PathBuf, SocketPathTooLong> {
        let path = self.join(name);
        let len = path.as_os_str().len();
        if len > MAX_SOCKET_PATH_BYTES {
            return Err(SocketPathTooLong { len });
        }

        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn the_directory_is_private_and_holds_a_listening_socket() {
        let dir = ShortTempDir::new().unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode();
        let socket = dir.socket_path("api.sock").unwrap();

        let _listener = UnixListener::bind(&socket).unwrap();

        assert_eq!(mode & 0o777, 0o700);
        assert!(socket.starts_with("/tmp"));
        assert!(socket.exists());
    }

    #[test]
    fn a_socket_name_that_would_not_fit_is_rejected() {
        let dir = ShortTempDir::new().unwrap();

        let err = dir
            .socket_path("s".repeat(MAX_SOCKET_PATH_BYTES))
            .unwrap_err();

        assert!(err.len > MAX_SOCKET_PATH_BYTES);
    }

    #[test]
    fn the_directory_and_its_contents_are_removed_on_drop() {
        let dir = ShortTempDir::new().unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(dir.join("file"), b"x").unwrap();

        drop(dir);

        assert!(!path.exists());
    }
}
