//! What an attested x509pop leaf becomes: its agent ID (from the agent path
//! template) and its node selectors, as SPIRE derives them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use lanyard_spiffe::{Selector, SelectorSet, SpiffeId, TrustDomain};

use super::cert::{Leaf, fingerprint};
use super::{KIND, X509PopError, X509PopMode};
use crate::template::{Template, TemplateError, TemplateField, TemplateSchema};

/// The fields an x509pop `agent_path_template` may reference.
pub(crate) const SCHEMA: TemplateSchema = TemplateSchema {
    fields: &[
        "PluginName",
        "Fingerprint",
        "TrustDomain",
        "Subject.CommonName",
        "SerialNumberHex",
        "SVIDPathTrimmed",
    ],
    maps: &["URISanSelectors"],
};

const DEFAULT_TEMPLATE_EXTERNAL_PKI: &str = "/{{ .PluginName }}/{{ .Fingerprint }}";
const DEFAULT_TEMPLATE_SPIFFE: &str = "/{{ .PluginName }}/{{ .SVIDPathTrimmed }}";

/// Parses `text` (or the mode's default) as an agent path template.
pub(crate) fn parse_template(
    text: Option<&str>,
    mode: X509PopMode,
) -> Result<Template, TemplateError> {
    let default = match mode {
        X509PopMode::ExternalPki => DEFAULT_TEMPLATE_EXTERNAL_PKI,
        X509PopMode::Spiffe => DEFAULT_TEMPLATE_SPIFFE,
    };
    let template = Template::parse(text.unwrap_or(default), &SCHEMA)?;

    let uses_svid_path = template
        .fields()
        .any(|field| *field == TemplateField::Field("SVIDPathTrimmed"));
    if uses_svid_path && mode != X509PopMode::Spiffe {
        return Err(TemplateError::UnavailableField {
            field: "SVIDPathTrimmed".to_owned(),
            reason: "only in spiffe mode",
        });
    }
    Ok(template)
}

/// The values a template renders from.
pub(crate) struct TemplateInput<'a> {
    pub(crate) trust_domain: &'a TrustDomain,
    pub(crate) leaf: &'a Leaf,
    /// The SVID path after the prefix (spiffe mode).
    pub(crate) svid_path_trimmed: Option<&'a str>,
    pub(crate) uri_san_selectors: &'a BTreeMap<String, String>,
}

/// `spiffe://<td>/spire/agent<rendered path>`; a rendered path without a
/// leading `/` gets one.
pub(crate) fn agent_id(
    template: &Template,
    input: &TemplateInput<'_>,
) -> Result<SpiffeId, X509PopError> {
    let rendered = template
        .render(|field| lookup(field, input))
        .map_err(X509PopError::AgentPathTemplate)?;
    let separator = if rendered.starts_with('/') { "" } else { "/" };
    let path = format!("/spire/agent{separator}{rendered}");
    SpiffeId::from_parts(input.trust_domain, &path)
        .map_err(|source| X509PopError::AgentId { path, source })
}

/// The `x509pop:san:<key>:<value>` pairs: URI SANs of the form
/// `x509pop://<td>/<key>/<value>`, the first path segment being the key and
/// the rest (percent-decoded) the value. A later SAN with the same key wins.
pub(crate) fn uri_san_selectors(leaf: &Leaf, td: &TrustDomain) -> BTreeMap<String, String> {
    let prefix = format!("{KIND}://{}/", td.as_str());
    let mut pairs = BTreeMap::new();
    for uri in &leaf.uris {
        let Some(rest) = uri.strip_prefix(&prefix) else {
            continue;
        };
        let path = rest.split(['?', '#']).next().unwrap_or_default();
        let Some(path) = percent_decode(path) else {
            tracing::debug!(uri, "x509pop san selector skipped: bad percent-encoding");
            continue;
        };
        match path.trim_matches('/').split_once('/') {
            Some((key, value)) => {
                pairs.insert(key.to_owned(), value.to_owned());
            }
            None => tracing::debug!(uri, "x509pop san selector skipped: no value"),
        }
    }
    pairs
}

/// The node selectors of an attested leaf: `subject:cn:<CN>` (if any),
/// `ca:fingerprint:<sha1>` for each CA on the verified path,
/// `serialnumber:<hex>` and `san:<key>:<value>`, all of type `x509pop`.
pub(crate) fn selectors(
    leaf: &Leaf,
    path_cas: &[Vec<u8>],
    uri_san_selectors: &BTreeMap<String, String>,
) -> Result<SelectorSet, X509PopError> {
    let mut values = Vec::new();
    if let Some(cn) = leaf.common_name.as_deref().filter(|cn| !cn.is_empty()) {
        values.push(format!("subject:cn:{cn}"));
    }
    for ca in path_cas {
        values.push(format!("ca:fingerprint:{}", fingerprint(ca)));
    }
    values.push(format!("serialnumber:{}", leaf.serial_hex));
    for (key, value) in uri_san_selectors {
        values.push(format!("san:{key}:{value}"));
    }

    values
        .iter()
        .map(|value| {
            Selector::new(KIND, value).map_err(|source| X509PopError::Selector {
                value: value.clone(),
                source,
            })
        })
        .collect()
}

fn lookup<'a>(field: &TemplateField, input: &TemplateInput<'a>) -> Option<Cow<'a, str>> {
    match field {
        TemplateField::Field("PluginName") => Some(Cow::Borrowed(KIND)),
        TemplateField::Field("Fingerprint") => Some(Cow::Borrowed(&input.leaf.fingerprint)),
        TemplateField::Field("TrustDomain") => Some(Cow::Borrowed(input.trust_domain.as_str())),
        TemplateField::Field("Subject.CommonName") => Some(Cow::Borrowed(
            input.leaf.common_name.as_deref().unwrap_or_default(),
        )),
        TemplateField::Field("SerialNumberHex") => Some(Cow::Borrowed(&input.leaf.serial_hex)),
        TemplateField::Field("SVIDPathTrimmed") => input.svid_path_trimmed.map(Cow::Borrowed),
        TemplateField::MapEntry {
            map: "URISanSelectors",
            key,
        } => input
            .uri_san_selectors
            .get(key)
            .map(|value| Cow::Borrowed(value.as_str())),
        _ => None,
    }
}

/// Decodes `%XX` escapes; `None` for a bad escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
