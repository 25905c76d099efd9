//! Finding and calling the Workload API from the CLI.

use std::path::{Path, PathBuf};

use lanyard_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use tonic::transport::Channel;

use super::{ApiError, CommonArgs};
use crate::config::DEFAULT_SOCKET_PATH;
use crate::workload::SECURITY_HEADER;

/// The environment variable SPIFFE clients read the Workload API address from.
pub const ENDPOINT_SOCKET_VAR: &str = "SPIFFE_ENDPOINT_SOCKET";

/// Why `SPIFFE_ENDPOINT_SOCKET` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// Not a `unix:` URI with an absolute path and nothing else.
    #[error(
        "{ENDPOINT_SOCKET_VAR}={0:?} is not a unix socket address \
         (use unix:///absolute/path; tcp addresses are not supported by this command)"
    )]
    NotUnix(String),
}

/// The socket to call: `-socketPath`, else `SPIFFE_ENDPOINT_SOCKET`, else the default.
pub fn resolve_socket_path(
    flag: Option<&Path>,
    env: Option<&str>,
) -> Result<PathBuf, EndpointError> {
    if let Some(path) = flag {
        return Ok(path.to_owned());
    }
    match env.filter(|value| !value.is_empty()) {
        Some(value) => {
            parse_unix_uri(value).ok_or_else(|| EndpointError::NotUnix(value.to_owned()))
        }
        None => Ok(PathBuf::from(DEFAULT_SOCKET_PATH)),
    }
}

/// `unix:///path` or `unix:/path` (no authority, no query or fragment).
fn parse_unix_uri(value: &str) -> Option<PathBuf> {
    let url = url::Url::parse(value).ok()?;
    if url.scheme() != "unix"
        || url.host().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    let path = url.to_file_path().ok()?;
    path.is_absolute().then_some(path)
}

/// A connected Workload API client and the per-call timeout.
pub(super) struct Client {
    pub(super) inner: SpiffeWorkloadApiClient<Channel>,
    timeout: std::time::Duration,
}

impl Client {
    /// Connects to the socket `args` name.
    pub(super) async fn connect(args: &CommonArgs) -> Result<Self, ApiError> {
        let env = std::env::var(ENDPOINT_SOCKET_VAR).ok();
        let path = resolve_socket_path(args.socket_path.as_deref(), env.as_deref())
            .map_err(|err| ApiError(err.to_string()))?;
        let channel = lanyard_daemon::socket::connect_unix_channel(&path)
            .await
            .map_err(|err| {
                ApiError(lanyard_daemon::output::error_line(&err).replacen("Error: ", "", 1))
            })?;
        Ok(Self {
            inner: SpiffeWorkloadApiClient::new(channel),
            timeout: args.timeout.as_std(),
        })
    }

    /// `message` with the security header and the timeout.
    pub(super) fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            SECURITY_HEADER,
            tonic::metadata::MetadataValue::from_static("true"),
        );
        if !self.timeout.is_zero() {
            request.set_timeout(self.timeout);
        }
        request
    }

    /// Bounds `call` by the timeout (the server side of a stream has no deadline).
    pub(super) async fn bounded<T>(
        &self,
        call: impl Future<Output = Result<T, tonic::Status>>,
    ) -> Result<T, ApiError> {
        let result = if self.timeout.is_zero() {
            call.await
        } else {
            tokio::time::timeout(self.timeout, call)
                .await
                .map_err(|_| ApiError::msg(format!("no response within {:?}", self.timeout)))?
        };
        result.map_err(|status| ApiError(lanyard_daemon::output::describe_status(&status)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_environment_then_the_default() {
        let flag = Path::new("/run/a.sock");

        assert_eq!(
            resolve_socket_path(Some(flag), Some("unix:///run/b.sock")).unwrap(),
            flag
        );
        assert_eq!(
            resolve_socket_path(None, Some("unix:///run/b.sock")).unwrap(),
            Path::new("/run/b.sock")
        );
        assert_eq!(
            resolve_socket_path(None, Some("unix:/run/c.sock")).unwrap(),
            Path::new("/run/c.sock")
        );
        assert_eq!(
            resolve_socket_path(None, None).unwrap(),
            Path::new(DEFAULT_SOCKET_PATH)
        );
    }

    #[test]
    fn only_plain_unix_uris_are_accepted_from_the_environment() {
        for bad in [
            "/run/a.sock",
            "tcp://127.0.0.1:8000",
            "unix://host/run/a.sock",
            "unix:///run/a.sock?x=1",
            "unix:relative",
        ] {
            assert!(
                matches!(
                    resolve_socket_path(None, Some(bad)),
                    Err(EndpointError::NotUnix(_))
                ),
                "{bad}"
            );
        }
    }
}
