//! `api fetch x509` and `api watch`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use lanyard_daemon::OutputFormat;
use lanyard_daemon::output::{json_line, proto_bytes};
use lanyard_proto::workload::{X509svidRequest, X509svidResponse};
use lanyard_spiffe::bundle::certificates_to_pem;
use lanyard_spiffe::x509::split_der_chain;
use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};

use super::client::Client;
use super::{ApiError, CommonArgs, FetchX509Args};

/// `api fetch x509`.
pub(super) async fn fetch(args: &FetchX509Args, out: &mut dyn Write) -> Result<(), ApiError> {
    let client = Client::connect(&args.common).await?;
    let started = Instant::now();
    let response = client
        .bounded(async {
            let mut stream = client
                .inner
                .clone()
                .fetch_x509svid(client.request(X509svidRequest {}))
                .await?
                .into_inner();
            stream
                .message()
                .await?
                .ok_or_else(|| tonic::Status::unavailable("the agent closed the stream"))
        })
        .await?;
    let elapsed = started.elapsed();

    if args.common.output == OutputFormat::Json {
        return write_out(out, &json_line(&x509_svid_json(&response)));
    }
    let svids = parse_response(&response)?;
    if !args.silent {
        write_out(out, &pretty(&svids, elapsed))?;
    }
    if let Some(dir) = &args.write {
        write_files(dir, &svids, out)?;
    }
    Ok(())
}

/// `api watch`: prints every update until interrupted; errors are reported and the
/// stream is opened again.
pub(super) async fn watch(args: &CommonArgs, out: &mut dyn Write) -> Result<(), ApiError> {
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut last = Instant::now();
    loop {
        let session = async {
            let client = Client::connect(args).await?;
            let mut request = client.request(X509svidRequest {});
            // A watch has no deadline; -timeout applies to connecting only.
            request.metadata_mut().remove("grpc-timeout");
            let mut stream = client
                .inner
                .clone()
                .fetch_x509svid(request)
                .await
                .map_err(|status| ApiError(lanyard_daemon::output::describe_status(&status)))?
                .into_inner();
            loop {
                let message = stream
                    .message()
                    .await
                    .map_err(|status| ApiError(lanyard_daemon::output::describe_status(&status)))?
                    .ok_or_else(|| ApiError::msg("the agent closed the stream"))?;
                let text = match args.output {
                    OutputFormat::Json => json_line(&x509_svid_json(&message)),
                    OutputFormat::Pretty => pretty(&parse_response(&message)?, last.elapsed()),
                };
                last = Instant::now();
                write_out(out, &text)?;
            }
        };
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            result = session => {
                let err: Result<(), ApiError> = result;
                if let Err(err) = err {
                    lanyard_daemon::output::print_error_line(&format!("Error: {err}"));
                }
            }
        }
        tokio::select! {
            _ = &mut interrupted => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// One SVID of a response, parsed.
pub(super) struct ParsedSvid {
    spiffe_id: String,
    hint: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
    bundle: Vec<CertificateDer<'static>>,
    federated: BTreeMap<String, Vec<CertificateDer<'static>>>,
}

fn parse_response(response: &X509svidResponse) -> Result<Vec<ParsedSvid>, ApiError> {
    if response.svids.is_empty() {
        return Err(ApiError::msg("workload response contains no svids"));
    }
    let mut federated = BTreeMap::new();
    for (td, der) in &response.federated_bundles {
        let certs = split_der_chain(der).map_err(|err| {
            ApiError(format!(
                "bundle of federated domain {td:?} is invalid: {err}"
            ))
        })?;
        federated.insert(td.clone(), certs);
    }
    response
        .svids
        .iter()
        .enumerate()
        .map(|(i, svid)| {
            let chain = split_der_chain(&svid.x509_svid).map_err(|err| {
                ApiError(format!(
                    "svid {i} for {:?} is invalid: {err}",
                    svid.spiffe_id
                ))
            })?;
            let bundle = split_der_chain(&svid.bundle).map_err(|err| {
                ApiError(format!(
                    "bundle of svid {i} for {:?} is invalid: {err}",
                    svid.spiffe_id
                ))
            })?;
            if chain.is_empty() || bundle.is_empty() || svid.x509_svid_key.is_empty() {
                return Err(ApiError(format!(
                    "svid {i} for {:?} lacks a certificate, key or bundle",
                    svid.spiffe_id
                )));
            }
            Ok(ParsedSvid {
                spiffe_id: svid.spiffe_id.clone(),
                hint: svid.hint.clone(),
                chain,
                key_der: svid.x509_svid_key.clone(),
                bundle,
                federated: federated.clone(),
            })
        })
        .collect()
}

/// SPIRE's layout: a count line, then per SVID its ID, hint and validity of every
/// certificate, then the federated CAs.
fn pretty(svids: &[ParsedSvid], elapsed: Duration) -> String {
    let plural = if svids.len() == 1 { "" } else { "s" };
    let mut text = format!("Received {} svid{plural} after {elapsed:?}\n", svids.len());
    for svid in svids {
        text.push('\n');
        let _ = writeln!(text, "SPIFFE ID:\t\t{}", svid.spiffe_id);
        if !svid.hint.is_empty() {
            let _ = writeln!(text, "Hint:\t\t\t{}", svid.hint);
        }
        let (after, until) = validity(&svid.chain[0]);
        let _ = writeln!(text, "SVID Valid After:\t{after}");
        let _ = writeln!(text, "SVID Valid Until:\t{until}");
        for (i, cert) in svid.chain.iter().enumerate().skip(1) {
            let (after, until) = validity(cert);
            let _ = writeln!(text, "Intermediate #{i} Valid After:\t{after}");
            let _ = writeln!(text, "Intermediate #{i} Valid Until:\t{until}");
        }
        for (i, cert) in svid.bundle.iter().enumerate() {
            let (after, until) = validity(cert);
            let _ = writeln!(text, "CA #{} Valid After:\t{after}", i + 1);
            let _ = writeln!(text, "CA #{} Valid Until:\t{until}", i + 1);
        }
        for (td, certs) in &svid.federated {
            for (i, cert) in certs.iter().enumerate() {
                let (after, until) = validity(cert);
                let _ = writeln!(text, "[{td}] CA #{} Valid After:\t{after}", i + 1);
                let _ = writeln!(text, "[{td}] CA #{} Valid Until:\t{until}", i + 1);
            }
        }
    }
    text.push('\n');
    text
}

fn write_files(dir: &Path, svids: &[ParsedSvid], out: &mut dyn Write) -> Result<(), ApiError> {
    for (i, svid) in svids.iter().enumerate() {
        let svid_path = dir.join(format!("svid.{i}.pem"));
        let key_path = dir.join(format!("svid.{i}.key"));
        let bundle_path = dir.join(format!("bundle.{i}.pem"));
        write_out(
            out,
            &format!("Writing SVID #{i} to file {}.\n", svid_path.display()),
        )?;
        write_file(
            &svid_path,
            certificates_to_pem(&svid.chain).as_bytes(),
            0o644,
        )?;
        write_out(
            out,
            &format!("Writing key #{i} to file {}.\n", key_path.display()),
        )?;
        write_file(&key_path, &crate::sds::pkcs8_pem(&svid.key_der), 0o600)?;
        write_out(
            out,
            &format!("Writing bundle #{i} to file {}.\n", bundle_path.display()),
        )?;
        write_file(
            &bundle_path,
            certificates_to_pem(&svid.bundle).as_bytes(),
            0o644,
        )?;
        for (j, (td, certs)) in svid.federated.iter().enumerate() {
            let path = dir.join(format!("federated_bundle.{i}.{j}.pem"));
            write_out(
                out,
                &format!(
                    "Writing federated bundle #{j} for trust domain {td} to file {}.\n",
                    path.display()
                ),
            )?;
            write_file(&path, certificates_to_pem(certs).as_bytes(), 0o644)?;
        }
    }
    Ok(())
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), ApiError> {
    let fail = |err: std::io::Error| ApiError(format!("cannot write {}: {err}", path.display()));
    // Remove first so that an existing file's looser mode is not kept.
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(fail(err)),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.write_all(data).map_err(fail)
}

/// Validity of a certificate in Go's default time format, as SPIRE prints it.
fn validity(cert: &CertificateDer<'_>) -> (String, String) {
    match x509_parser::parse_x509_certificate(cert) {
        Ok((_, parsed)) => (
            go_time(parsed.validity().not_before.timestamp()),
            go_time(parsed.validity().not_after.timestamp()),
        ),
        Err(_) => ("<unparsable>".to_owned(), "<unparsable>".to_owned()),
    }
}

fn go_time(unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000 UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Protobuf JSON of the response, SPIRE's way (proto names, defaults included).
pub(super) fn x509_svid_json(response: &X509svidResponse) -> Value {
    let svids: Vec<Value> = response
        .svids
        .iter()
        .map(|svid| {
            json!({
                "spiffe_id": svid.spiffe_id,
                "x509_svid": proto_bytes(&svid.x509_svid),
                "x509_svid_key": proto_bytes(&svid.x509_svid_key),
                "bundle": proto_bytes(&svid.bundle),
                "hint": svid.hint,
            })
        })
        .collect();
    let federated: serde_json::Map<String, Value> = response
        .federated_bundles
        .iter()
        .map(|(td, der)| (td.clone(), proto_bytes(der)))
        .collect();
    let crl: Vec<Value> = response.crl.iter().map(|c| proto_bytes(c)).collect();
    json!({ "svids": svids, "crl": crl, "federated_bundles": federated })
}

pub(super) fn write_out(out: &mut dyn Write, text: &str) -> Result<(), ApiError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| ApiError(format!("cannot write output: {err}")))
}
