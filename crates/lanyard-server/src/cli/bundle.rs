//! `bundle show|list|set|delete|count`.

use clap::{Args, Subcommand, ValueEnum};
use lanyard_daemon::output::json_line;
use lanyard_proto::spire::api::server::bundle::v1::{
    BatchDeleteFederatedBundleRequest, BatchSetFederatedBundleRequest, CountBundlesRequest,
    GetBundleRequest, GetFederatedBundleRequest, ListFederatedBundlesRequest,
    batch_delete_federated_bundle_request, bundle_client::BundleClient,
};
use lanyard_proto::spire::api::types::{Bundle, JwtKey, X509Certificate};
use lanyard_spiffe::bundle::certificates_to_pem;
use lanyard_spiffe::{JwtAuthority, TrustDomain};
use rustls_pki_types::CertificateDer;
use serde_json::json;

use super::common::{CliError, CliResult, Out, OutputArg, SocketArg, read_input};
use super::json;

/// `bundle` subcommands.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Prints the server's own trust bundle
    Show(ShowArgs),
    /// Lists federated bundles
    List(ListArgs),
    /// Creates or replaces a federated bundle
    Set(SetArgs),
    /// Deletes a federated bundle
    Delete(DeleteArgs),
    /// Counts bundles
    Count(CountArgs),
}

/// Bundle text formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BundleFormat {
    /// X.509 authorities as PEM certificates.
    Pem,
    /// SPIFFE bundle JSON (JWKS).
    Spiffe,
}

/// Flags of `bundle show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// The format to show the bundle in: pem or spiffe
    #[arg(long = "format", value_enum, default_value_t = BundleFormat::Pem)]
    pub format: BundleFormat,
    #[command(flatten)]
    pub output: OutputArg,
}

/// Flags of `bundle list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// Only the bundle of this trust domain ID
    #[arg(long = "id")]
    pub id: Option<String>,
    /// The format to list bundles in: pem or spiffe
    #[arg(long = "format", value_enum, default_value_t = BundleFormat::Pem)]
    pub format: BundleFormat,
    #[command(flatten)]
    pub output: OutputArg,
}

/// Flags of `bundle set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// The trust domain ID of the bundle
    #[arg(long = "id")]
    pub id: String,
    /// Path to the bundle data (default: stdin)
    #[arg(long = "path")]
    pub path: Option<String>,
    /// The format of the bundle data: pem or spiffe
    #[arg(long = "format", value_enum, default_value_t = BundleFormat::Pem)]
    pub format: BundleFormat,
    #[command(flatten)]
    pub output: OutputArg,
}

/// What happens to entries federated with a deleted bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeleteMode {
    /// Refuse when entries still federate with it.
    Restrict,
    /// Remove the trust domain from those entries.
    Dissociate,
    /// Delete those entries.
    Delete,
}

/// Flags of `bundle delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// The trust domain ID of the bundle to delete
    #[arg(long = "id")]
    pub id: String,
    /// restrict, dissociate or delete
    #[arg(long = "mode", value_enum, default_value_t = DeleteMode::Restrict)]
    pub mode: DeleteMode,
    #[command(flatten)]
    pub output: OutputArg,
}

/// Flags of `bundle count`.
#[derive(Debug, Args)]
pub struct CountArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    #[command(flatten)]
    pub output: OutputArg,
}

impl BundleCommand {
    /// Runs the subcommand against the server.
    pub async fn execute(self, out: Out<'_>) -> CliResult {
        match self {
            Self::Show(args) => show(args, out).await,
            Self::List(args) => list(args, out).await,
            Self::Set(args) => set(args, out).await,
            Self::Delete(args) => delete(args, out).await,
            Self::Count(args) => count(args, out).await,
        }
    }
}

async fn show(args: ShowArgs, out: Out<'_>) -> CliResult {
    let mut client = BundleClient::new(args.socket.connect().await?);
    let bundle = client
        .get_bundle(GetBundleRequest { output_mask: None })
        .await
        .map_err(|s| CliError::rpc("error fetching the bundle", &s))?
        .into_inner();

    if args.output.is_json() {
        out.write_all(json_line(&json::bundle(&bundle)).as_bytes())?;
    } else {
        out.write_all(format_bundle(&bundle, args.format)?.as_bytes())?;
    }
    Ok(())
}

async fn list(args: ListArgs, out: Out<'_>) -> CliResult {
    let mut client = BundleClient::new(args.socket.connect().await?);
    let bundles = match &args.id {
        Some(id) => {
            let td = parse_trust_domain(id)?;
            let bundle = client
                .get_federated_bundle(GetFederatedBundleRequest {
                    trust_domain: td.as_str().to_owned(),
                    output_mask: None,
                })
                .await
                .map_err(|s| CliError::rpc(&format!("error fetching the bundle of {td}"), &s))?
                .into_inner();
            vec![bundle]
        }
        None => list_all(&mut client).await?,
    };

    if args.output.is_json() {
        let value = json!({
            "bundles": bundles.iter().map(json::bundle).collect::<Vec<_>>(),
            "next_page_token": "",
        });
        out.write_all(json_line(&value).as_bytes())?;
        return Ok(());
    }
    for bundle in &bundles {
        if args.id.is_none() {
            let rule = "*".repeat(40);
            writeln!(out, "{rule}\n* {}\n{rule}", bundle.trust_domain)?;
        }
        out.write_all(format_bundle(bundle, args.format)?.as_bytes())?;
        if args.id.is_none() {
            writeln!(out)?;
        }
    }
    Ok(())
}

async fn list_all(
    client: &mut BundleClient<tonic::transport::Channel>,
) -> Result<Vec<Bundle>, CliError> {
    let mut bundles = Vec::new();
    let mut page_token = String::new();
    loop {
        let response = client
            .list_federated_bundles(ListFederatedBundlesRequest {
                output_mask: None,
                page_size: 100,
                page_token,
            })
            .await
            .map_err(|s| CliError::rpc("error listing bundles", &s))?
            .into_inner();
        bundles.extend(response.bundles);
        if response.next_page_token.is_empty() {
            return Ok(bundles);
        }
        page_token = response.next_page_token;
    }
}

async fn set(args: SetArgs, out: Out<'_>) -> CliResult {
    let td = parse_trust_domain(&args.id)?;
    let data = read_input(args.path.as_deref().unwrap_or("-"))?;
    let bundle = parse_bundle(td, &data, args.format)?;

    let mut client = BundleClient::new(args.socket.connect().await?);
    let results = client
        .batch_set_federated_bundle(BatchSetFederatedBundleRequest {
            bundle: vec![bundle],
            output_mask: None,
        })
        .await
        .map_err(|s| CliError::rpc("error setting the bundle", &s))?
        .into_inner()
        .results;

    let status = results.first().and_then(|r| r.status.clone());
    if args.output.is_json() {
        let value = json!({ "results": results.iter().map(|r| json!({
            "status": json::status(r.status.as_ref()),
            "bundle": r.bundle.as_ref().map_or(serde_json::Value::Null, json::bundle),
        })).collect::<Vec<_>>() });
        out.write_all(json_line(&value).as_bytes())?;
    }
    if let Some(status) = status.filter(|s| s.code != 0) {
        return Err(CliError(format!(
            "failed to set the bundle: {}",
            status.message
        )));
    }
    if !args.output.is_json() {
        writeln!(out, "bundle set.")?;
    }
    Ok(())
}

async fn delete(args: DeleteArgs, out: Out<'_>) -> CliResult {
    let td = parse_trust_domain(&args.id)?;
    let mode = match args.mode {
        DeleteMode::Restrict => batch_delete_federated_bundle_request::Mode::Restrict,
        DeleteMode::Dissociate => batch_delete_federated_bundle_request::Mode::Dissociate,
        DeleteMode::Delete => batch_delete_federated_bundle_request::Mode::Delete,
    };

    let mut client = BundleClient::new(args.socket.connect().await?);
    let results = client
        .batch_delete_federated_bundle(BatchDeleteFederatedBundleRequest {
            trust_domains: vec![td.as_str().to_owned()],
            mode: mode as i32,
        })
        .await
        .map_err(|s| CliError::rpc("error deleting the bundle", &s))?
        .into_inner()
        .results;

    if args.output.is_json() {
        let value = json!({ "results": results.iter().map(|r| json!({
            "status": json::status(r.status.as_ref()),
            "trust_domain": r.trust_domain,
        })).collect::<Vec<_>>() });
        out.write_all(json_line(&value).as_bytes())?;
    }
    if let Some(status) = results
        .first()
        .and_then(|r| r.status.as_ref())
        .filter(|s| s.code != 0)
    {
        return Err(CliError(format!(
            "failed to delete the bundle: {}",
            status.message
        )));
    }
    if !args.output.is_json() {
        writeln!(out, "bundle deleted.")?;
    }
    Ok(())
}

async fn count(args: CountArgs, out: Out<'_>) -> CliResult {
    let mut client = BundleClient::new(args.socket.connect().await?);
    let count = client
        .count_bundles(CountBundlesRequest {})
        .await
        .map_err(|s| CliError::rpc("error counting bundles", &s))?
        .into_inner()
        .count;
    if args.output.is_json() {
        out.write_all(json_line(&json!({ "count": count })).as_bytes())?;
    } else {
        let noun = if count == 1 { "bundle" } else { "bundles" };
        writeln!(out, "{count} {noun}")?;
    }
    Ok(())
}

/// Accepts `example.org` or `spiffe://example.org`.
pub(crate) fn parse_trust_domain(id: &str) -> Result<TrustDomain, CliError> {
    TrustDomain::from_name_or_id(id)
        .map_err(|err| CliError(format!("invalid trust domain {id:?}: {err}")))
}

/// A bundle in `format`: PEM certificates or SPIFFE bundle JSON.
pub(crate) fn format_bundle(bundle: &Bundle, format: BundleFormat) -> Result<String, CliError> {
    let spiffe = to_spiffe_bundle(bundle)?;
    match format {
        BundleFormat::Pem => Ok(certificates_to_pem(spiffe.x509_authorities())),
        BundleFormat::Spiffe => spiffe
            .to_json()
            .map(|mut text| {
                text.push('\n');
                text
            })
            .map_err(|err| CliError(format!("cannot encode the bundle: {err}"))),
    }
}

/// The API bundle as a SPIFFE bundle.
pub(crate) fn to_spiffe_bundle(bundle: &Bundle) -> Result<lanyard_spiffe::Bundle, CliError> {
    let invalid = |err: lanyard_spiffe::BundleError| {
        CliError(format!("the server sent an invalid bundle: {err}"))
    };
    let td = parse_trust_domain(&bundle.trust_domain)?;
    let mut spiffe = lanyard_spiffe::Bundle::new(td);
    for authority in &bundle.x509_authorities {
        spiffe
            .add_x509_authority(CertificateDer::from(authority.asn1.clone()))
            .map_err(invalid)?;
    }
    for key in &bundle.jwt_authorities {
        let expires_at = (key.expires_at != 0).then_some(key.expires_at);
        let authority =
            JwtAuthority::new(&key.key_id, key.public_key.clone(), expires_at).map_err(invalid)?;
        spiffe.add_jwt_authority(authority).map_err(invalid)?;
    }
    spiffe.set_sequence_number(bundle.sequence_number);
    if bundle.refresh_hint > 0 {
        spiffe.set_refresh_hint(Some(std::time::Duration::from_secs(
            bundle.refresh_hint.unsigned_abs(),
        )));
    }
    Ok(spiffe)
}

/// Reads bundle data given to `bundle set`.
pub(crate) fn parse_bundle(
    td: TrustDomain,
    data: &[u8],
    format: BundleFormat,
) -> Result<Bundle, CliError> {
    let name = td.as_str().to_owned();
    let spiffe = match format {
        BundleFormat::Pem => lanyard_spiffe::Bundle::parse_x509_pem(td, data),
        BundleFormat::Spiffe => lanyard_spiffe::Bundle::parse_json(td, data),
    }
    .map_err(|err| CliError(format!("cannot parse the bundle: {err}")))?;

    Ok(Bundle {
        trust_domain: name,
        x509_authorities: spiffe
            .x509_authorities()
            .iter()
            .map(|cert| X509Certificate {
                asn1: cert.to_vec(),
                tainted: false,
            })
            .collect(),
        jwt_authorities: spiffe
            .jwt_authorities()
            .iter()
            .map(|key| JwtKey {
                public_key: key.public_key().to_vec(),
                key_id: key.key_id().to_owned(),
                expires_at: key.expires_at().unwrap_or(0),
                tainted: false,
            })
            .collect(),
        refresh_hint: spiffe
            .refresh_hint()
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        sequence_number: spiffe.sequence_number(),
    })
}
