//! The error every API handler returns: a gRPC code and a message that is safe to
//! show the caller. Each service's `status` module builds these from its domain
//! errors; internal causes are logged there and never reach the message.

use std::fmt;

use lanyard_proto::spire::api::types;
use tonic::Code;

/// A caller-facing failure: a gRPC code and a message naming what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    code: Code,
    message: String,
}

impl ApiError {
    /// A failure with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `InvalidArgument`: the request is malformed; the message names the field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// `NotFound`: the named record does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// `AlreadyExists`.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(Code::AlreadyExists, message)
    }

    /// `FailedPrecondition`: the request is valid but the current state forbids it.
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, message)
    }

    /// `PermissionDenied`.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, message)
    }

    /// `Internal` with a generic message; logs `error` (with its sources), which
    /// may hold details the caller must not see.
    pub fn internal(context: &'static str, error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(error), context, "request failed");
        Self::new(Code::Internal, format!("{context}: internal error"))
    }

    /// The gRPC code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The caller-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message (`"failed to create entry: " + message`).
    pub fn context(mut self, prefix: &str) -> Self {
        self.message = format!("{prefix}: {}", self.message);
        self
    }

    /// The per-item status SPIRE's batch calls carry.
    pub fn to_proto(&self) -> types::Status {
        types::Status {
            code: self.code as i32,
            message: self.message.clone(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        Self::new(error.code, error.message)
    }
}

/// The per-item status of a batch item that succeeded.
pub fn ok_status() -> types::Status {
    types::Status {
        code: Code::Ok as i32,
        message: "OK".to_owned(),
    }
}

/// Formats an error with all its sources, for logs.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}
