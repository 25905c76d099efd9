//! Every parser takes arbitrary input without panicking: random bytes and
//! strings, and random mutations of valid inputs.
#![allow(clippy::unwrap_used, reason = "test code")]

mod common;

use std::sync::OnceLock;

use common::*;
use lanyard_spiffe::jwt::Pkcs8JwtSigner;
use lanyard_spiffe::x509::{check_x509_svid_leaf, split_der_chain, verify_x509_svid};
use lanyard_spiffe::{
    Bundle, BundleSet, JwtAlgorithm, JwtAuthority, JwtSvidClaims, Selector, SpiffeId, TrustDomain,
    X509Svid, issue_jwt_svid, parse_jwt_svid_insecure, verify_jwt_svid,
};
use proptest::prelude::*;
use rustls_pki_types::CertificateDer;

/// Valid samples to mutate, and the bundles to check them against.
struct Samples {
    token: String,
    bundle_json: String,
    bundle_map_json: String,
    pem: String,
    chain_der: Vec<u8>,
    bundles: BundleSet,
}

fn samples() -> &'static Samples {
    static SAMPLES: OnceLock<Samples> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let td = TrustDomain::new("example.org").unwrap();
        let root = root("example.org");
        let mid = intermediate(&root, ca_params("example.org"));
        let chain = [
            leaf(&leaf_params("spiffe://example.org/w"), &mid),
            mid.der(),
        ];
        let signer = Pkcs8JwtSigner::from_pkcs8(
            JwtAlgorithm::Es256,
            "k1",
            &key(&rcgen::PKCS_ECDSA_P256_SHA256).serialize_der(),
        )
        .unwrap();

        let mut bundle = Bundle::new(td.clone());
        bundle.add_x509_authority(root.der()).unwrap();
        let authority = JwtAuthority::new("k1", signer.public_key_spki().unwrap(), None).unwrap();
        bundle.add_jwt_authority(authority).unwrap();
        let claims = JwtSvidClaims {
            sub: td.id().join("w").unwrap(),
            aud: vec!["svc".into()],
            exp: 1_748_736_300,
            iat: 1_748_736_000,
            iss: None,
            jti: None,
        };
        let bundles: BundleSet = [bundle.clone()].into_iter().collect();
        Samples {
            token: issue_jwt_svid(&signer, &claims).unwrap(),
            bundle_json: bundle.to_json().unwrap(),
            bundle_map_json: bundles.to_bundle_map_json().unwrap(),
            pem: bundle.x509_authorities_to_pem(),
            chain_der: chain.iter().flat_map(|c| c.to_vec()).collect(),
            bundles,
        }
    })
}

/// Feeds `bytes` to every parser; the results do not matter, only that they return.
fn feed(bytes: &[u8]) {
    let s = samples();
    let td = TrustDomain::new("example.org").unwrap();
    let text = String::from_utf8_lossy(bytes);

    let _ = SpiffeId::parse(&text);
    let _ = TrustDomain::new(&text);
    let _ = TrustDomain::from_name_or_id(&text);
    let _ = Selector::parse(&text);

    let _ = parse_jwt_svid_insecure(&text);
    let _ = verify_jwt_svid(&text, &s.bundles, "svc", now());

    let _ = Bundle::parse_json(td.clone(), bytes);
    let _ = Bundle::parse_jwt_jwks(td.clone(), bytes);
    let _ = BundleSet::parse_bundle_map_json(bytes);
    let _ = Bundle::parse_x509_pem(td, bytes);
    let _ = JwtAuthority::new("k", bytes.to_vec(), None);

    let _ = X509Svid::parse_der_chain(bytes);
    let _ = check_x509_svid_leaf(bytes);
    if let Ok(chain) = split_der_chain(bytes) {
        let _ = verify_x509_svid(&chain, &s.bundles, now());
    }
    let _ = verify_x509_svid(&[CertificateDer::from(bytes.to_vec())], &s.bundles, now());
}

/// `base` with some bytes replaced, inserted or removed.
fn mutated(base: Vec<u8>, edits: Vec<(usize, u8, u8)>) -> Vec<u8> {
    let mut out = base;
    for (at, byte, op) in edits {
        if out.is_empty() {
            out.push(byte);
            continue;
        }
        let at = at % out.len();
        match op % 3 {
            0 => out[at] = byte,
            1 => out.insert(at, byte),
            _ => {
                out.remove(at);
            }
        }
    }
    out
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        feed(&bytes);
    }

    #[test]
    fn arbitrary_strings(s in "\\PC{0,256}") {
        feed(s.as_bytes());
    }

    #[test]
    fn json_shaped_strings(s in r#"[\[\]{}":,0-9a-z_\-. ]{0,128}"#) {
        feed(s.as_bytes());
    }

    #[test]
    fn mutated_jwt(e in edits()) {
        feed(&mutated(samples().token.clone().into_bytes(), e));
    }

    #[test]
    fn mutated_bundle_json(e in edits()) {
        feed(&mutated(samples().bundle_json.clone().into_bytes(), e));
    }

    #[test]
    fn mutated_bundle_map_json(e in edits()) {
        feed(&mutated(samples().bundle_map_json.clone().into_bytes(), e));
    }

    #[test]
    fn mutated_pem(e in edits()) {
        feed(&mutated(samples().pem.clone().into_bytes(), e));
    }

    #[test]
    fn mutated_der_chain(e in edits()) {
        feed(&mutated(samples().chain_der.clone(), e));
    }
}

#[test]
fn valid_samples_are_accepted() {
    // Guards the mutation tests: they must start from inputs that parse.
    let s = samples();
    let td = TrustDomain::new("example.org").unwrap();
    assert!(verify_jwt_svid(&s.token, &s.bundles, "svc", now()).is_ok());
    assert!(Bundle::parse_json(td.clone(), s.bundle_json.as_bytes()).is_ok());
    assert!(BundleSet::parse_bundle_map_json(s.bundle_map_json.as_bytes()).is_ok());
    assert!(Bundle::parse_x509_pem(td, s.pem.as_bytes()).is_ok());
    let chain = split_der_chain(&s.chain_der).unwrap();
    assert!(verify_x509_svid(&chain, &s.bundles, now()).is_ok());
}
