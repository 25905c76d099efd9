//! `ValidateJWTSVID`: full JWT-SVID validation and the claims as a protobuf `Struct`.

use std::collections::BTreeSet;
use std::time::SystemTime;

use lanyard_spiffe::{BundleSet, JwtSvid, TrustDomain, verify_jwt_svid};
use prost_types::value::Kind;
use serde_json::{Map, Value};

use super::WorkloadError;

/// Claims returned for a JWT-SVID of another trust domain, whatever is configured.
const ALWAYS_ALLOWED: [&str; 3] = ["sub", "aud", "exp"];

/// Validates `token` for `audience` against `bundles` at `now`.
pub(crate) fn validate(
    token: &str,
    audience: &str,
    bundles: &BundleSet,
    now: SystemTime,
) -> Result<JwtSvid, WorkloadError> {
    verify_jwt_svid(token, bundles, audience, now)
        .map_err(|err| WorkloadError::InvalidToken(err.to_string()))
}

/// The claims the caller gets: all of them for the agent's own trust domain, else only
/// `sub`, `aud`, `exp` and the configured ones; `aud` always as a list.
pub(crate) fn returned_claims(
    svid: &JwtSvid,
    own: &TrustDomain,
    allowed_foreign: &BTreeSet<String>,
) -> prost_types::Struct {
    let mut claims: Map<String, Value> = svid.claims().clone();
    if !svid.spiffe_id().is_member_of(own) {
        claims.retain(|name, _| {
            ALWAYS_ALLOWED.contains(&name.as_str()) || allowed_foreign.contains(name)
        });
    }
    if let Some(Value::String(single)) = claims.get("aud") {
        let list = Value::Array(vec![Value::String(single.clone())]);
        claims.insert("aud".to_owned(), list);
    }
    to_struct(claims)
}

fn to_struct(map: Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map
            .into_iter()
            .map(|(key, value)| (key, to_value(value)))
            .collect(),
    }
}

fn to_value(value: Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        // Protobuf JSON numbers are doubles; JWT times fit exactly.
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(to_struct(map)),
    };
    prost_types::Value { kind: Some(kind) }
}
