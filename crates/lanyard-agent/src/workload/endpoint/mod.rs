//! The agent's public socket: the Workload API, SDS, `grpc.health.v1` and gRPC server
//! reflection (naming only the services actually served).
//!
//! The socket must be connectable by every local user, so it is made mode 0777; what
//! protects it is its directory. Before binding, every directory from the socket's up
//! to `/` is checked: a directory that others may write to (without the sticky bit)
//! or that belongs to another non-root user could let someone replace the socket with
//! their own and hand out identities. Missing directories are created mode 0755; the
//! socket's own directory is repaired (group/other write removed) when the agent owns
//! it; anything else is refused with a message naming the directory.

use std::future::Future;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use futures::StreamExt as _;
use lanyard_daemon::socket::SocketError;
use tokio::net::UnixListener;
use tonic::transport::Server;

use super::WorkloadApi;
use super::peer::{PROC_ROOT, PeerStream};
use crate::sds::SecretDiscovery;

/// Mode of directories the agent creates for the socket.
pub const SOCKET_DIR_MODE: u32 = 0o755;

/// Mode of the socket itself: every local process may connect.
pub const SOCKET_MODE: u32 = 0o777;

/// gRPC service names as the public socket advertises them.
pub const WORKLOAD_API_SERVICE: &str = "SpiffeWorkloadAPI";
/// The SDS service name.
pub const SDS_SERVICE: &str = "envoy.service.secret.v3.SecretDiscoveryService";
/// The health service name.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// The reflection service names (both versions are served).
pub const REFLECTION_V1_SERVICE: &str = "grpc.reflection.v1.ServerReflection";
/// The pre-standard reflection service, still used by many tools.
pub const REFLECTION_V1ALPHA_SERVICE: &str = "grpc.reflection.v1alpha.ServerReflection";

/// Why the public socket could not be set up or served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// A directory on the way to the socket is unsafe and cannot be repaired.
    #[error(
        "refusing to serve on {}: directory {} {reason}; fix its owner or mode \
         (e.g. chmod go-w) or choose another socket_path",
        socket.display(),
        dir.display()
    )]
    UnsafeDirectory {
        /// The socket.
        socket: PathBuf,
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A directory could not be created, inspected or repaired.
    #[error("cannot prepare directory {} for the socket", dir.display())]
    Directory {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The socket could not be bound.
    #[error("cannot listen on the public socket")]
    Bind(#[source] SocketError),
    /// The socket's mode could not be set.
    #[error("cannot make {} connectable", path.display())]
    Permissions {
        /// The socket.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The gRPC server failed.
    #[error("public socket server failed")]
    Serve(#[source] tonic::transport::Error),
}

/// What the public socket serves.
#[derive(Debug, Clone, Default)]
pub struct PublicServices {
    /// The Workload API, unless disabled.
    pub workload: Option<WorkloadApi>,
    /// SDS, unless disabled.
    pub sds: Option<SecretDiscovery>,
}

/// Checks and prepares the socket's directories, binds the socket and makes it
/// connectable by everyone. Must be called within a Tokio runtime.
pub fn bind_public_socket(path: &Path) -> Result<UnixListener, EndpointError> {
    prepare_socket_dir(path)?;
    let listener = lanyard_daemon::socket::bind_unix_listener(path, SOCKET_DIR_MODE)
        .map_err(EndpointError::Bind)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(
        |source| EndpointError::Permissions {
            path: path.to_owned(),
            source,
        },
    )?;
    Ok(listener)
}

/// Serves `services`, health and reflection on `listener` until `shutdown` resolves.
pub async fn serve_public_socket(
    listener: UnixListener,
    services: PublicServices,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EndpointError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let mut names = vec![HEALTH_SERVICE];
    if services.workload.is_some() {
        names.push(WORKLOAD_API_SERVICE);
    }
    if services.sds.is_some() {
        names.push(SDS_SERVICE);
    }
    for name in ["", WORKLOAD_API_SERVICE, SDS_SERVICE] {
        if name.is_empty() || names.contains(&name) {
            health
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
    }

    let mut reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lanyard_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    let mut reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(lanyard_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    names.extend([REFLECTION_V1_SERVICE, REFLECTION_V1ALPHA_SERVICE]);
    for name in &names {
        reflection_v1 = reflection_v1.with_service_name(*name);
        reflection_v1alpha = reflection_v1alpha.with_service_name(*name);
    }
    let reflection_v1 = reflection_v1
        .build_v1()
        .expect("the embedded descriptor sets are valid");
    let reflection_v1alpha = reflection_v1alpha
        .build_v1alpha()
        .expect("the embedded descriptor sets are valid");

    let router = Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_optional_service(services.workload.map(WorkloadApi::into_server))
        .add_optional_service(services.sds.map(SecretDiscovery::into_server));

    let proc_root = PathBuf::from(PROC_ROOT);
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener)
        .map(move |accepted| accepted.map(|stream| PeerStream::accept(stream, &proc_root)));
    router
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(EndpointError::Serve)
}

/// Creates missing directories of `socket`, repairs its own directory when the agent
/// owns it, and refuses any directory on the way that others could tamper with.
pub fn prepare_socket_dir(socket: &Path) -> Result<(), EndpointError> {
    let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let dir = std::path::absolute(dir).map_err(|source| EndpointError::Directory {
        dir: dir.to_owned(),
        source,
    })?;
    create_missing(&dir)?;

    let me = rustix::process::geteuid().as_raw();
    let mut current = Some(dir.as_path());
    let mut own_dir = true;
    while let Some(path) = current {
        let metadata = std::fs::metadata(path).map_err(|source| EndpointError::Directory {
            dir: path.to_owned(),
            source,
        })?;
        let unsafe_because = check_directory(metadata.uid(), metadata.mode(), me);
        match unsafe_because {
            None => {}
            Some(Unsafe::WritableByOthers) if own_dir && metadata.uid() == me => {
                let repaired = metadata.mode() & 0o7777 & !0o022;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(repaired)).map_err(
                    |source| EndpointError::Directory {
                        dir: path.to_owned(),
                        source,
                    },
                )?;
                tracing::warn!(dir = %path.display(), mode = format!("{repaired:o}"), "removed group and other write access from the socket directory");
            }
            Some(problem) => {
                return Err(EndpointError::UnsafeDirectory {
                    socket: socket.to_owned(),
                    dir: path.to_owned(),
                    reason: problem.describe(metadata.uid(), metadata.mode()),
                });
            }
        }
        own_dir = false;
        current = path.parent();
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsafe {
    WritableByOthers,
    ForeignOwner,
}

impl Unsafe {
    fn describe(self, uid: u32, mode: u32) -> String {
        match self {
            Self::WritableByOthers => format!(
                "is writable by group or others (mode {:o}) without the sticky bit",
                mode & 0o7777
            ),
            Self::ForeignOwner => format!("belongs to uid {uid}, neither root nor the agent"),
        }
    }
}

/// Whether a directory with `uid` and `mode` lets someone other than root or `me`
/// replace what is in it.
fn check_directory(uid: u32, mode: u32, me: u32) -> Option<Unsafe> {
    if uid != 0 && uid != me {
        return Some(Unsafe::ForeignOwner);
    }
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky {
        return Some(Unsafe::WritableByOthers);
    }
    None
}

fn create_missing(dir: &Path) -> Result<(), EndpointError> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    for path in missing.into_iter().rev() {
        let created = std::fs::DirBuilder::new()
            .mode(SOCKET_DIR_MODE)
            .create(path);
        match created {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => {
                return Err(EndpointError::Directory {
                    dir: path.to_owned(),
                    source,
                });
            }
        }
        // The umask applied to the mode above; state it explicitly.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_DIR_MODE)).map_err(
            |source| EndpointError::Directory {
                dir: path.to_owned(),
                source,
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
