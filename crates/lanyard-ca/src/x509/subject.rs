//! The subject name of CA certificates.

use rcgen::{DistinguishedName, DnType, DnValue};
use serde::{Deserialize, Serialize};

/// The subject of this server's CA certificates (`ca_subject` in the server
/// configuration). The certificate serial number is always added as the
/// subject's `serialNumber` attribute, so each CA has a distinct name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaSubject {
    /// `C`, default `US`.
    pub country: Option<String>,
    /// `O`, default `SPIFFE`.
    pub organization: Option<String>,
    /// `OU`, unset by default.
    pub organizational_unit: Option<String>,
    /// `CN`, unset by default.
    pub common_name: Option<String>,
}

impl Default for CaSubject {
    fn default() -> Self {
        Self {
            country: Some("US".to_owned()),
            organization: Some("SPIFFE".to_owned()),
            organizational_unit: None,
            common_name: None,
        }
    }
}

impl CaSubject {
    pub(crate) fn to_distinguished_name(&self, serial: u128) -> DistinguishedName {
        let mut name = DistinguishedName::new();
        let attributes = [
            (DnType::CountryName, &self.country),
            (DnType::OrganizationName, &self.organization),
            (DnType::OrganizationalUnitName, &self.organizational_unit),
            (DnType::CommonName, &self.common_name),
        ];
        for (kind, value) in attributes {
            if let Some(value) = value {
                name.push(kind, value.as_str());
            }
        }
        name.push(
            DnType::CustomDnType(SERIAL_NUMBER_OID.to_vec()),
            serial_value(serial),
        );
        name
    }
}

/// id-at-serialNumber (2.5.4.5).
const SERIAL_NUMBER_OID: [u64; 4] = [2, 5, 4, 5];

fn serial_value(serial: u128) -> DnValue {
    // Decimal digits are always a valid PrintableString.
    match serial.to_string().try_into() {
        Ok(printable) => DnValue::PrintableString(printable),
        Err(_) => DnValue::Utf8String(serial.to_string()),
    }
}
