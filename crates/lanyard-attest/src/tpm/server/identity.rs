//! The agent ID and node selectors of an enrolled TPM node.

use std::borrow::Cow;

use lanyard_spiffe::{Selector, SelectorSet, SpiffeId, TrustDomain};

use crate::template::{Template, TemplateField, TemplateSchema};
use crate::tpm::TpmError;
use crate::tpm::ek::EkIdentity;
use crate::tpm::node_type::NodeType;
use crate::tpm::protocol::KIND;
use crate::tpm::xname::Xname;

/// The default agent path: `spiffe://<td>/spire/agent/tpm/<xname>`.
pub const DEFAULT_AGENT_PATH_TEMPLATE: &str = "/{{ .PluginName }}/{{ .Xname }}";

/// Fields of the `tpm` agent path template.
pub const TEMPLATE_SCHEMA: TemplateSchema = TemplateSchema {
    fields: &[
        "PluginName",
        "TrustDomain",
        "Xname",
        "NodeType",
        "EkSha256",
        "Cabinet",
        "Chassis",
    ],
    maps: &[],
};

pub(super) fn default_template() -> Template {
    // The default is a constant that parses.
    Template::parse(DEFAULT_AGENT_PATH_TEMPLATE, &TEMPLATE_SCHEMA)
        .expect("the default tpm agent path template parses")
}

/// `spiffe://<td>/spire/agent<rendered template>`.
pub(super) fn agent_id(
    template: &Template,
    trust_domain: &TrustDomain,
    xname: &Xname,
    node_type: Option<&NodeType>,
    ek_sha256: &[u8; 32],
) -> Result<SpiffeId, TpmError> {
    let ek_hex = hex::encode(ek_sha256);
    let cabinet = xname.cabinet();
    let chassis = xname.chassis();
    let rendered = template
        .render(|field| {
            let TemplateField::Field(name) = field else {
                return None;
            };
            match *name {
                "PluginName" => Some(Cow::Borrowed(KIND)),
                "TrustDomain" => Some(Cow::Borrowed(trust_domain.as_str())),
                "Xname" => Some(Cow::Borrowed(xname.as_str())),
                "NodeType" => node_type.map(|t| Cow::Owned(t.as_str().to_owned())),
                "EkSha256" => Some(Cow::Owned(ek_hex.clone())),
                "Cabinet" => Some(Cow::Owned(cabinet.as_str().to_owned())),
                "Chassis" => chassis.as_ref().map(|c| Cow::Owned(c.as_str().to_owned())),
                _ => None,
            }
        })
        .map_err(|_| TpmError::Issue("agent_path_template has no value for this node".into()))?;
    let separator = if rendered.starts_with('/') { "" } else { "/" };
    let path = format!("/spire/agent{separator}{rendered}");
    SpiffeId::from_parts(trust_domain, &path)
        .map_err(|_| TpmError::Issue("agent_path_template renders an invalid spiffe id".into()))
}

/// The node's selectors: those the token bound, the TPM's, and the node's
/// identity and location from its xname.
pub(super) fn node_selectors(
    bound: &SelectorSet,
    xname: &Xname,
    node_type: Option<&NodeType>,
    ek: &EkIdentity,
) -> SelectorSet {
    let mut selectors = bound.clone();
    let mut add = |kind: &str, value: &str| {
        if let Ok(selector) = Selector::new(kind, value) {
            selectors.insert(selector);
        }
    };

    add(KIND, &format!("ek_sha256:{}", hex::encode(ek.ek_sha256)));
    if let Some(manufacturer) = &ek.manufacturer {
        add(KIND, &format!("manufacturer:{manufacturer}"));
    }
    if let Some(model) = &ek.model {
        add(KIND, &format!("model:{model}"));
    }
    if let Some(version) = &ek.version {
        add(KIND, &format!("version:{version}"));
    }

    add("node", &format!("xname:{xname}"));
    if let Some(node_type) = node_type {
        add("node", &format!("type:{node_type}"));
    }
    add("node", &format!("cabinet:{}", xname.cabinet()));
    if let Some(chassis) = xname.chassis() {
        add("node", &format!("chassis:{chassis}"));
    }
    if let Some(slot) = xname.slot() {
        add("node", &format!("slot:{slot}"));
    }
    if let Some(bmc) = xname.node_bmc() {
        add("node", &format!("bmc:{bmc}"));
    }
    selectors
}
