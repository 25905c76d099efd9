//! The server half of x509pop: verify the chain, challenge, verify the answer.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use lanyard_spiffe::{SpiffeId, TrustDomain};
use rustls_pki_types::CertificateDer;

use super::cert::{Leaf, LeafKey, parse_certificate};
use super::chain::verify_chain;
use super::config::read_trust_anchors;
use super::identity::{self, TemplateInput};
use super::pop::{new_challenge, verify_response};
use super::wire::{AttestationPayload, ChallengeResponse, NONCE_LEN};
use super::{DEFAULT_SVID_PREFIX, KIND, X509PopError, X509PopMode, X509PopServerConfig};
use crate::template::Template;
use crate::{
    AttestError, AttestationResult, BoxFuture, ConfigError, ServerAttestor, ServerSession,
    SessionContext, Step,
};

/// The server half of `x509pop`. Sessions issue one challenge.
#[derive(Clone)]
pub struct X509PopServer {
    inner: Arc<Settings>,
}

struct Settings {
    trust_domain: TrustDomain,
    mode: X509PopMode,
    /// External PKI roots (empty in spiffe mode).
    roots: Vec<CertificateDer<'static>>,
    /// Spiffe mode: `/`-terminated path prefix.
    svid_prefix: String,
    template: Template,
    max_intermediates: usize,
    max_rsa_key_size: usize,
    verify_client_ip: bool,
}

impl X509PopServer {
    /// Checks `config` and loads its CA bundles.
    pub fn new(
        trust_domain: TrustDomain,
        config: &X509PopServerConfig,
    ) -> Result<Self, ConfigError> {
        let roots = match config.mode {
            X509PopMode::ExternalPki if config.ca_bundle_paths.is_empty() => {
                return Err(ConfigError::MissingCaBundle);
            }
            X509PopMode::ExternalPki => read_trust_anchors(&config.ca_bundle_paths)?,
            X509PopMode::Spiffe if !config.ca_bundle_paths.is_empty() => {
                return Err(ConfigError::CaBundleInSpiffeMode);
            }
            X509PopMode::Spiffe => Vec::new(),
        };
        if config.max_rsa_key_size < 2048 {
            return Err(ConfigError::MaxRsaKeySizeTooSmall(config.max_rsa_key_size));
        }
        let template = identity::parse_template(config.agent_path_template.as_deref(), config.mode)
            .map_err(ConfigError::Template)?;
        let svid_prefix = normalize_svid_prefix(
            &trust_domain,
            config.svid_prefix.as_deref().unwrap_or(DEFAULT_SVID_PREFIX),
        )?;

        Ok(Self {
            inner: Arc::new(Settings {
                trust_domain,
                mode: config.mode,
                roots,
                svid_prefix,
                template,
                max_intermediates: config.max_intermediates,
                max_rsa_key_size: config.max_rsa_key_size,
                verify_client_ip: config.verify_client_ip,
            }),
        })
    }
}

impl fmt::Debug for X509PopServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509PopServer")
            .field("trust_domain", &self.inner.trust_domain)
            .field("mode", &self.inner.mode)
            .field("roots", &self.inner.roots.len())
            .finish_non_exhaustive()
    }
}

impl ServerAttestor for X509PopServer {
    fn kind(&self) -> &str {
        KIND
    }

    fn new_session(&self, ctx: SessionContext) -> Box<dyn ServerSession> {
        Box::new(Session {
            settings: Arc::clone(&self.inner),
            ctx,
            state: State::New,
        })
    }
}

struct Session {
    settings: Arc<Settings>,
    ctx: SessionContext,
    state: State,
}

enum State {
    New,
    /// The challenge is out; the identity is known pending proof of possession.
    Challenged {
        key: LeafKey,
        nonce: [u8; NONCE_LEN],
        result: AttestationResult,
    },
    Finished,
}

impl Session {
    fn start_sync(&mut self, payload: &[u8]) -> Result<Step, AttestError> {
        if !matches!(self.state, State::New) {
            return Err(AttestError::SessionFinished);
        }
        self.state = State::Finished;

        let (key, result) = self.verify_payload(payload)?;
        let (challenge, nonce) = new_challenge(&key)?;
        let challenge = serde_json::to_vec(&challenge).map_err(X509PopError::Payload)?;
        self.state = State::Challenged { key, nonce, result };
        Ok(Step::Challenge(challenge))
    }

    fn respond_sync(&mut self, response: &[u8]) -> Result<Step, AttestError> {
        let State::Challenged { key, nonce, result } =
            std::mem::replace(&mut self.state, State::Finished)
        else {
            return Err(AttestError::UnexpectedChallengeResponse);
        };

        let response: ChallengeResponse =
            serde_json::from_slice(response).map_err(X509PopError::ResponsePayload)?;
        verify_response(&key, &nonce, &response)?;
        tracing::debug!(agent_id = %result.agent_id, "x509pop proof of possession verified");
        Ok(Step::Done(result))
    }

    /// Everything before the challenge: the payload, the chain, and the
    /// identity it would attest.
    fn verify_payload(&self, payload: &[u8]) -> Result<(LeafKey, AttestationResult), X509PopError> {
        let settings = &*self.settings;
        let payload: AttestationPayload =
            serde_json::from_slice(payload).map_err(X509PopError::Payload)?;
        let count = payload.certificates.len().saturating_sub(1);
        if payload.certificates.is_empty() {
            return Err(X509PopError::NoCertificates);
        }
        if count > settings.max_intermediates {
            return Err(X509PopError::TooManyIntermediates {
                count,
                max: settings.max_intermediates,
            });
        }

        let leaf = Leaf::parse(&payload.certificates[0])?;
        for (index, der) in payload.certificates.iter().enumerate().skip(1) {
            parse_certificate(der, index)?;
        }
        check_leaf_key(&leaf, settings.max_rsa_key_size)?;

        let chain: Vec<CertificateDer<'_>> = payload
            .certificates
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect();
        let roots = match settings.mode {
            X509PopMode::ExternalPki => &settings.roots[..],
            X509PopMode::Spiffe => &self.ctx.trust_bundle[..],
        };
        let path_cas = verify_chain(&chain, roots, self.ctx.now)?;

        let svid_path_trimmed = match settings.mode {
            X509PopMode::ExternalPki => None,
            X509PopMode::Spiffe => Some(self.svid_path_trimmed(&leaf)?),
        };
        if settings.verify_client_ip {
            check_client_ip(&leaf, self.ctx.peer_ip)?;
        }

        let uri_san_selectors = identity::uri_san_selectors(&leaf, &settings.trust_domain);
        let input = TemplateInput {
            trust_domain: &settings.trust_domain,
            leaf: &leaf,
            svid_path_trimmed: svid_path_trimmed.as_deref(),
            uri_san_selectors: &uri_san_selectors,
        };
        let agent_id = identity::agent_id(&settings.template, &input)?;
        let selectors = identity::selectors(&leaf, &path_cas, &uri_san_selectors)?;

        let result = AttestationResult {
            agent_id,
            selectors,
            can_reattest: true,
        };
        Ok((leaf.key, result))
    }

    /// Spiffe mode: the path of the leaf's SPIFFE ID after `svid_prefix`.
    fn svid_path_trimmed(&self, leaf: &Leaf) -> Result<String, X509PopError> {
        let uri = leaf
            .uris
            .iter()
            .find(|uri| uri.starts_with("spiffe://"))
            .ok_or(X509PopError::NoSpiffeId)?;
        let id = SpiffeId::parse(uri).map_err(X509PopError::BadSpiffeId)?;
        if !id.is_member_of(&self.settings.trust_domain) {
            return Err(X509PopError::ForeignTrustDomain);
        }

        let prefix = &self.settings.svid_prefix;
        let trimmed = id.path().strip_prefix(prefix.as_str()).ok_or_else(|| {
            X509PopError::SvidPrefixMismatch {
                prefix: prefix.clone(),
            }
        })?;
        Ok(trimmed.to_owned())
    }
}

impl ServerSession for Session {
    fn start<'a>(&'a mut self, payload: &'a [u8]) -> BoxFuture<'a, Result<Step, AttestError>> {
        let step = self.start_sync(payload);
        Box::pin(async move { step })
    }

    fn respond<'a>(&'a mut self, response: &'a [u8]) -> BoxFuture<'a, Result<Step, AttestError>> {
        let step = self.respond_sync(response);
        Box::pin(async move { step })
    }
}

fn check_leaf_key(leaf: &Leaf, max_rsa_key_size: usize) -> Result<(), X509PopError> {
    if let LeafKey::Rsa { bits, .. } = leaf.key {
        if bits > max_rsa_key_size {
            return Err(X509PopError::RsaKeyTooLarge {
                bits,
                max: max_rsa_key_size,
            });
        }
        if bits < 2048 {
            return Err(X509PopError::UnsupportedKey("rsa key below 2048 bits"));
        }
    }
    if !leaf.digital_signature {
        return Err(X509PopError::MissingDigitalSignature);
    }
    Ok(())
}

fn check_client_ip(leaf: &Leaf, peer: Option<IpAddr>) -> Result<(), X509PopError> {
    let peer = peer.ok_or(X509PopError::ClientIpUnknown)?.to_canonical();
    if leaf.ips.iter().any(|ip| ip.to_canonical() == peer) {
        Ok(())
    } else {
        Err(X509PopError::ClientIpMismatch)
    }
}

/// `/spire-exchange` becomes `/spire-exchange/`; a missing leading `/` is
/// added; `""` becomes `/` (every path matches, as in SPIRE).
fn normalize_svid_prefix(td: &TrustDomain, prefix: &str) -> Result<String, ConfigError> {
    let bad = || ConfigError::BadSvidPrefix(prefix.to_owned());
    let inner = prefix.trim_matches('/');
    if !inner.is_empty() {
        SpiffeId::from_parts(td, &format!("/{inner}")).map_err(|_| bad())?;
    }
    if inner.is_empty() {
        return Ok("/".to_owned());
    }
    Ok(format!("/{inner}/"))
}
