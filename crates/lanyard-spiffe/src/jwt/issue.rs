//! Issuing JWT-SVIDs: claims, the signer trait and JWS compact assembly.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::{JwtAlgorithm, JwtIssueError, JwtSignError};
use crate::SpiffeId;

/// Signs JWT-SVIDs. Implemented by key managers; see also
/// [`Pkcs8JwtSigner`](super::Pkcs8JwtSigner).
pub trait JwtSigner {
    /// The algorithm of the key.
    fn algorithm(&self) -> JwtAlgorithm;

    /// The key ID, written as the `kid` header.
    fn key_id(&self) -> &str;

    /// Signs the JWS signing input (`base64url(header) "." base64url(claims)`).
    /// ECDSA signatures must be the fixed-width `r||s` form, not DER.
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JwtSignError>;
}

/// The claims of a JWT-SVID to issue. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSvidClaims {
    /// `sub`: the SPIFFE ID.
    pub sub: SpiffeId,
    /// `aud`: at least one audience; written as a string when there is one.
    pub aud: Vec<String>,
    /// `exp`: expiry.
    pub exp: i64,
    /// `iat`: issue time.
    pub iat: i64,
    /// `iss`: issuer, if configured.
    pub iss: Option<String>,
    /// `jti`: token ID, if wanted.
    pub jti: Option<String>,
}

/// A JWT-SVID waiting for its signature, for signers that cannot implement the
/// synchronous [`JwtSigner`] (e.g. an async key manager).
#[derive(Clone, Debug)]
pub struct UnsignedJwtSvid {
    algorithm: JwtAlgorithm,
    signing_input: String,
}

impl UnsignedJwtSvid {
    /// Builds the header (`alg`, `kid`, `typ` "JWT") and claims.
    pub fn new(
        algorithm: JwtAlgorithm,
        key_id: &str,
        claims: &JwtSvidClaims,
    ) -> Result<Self, JwtIssueError> {
        if key_id.is_empty() || key_id.chars().any(char::is_control) {
            return Err(JwtIssueError::BadKeyId);
        }
        let header = header_json(algorithm, key_id);
        let payload = claims_json(claims)?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        Ok(Self {
            algorithm,
            signing_input,
        })
    }

    /// The bytes to sign.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// Appends the signature and returns the compact token.
    pub fn finish(self, signature: &[u8]) -> Result<String, JwtIssueError> {
        if let Some(expected) = self.algorithm.fixed_signature_len()
            && signature.len() != expected
        {
            return Err(JwtIssueError::BadSignatureLength {
                algorithm: self.algorithm.as_str(),
                expected,
                actual: signature.len(),
            });
        }
        let mut token = self.signing_input;
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

/// Issues a JWT-SVID: JWS compact serialization with header `alg`, `kid` and
/// `typ` "JWT", and claims `sub`, `aud`, `exp`, `iat` (+ `iss`, `jti`).
pub fn issue_jwt_svid(
    signer: &(impl JwtSigner + ?Sized),
    claims: &JwtSvidClaims,
) -> Result<String, JwtIssueError> {
    let unsigned = UnsignedJwtSvid::new(signer.algorithm(), signer.key_id(), claims)?;
    let signature = signer
        .sign(unsigned.signing_input())
        .map_err(JwtIssueError::Sign)?;
    unsigned.finish(&signature)
}

fn header_json(algorithm: JwtAlgorithm, key_id: &str) -> String {
    let mut header = Map::new();
    header.insert("alg".into(), algorithm.as_str().into());
    header.insert("kid".into(), key_id.into());
    header.insert("typ".into(), "JWT".into());
    Value::Object(header).to_string()
}

fn claims_json(claims: &JwtSvidClaims) -> Result<String, JwtIssueError> {
    let aud = match claims.aud.as_slice() {
        [] => return Err(JwtIssueError::EmptyAudience),
        _ if claims.aud.iter().any(String::is_empty) => {
            return Err(JwtIssueError::EmptyAudienceValue);
        }
        [single] => Value::from(single.as_str()),
        many => Value::from(many.to_vec()),
    };

    let mut map = Map::new();
    map.insert("sub".into(), claims.sub.as_str().into());
    map.insert("aud".into(), aud);
    map.insert("exp".into(), claims.exp.into());
    map.insert("iat".into(), claims.iat.into());
    if let Some(iss) = &claims.iss {
        map.insert("iss".into(), iss.as_str().into());
    }
    if let Some(jti) = &claims.jti {
        map.insert("jti".into(), jti.as_str().into());
    }
    Ok(Value::Object(map).to_string())
}
