//! Builds the `tpm` node attestor from `NodeAttestor "tpm"`: the TPM behind the
//! TCTI, state (LDevID key blobs and certificate chain) in `<data_dir>/tpm`, and the
//! join token, needed only until the node is enrolled. Without the `tpm` cargo
//! feature the agent refuses the configuration with a clear error.

use std::path::Path;
use std::sync::Arc;

use lanyard_attest::{AgentAttestor, ConfigError};

use crate::config::TpmAttestorConfig;

/// The `tpm` attestor for this node.
#[cfg(feature = "tpm")]
pub fn tpm_attestor(
    config: &TpmAttestorConfig,
    data_dir: &Path,
    join_token: Option<&str>,
) -> Result<Arc<dyn AgentAttestor>, ConfigError> {
    use lanyard_attest::join_token::JoinToken;
    use lanyard_attest::tpm::agent::{KeyAlgorithm, TpmAgent, TpmAgentConfig};
    use lanyard_attest::tpm::{NodeType, Xname};

    let mut settings = TpmAgentConfig::new(config.tcti.clone(), data_dir);
    settings.join_token = join_token
        .map(JoinToken::new)
        .transpose()
        .map_err(ConfigError::InvalidJoinToken)?;
    settings.xname = config
        .xname
        .as_deref()
        .map(Xname::parse)
        .transpose()
        .map_err(|err| ConfigError::TpmSetting {
            setting: "xname",
            reason: err.to_string(),
        })?;
    settings.node_type = config
        .node_type
        .as_deref()
        .map(NodeType::parse)
        .transpose()
        .map_err(|err| ConfigError::TpmSetting {
            setting: "node_type",
            reason: err.to_string(),
        })?;
    if config.rsa_keys {
        settings.ak_algorithm = KeyAlgorithm::Rsa2048;
        settings.ldevid_algorithm = KeyAlgorithm::Rsa2048;
    }
    Ok(Arc::new(TpmAgent::new(settings)))
}

/// Without the `tpm` feature there is no TPM support in this binary.
#[cfg(not(feature = "tpm"))]
pub fn tpm_attestor(
    _config: &TpmAttestorConfig,
    _data_dir: &Path,
    _join_token: Option<&str>,
) -> Result<Arc<dyn AgentAttestor>, ConfigError> {
    Err(ConfigError::TpmSetting {
        setting: "NodeAttestor",
        reason: "this agent was built without the tpm feature".into(),
    })
}
