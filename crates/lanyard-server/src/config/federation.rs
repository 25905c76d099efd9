//! `server.federation`: the bundle endpoint we serve and the trust domains we fetch from.

use std::collections::BTreeMap;

use lanyard_daemon::Duration;
use lanyard_spiffe::TrustDomain;

use super::build::{Checker, DEFAULT_BIND_ADDRESS, ServerConfigError, resolve};
use super::file::{
    self, BundleEndpointSection, ClientProfileSection, FederationSection, ServingProfileSection,
};
use super::{
    BundleEndpointClientProfile, BundleEndpointConfig, BundleEndpointProfile, FederatesWithConfig,
    FederationConfig,
};

const DEFAULT_BUNDLE_ENDPOINT_PORT: u16 = 443;
const DEFAULT_REFRESH_HINT: Duration = Duration::from_mins(5);
const DEFAULT_FILE_SYNC_INTERVAL: Duration = Duration::from_hours(1);

pub(crate) fn federation_config(
    check: &Checker<'_>,
    section: &FederationSection,
) -> Result<FederationConfig, ServerConfigError> {
    let bundle_endpoint = section
        .bundle_endpoint
        .as_ref()
        .map(|endpoint| bundle_endpoint(check, endpoint))
        .transpose()?;

    let mut federates_with = BTreeMap::new();
    for (name, peer) in &section.federates_with {
        let path = ["server", "federation", "federates_with", name.as_str()];
        let td = TrustDomain::from_name_or_id(name)
            .map_err(|err| check.invalid(&path, format!("invalid trust domain: {err}")))?;
        let url = peer.bundle_endpoint_url.clone().unwrap_or_default();
        if !url.to_ascii_lowercase().starts_with("https://") {
            return Err(check.invalid(
                &path,
                format!("bundle_endpoint_url must be an https:// URL, found {url:?}"),
            ));
        }
        let profile = match &peer.bundle_endpoint_profile {
            Some(ClientProfileSection::HttpsWeb(_)) => BundleEndpointClientProfile::HttpsWeb,
            Some(ClientProfileSection::HttpsSpiffe(spiffe)) => {
                let endpoint_spiffe_id = spiffe.endpoint_spiffe_id.clone().ok_or_else(|| {
                    check.invalid(&path, "https_spiffe profile needs endpoint_spiffe_id")
                })?;
                BundleEndpointClientProfile::HttpsSpiffe { endpoint_spiffe_id }
            }
            None => {
                return Err(check.invalid(
                    &path,
                    "bundle_endpoint_profile \"https_web\" or \"https_spiffe\" is required",
                ));
            }
        };
        federates_with.insert(
            td,
            FederatesWithConfig {
                bundle_endpoint_url: url,
                profile,
            },
        );
    }

    Ok(FederationConfig {
        bundle_endpoint,
        federates_with,
    })
}

fn bundle_endpoint(
    check: &Checker<'_>,
    section: &BundleEndpointSection,
) -> Result<BundleEndpointConfig, ServerConfigError> {
    let path = ["server", "federation", "bundle_endpoint"];
    let host = section.address.as_deref().unwrap_or(DEFAULT_BIND_ADDRESS);
    let address = resolve(host, section.port.unwrap_or(DEFAULT_BUNDLE_ENDPOINT_PORT))
        .map_err(|message| check.invalid(&path, message))?;

    let acme = |acme: &file::AcmeSection| -> Result<BundleEndpointProfile, ServerConfigError> {
        let required = |value: &Option<String>, key: &str| {
            value
                .clone()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| check.invalid(&path, format!("acme.{key} must be set")))
        };
        Ok(BundleEndpointProfile::HttpsWebAcme {
            directory_url: acme.directory_url.clone(),
            domain_name: required(&acme.domain_name, "domain_name")?,
            email: required(&acme.email, "email")?,
            tos_accepted: acme.tos_accepted.unwrap_or(false),
        })
    };

    let profile = match (&section.acme, &section.profile) {
        (Some(_), Some(_)) => {
            return Err(check.invalid(&path, "set either acme or profile, not both"));
        }
        (Some(legacy), None) => acme(legacy)?,
        (None, None) | (None, Some(ServingProfileSection::HttpsSpiffe(_))) => {
            BundleEndpointProfile::HttpsSpiffe
        }
        (None, Some(ServingProfileSection::HttpsWeb(web))) => {
            match (&web.acme, &web.serving_cert_file) {
                (Some(a), None) => acme(a)?,
                (None, Some(files)) => BundleEndpointProfile::HttpsWebServingCert {
                    cert_file_path: files.cert_file_path.clone().ok_or_else(|| {
                        check.invalid(&path, "serving_cert_file.cert_file_path must be set")
                    })?,
                    key_file_path: files.key_file_path.clone().ok_or_else(|| {
                        check.invalid(&path, "serving_cert_file.key_file_path must be set")
                    })?,
                    file_sync_interval: files
                        .file_sync_interval
                        .filter(|d| !d.is_zero())
                        .unwrap_or(DEFAULT_FILE_SYNC_INTERVAL),
                },
                _ => {
                    return Err(check.invalid(
                        &path,
                        "https_web profile needs exactly one of acme or serving_cert_file",
                    ));
                }
            }
        }
    };

    Ok(BundleEndpointConfig {
        address,
        refresh_hint: section.refresh_hint.unwrap_or(DEFAULT_REFRESH_HINT),
        profile,
    })
}
