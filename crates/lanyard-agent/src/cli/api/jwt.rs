//! `api fetch jwt` and `api validate jwt`.

use std::fmt::Write as _;
use std::io::Write;

use lanyard_daemon::OutputFormat;
use lanyard_daemon::output::{json_line, proto_bytes};
use lanyard_proto::workload::{
    JwtBundlesRequest, JwtBundlesResponse, JwtsvidRequest, JwtsvidResponse, ValidateJwtsvidRequest,
};
use prost_types::value::Kind;
use serde_json::{Value, json};

use super::client::Client;
use super::x509::write_out;
use super::{ApiError, FetchJwtArgs, ValidateJwtArgs};

/// `api fetch jwt`: the JWT bundles, then the JWT-SVIDs.
pub(super) async fn fetch(args: &FetchJwtArgs, out: &mut dyn Write) -> Result<(), ApiError> {
    let audience: Vec<String> = args
        .audience
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    if audience.is_empty() {
        return Err(ApiError::msg("audience must be specified"));
    }
    let client = Client::connect(&args.common).await?;

    let bundles = client
        .bounded(async {
            let mut stream = client
                .inner
                .clone()
                .fetch_jwt_bundles(client.request(JwtBundlesRequest {}))
                .await?
                .into_inner();
            stream
                .message()
                .await?
                .ok_or_else(|| tonic::Status::unavailable("the agent closed the stream"))
        })
        .await?;
    let svids = client
        .bounded(async {
            client
                .inner
                .clone()
                .fetch_jwtsvid(client.request(JwtsvidRequest {
                    audience,
                    spiffe_id: args.spiffe_id.clone().unwrap_or_default(),
                }))
                .await
                .map(tonic::Response::into_inner)
        })
        .await?;

    let text = match args.common.output {
        OutputFormat::Json => json_line(&json!([svids_json(&svids), bundles_json(&bundles)])),
        OutputFormat::Pretty => pretty_fetch(&svids, &bundles),
    };
    write_out(out, &text)
}

/// `api validate jwt`.
pub(super) async fn validate(args: &ValidateJwtArgs, out: &mut dyn Write) -> Result<(), ApiError> {
    let audience = args
        .audience
        .clone()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ApiError::msg("audience must be specified"))?;
    let svid = args
        .svid
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::msg("svid must be specified"))?;
    let client = Client::connect(&args.common).await?;

    let mut inner = client.inner.clone();
    let call = inner.validate_jwtsvid(client.request(ValidateJwtsvidRequest { audience, svid }));
    let response = match call.await {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::InvalidArgument => {
            return Err(ApiError(format!("SVID is not valid: {}", status.message())));
        }
        Err(status) => {
            return Err(ApiError(format!(
                "unable to validate JWT SVID: {}",
                lanyard_daemon::output::describe_status(&status)
            )));
        }
    };

    let claims = response
        .claims
        .as_ref()
        .map_or(Value::Object(serde_json::Map::new()), struct_json);
    let text = match args.common.output {
        OutputFormat::Json => {
            json_line(&json!({ "spiffe_id": response.spiffe_id, "claims": claims }))
        }
        OutputFormat::Pretty => format!(
            "SVID is valid.\nSPIFFE ID : {}\nClaims    : {claims}\n",
            response.spiffe_id
        ),
    };
    write_out(out, &text)
}

fn pretty_fetch(svids: &JwtsvidResponse, bundles: &JwtBundlesResponse) -> String {
    let mut text = String::new();
    for svid in &svids.svids {
        let _ = writeln!(text, "token({}):\n\t{}", svid.spiffe_id, svid.svid);
        if !svid.hint.is_empty() {
            let _ = writeln!(text, "hint({}):\n\t{}", svid.spiffe_id, svid.hint);
        }
    }
    let mut sorted: Vec<_> = bundles.bundles.iter().collect();
    sorted.sort();
    for (td, jwks) in sorted {
        let _ = writeln!(text, "bundle({td}):\n\t{}", String::from_utf8_lossy(jwks));
    }
    text
}

fn svids_json(response: &JwtsvidResponse) -> Value {
    let svids: Vec<Value> = response
        .svids
        .iter()
        .map(|s| json!({ "spiffe_id": s.spiffe_id, "svid": s.svid, "hint": s.hint }))
        .collect();
    json!({ "svids": svids })
}

fn bundles_json(response: &JwtBundlesResponse) -> Value {
    let bundles: serde_json::Map<String, Value> = response
        .bundles
        .iter()
        .map(|(td, jwks)| (td.clone(), proto_bytes(jwks)))
        .collect();
    json!({ "bundles": bundles })
}

/// A protobuf `Struct` as the JSON object it stands for.
fn struct_json(value: &prost_types::Struct) -> Value {
    Value::Object(
        value
            .fields
            .iter()
            .map(|(key, value)| (key.clone(), value_json(value)))
            .collect(),
    )
}

fn value_json(value: &prost_types::Value) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::NumberValue(n)) => number_json(*n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::ListValue(list)) => Value::Array(list.values.iter().map(value_json).collect()),
        Some(Kind::StructValue(inner)) => struct_json(inner),
    }
}

/// Whole numbers print without a fraction, as protobuf JSON does.
fn number_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        // Exact: the value is integral and within f64's exact integer range.
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}
