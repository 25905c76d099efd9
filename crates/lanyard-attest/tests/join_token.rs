//! Both join token halves, with a token table behind the redeemer interface.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{attest, ctx, now, td};
use lanyard_attest::join_token::{
    JoinToken, JoinTokenAgent, JoinTokenAgentConfig, JoinTokenError, JoinTokenRedeemer,
    JoinTokenServer, RedeemError,
};
use lanyard_attest::{
    AgentAttestor as _, AttestError, ConfigError, ErrorClass, ServerAttestor as _, ServerAttestors,
    SessionContext,
};
use lanyard_proto::spire::api::types::AttestationData;
use lanyard_spiffe::{Selector, SelectorSet};

/// Tokens with their expiry and bound selectors; redeeming removes them,
/// expired or not, as the store does.
#[derive(Default)]
struct TokenTable {
    tokens: Mutex<HashMap<String, (SystemTime, SelectorSet)>>,
}

impl TokenTable {
    fn issue(&self, token: &JoinToken, ttl: Duration, selectors: &[&str]) {
        let selectors = selectors
            .iter()
            .map(|s| Selector::parse(s).unwrap())
            .collect();
        self.tokens
            .lock()
            .unwrap()
            .insert(token.as_str().to_owned(), (now() + ttl, selectors));
    }
}

impl JoinTokenRedeemer for TokenTable {
    fn redeem<'a>(
        &'a self,
        token: &'a JoinToken,
        now: SystemTime,
    ) -> lanyard_attest::BoxFuture<'a, Result<SelectorSet, RedeemError>> {
        let taken = self.tokens.lock().unwrap().remove(token.as_str());
        Box::pin(async move {
            let (expires_at, selectors) = taken.ok_or(RedeemError::NotFound)?;
            if expires_at <= now {
                return Err(RedeemError::Expired);
            }
            Ok(selectors)
        })
    }
}

fn server(table: &Arc<TokenTable>) -> JoinTokenServer {
    JoinTokenServer::new(td(), Arc::clone(table) as Arc<dyn JoinTokenRedeemer>)
}

fn join_token_error<T>(result: Result<T, AttestError>) -> JoinTokenError {
    match result {
        Err(AttestError::JoinToken(err)) => err,
        Err(other) => panic!("expected a join token error, got {other:?}"),
        Ok(_) => panic!("expected a join token error, got success"),
    }
}

#[tokio::test]
async fn a_token_attests_once_with_its_bound_selectors() {
    let table = Arc::new(TokenTable::default());
    let token = JoinToken::generate().unwrap();
    table.issue(
        &token,
        Duration::from_secs(600),
        &["lanyard:xname:x1000c0s0b0n0", "lanyard:type:compute"],
    );
    let agent = JoinTokenAgent::new(token.clone());

    let result = attest(server(&table), &agent, ctx()).await.unwrap();
    assert_eq!(
        result.agent_id.as_str(),
        format!(
            "spiffe://example.org/spire/agent/join_token/{}",
            token.as_str()
        )
    );
    let selectors: Vec<String> = result.selectors.iter().map(ToString::to_string).collect();
    assert_eq!(
        selectors,
        ["lanyard:type:compute", "lanyard:xname:x1000c0s0b0n0"]
    );
    assert!(!result.can_reattest);

    let err = join_token_error(attest(server(&table), &agent, ctx()).await);
    assert!(matches!(err, JoinTokenError::NotFound), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Denied);
    assert_eq!(
        err.to_string(),
        "join token does not exist or has already been used"
    );
}

#[tokio::test]
async fn an_expired_token_is_refused_and_consumed() {
    let table = Arc::new(TokenTable::default());
    let token = JoinToken::generate().unwrap();
    table.issue(&token, Duration::from_secs(600), &[]);
    let agent = JoinTokenAgent::new(token.clone());
    let later = SessionContext::new(now() + Duration::from_secs(600));

    let err = join_token_error(attest(server(&table), &agent, later).await);
    assert!(matches!(err, JoinTokenError::Expired), "{err:?}");
    let err = join_token_error(attest(server(&table), &agent, ctx()).await);
    assert!(matches!(err, JoinTokenError::NotFound), "{err:?}");
}

#[tokio::test]
async fn malformed_tokens_never_reach_the_store() {
    let table = Arc::new(TokenTable::default());
    let mut attestors = ServerAttestors::new();
    attestors.insert(Arc::new(server(&table)));

    for payload in [&b""[..], b"a/b", b"..", b"tok en", &[0xff; 4], &[b'a'; 300]] {
        let data = AttestationData {
            r#type: "join_token".to_owned(),
            payload: payload.to_vec(),
        };
        let err = join_token_error(attestors.start(&data, ctx()).await);
        assert!(
            matches!(err, JoinTokenError::Malformed(_)),
            "{payload:?}: {err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Malformed);
    }
}

#[tokio::test]
async fn sessions_take_no_challenge_response_and_errors_hide_the_token() {
    let table = Arc::new(TokenTable::default());
    let token = JoinToken::new("secret-token-value").unwrap();
    let mut session = server(&table).new_session(ctx());

    let err = session.start(token.as_bytes()).await.unwrap_err();
    assert!(!err.to_string().contains("secret-token-value"), "{err}");
    assert!(
        !format!("{err:?}").contains("secret-token-value"),
        "{err:?}"
    );
    assert!(matches!(
        session.respond(b"x").await.unwrap_err(),
        AttestError::UnexpectedChallengeResponse
    ));
    assert!(matches!(
        session.start(token.as_bytes()).await.unwrap_err(),
        AttestError::SessionFinished
    ));

    let mut agent_session = JoinTokenAgent::new(token.clone()).begin().unwrap();
    let data = agent_session.attestation_data();
    assert_eq!(data.r#type, "join_token");
    assert_eq!(data.payload, b"secret-token-value");
    assert!(matches!(
        agent_session.answer_challenge(b"{}").unwrap_err(),
        AttestError::UnexpectedChallenge("join_token")
    ));
}

#[tokio::test]
async fn stores_that_fail_are_internal_errors() {
    struct Broken;
    impl JoinTokenRedeemer for Broken {
        fn redeem<'a>(
            &'a self,
            _: &'a JoinToken,
            _: SystemTime,
        ) -> lanyard_attest::BoxFuture<'a, Result<SelectorSet, RedeemError>> {
            Box::pin(async { Err(RedeemError::Store("database is locked".into())) })
        }
    }
    let server = JoinTokenServer::new(td(), Arc::new(Broken));
    let agent = JoinTokenAgent::new(JoinToken::generate().unwrap());
    let err = attest(server, &agent, ctx()).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Internal);
    assert_eq!(err.to_string(), "join token store failed");
}

#[tokio::test]
async fn unknown_attestation_types_are_refused() {
    let attestors = ServerAttestors::new();
    let data = AttestationData {
        r#type: "aws_iid\n".to_owned(),
        payload: Vec::new(),
    };
    let err = attestors.start(&data, ctx()).await.err().unwrap();
    assert!(
        matches!(&err, AttestError::UnknownAttestor(kind) if kind == "aws_iid?"),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Malformed);
}

#[test]
fn agent_token_sources() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "  file-token\n").unwrap();

    let from_file = JoinTokenAgentConfig {
        join_token: None,
        join_token_file: Some(file.clone()),
    };
    assert_eq!(from_file.resolve(None).unwrap().as_str(), "file-token");
    assert_eq!(
        from_file.resolve(Some("flag-token")).unwrap().as_str(),
        "flag-token"
    );

    let inline = JoinTokenAgentConfig {
        join_token: Some("config-token".to_owned()),
        join_token_file: None,
    };
    assert_eq!(inline.resolve(None).unwrap().as_str(), "config-token");
    assert_eq!(
        inline.resolve(Some("flag-token")).unwrap().as_str(),
        "flag-token"
    );

    let both = JoinTokenAgentConfig {
        join_token: Some("a".to_owned()),
        join_token_file: Some(file),
    };
    assert!(matches!(
        both.resolve(None),
        Err(ConfigError::ConflictingJoinTokenSources)
    ));
    assert!(matches!(
        JoinTokenAgentConfig::default().resolve(None),
        Err(ConfigError::MissingJoinToken)
    ));
    assert!(matches!(
        JoinTokenAgentConfig::default().resolve(Some("bad/token")),
        Err(ConfigError::InvalidJoinToken(_))
    ));

    let missing = JoinTokenAgentConfig {
        join_token: None,
        join_token_file: Some(dir.path().join("absent")),
    };
    assert!(matches!(
        missing.resolve(None),
        Err(ConfigError::Read { .. })
    ));
}
