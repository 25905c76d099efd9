//! Minting X509-SVIDs and JWT-SVIDs over the admin socket, verified against the
//! bundle the server publishes.

use std::time::SystemTime;

use lanyard_proto::spire::api::server::svid::v1::{MintJwtsvidRequest, MintX509svidRequest};
use lanyard_proto::spire::api::types;
use lanyard_spiffe::jwt::verify_jwt_svid;
use lanyard_spiffe::verify_x509_svid;
use rustls_pki_types::CertificateDer;
use tonic::Code;

use crate::common::fixtures::{bundle_set, csr, id, own_bundle};
use crate::common::{Options, TestServer};

/// An X509-SVID minted from a CSR verifies against the published bundle, with
/// the CSR's SPIFFE ID and the requested TTL.
pub(crate) async fn mint_x509_verifies(server: &TestServer) {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let response = server
        .svids()
        .await
        .mint_x509svid(MintX509svidRequest {
            csr: csr(
                &["spiffe://example.org/workload"],
                &["workload.example.org"],
            ),
            ttl: 120,
        })
        .await
        .unwrap()
        .into_inner();
    let svid = response.svid.unwrap();
    assert_eq!(svid.id, Some(id("/workload")));
    assert!(
        (now + 110..=now + 130).contains(&svid.expires_at),
        "ttl is honoured"
    );

    let chain: Vec<CertificateDer<'_>> = svid
        .cert_chain
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    let bundles = bundle_set(&own_bundle(server).await);
    let verified = verify_x509_svid(&chain, &bundles, SystemTime::now()).expect("chain verifies");
    assert_eq!(verified.as_str(), "spiffe://example.org/workload");
}

/// A JWT-SVID verifies against the published JWT authorities.
pub(crate) async fn mint_jwt_verifies(server: &TestServer) {
    let response = server
        .svids()
        .await
        .mint_jwtsvid(MintJwtsvidRequest {
            id: Some(id("/workload")),
            audience: vec!["audience-a".to_owned(), "audience-b".to_owned()],
            ttl: 60,
        })
        .await
        .unwrap()
        .into_inner();
    let svid = response.svid.unwrap();
    assert!(svid.expires_at - svid.issued_at <= 60 && svid.expires_at > svid.issued_at);

    let bundles = bundle_set(&own_bundle(server).await);
    let verified = verify_jwt_svid(&svid.token, &bundles, "audience-b", SystemTime::now())
        .expect("jwt-svid verifies");
    assert_eq!(
        verified.spiffe_id().as_str(),
        "spiffe://example.org/workload"
    );
    assert_eq!(verified.expires_at(), svid.expires_at);
}

/// Invalid CSRs and JWT requests are refused with InvalidArgument.
pub(crate) async fn bad_mint_requests(server: &TestServer) {
    let mut svids = server.svids().await;
    let bad_csrs = [
        (Vec::new(), "missing"),
        (b"definitely not DER".to_vec(), "csr"),
        (csr(&[], &["only.dns.example.org"]), "URI SAN"),
        (csr(&["spiffe://other.org/x"], &[]), "trust domain"),
        (
            csr(&["spiffe://example.org/a", "spiffe://example.org/b"], &[]),
            "exactly one",
        ),
        (csr(&["https://example.org/x"], &[]), "SPIFFE ID"),
        (csr(&["spiffe://example.org"], &[]), "path"),
    ];
    for (der, needle) in bad_csrs {
        let status = svids
            .mint_x509svid(MintX509svidRequest { csr: der, ttl: 0 })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
        assert!(
            status.message().contains(needle),
            "{:?} lacks {needle:?}",
            status.message()
        );
    }
    let negative = svids
        .mint_x509svid(MintX509svidRequest {
            csr: csr(&["spiffe://example.org/x"], &[]),
            ttl: -5,
        })
        .await
        .unwrap_err();
    assert_eq!(negative.code(), Code::InvalidArgument);

    let bad_jwts = [
        MintJwtsvidRequest {
            id: Some(id("/workload")),
            audience: Vec::new(),
            ttl: 0,
        },
        MintJwtsvidRequest {
            id: None,
            audience: vec!["a".to_owned()],
            ttl: 0,
        },
        MintJwtsvidRequest {
            id: Some(types::Spiffeid {
                trust_domain: "other.org".to_owned(),
                path: "/x".to_owned(),
            }),
            audience: vec!["a".to_owned()],
            ttl: 0,
        },
        MintJwtsvidRequest {
            id: Some(id("/workload")),
            audience: vec![String::new()],
            ttl: 0,
        },
    ];
    for request in bad_jwts {
        let status = svids.mint_jwtsvid(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    }
}

#[tokio::test]
async fn minted_svids_verify_against_the_bundle() {
    let server = TestServer::start(&Options::default());
    mint_x509_verifies(&server).await;
    mint_jwt_verifies(&server).await;
    bad_mint_requests(&server).await;
}
