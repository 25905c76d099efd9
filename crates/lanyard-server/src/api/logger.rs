//! `spire.api.server.logger.v1.Logger`: read and change the log level at run time.
//! Its failures are all request-level, mapped here.

use std::sync::Arc;

use lanyard_daemon::{LogHandle, LogLevel};
use lanyard_proto::spire::api::server::logger::v1 as pb;
use lanyard_proto::spire::api::server::logger::v1::logger_server::Logger;
use lanyard_proto::spire::api::types;
use tonic::{Request, Response, Status};

use crate::api::{ApiError, ServerContext, require_admin};

/// The Logger service over the daemon's log handle.
#[derive(Clone)]
pub struct LoggerService {
    ctx: Arc<ServerContext>,
}

impl LoggerService {
    /// A service changing the level through `ctx.log`.
    pub fn new(ctx: Arc<ServerContext>) -> Self {
        Self { ctx }
    }

    /// The gRPC server wrapper for this service.
    pub fn into_server(self) -> pb::logger_server::LoggerServer<Self> {
        pb::logger_server::LoggerServer::new(self)
    }

    fn handle(&self) -> Result<&LogHandle, ApiError> {
        self.ctx.log.as_ref().ok_or_else(|| {
            ApiError::failed_precondition("the log level cannot be changed in this process")
        })
    }

    fn state(&self) -> Result<types::Logger, ApiError> {
        let handle = self.handle()?;
        Ok(types::Logger {
            current_level: level_to_proto(handle.level()) as i32,
            launch_level: level_to_proto(handle.launch_level()) as i32,
        })
    }
}

#[tonic::async_trait]
impl Logger for LoggerService {
    async fn get_logger(
        &self,
        request: Request<pb::GetLoggerRequest>,
    ) -> Result<Response<types::Logger>, Status> {
        require_admin(&request)?;
        Ok(Response::new(self.state()?))
    }

    async fn set_log_level(
        &self,
        request: Request<pb::SetLogLevelRequest>,
    ) -> Result<Response<types::Logger>, Status> {
        require_admin(&request)?;
        let requested = request.into_inner().new_level;
        let level = level_from_proto(requested)?;

        self.handle()?
            .set_level(level)
            .map_err(|e| ApiError::internal("failed to set log level", &e))?;
        tracing::info!(level = level.as_str(), "log level changed");
        Ok(Response::new(self.state()?))
    }

    async fn reset_log_level(
        &self,
        request: Request<pb::ResetLogLevelRequest>,
    ) -> Result<Response<types::Logger>, Status> {
        require_admin(&request)?;
        let handle = self.handle()?;
        handle
            .reset_level()
            .map_err(|e| ApiError::internal("failed to reset log level", &e))?;
        tracing::info!(level = handle.level().as_str(), "log level reset");
        Ok(Response::new(self.state()?))
    }
}

fn level_from_proto(value: i32) -> Result<LogLevel, ApiError> {
    match types::LogLevel::try_from(value) {
        Ok(types::LogLevel::Panic | types::LogLevel::Fatal | types::LogLevel::Error) => {
            Ok(LogLevel::Error)
        }
        Ok(types::LogLevel::Warn) => Ok(LogLevel::Warn),
        Ok(types::LogLevel::Info) => Ok(LogLevel::Info),
        Ok(types::LogLevel::Debug) => Ok(LogLevel::Debug),
        Ok(types::LogLevel::Trace) => Ok(LogLevel::Trace),
        Ok(types::LogLevel::Unspecified) => Err(ApiError::invalid(
            "invalid new_level: a level must be given",
        )),
        Err(_) => Err(ApiError::invalid(format!(
            "invalid new_level: unknown value {value}"
        ))),
    }
}

fn level_to_proto(level: LogLevel) -> types::LogLevel {
    match level {
        LogLevel::Trace => types::LogLevel::Trace,
        LogLevel::Debug => types::LogLevel::Debug,
        LogLevel::Info => types::LogLevel::Info,
        LogLevel::Warn => types::LogLevel::Warn,
        LogLevel::Error => types::LogLevel::Error,
    }
}
