//! JWT-SVID issuing and verification (checklist 1.3).
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::key;
use lanyard_spiffe::jwt::{
    JWT_LEEWAY, JwtIssueError, JwtSignError, MAX_JWT_SVID_LEN, Pkcs8JwtSigner, UnsignedJwtSvid,
};
use lanyard_spiffe::{
    Bundle, BundleSet, JsonError, JwtAlgorithm, JwtAuthority, JwtSigner, JwtSvidClaims,
    JwtSvidError, SpiffeId, TrustDomain, issue_jwt_svid, parse_jwt_svid_insecure, verify_jwt_svid,
};
use rcgen::{
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ECDSA_P521_SHA512, PKCS_RSA_SHA256,
    SignatureAlgorithm,
};
use serde_json::{Value, json};

const SUB: &str = "spiffe://example.org/workload";
const NOW: i64 = 1_750_000_000;

fn now() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW as u64)
}

fn signer(alg: JwtAlgorithm, kid: &str, key_alg: &'static SignatureAlgorithm) -> Pkcs8JwtSigner {
    Pkcs8JwtSigner::from_pkcs8(alg, kid, &key(key_alg).serialize_der()).unwrap()
}

fn es256(kid: &str) -> Pkcs8JwtSigner {
    signer(JwtAlgorithm::Es256, kid, &PKCS_ECDSA_P256_SHA256)
}

fn bundles(signers: &[&Pkcs8JwtSigner]) -> BundleSet {
    let mut bundle = Bundle::new(TrustDomain::new("example.org").unwrap());
    for s in signers {
        let authority = JwtAuthority::new(s.key_id(), s.public_key_spki().unwrap(), None).unwrap();
        bundle.add_jwt_authority(authority).unwrap();
    }
    [bundle].into_iter().collect()
}

fn claims(aud: &[&str]) -> JwtSvidClaims {
    JwtSvidClaims {
        sub: SpiffeId::parse(SUB).unwrap(),
        aud: aud.iter().map(|a| (*a).to_owned()).collect(),
        exp: NOW + 300,
        iat: NOW,
        iss: None,
        jti: None,
    }
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A token with any header and claims, signed by `signer`.
fn craft(header: &Value, claims: &Value, signer: &impl JwtSigner) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn good_header() -> Value {
    json!({"alg": "ES256", "kid": "k1", "typ": "JWT"})
}

fn good_claims() -> Value {
    json!({"sub": SUB, "aud": "svc", "exp": NOW + 300, "iat": NOW})
}

fn verify(token: &str, set: &BundleSet) -> Result<lanyard_spiffe::JwtSvid, JwtSvidError> {
    verify_jwt_svid(token, set, "svc", now())
}

/// Verifies a crafted token against a bundle holding the signer's key.
fn verify_crafted(header: &Value, claims: &Value) -> Result<lanyard_spiffe::JwtSvid, JwtSvidError> {
    let s = es256("k1");
    verify(&craft(header, claims, &s), &bundles(&[&s]))
}

#[test]
fn round_trip_with_every_allowed_algorithm() {
    let rsa = key(&PKCS_RSA_SHA256).serialize_der();
    let mut signers = Vec::new();
    for alg in JwtAlgorithm::ALL {
        let kid = alg.as_str().to_lowercase();
        let s = match alg {
            JwtAlgorithm::Es256 => signer(alg, &kid, &PKCS_ECDSA_P256_SHA256),
            JwtAlgorithm::Es384 => signer(alg, &kid, &PKCS_ECDSA_P384_SHA384),
            JwtAlgorithm::Es512 => signer(alg, &kid, &PKCS_ECDSA_P521_SHA512),
            _ => Pkcs8JwtSigner::from_pkcs8(alg, &kid, &rsa).unwrap(),
        };
        signers.push(s);
    }
    let set = bundles(&signers.iter().collect::<Vec<_>>());

    for s in &signers {
        let token = issue_jwt_svid(s, &claims(&["svc"])).unwrap();
        let svid = verify(&token, &set).unwrap();
        assert_eq!(svid.spiffe_id().as_str(), SUB);
        assert_eq!(svid.algorithm(), s.algorithm());
        assert_eq!(svid.key_id(), Some(s.key_id()));
        assert_eq!(svid.token(), token);
        if let Some(len) = s.algorithm().fixed_signature_len() {
            let sig = URL_SAFE_NO_PAD
                .decode(token.rsplit('.').next().unwrap())
                .unwrap();
            assert_eq!(sig.len(), len, "{} uses r||s", s.algorithm());
        }
    }
}

#[test]
fn issued_tokens_have_the_spire_shape() {
    let s = es256("k1");
    let mut c = claims(&["svc"]);
    c.iss = Some("https://issuer.example.org".into());
    c.jti = Some("abc".into());
    let token = issue_jwt_svid(&s, &c).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);

    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "ES256", "kid": "k1", "typ": "JWT"}));
    let body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"sub": SUB, "aud": "svc", "exp": NOW + 300, "iat": NOW,
               "iss": "https://issuer.example.org", "jti": "abc"})
    );

    let many = issue_jwt_svid(&s, &claims(&["a", "b"])).unwrap();
    let svid = parse_jwt_svid_insecure(&many).unwrap();
    assert_eq!(svid.claims()["aud"], json!(["a", "b"]));
    assert_eq!(svid.audience(), ["a", "b"]);
}

#[test]
fn only_the_nine_algorithms_are_allowed() {
    for alg in [
        "none", "HS256", "HS512", "EdDSA", "es256", "RS1", "", "ES256 ",
    ] {
        let mut header = good_header();
        header["alg"] = alg.into();
        assert!(
            matches!(
                verify_crafted(&header, &good_claims()),
                Err(JwtSvidError::UnsupportedAlgorithm(a)) if a == alg
            ),
            "{alg}"
        );
    }
    let mut header = good_header();
    header["alg"] = json!(["ES256"]);
    assert!(matches!(
        verify_crafted(&header, &good_claims()),
        Err(JwtSvidError::UnsupportedAlgorithm(_))
    ));
    header.as_object_mut().unwrap().remove("alg");
    assert!(matches!(
        verify_crafted(&header, &good_claims()),
        Err(JwtSvidError::MissingAlgorithm)
    ));
    assert_eq!(
        JwtAlgorithm::ALL.map(JwtAlgorithm::as_str),
        [
            "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"
        ]
    );
}

#[test]
fn algorithm_is_checked_before_anything_else() {
    // A bad alg wins over a key in the header, broken claims and a bad signature.
    let header = json!({"alg": "none", "jwk": {"kty": "oct"}, "typ": "nope"});
    let token = format!("{}.{}.", b64(&header), URL_SAFE_NO_PAD.encode("not json"));
    assert!(matches!(
        verify(&token, &BundleSet::new()),
        Err(JwtSvidError::UnsupportedAlgorithm(a)) if a == "none"
    ));
}

#[test]
fn hmac_with_the_public_key_is_rejected() {
    // The classic confusion attack: HS256 keyed with the authority's public key.
    let s = es256("k1");
    let set = bundles(&[&s]);
    let header = json!({"alg": "HS256", "kid": "k1"});
    let input = format!("{}.{}", b64(&header), b64(&good_claims()));
    let key =
        aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &s.public_key_spki().unwrap());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    assert!(matches!(
        verify(&token, &set),
        Err(JwtSvidError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn keys_are_never_taken_from_the_header() {
    for name in ["jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"] {
        let mut header = good_header();
        header[name] = json!("anything");
        assert!(
            matches!(
                verify_crafted(&header, &good_claims()),
                Err(JwtSvidError::KeyInHeader(n)) if n == name
            ),
            "{name}"
        );
    }
}

#[test]
fn only_registered_headers_may_appear() {
    for name in ["crit", "cty", "b64", "foo"] {
        let mut header = good_header();
        header[name] = json!("x");
        assert!(
            matches!(
                verify_crafted(&header, &good_claims()),
                Err(JwtSvidError::UnexpectedHeader(n)) if n == name
            ),
            "{name}"
        );
    }
}

#[test]
fn typ_when_present_is_jwt_or_jose() {
    for typ in ["JWT", "JOSE"] {
        let mut header = good_header();
        header["typ"] = typ.into();
        assert!(verify_crafted(&header, &good_claims()).is_ok(), "{typ}");
    }
    let mut absent = good_header();
    absent.as_object_mut().unwrap().remove("typ");
    assert!(verify_crafted(&absent, &good_claims()).is_ok());

    for typ in [json!("jwt"), json!("at+jwt"), json!("wit+jwt"), json!(1)] {
        let mut header = good_header();
        header["typ"] = typ.clone();
        assert!(
            matches!(
                verify_crafted(&header, &good_claims()),
                Err(JwtSvidError::BadType(_))
            ),
            "{typ}"
        );
    }
}

#[test]
fn kid_selects_an_authority_of_the_subjects_trust_domain() {
    let mut header = good_header();
    header.as_object_mut().unwrap().remove("kid");
    assert!(matches!(
        verify_crafted(&header, &good_claims()),
        Err(JwtSvidError::MissingKeyId)
    ));
    header["kid"] = "".into();
    assert!(matches!(
        verify_crafted(&header, &good_claims()),
        Err(JwtSvidError::BadKeyIdHeader)
    ));

    let s = es256("k1");
    let unknown = es256("k2");
    let token = issue_jwt_svid(&unknown, &claims(&["svc"])).unwrap();
    assert!(matches!(
        verify(&token, &bundles(&[&s])),
        Err(JwtSvidError::UnknownKeyId { key_id, .. }) if key_id == "k2"
    ));

    // The key exists, but in another trust domain's bundle: not usable.
    let mut other = Bundle::new(TrustDomain::new("other.org").unwrap());
    other
        .add_jwt_authority(
            JwtAuthority::new("k2", unknown.public_key_spki().unwrap(), None).unwrap(),
        )
        .unwrap();
    let mut set = bundles(&[&s]);
    set.insert(other);
    assert!(matches!(
        verify(&token, &set),
        Err(JwtSvidError::UnknownKeyId { .. })
    ));

    let mut foreign = claims(&["svc"]);
    foreign.sub = SpiffeId::parse("spiffe://nowhere.org/x").unwrap();
    let token = issue_jwt_svid(&s, &foreign).unwrap();
    assert!(matches!(
        verify(&token, &set),
        Err(JwtSvidError::NoBundle(td)) if td.as_str() == "nowhere.org"
    ));
}

#[test]
fn sub_must_be_a_spiffe_id() {
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("sub");
    assert!(matches!(
        verify_crafted(&good_header(), &c),
        Err(JwtSvidError::MissingSubject)
    ));
    for sub in [
        json!("https://example.org/x"),
        json!("spiffe://example.org/"),
        json!(7),
    ] {
        c["sub"] = sub.clone();
        assert!(
            matches!(
                verify_crafted(&good_header(), &c),
                Err(JwtSvidError::InvalidSubject(_) | JwtSvidError::MissingSubject)
            ),
            "{sub}"
        );
    }
}

#[test]
fn aud_is_required_and_must_contain_the_expected_audience() {
    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("aud");
    assert!(matches!(
        verify_crafted(&good_header(), &c),
        Err(JwtSvidError::MissingAudience)
    ));
    c["aud"] = json!([]);
    assert!(matches!(
        verify_crafted(&good_header(), &c),
        Err(JwtSvidError::MissingAudience)
    ));
    for bad in [json!(5), json!([1]), json!({"a": 1}), json!(null)] {
        c["aud"] = bad.clone();
        assert!(
            matches!(
                verify_crafted(&good_header(), &c),
                Err(JwtSvidError::BadAudience)
            ),
            "{bad}"
        );
    }

    c["aud"] = json!(["other", "svc"]);
    assert!(verify_crafted(&good_header(), &c).is_ok());
    c["aud"] = json!("svc");
    assert!(verify_crafted(&good_header(), &c).is_ok());
    c["aud"] = json!(["other", "svc2", "SVC"]);
    assert!(matches!(
        verify_crafted(&good_header(), &c),
        Err(JwtSvidError::AudienceMismatch(a)) if a == "svc"
    ));
}

#[test]
fn exp_is_required_and_enforced_with_small_leeway() {
    let leeway = JWT_LEEWAY.as_secs() as i64;
    assert!(leeway <= 60, "leeway must stay small");

    let mut c = good_claims();
    c.as_object_mut().unwrap().remove("exp");
    assert!(matches!(
        verify_crafted(&good_header(), &c),
        Err(JwtSvidError::MissingExpiry)
    ));
    c["exp"] = json!("soon");
    assert!(matches!(
        verify_crafted(&good_header(), &c),
        Err(JwtSvidError::BadTimeClaim("exp"))
    ));
    c["exp"] = json!(NOW - leeway);
    assert!(verify_crafted(&good_header(), &c).is_ok(), "within leeway");
    c["exp"] = json!(NOW - leeway - 1);
    assert!(matches!(
        verify_crafted(&good_header(), &c),
        Err(JwtSvidError::Expired { .. })
    ));
    c["exp"] = json!((NOW + 10) as f64 + 0.5);
    assert!(
        verify_crafted(&good_header(), &c).is_ok(),
        "NumericDate may be fractional"
    );
}

#[test]
fn nbf_and_iat_must_not_be_in_the_future() {
    let mut c = good_claims();
    c["nbf"] = json!(NOW + 3600);
    assert!(matches!(
        verify_crafted(&good_header(), &c),
        Err(JwtSvidError::NotYetValid { .. })
    ));
    let mut c = good_claims();
    c["iat"] = json!(NOW + 3600);
    assert!(matches!(
        verify_crafted(&good_header(), &c),
        Err(JwtSvidError::IssuedInFuture { .. })
    ));
}

#[test]
fn signature_must_verify_with_the_named_key() {
    let s = es256("k1");
    let set = bundles(&[&s]);
    let token = issue_jwt_svid(&s, &claims(&["svc"])).unwrap();

    // Claims swapped for other claims: the signature no longer matches.
    let parts: Vec<&str> = token.split('.').collect();
    let mut evil = good_claims();
    evil["sub"] = "spiffe://example.org/admin".into();
    let tampered = format!("{}.{}.{}", parts[0], b64(&evil), parts[2]);
    assert!(matches!(
        verify(&tampered, &set),
        Err(JwtSvidError::BadSignature)
    ));

    // Same kid, different key.
    let impostor = es256("k1");
    let forged = issue_jwt_svid(&impostor, &claims(&["svc"])).unwrap();
    assert!(matches!(
        verify(&forged, &set),
        Err(JwtSvidError::BadSignature)
    ));

    let empty_signature = format!("{}.{}.", parts[0], parts[1]);
    assert!(matches!(
        verify(&empty_signature, &set),
        Err(JwtSvidError::BadSignature)
    ));
}

#[test]
fn algorithm_must_fit_the_authority_key() {
    let s = es256("k1");
    let p384 = signer(JwtAlgorithm::Es384, "k1", &PKCS_ECDSA_P384_SHA384);
    let token = issue_jwt_svid(&p384, &claims(&["svc"])).unwrap();
    assert!(matches!(
        verify(&token, &bundles(&[&s])),
        Err(JwtSvidError::KeyAlgorithmMismatch("ES384"))
    ));

    let mut header = good_header();
    header["alg"] = "RS256".into();
    assert!(matches!(
        verify_crafted(&header, &good_claims()),
        Err(JwtSvidError::KeyAlgorithmMismatch("RS256"))
    ));
}

#[test]
fn only_jws_compact_serialization_is_accepted() {
    let s = es256("k1");
    let set = bundles(&[&s]);
    let token = issue_jwt_svid(&s, &claims(&["svc"])).unwrap();
    let parts: Vec<&str> = token.split('.').collect();

    let json_serialization = json!({
        "payload": parts[1], "protected": parts[0], "signature": parts[2]
    })
    .to_string();
    for bad in [
        json_serialization.as_str(),
        &format!("{}.{}", parts[0], parts[1]),
        &format!("{token}.x"),
        "",
    ] {
        assert!(
            matches!(
                verify(bad, &set),
                Err(JwtSvidError::NotCompactSerialization)
            ),
            "{bad}"
        );
    }

    let padded = format!("{}=.{}.{}", parts[0], parts[1], parts[2]);
    assert!(matches!(
        verify(&padded, &set),
        Err(JwtSvidError::BadBase64(_))
    ));
    let long = "a".repeat(MAX_JWT_SVID_LEN + 1);
    assert!(matches!(
        verify(&long, &set),
        Err(JwtSvidError::TooLong { .. })
    ));
}

#[test]
fn duplicate_json_keys_are_rejected() {
    let s = es256("k1");
    let header = b64(&good_header());
    let claims = format!(
        r#"{{"sub":"{SUB}","sub":"spiffe://example.org/admin","aud":"svc","exp":{}}}"#,
        NOW + 300
    );
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(&claims));
    let signature = s.sign(input.as_bytes()).unwrap();
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    assert!(matches!(
        verify(&token, &bundles(&[&s])),
        Err(JwtSvidError::BadJson { source: JsonError::DuplicateKey(k), .. }) if k == "sub"
    ));
}

#[test]
fn all_claims_are_returned() {
    let mut c = good_claims();
    c["custom"] = json!({"nested": [1, 2]});
    let svid = verify_crafted(&good_header(), &c).unwrap();
    assert_eq!(svid.claims()["custom"]["nested"][1], 2);
    assert_eq!(svid.claims()["sub"], SUB);
    assert_eq!(svid.expires_at(), NOW + 300);
    assert_eq!(svid.issued_at(), Some(NOW));
}

#[test]
fn insecure_parse_skips_only_signature_time_and_audience() {
    let s = es256("k1");
    let mut c = claims(&["elsewhere"]);
    c.exp = NOW - 3600;
    let token = issue_jwt_svid(&s, &c).unwrap();
    let svid = parse_jwt_svid_insecure(&token).unwrap();
    assert_eq!(svid.spiffe_id().as_str(), SUB);

    let header = json!({"alg": "none"});
    let unsigned = format!("{}.{}.", b64(&header), b64(&good_claims()));
    assert!(matches!(
        parse_jwt_svid_insecure(&unsigned),
        Err(JwtSvidError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn debug_output_hides_tokens_and_keys() {
    let s = es256("k1");
    let token = issue_jwt_svid(&s, &claims(&["svc"])).unwrap();
    let svid = parse_jwt_svid_insecure(&token).unwrap();
    let shown = format!("{svid:?} {s:?}");
    assert!(!shown.contains(token.split('.').nth(2).unwrap()));
    assert!(shown.contains("redacted"));
}

struct DerSigner(Pkcs8JwtSigner);

impl JwtSigner for DerSigner {
    fn algorithm(&self) -> JwtAlgorithm {
        JwtAlgorithm::Es256
    }

    fn key_id(&self) -> &str {
        "k1"
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, JwtSignError> {
        // A DER-encoded ECDSA signature is 70-72 bytes, never 64.
        let mut sig = self.0.sign(input)?;
        sig.extend_from_slice(&[0; 7]);
        Ok(sig)
    }
}

#[test]
fn issuing_checks_the_signature_width_and_claims() {
    assert!(matches!(
        issue_jwt_svid(&DerSigner(es256("k1")), &claims(&["svc"])),
        Err(JwtIssueError::BadSignatureLength {
            expected: 64,
            actual: 71,
            ..
        })
    ));
    let s = es256("k1");
    assert!(matches!(
        issue_jwt_svid(&s, &claims(&[])),
        Err(JwtIssueError::EmptyAudience)
    ));
    assert!(matches!(
        issue_jwt_svid(&s, &claims(&["a", ""])),
        Err(JwtIssueError::EmptyAudienceValue)
    ));
    assert!(matches!(
        Pkcs8JwtSigner::from_pkcs8(
            JwtAlgorithm::Es384,
            "k",
            &key(&PKCS_ECDSA_P256_SHA256).serialize_der()
        ),
        Err(JwtIssueError::BadPrivateKey)
    ));

    // The two-step form for signers that cannot be called synchronously.
    let unsigned = UnsignedJwtSvid::new(JwtAlgorithm::Es256, "k1", &claims(&["svc"])).unwrap();
    let signature = s.sign(unsigned.signing_input()).unwrap();
    let token = unsigned.finish(&signature).unwrap();
    assert!(verify(&token, &bundles(&[&s])).is_ok());
}

#[test]
fn bundle_without_jwt_authorities_trusts_no_jwt_svid() {
    let s = es256("k1");
    let token = issue_jwt_svid(&s, &claims(&["svc"])).unwrap();
    let empty: BundleSet = [Bundle::new(TrustDomain::new("example.org").unwrap())]
        .into_iter()
        .collect();
    assert!(matches!(
        verify(&token, &empty),
        Err(JwtSvidError::UnknownKeyId { .. })
    ));
}

#[test]
fn x509_authorities_are_never_jwt_keys() {
    // The same key as an X.509 authority (even with a kid in the JSON) must not
    // verify JWT-SVIDs: only jwt-svid entries count.
    let pkcs8 = key(&PKCS_ECDSA_P256_SHA256).serialize_der();
    let s = Pkcs8JwtSigner::from_pkcs8(JwtAlgorithm::Es256, "k1", &pkcs8).unwrap();
    let key_pair = rcgen::KeyPair::try_from(pkcs8.as_slice()).unwrap();
    let cert = common::ca_params("example.org")
        .self_signed(&key_pair)
        .unwrap();

    let mut jwk: Value = serde_json::from_str(&{
        let mut b = Bundle::new(TrustDomain::new("example.org").unwrap());
        b.add_x509_authority(cert.der().clone()).unwrap();
        b.to_json().unwrap()
    })
    .unwrap();
    jwk["keys"][0]["kid"] = "k1".into();
    let bundle = Bundle::parse_json(
        TrustDomain::new("example.org").unwrap(),
        jwk.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(bundle.x509_authorities().len(), 1);
    assert!(bundle.jwt_authorities().is_empty());

    let token = issue_jwt_svid(&s, &claims(&["svc"])).unwrap();
    let set: BundleSet = [bundle].into_iter().collect();
    assert!(matches!(
        verify(&token, &set),
        Err(JwtSvidError::UnknownKeyId { .. })
    ));
}
