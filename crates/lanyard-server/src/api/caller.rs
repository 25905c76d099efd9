//! Who is calling: set by the endpoint that accepted the connection, read by every
//! handler before it does anything.
//!
//! The admin Unix socket marks every request [`Caller::Local`]. The agent-facing TCP
//! endpoint authenticates the peer's X509-SVID and inserts [`Caller::Admin`],
//! [`Caller::Agent`] or [`Caller::Downstream`]. A request without a caller is refused,
//! so a service mounted on an endpoint that forgot to authenticate fails closed.

use lanyard_spiffe::SpiffeId;
use tonic::Request;

use super::ApiError;

/// The authenticated identity of an API caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A local process on the admin Unix socket: a local administrator.
    Local,
    /// A workload whose SVID belongs to an admin entry or to `admin_ids`.
    Admin(SpiffeId),
    /// An attested agent, by its agent SPIFFE ID.
    Agent(SpiffeId),
    /// A downstream (nested) server, by its SPIFFE ID.
    Downstream(SpiffeId),
}

impl Caller {
    /// Whether the caller may use the management APIs (local or admin).
    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Local | Self::Admin(_))
    }

    /// The agent ID, when the caller is an agent.
    pub fn agent_id(&self) -> Option<&SpiffeId> {
        match self {
            Self::Agent(id) => Some(id),
            _ => None,
        }
    }

    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Admin(_) => "admin",
            Self::Agent(_) => "agent",
            Self::Downstream(_) => "downstream",
        }
    }
}

/// The caller of `request`, or `PermissionDenied` when the endpoint set none.
pub fn caller_of<T>(request: &Request<T>) -> Result<&Caller, ApiError> {
    request
        .extensions()
        .get::<Caller>()
        .ok_or_else(|| ApiError::permission_denied("caller is not authenticated"))
}

/// The caller of `request` if it is a local or admin caller.
pub fn require_admin<T>(request: &Request<T>) -> Result<&Caller, ApiError> {
    let caller = caller_of(request)?;
    if caller.is_admin() {
        Ok(caller)
    } else {
        Err(ApiError::permission_denied(
            "caller is not an administrator",
        ))
    }
}

/// The caller's agent ID if the caller is an attested agent.
pub fn require_agent<T>(request: &Request<T>) -> Result<&SpiffeId, ApiError> {
    caller_of(request)?
        .agent_id()
        .ok_or_else(|| ApiError::permission_denied("caller is not an agent"))
}
