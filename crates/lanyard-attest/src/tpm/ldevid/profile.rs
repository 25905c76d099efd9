//! The LDevID certificate template and its hand-encoded extensions.

use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SerialNumber,
};
use time::OffsetDateTime;

use super::{
    OID_EK_PERM_ID_SHA256, OID_HARDWARE_MODULE_NAME, OID_HW_TYPE_TPM2, OID_PERMANENT_IDENTIFIER,
    OID_VERIFIED_TPM_FIXED, OID_VERIFIED_TPM_RESIDENCY,
};
use crate::tpm::der::{self, tag};
use crate::tpm::node_type::NodeType;
use crate::tpm::xname::Xname;

/// How far notBefore is set back, for verifiers whose clocks lag.
const BACKDATE: Duration = Duration::from_secs(60);

/// What goes into one LDevID certificate.
pub(super) struct Profile<'a> {
    pub(super) organization: &'a str,
    pub(super) xname: &'a Xname,
    pub(super) node_type: Option<&'a NodeType>,
    pub(super) serial_number: Option<&'a str>,
    pub(super) hw_serial: &'a str,
    pub(super) ek_sha256: &'a [u8; 32],
    pub(super) serial: [u8; 16],
    pub(super) now: SystemTime,
    pub(super) ttl: Duration,
}

impl Profile<'_> {
    pub(super) fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.serial_number = Some(SerialNumber::from_slice(&self.serial));
        params.distinguished_name = self.subject();
        params.not_before = OffsetDateTime::from(self.now - BACKDATE);
        params.not_after = OffsetDateTime::from(whole_seconds(self.now + self.ttl));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(&[2, 5, 29, 17], self.subject_alt_name()),
            CustomExtension::from_oid_content(&[2, 5, 29, 32], certificate_policies()),
        ];
        params
    }

    fn subject(&self) -> DistinguishedName {
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, self.organization);
        if let Some(node_type) = self.node_type {
            name.push(DnType::OrganizationalUnitName, node_type.as_str());
        }
        name.push(DnType::CommonName, self.xname.as_str());
        if let Some(serial) = self.serial_number {
            name.push(DnType::CustomDnType(vec![2, 5, 4, 5]), serial);
        }
        name
    }

    fn subject_alt_name(&self) -> Vec<u8> {
        let hardware_module_name = der::sequence(&[
            &der::oid(OID_HW_TYPE_TPM2),
            &der::tlv(tag::OCTET_STRING, self.hw_serial.as_bytes()),
        ]);
        der::sequence(&[
            &other_name(OID_HARDWARE_MODULE_NAME, &hardware_module_name),
            &other_name(
                OID_PERMANENT_IDENTIFIER,
                &permanent_identifier(self.ek_sha256),
            ),
        ])
    }
}

/// `[0] EXPLICIT PermanentIdentifier {hex(ek_sha256), tcg-on-ekPermIdSha256}`:
/// the value part of the otherName as x509-parser hands it back.
pub(super) fn permanent_identifier_value(ek_sha256: &[u8; 32]) -> Vec<u8> {
    der::tlv(tag::CONTEXT_0, &permanent_identifier(ek_sha256))
}

fn permanent_identifier(ek_sha256: &[u8; 32]) -> Vec<u8> {
    der::sequence(&[
        &der::tlv(tag::UTF8_STRING, hex::encode(ek_sha256).as_bytes()),
        &der::oid(OID_EK_PERM_ID_SHA256),
    ])
}

/// GeneralName `otherName`: `[0] IMPLICIT SEQUENCE { type-id, [0] EXPLICIT value }`.
fn other_name(type_id: &[u64], value: &[u8]) -> Vec<u8> {
    let content = [der::oid(type_id), der::tlv(tag::CONTEXT_0, value)].concat();
    der::tlv(tag::CONTEXT_0, &content)
}

fn certificate_policies() -> Vec<u8> {
    der::sequence(&[
        &der::sequence(&[&der::oid(OID_VERIFIED_TPM_RESIDENCY)]),
        &der::sequence(&[&der::oid(OID_VERIFIED_TPM_FIXED)]),
    ])
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs()),
        Err(_) => t,
    }
}
