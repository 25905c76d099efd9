//! `x509 mint` and `jwt mint`: one-off SVIDs outside registration.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use lanyard_daemon::output::json_line;
use lanyard_proto::spire::api::server::bundle::v1::{
    GetBundleRequest, bundle_client::BundleClient,
};
use lanyard_proto::spire::api::server::svid::v1::{
    MintJwtsvidRequest, MintX509svidRequest, svid_client::SvidClient,
};
use lanyard_spiffe::bundle::certificates_to_pem;
use rcgen::{CertificateParams, KeyPair, SanType};
use rustls_pki_types::CertificateDer;
use serde_json::json;

use super::common::{CliError, CliResult, Out, OutputArg, SocketArg, parse_spiffe_id, write_file};
use super::json;

/// `x509` subcommands.
#[derive(Debug, Subcommand)]
pub enum X509Command {
    /// Mints an X509-SVID
    Mint(X509MintArgs),
}

/// Flags of `x509 mint`.
#[derive(Debug, Args)]
pub struct X509MintArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// SPIFFE ID of the X509-SVID
    #[arg(long = "spiffeID")]
    pub spiffe_id: String,
    /// DNS name to include; repeat for more
    #[arg(long = "dns")]
    pub dns_names: Vec<String>,
    /// Lifetime in seconds or as a duration such as 1h (0: server default)
    #[arg(long = "ttl", default_value = "0")]
    pub ttl: lanyard_daemon::Duration,
    /// Directory to write svid.pem, key.pem and bundle.pem to
    #[arg(long = "write")]
    pub write: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArg,
}

/// `jwt` subcommands.
#[derive(Debug, Subcommand)]
pub enum JwtCommand {
    /// Mints a JWT-SVID
    Mint(JwtMintArgs),
}

/// Flags of `jwt mint`.
#[derive(Debug, Args)]
pub struct JwtMintArgs {
    #[command(flatten)]
    pub socket: SocketArg,
    /// SPIFFE ID of the JWT-SVID
    #[arg(long = "spiffeID")]
    pub spiffe_id: String,
    /// Audience claim; repeat for more
    #[arg(long = "audience", required = true)]
    pub audience: Vec<String>,
    /// Lifetime in seconds or as a duration such as 5m (0: server default)
    #[arg(long = "ttl", default_value = "0")]
    pub ttl: lanyard_daemon::Duration,
    /// File to write the token to
    #[arg(long = "write")]
    pub write: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArg,
}

fn ttl_seconds(ttl: lanyard_daemon::Duration) -> Result<i32, CliError> {
    i32::try_from(ttl.as_secs()).map_err(|_| CliError::msg("-ttl is too large"))
}

impl X509Command {
    /// Runs the subcommand against the server.
    pub async fn execute(self, out: Out<'_>) -> CliResult {
        let Self::Mint(args) = self;
        mint_x509(args, out).await
    }
}

/// A fresh P-256 key and a CSR carrying the SPIFFE ID and DNS names.
pub(crate) fn key_and_csr(
    spiffe_id: &str,
    dns_names: &[String],
) -> Result<(KeyPair, Vec<u8>), CliError> {
    let fail = |err: rcgen::Error| CliError(format!("cannot build the CSR: {err}"));
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let mut params = CertificateParams::new(dns_names.to_vec()).map_err(fail)?;
    params
        .subject_alt_names
        .push(SanType::URI(spiffe_id.try_into().map_err(fail)?));
    let csr = params.serialize_request(&key).map_err(fail)?;
    Ok((key, csr.der().to_vec()))
}

async fn mint_x509(args: X509MintArgs, out: Out<'_>) -> CliResult {
    parse_spiffe_id("SPIFFE ID", &args.spiffe_id)?;
    let ttl = ttl_seconds(args.ttl)?;
    let (key, csr) = key_and_csr(&args.spiffe_id, &args.dns_names)?;

    let channel = args.socket.connect().await?;
    let svid = SvidClient::new(channel.clone())
        .mint_x509svid(MintX509svidRequest { csr, ttl })
        .await
        .map_err(|s| CliError::rpc("error minting the X509-SVID", &s))?
        .into_inner()
        .svid
        .ok_or_else(|| CliError::msg("the server returned no X509-SVID"))?;
    let bundle = BundleClient::new(channel)
        .get_bundle(GetBundleRequest { output_mask: None })
        .await
        .map_err(|s| CliError::rpc("error fetching the bundle", &s))?
        .into_inner();

    if args.output.is_json() {
        let value = json!({
            "svid": json::x509_svid(Some(&svid)),
            "private_key_pem": key.serialize_pem(),
            "bundle": json::bundle(&bundle),
        });
        out.write_all(json_line(&value).as_bytes())?;
        return Ok(());
    }

    let chain: Vec<CertificateDer<'_>> = svid
        .cert_chain
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let roots: Vec<CertificateDer<'_>> = bundle
        .x509_authorities
        .iter()
        .map(|a| CertificateDer::from(a.asn1.as_slice()))
        .collect();
    let (svid_pem, key_pem, roots_pem) = (
        certificates_to_pem(&chain),
        key.serialize_pem(),
        certificates_to_pem(&roots),
    );

    match &args.write {
        Some(dir) => {
            for (name, data, mode, what) in [
                ("svid.pem", &svid_pem, 0o644, "X509-SVID"),
                ("key.pem", &key_pem, 0o600, "Private key"),
                ("bundle.pem", &roots_pem, 0o644, "Root CAs"),
            ] {
                let path = dir.join(name);
                write_file(&path, data.as_bytes(), mode)?;
                writeln!(out, "{what} written to {}", path.display())?;
            }
        }
        None => {
            write!(
                out,
                "X509-SVID:\n{svid_pem}\nPrivate key:\n{key_pem}\nRoot CAs:\n{roots_pem}"
            )?;
        }
    }
    Ok(())
}

impl JwtCommand {
    /// Runs the subcommand against the server.
    pub async fn execute(self, out: Out<'_>) -> CliResult {
        let Self::Mint(args) = self;
        mint_jwt(args, out).await
    }
}

async fn mint_jwt(args: JwtMintArgs, out: Out<'_>) -> CliResult {
    let id = parse_spiffe_id("SPIFFE ID", &args.spiffe_id)?;
    let ttl = ttl_seconds(args.ttl)?;
    let svid = SvidClient::new(args.socket.connect().await?)
        .mint_jwtsvid(MintJwtsvidRequest {
            id: Some(id),
            audience: args.audience.clone(),
            ttl,
        })
        .await
        .map_err(|s| CliError::rpc("error minting the JWT-SVID", &s))?
        .into_inner()
        .svid
        .ok_or_else(|| CliError::msg("the server returned no JWT-SVID"))?;

    if args.output.is_json() {
        out.write_all(json_line(&json!({ "svid": json::jwt_svid(Some(&svid)) })).as_bytes())?;
        return Ok(());
    }
    match &args.write {
        Some(path) => {
            write_file(path, svid.token.as_bytes(), 0o600)?;
            writeln!(out, "JWT-SVID written to {}", path.display())?;
        }
        None => writeln!(out, "{}", svid.token)?,
    }
    Ok(())
}
