//! How the Agent service reports failures: the one place its store errors become
//! gRPC codes and caller-facing messages.

use lanyard_proto::google::rpc::Status as RpcStatus;
use lanyard_proto::spire::api::types::PermissionDeniedDetails;
pub use lanyard_proto::spire::api::types::permission_denied_details::Reason;
use lanyard_store::StoreError;
use prost::Message as _;
use tonic::Code;

use crate::api::ApiError;

/// Maps a store failure about attested nodes during `action`.
pub(super) fn node_error(action: &'static str, error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(_) | StoreError::Expired(_) => ApiError::not_found("agent not found"),
        StoreError::AlreadyExists(_) => ApiError::already_exists("agent already exists"),
        StoreError::InvalidArgument(why) => ApiError::invalid(why).context(action),
        StoreError::Conflict(why) => ApiError::failed_precondition(why).context(action),
        other => ApiError::internal(action, &other),
    }
}

/// Maps a store failure while creating a join token (or its alias entry).
pub(super) fn token_error(action: &'static str, error: StoreError) -> ApiError {
    match error {
        StoreError::AlreadyExists(_) => ApiError::already_exists("join token already exists"),
        StoreError::InvalidArgument(why) => ApiError::invalid(why).context(action),
        other => ApiError::internal(action, &other),
    }
}

/// `PermissionDenied` carrying SPIRE's `PermissionDeniedDetails` with `reason`,
/// which tells an agent whether attesting again can help.
pub fn denied_with_reason(message: &str, reason: Reason) -> tonic::Status {
    let details = RpcStatus {
        code: Code::PermissionDenied as i32,
        message: message.to_owned(),
        details: vec![prost_types::Any {
            type_url: "type.googleapis.com/spire.api.types.PermissionDeniedDetails".to_owned(),
            value: PermissionDeniedDetails {
                reason: reason as i32,
            }
            .encode_to_vec(),
        }],
    };
    tonic::Status::with_details(
        Code::PermissionDenied,
        message,
        details.encode_to_vec().into(),
    )
}

/// The refusal of a banned agent.
pub(super) fn banned(message: &str) -> tonic::Status {
    denied_with_reason(message, Reason::AgentBanned)
}

/// Maps a CA failure while signing an agent SVID.
pub(super) fn sign_error(error: crate::ca::ServerCaError) -> ApiError {
    use lanyard_ca::manager::CaError;
    match error {
        crate::ca::ServerCaError::Ca(CaError::NotReady(_)) => {
            ApiError::new(Code::Unavailable, "server is initializing")
                .context("failed to sign X509-SVID")
        }
        other => ApiError::internal("failed to sign X509-SVID", &other),
    }
}
