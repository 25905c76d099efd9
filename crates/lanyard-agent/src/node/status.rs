//! Reading the server's refusals: which errors mean "this agent is no longer accepted"
//! (re-attest or stop) and which are passing trouble (retry with backoff).

use lanyard_proto::google::rpc::Status as RpcStatus;
use lanyard_proto::spire::api::types::PermissionDeniedDetails;
use lanyard_proto::spire::api::types::permission_denied_details::Reason;
use prost::Message as _;
use rustls::AlertDescription;
use tonic::Code;

/// What a failed call to the server means for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server refuses this agent's identity: evicted, expired, unknown or banned.
    Rejected(Rejection),
    /// Anything else: the server is down, restarting, overloaded, or the network failed.
    Transient,
}

/// Why the server refuses the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Banned: attesting again is refused until an operator lifts the ban.
    Banned,
    /// Evicted, expired or unknown: attesting again may succeed.
    NotAttested,
}

/// Classifies a gRPC status from the server.
///
/// `PermissionDenied`, `Unauthenticated` and `NotFound` reject the agent (SPIRE's
/// `PermissionDeniedDetails` reason `AGENT_BANNED` marks a ban); a transport error whose
/// cause is a TLS alert refusing the agent's certificate rejects it too.
pub fn classify(status: &tonic::Status) -> Failure {
    match status.code() {
        Code::PermissionDenied => {
            if reason(status) == Some(Reason::AgentBanned) {
                Failure::Rejected(Rejection::Banned)
            } else {
                Failure::Rejected(Rejection::NotAttested)
            }
        }
        Code::Unauthenticated | Code::NotFound => Failure::Rejected(Rejection::NotAttested),
        _ if certificate_refused(status) => Failure::Rejected(Rejection::NotAttested),
        _ => Failure::Transient,
    }
}

/// The `PermissionDeniedDetails` reason carried in the status details, if any.
pub fn reason(status: &tonic::Status) -> Option<Reason> {
    let details = RpcStatus::decode(status.details()).ok()?;
    details.details.iter().find_map(|any| {
        if !any
            .type_url
            .ends_with("spire.api.types.PermissionDeniedDetails")
        {
            return None;
        }
        let details = PermissionDeniedDetails::decode(any.value.as_slice()).ok()?;
        Reason::try_from(details.reason).ok()
    })
}

/// Whether the error chain holds a TLS alert by which the server refused the agent's
/// certificate.
fn certificate_refused(status: &tonic::Status) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(err) = current {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::AlertReceived(alert)) = tls
            && matches!(
                alert,
                AlertDescription::BadCertificate
                    | AlertDescription::CertificateExpired
                    | AlertDescription::CertificateRevoked
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::UnknownCA
                    | AlertDescription::AccessDenied
                    | AlertDescription::CertificateRequired
            )
        {
            return true;
        }
        current = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use prost_types::Any;

    use super::*;

    fn with_reason(reason: Reason) -> tonic::Status {
        let details = RpcStatus {
            code: Code::PermissionDenied as i32,
            message: "denied".into(),
            details: vec![Any {
                type_url: "type.googleapis.com/spire.api.types.PermissionDeniedDetails".into(),
                value: PermissionDeniedDetails {
                    reason: reason as i32,
                }
                .encode_to_vec(),
            }],
        };
        tonic::Status::with_details(
            Code::PermissionDenied,
            "denied",
            details.encode_to_vec().into(),
        )
    }

    #[test]
    fn refusals_of_the_agent_are_rejections() {
        for code in [
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::NotFound,
        ] {
            assert_eq!(
                classify(&tonic::Status::new(code, "x")),
                Failure::Rejected(Rejection::NotAttested),
                "{code:?}"
            );
        }
        assert_eq!(
            classify(&with_reason(Reason::AgentBanned)),
            Failure::Rejected(Rejection::Banned)
        );
        assert_eq!(
            classify(&with_reason(Reason::AgentMustReattest)),
            Failure::Rejected(Rejection::NotAttested)
        );
        assert_eq!(
            reason(&with_reason(Reason::AgentExpired)),
            Some(Reason::AgentExpired)
        );
    }

    #[test]
    fn outages_are_transient() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Internal,
            Code::ResourceExhausted,
            Code::Unknown,
        ] {
            assert_eq!(classify(&tonic::Status::new(code, "x")), Failure::Transient);
        }
    }
}
