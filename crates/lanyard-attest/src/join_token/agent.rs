//! The agent half of join token attestation.

use std::fs;
use std::path::PathBuf;

use lanyard_proto::spire::api::types::AttestationData;
use zeroize::Zeroizing;

use super::{JoinToken, KIND};
use crate::{AgentAttestor, AgentSession, AttestError, ConfigError};

/// Where the agent finds its join token (SPIRE's `join_token` and
/// `join_token_file` agent settings; the `-joinToken` flag overrides both).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinTokenAgentConfig {
    /// The token itself (`agent { join_token = "..." }`).
    pub join_token: Option<String>,
    /// A file holding the token; surrounding whitespace is ignored.
    pub join_token_file: Option<PathBuf>,
}

impl JoinTokenAgentConfig {
    /// Resolves the token: the `-joinToken` flag if given, else `join_token`,
    /// else the contents of `join_token_file`. Setting both config sources is
    /// an error, as is setting none without a flag.
    pub fn resolve(&self, flag: Option<&str>) -> Result<JoinToken, ConfigError> {
        if self.join_token.is_some() && self.join_token_file.is_some() {
            return Err(ConfigError::ConflictingJoinTokenSources);
        }

        if let Some(token) = flag.or(self.join_token.as_deref()) {
            return JoinToken::new(token.trim()).map_err(ConfigError::InvalidJoinToken);
        }

        let Some(path) = &self.join_token_file else {
            return Err(ConfigError::MissingJoinToken);
        };
        let contents = Zeroizing::new(fs::read(path).map_err(|source| ConfigError::Read {
            setting: "join_token_file",
            path: path.clone(),
            source,
        })?);
        JoinToken::from_payload(contents.trim_ascii()).map_err(ConfigError::InvalidJoinToken)
    }
}

/// The agent half of `join_token`: sends the token, answers no challenge.
#[derive(Debug, Clone)]
pub struct JoinTokenAgent {
    token: JoinToken,
}

impl JoinTokenAgent {
    /// An attestor that presents `token`.
    pub fn new(token: JoinToken) -> Self {
        Self { token }
    }
}

impl AgentAttestor for JoinTokenAgent {
    fn kind(&self) -> &str {
        KIND
    }

    fn begin(&self) -> Result<Box<dyn AgentSession>, AttestError> {
        Ok(Box::new(self.clone()))
    }
}

impl AgentSession for JoinTokenAgent {
    fn attestation_data(&self) -> AttestationData {
        AttestationData {
            r#type: KIND.to_owned(),
            payload: self.token.as_bytes().to_vec(),
        }
    }

    fn answer_challenge(&mut self, _: &[u8]) -> Result<Vec<u8>, AttestError> {
        Err(AttestError::UnexpectedChallenge(KIND))
    }
}
