//! Unix sockets: listeners for the daemons' local APIs and gRPC channels for the CLIs.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

/// The server's admin API socket when none is configured.
pub const DEFAULT_SERVER_SOCKET_PATH: &str = "/tmp/lanyard-server/private/api.sock";

/// Mode of the directory created for the server's admin socket: owner and group only.
pub const PRIVATE_SOCKET_DIR_MODE: u32 = 0o770;

/// Why a socket could not be bound or reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// The directory for the socket could not be created.
    #[error("cannot create socket directory {}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Something that is not a socket is in the way.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// A live process already serves on the socket.
    #[error("another process is already serving on {}", path.display())]
    InUse {
        /// The path.
        path: PathBuf,
    },
    /// The stale socket file could not be removed, or the bind failed.
    #[error("cannot listen on {}", path.display())]
    Bind {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The CLI could not connect.
    #[error("cannot connect to {}: {reason}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The underlying reason, in words.
        reason: String,
    },
}

/// Binds a listener at `path`, creating its parent directory with `dir_mode` when it does
/// not exist and removing a stale socket left by a previous run.
///
/// An existing directory keeps its mode (the operator may have set it up on purpose). A
/// socket that still accepts connections is left alone and reported as
/// [`SocketError::InUse`]. Must be called within a Tokio runtime.
pub fn bind_unix_listener(path: &Path, dir_mode: u32) -> Result<UnixListener, SocketError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir, dir_mode)?;
    }

    remove_stale_socket(path)?;

    UnixListener::bind(path).map_err(|source| SocketError::Bind {
        path: path.to_owned(),
        source,
    })
}

/// Opens a gRPC channel to a server listening on the Unix socket `path`.
///
/// The connection is made at once so that a missing or dead server is reported here,
/// with the reason (no such file, connection refused, permission denied).
pub async fn connect_unix_channel(path: &Path) -> Result<Channel, SocketError> {
    let socket = path.to_owned();
    // The URI is required by the HTTP/2 layer but never resolved: the connector below
    // always dials the socket.
    let endpoint = Endpoint::from_static("http://localhost");

    endpoint
        .connect_with_connector(service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { UnixStream::connect(socket).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|err| SocketError::Connect {
            path: path.to_owned(),
            reason: root_cause(&err),
        })
}

fn create_private_dir(dir: &Path, mode: u32) -> Result<(), SocketError> {
    let error = |source| SocketError::CreateDir {
        path: dir.to_owned(),
        source,
    };
    if dir.is_dir() {
        return Ok(());
    }

    std::fs::create_dir_all(dir).map_err(error)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(error)
}

fn remove_stale_socket(path: &Path) -> Result<(), SocketError> {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SocketError::Bind {
                path: path.to_owned(),
                source,
            });
        }
    };

    if !metadata.file_type().is_socket() {
        return Err(SocketError::NotASocket {
            path: path.to_owned(),
        });
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(SocketError::InUse {
            path: path.to_owned(),
        });
    }

    std::fs::remove_file(path).map_err(|source| SocketError::Bind {
        path: path.to_owned(),
        source,
    })
}

/// The innermost error message, which for connection failures is the useful one
/// ("No such file or directory", "Connection refused").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests;
