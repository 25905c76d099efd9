//! `-output json`: API messages as protobuf JSON the way SPIRE's CLI prints them
//! (proto field names, unset fields included, 64-bit integers as strings, bytes as base64,
//! enums by name).

use lanyard_daemon::output::{proto_bytes, proto_int64};
use lanyard_proto::spire::api::server::debug::v1::GetInfoResponse;
use lanyard_proto::spire::api::server::localauthority::v1::AuthorityState;
use lanyard_proto::spire::api::types::{
    Agent, Bundle, Entry, JoinToken, Jwtsvid, LogLevel, Logger, Selector, Spiffeid, Status,
    X509svid,
};
use serde_json::{Value, json};

/// A `SPIFFEID` message, or `null`.
pub(crate) fn spiffe_id(id: Option<&Spiffeid>) -> Value {
    id.map_or(
        Value::Null,
        |id| json!({ "trust_domain": id.trust_domain, "path": id.path }),
    )
}

/// A list of `Selector` messages.
pub(crate) fn selectors(selectors: &[Selector]) -> Value {
    selectors
        .iter()
        .map(|s| json!({ "type": s.r#type, "value": s.value }))
        .collect()
}

/// A `types.Entry`.
pub(crate) fn entry(e: &Entry) -> Value {
    json!({
        "id": e.id,
        "spiffe_id": spiffe_id(e.spiffe_id.as_ref()),
        "parent_id": spiffe_id(e.parent_id.as_ref()),
        "selectors": selectors(&e.selectors),
        "x509_svid_ttl": e.x509_svid_ttl,
        "federates_with": e.federates_with,
        "admin": e.admin,
        "downstream": e.downstream,
        "expires_at": proto_int64(e.expires_at),
        "dns_names": e.dns_names,
        "revision_number": proto_int64(e.revision_number),
        "store_svid": e.store_svid,
        "jwt_svid_ttl": e.jwt_svid_ttl,
        "hint": e.hint,
        "created_at": proto_int64(e.created_at),
    })
}

/// A `types.Status`, or `null`.
pub(crate) fn status(s: Option<&Status>) -> Value {
    s.map_or(
        Value::Null,
        |s| json!({ "code": s.code, "message": s.message }),
    )
}

/// A `types.Bundle`.
pub(crate) fn bundle(b: &Bundle) -> Value {
    json!({
        "trust_domain": b.trust_domain,
        "x509_authorities": b.x509_authorities.iter().map(|a| json!({
            "asn1": proto_bytes(&a.asn1),
            "tainted": a.tainted,
        })).collect::<Vec<_>>(),
        "jwt_authorities": b.jwt_authorities.iter().map(|k| json!({
            "public_key": proto_bytes(&k.public_key),
            "key_id": k.key_id,
            "expires_at": proto_int64(k.expires_at),
            "tainted": k.tainted,
        })).collect::<Vec<_>>(),
        "refresh_hint": proto_int64(b.refresh_hint),
        "sequence_number": proto_int64(b.sequence_number),
    })
}

/// A `types.Agent`.
pub(crate) fn agent(a: &Agent) -> Value {
    json!({
        "id": spiffe_id(a.id.as_ref()),
        "attestation_type": a.attestation_type,
        "x509svid_serial_number": a.x509svid_serial_number,
        "x509svid_expires_at": proto_int64(a.x509svid_expires_at),
        "selectors": selectors(&a.selectors),
        "banned": a.banned,
        "can_reattest": a.can_reattest,
    })
}

/// A `types.JoinToken`.
pub(crate) fn join_token(t: &JoinToken) -> Value {
    json!({ "value": t.value, "expires_at": proto_int64(t.expires_at) })
}

/// A `types.X509SVID`, or `null`.
pub(crate) fn x509_svid(s: Option<&X509svid>) -> Value {
    s.map_or(Value::Null, |s| {
        json!({
            "cert_chain": s.cert_chain.iter().map(|c| proto_bytes(c)).collect::<Vec<_>>(),
            "id": spiffe_id(s.id.as_ref()),
            "expires_at": proto_int64(s.expires_at),
            "hint": s.hint,
        })
    })
}

/// A `types.JWTSVID`, or `null`.
pub(crate) fn jwt_svid(s: Option<&Jwtsvid>) -> Value {
    s.map_or(Value::Null, |s| {
        json!({
            "token": s.token,
            "id": spiffe_id(s.id.as_ref()),
            "expires_at": proto_int64(s.expires_at),
            "issued_at": proto_int64(s.issued_at),
            "hint": s.hint,
        })
    })
}

/// A `localauthority.v1.AuthorityState`, or `null`.
pub(crate) fn authority_state(s: Option<&AuthorityState>) -> Value {
    s.map_or(Value::Null, |s| {
        json!({
            "authority_id": s.authority_id,
            "expires_at": proto_int64(s.expires_at),
            "upstream_authority_subject_key_id": s.upstream_authority_subject_key_id,
        })
    })
}

/// A `types.Logger`.
pub(crate) fn logger(l: &Logger) -> Value {
    json!({
        "current_level": log_level_name(l.current_level),
        "launch_level": log_level_name(l.launch_level),
    })
}

/// A `debug.v1.GetInfoResponse`.
pub(crate) fn debug_info(info: &GetInfoResponse) -> Value {
    json!({
        "svid_chain": info.svid_chain.iter().map(|c| json!({
            "id": spiffe_id(c.id.as_ref()),
            "expires_at": proto_int64(c.expires_at),
            "subject": c.subject,
        })).collect::<Vec<_>>(),
        "uptime": info.uptime,
        "agents_count": info.agents_count,
        "federated_bundles_count": info.federated_bundles_count,
        "entries_count": info.entries_count,
    })
}

/// The protobuf name of a log level (`INFO`), or its number when unknown.
pub(crate) fn log_level_name(level: i32) -> Value {
    LogLevel::try_from(level).map_or_else(|_| Value::from(level), |l| Value::from(l.as_str_name()))
}
