//! The TPM operations the agent needs, over tss-esapi: the EK and its
//! certificate, an AK under the EK, the LDevID key under an owner SRK,
//! certify, credential activation and signing. Every transient object and
//! session is flushed when done: TPMs without a resource manager (swtpm,
//! libtpms) hold only 3 transient objects.

use std::str::FromStr as _;

use tss_esapi::abstraction::{AsymmetricAlgorithmSelection, KeyCustomization, ak, ek};
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::SessionType;
use tss_esapi::constants::tss::{TPM2_RH_NULL, TPM2_ST_HASHCHECK};
use tss_esapi::handles::{AuthHandle, KeyHandle, ObjectHandle, SessionHandle};
use tss_esapi::interface_types::algorithm::{
    HashingAlgorithm, PublicAlgorithm, SignatureSchemeAlgorithm,
};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Data, Digest, EccPoint, EccScheme, EncryptedSecret, HashScheme, IdObject, Private, Public,
    PublicBuilder, PublicEccParametersBuilder, PublicKeyRsa, PublicRsaParametersBuilder,
    RsaExponent, RsaScheme, SignatureScheme, SymmetricDefinition, SymmetricDefinitionObject,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::{Marshall as _, UnMarshall as _};
use tss_esapi::tss2_esys::TPMT_TK_HASHCHECK;
use tss_esapi::{Context, Error};
use zeroize::Zeroizing;

use super::KeyAlgorithm;
use crate::tpm::TpmError;
use crate::tpm::ek::der_object;

/// An open TPM.
pub(super) struct Device {
    ctx: Context,
}

/// A loaded key and its marshalled `TPMT_PUBLIC`.
#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub(super) handle: KeyHandle,
    pub(super) public: Vec<u8>,
}

/// Key blobs of an LDevID key created under the SRK.
#[derive(Clone)]
pub(super) struct KeyBlobs {
    pub(super) private: Zeroizing<Vec<u8>>,
    pub(super) public: Vec<u8>,
}

/// Attribute changes that make keys the verifier must refuse (tests only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsecureKeyTemplates {
    /// Create the AK without `restricted`.
    pub insecure_unrestricted_ak: bool,
    /// Create the LDevID key without `fixedTPM` and `fixedParent`.
    pub insecure_duplicable_ldevid: bool,
}

impl Device {
    /// Opens the TPM named by a TCTI string such as `device:/dev/tpmrm0`
    /// or `swtpm:host=127.0.0.1,port=2321`.
    pub(super) fn open(tcti: &str) -> Result<Self, TpmError> {
        let conf = TctiNameConf::from_str(tcti).map_err(err("tcti configuration"))?;
        let ctx = Context::new(conf).map_err(err("open"))?;
        Ok(Self { ctx })
    }

    /// Regenerates the RSA-2048 EK from the TCG default template.
    pub(super) fn create_ek(&mut self) -> Result<Loaded, TpmError> {
        let handle = ek::create_ek_object_2(
            &mut self.ctx,
            AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
            None,
        )
        .map_err(err("ek creation"))?;
        self.loaded(handle, "ek read public")
    }

    /// The RSA-2048 EK certificate from NV, without NV padding; `None` when
    /// the TPM has none.
    pub(super) fn ek_certificate(&mut self) -> Option<Vec<u8>> {
        let raw = ek::retrieve_ek_pubcert(
            &mut self.ctx,
            AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
        )
        .ok()?;
        der_object(&raw).map(<[u8]>::to_vec)
    }

    /// Creates and loads an AK under the EK (policy sessions for the EK are
    /// handled by tss-esapi's abstraction).
    pub(super) fn create_ak(
        &mut self,
        ek: KeyHandle,
        algorithm: KeyAlgorithm,
        templates: InsecureKeyTemplates,
    ) -> Result<Loaded, TpmError> {
        let (selection, scheme) = match algorithm {
            KeyAlgorithm::EccP256 => (
                AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
                SignatureSchemeAlgorithm::EcDsa,
            ),
            KeyAlgorithm::Rsa2048 => (
                AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
                SignatureSchemeAlgorithm::RsaSsa,
            ),
        };
        let customization = AkCustomization {
            unrestricted: templates.insecure_unrestricted_ak,
        };
        let created = ak::create_ak_2(
            &mut self.ctx,
            ek,
            HashingAlgorithm::Sha256,
            selection,
            scheme,
            None,
            customization,
        )
        .map_err(err("ak creation"))?;
        let handle = ak::load_ak(
            &mut self.ctx,
            ek,
            None,
            created.out_private,
            created.out_public,
        )
        .map_err(err("ak load"))?;
        self.loaded(handle, "ak read public")
    }

    /// Loads the LDevID key from `blobs`, or creates one when there are
    /// none; returns it with the blobs to persist. The SRK is flushed.
    pub(super) fn load_ldevid(
        &mut self,
        blobs: Option<&KeyBlobs>,
        algorithm: KeyAlgorithm,
        templates: InsecureKeyTemplates,
    ) -> Result<(Loaded, KeyBlobs), TpmError> {
        let srk = self
            .ctx
            .execute_with_nullauth_session(|ctx| {
                ctx.create_primary(Hierarchy::Owner, srk_template()?, None, None, None, None)
            })
            .map_err(err("srk creation"))?
            .key_handle;

        let result = self.load_ldevid_under(srk, blobs, algorithm, templates);
        self.flush(srk.into());
        let (handle, blobs) = result?;
        Ok((self.loaded(handle, "ldevid read public")?, blobs))
    }

    /// TPM2_Certify of `object` by `signer` over `qualifying_data`: the
    /// marshalled `TPMS_ATTEST` and `TPMT_SIGNATURE`.
    pub(super) fn certify(
        &mut self,
        object: KeyHandle,
        signer: KeyHandle,
        qualifying_data: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), TpmError> {
        let data = Data::try_from(qualifying_data.to_vec()).map_err(err("certify data"))?;
        let (attest, signature) = self
            .ctx
            .execute_with_sessions(
                (
                    Some(AuthSession::Password),
                    Some(AuthSession::Password),
                    None,
                ),
                |ctx| {
                    ctx.certify(
                        ObjectHandle::from(object),
                        signer,
                        data,
                        SignatureScheme::Null,
                    )
                },
            )
            .map_err(err("certify"))?;
        let attest = attest.marshall().map_err(err("certify marshal"))?;
        let signature = signature.marshall().map_err(err("certify marshal"))?;
        Ok((attest, signature))
    }

    /// TPM2_ActivateCredential with the AK (password) and the EK (policy
    /// session with PolicySecret(endorsement), flushed on every path).
    pub(super) fn activate_credential(
        &mut self,
        ak: KeyHandle,
        ek: KeyHandle,
        id_object: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, TpmError> {
        let id_object = IdObject::try_from(id_object.to_vec()).map_err(err("credential blob"))?;
        let secret = EncryptedSecret::try_from(encrypted_secret.to_vec())
            .map_err(err("credential secret"))?;
        let session = self
            .ctx
            .start_auth_session(
                None,
                None,
                None,
                SessionType::Policy,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
            .map_err(err("policy session"))?
            .ok_or_else(|| device_error("policy session", "no session returned"))?;

        let result = self.activate_in_session(session, ak, ek, id_object, secret);
        self.flush(SessionHandle::from(session).into());
        result
    }

    /// Signs `SHA-256(message)` with an unrestricted key: the marshalled
    /// `TPMT_SIGNATURE`.
    pub(super) fn sign(&mut self, key: KeyHandle, message: &[u8]) -> Result<Vec<u8>, TpmError> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
        let digest = Digest::try_from(digest.as_ref().to_vec()).map_err(err("sign digest"))?;
        let validation = TPMT_TK_HASHCHECK {
            tag: TPM2_ST_HASHCHECK,
            hierarchy: TPM2_RH_NULL,
            digest: Default::default(),
        };
        let validation = validation.try_into().map_err(err("sign ticket"))?;
        let signature = self
            .ctx
            .execute_with_nullauth_session(|ctx| {
                ctx.sign(key, digest, SignatureScheme::Null, validation)
            })
            .map_err(err("sign"))?;
        signature.marshall().map_err(err("sign marshal"))
    }

    /// Flushes a transient object or session; failures are only logged.
    pub(super) fn flush(&mut self, handle: ObjectHandle) {
        if let Err(error) = self.ctx.flush_context(handle) {
            tracing::debug!(%error, "tpm flush failed");
        }
    }

    fn load_ldevid_under(
        &mut self,
        srk: KeyHandle,
        blobs: Option<&KeyBlobs>,
        algorithm: KeyAlgorithm,
        templates: InsecureKeyTemplates,
    ) -> Result<(KeyHandle, KeyBlobs), TpmError> {
        let blobs = match blobs {
            Some(blobs) => blobs.clone(),
            None => {
                let template =
                    ldevid_template(algorithm, templates).map_err(err("ldevid template"))?;
                let created = self
                    .ctx
                    .execute_with_nullauth_session(|ctx| {
                        ctx.create(srk, template, None, None, None, None)
                    })
                    .map_err(err("ldevid creation"))?;
                KeyBlobs {
                    private: Zeroizing::new(created.out_private.value().to_vec()),
                    public: created
                        .out_public
                        .marshall()
                        .map_err(err("ldevid marshal"))?,
                }
            }
        };
        let private =
            Private::try_from(blobs.private.to_vec()).map_err(err("ldevid private blob"))?;
        let public = Public::unmarshall(&blobs.public).map_err(err("ldevid public blob"))?;
        let handle = self
            .ctx
            .execute_with_nullauth_session(|ctx| ctx.load(srk, private, public))
            .map_err(err("ldevid load"))?;
        Ok((handle, blobs))
    }

    fn activate_in_session(
        &mut self,
        session: AuthSession,
        ak: KeyHandle,
        ek: KeyHandle,
        id_object: IdObject,
        secret: EncryptedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, TpmError> {
        let (attributes, mask) = SessionAttributesBuilder::new()
            .with_decrypt(true)
            .with_encrypt(true)
            .build();
        self.ctx
            .tr_sess_set_attributes(session, attributes, mask)
            .map_err(err("policy session attributes"))?;
        let policy = PolicySession::try_from(session).map_err(err("policy session"))?;
        self.ctx
            .execute_with_nullauth_session(|ctx| {
                ctx.policy_secret(
                    policy,
                    AuthHandle::Endorsement,
                    Default::default(),
                    Default::default(),
                    Default::default(),
                    None,
                )
            })
            .map_err(err("policy secret"))?;
        let secret = self
            .ctx
            .execute_with_sessions((Some(AuthSession::Password), Some(session), None), |ctx| {
                ctx.activate_credential(ak, ek, id_object, secret)
            })
            .map_err(err("activate credential"))?;
        Ok(Zeroizing::new(secret.value().to_vec()))
    }

    fn loaded(&mut self, handle: KeyHandle, operation: &'static str) -> Result<Loaded, TpmError> {
        let (public, _, _) = self.ctx.read_public(handle).map_err(err(operation))?;
        let public = public.marshall().map_err(err(operation))?;
        Ok(Loaded { handle, public })
    }
}

/// Customizes tss-esapi's AK template (tests only).
struct AkCustomization {
    unrestricted: bool,
}

impl KeyCustomization for AkCustomization {
    fn attributes(&self, builder: ObjectAttributesBuilder) -> ObjectAttributesBuilder {
        if self.unrestricted {
            builder.with_restricted(false)
        } else {
            builder
        }
    }
}

/// The owner-hierarchy SRK: an ECC P-256 restricted decryption key with
/// AES-128-CFB (the same template always yields the same key, so LDevID
/// blobs load again after a reboot).
fn srk_template() -> Result<Public, Error> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_no_da(true)
        .with_restricted(true)
        .with_decrypt(true)
        .build()?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Ecc)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_ecc_parameters(
            PublicEccParametersBuilder::new_restricted_decryption_key(
                SymmetricDefinitionObject::AES_128_CFB,
                EccCurve::NistP256,
            )
            .build()?,
        )
        .with_ecc_unique_identifier(EccPoint::default())
        .build()
}

/// The LDevID key: an unrestricted signing key, fixedTPM, fixedParent,
/// sensitiveDataOrigin (ECDSA P-256 or RSASSA-2048, SHA-256).
fn ldevid_template(
    algorithm: KeyAlgorithm,
    templates: InsecureKeyTemplates,
) -> Result<Public, Error> {
    let fixed = !templates.insecure_duplicable_ldevid;
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(fixed)
        .with_fixed_parent(fixed)
        .with_sensitive_data_origin(true)
        .with_user_with_auth(true)
        .with_sign_encrypt(true)
        .build()?;
    let builder = PublicBuilder::new()
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes);
    match algorithm {
        KeyAlgorithm::EccP256 => builder
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_ecc_parameters(
                PublicEccParametersBuilder::new_unrestricted_signing_key(
                    EccScheme::EcDsa(HashScheme::new(HashingAlgorithm::Sha256)),
                    EccCurve::NistP256,
                )
                .build()?,
            )
            .with_ecc_unique_identifier(EccPoint::default())
            .build(),
        KeyAlgorithm::Rsa2048 => builder
            .with_public_algorithm(PublicAlgorithm::Rsa)
            .with_rsa_parameters(
                PublicRsaParametersBuilder::new_unrestricted_signing_key(
                    RsaScheme::RsaSsa(HashScheme::new(HashingAlgorithm::Sha256)),
                    RsaKeyBits::Rsa2048,
                    RsaExponent::default(),
                )
                .build()?,
            )
            .with_rsa_unique_identifier(PublicKeyRsa::default())
            .build(),
    }
}

fn err(operation: &'static str) -> impl Fn(Error) -> TpmError {
    move |error| device_error(operation, &error.to_string())
}

fn device_error(operation: &'static str, detail: &str) -> TpmError {
    TpmError::Device {
        operation,
        detail: detail.to_owned(),
    }
}
