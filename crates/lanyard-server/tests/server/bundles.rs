//! The trust bundle and the local authorities: every change raises the bundle's
//! sequence number; prepared authorities are published before they sign.

use lanyard_proto::spire::api::server::bundle::v1::{
    AppendBundleRequest, BatchCreateFederatedBundleRequest, BatchDeleteFederatedBundleRequest,
    CountBundlesRequest, GetFederatedBundleRequest, ListFederatedBundlesRequest,
};
use lanyard_proto::spire::api::server::entry::v1::BatchCreateEntryRequest;
use lanyard_proto::spire::api::server::localauthority::v1::{
    ActivateX509AuthorityRequest, GetJwtAuthorityStateRequest, GetX509AuthorityStateRequest,
    PrepareJwtAuthorityRequest, PrepareX509AuthorityRequest, RevokeX509AuthorityRequest,
    TaintX509AuthorityRequest, TaintX509UpstreamAuthorityRequest,
};
use lanyard_proto::spire::api::types;
use tonic::Code;

use crate::common::fixtures::{entry, own_bundle};
use crate::common::{Options, TestServer};
use crate::svids::mint_x509_verifies;

/// Prepare, activate, taint and revoke an X.509 authority; prepare a JWT key.
/// The bundle follows every step with a higher sequence number.
pub(crate) async fn authority_rotation_updates_the_bundle(server: &TestServer) {
    let mut authorities = server.authorities().await;
    let start = own_bundle(server).await;
    assert_eq!(start.x509_authorities.len(), 1);
    assert_eq!(start.jwt_authorities.len(), 1);
    let first = authorities
        .get_x509_authority_state(GetX509AuthorityStateRequest {})
        .await
        .unwrap()
        .into_inner();
    let first_id = first.active.unwrap().authority_id;
    assert!(first.prepared.is_none());

    let prepared = authorities
        .prepare_x509_authority(PrepareX509AuthorityRequest {})
        .await
        .unwrap()
        .into_inner()
        .prepared_authority
        .unwrap();
    let after_prepare = own_bundle(server).await;
    assert!(after_prepare.sequence_number > start.sequence_number);
    assert_eq!(
        after_prepare.x509_authorities.len(),
        2,
        "published before use"
    );

    authorities
        .activate_x509_authority(ActivateX509AuthorityRequest {
            authority_id: prepared.authority_id.clone(),
        })
        .await
        .unwrap();
    let state = authorities
        .get_x509_authority_state(GetX509AuthorityStateRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.active.unwrap().authority_id, prepared.authority_id);
    assert_eq!(state.old.unwrap().authority_id, first_id);
    mint_x509_verifies(server).await;

    let wrong = authorities
        .taint_x509_authority(TaintX509AuthorityRequest {
            authority_id: prepared.authority_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        wrong.code(),
        Code::InvalidArgument,
        "the active authority cannot be tainted"
    );
    let unrevoked = authorities
        .revoke_x509_authority(RevokeX509AuthorityRequest {
            authority_id: first_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        unrevoked.code(),
        Code::InvalidArgument,
        "taint before revoke"
    );

    authorities
        .taint_x509_authority(TaintX509AuthorityRequest {
            authority_id: first_id.clone(),
        })
        .await
        .unwrap();
    let after_taint = own_bundle(server).await;
    assert!(after_taint.sequence_number > after_prepare.sequence_number);
    assert_eq!(
        after_taint
            .x509_authorities
            .iter()
            .filter(|a| a.tainted)
            .count(),
        1
    );

    authorities
        .revoke_x509_authority(RevokeX509AuthorityRequest {
            authority_id: first_id,
        })
        .await
        .unwrap();
    let after_revoke = own_bundle(server).await;
    assert!(after_revoke.sequence_number > after_taint.sequence_number);
    assert_eq!(after_revoke.x509_authorities.len(), 1);
    assert!(!after_revoke.x509_authorities[0].tainted);

    let jwt = authorities
        .prepare_jwt_authority(PrepareJwtAuthorityRequest {})
        .await
        .unwrap()
        .into_inner()
        .prepared_authority
        .unwrap();
    let after_jwt = own_bundle(server).await;
    assert!(after_jwt.sequence_number > after_revoke.sequence_number);
    assert!(
        after_jwt
            .jwt_authorities
            .iter()
            .any(|k| k.key_id == jwt.authority_id)
    );
    let jwt_state = authorities
        .get_jwt_authority_state(GetJwtAuthorityStateRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(jwt_state.prepared.unwrap().authority_id, jwt.authority_id);

    let no_upstream = authorities
        .taint_x509_upstream_authority(TaintX509UpstreamAuthorityRequest {
            subject_key_id: "00".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_upstream.code(), Code::FailedPrecondition);
    assert!(no_upstream.message().contains("upstream"));
}

/// Appending to the own bundle and managing a federated bundle.
pub(crate) async fn bundle_management(server: &TestServer) {
    let mut bundles = server.bundles().await;
    let own = own_bundle(server).await;
    let foreign_root = rcgen_ca_der();

    let appended = bundles
        .append_bundle(AppendBundleRequest {
            x509_authorities: vec![types::X509Certificate {
                asn1: foreign_root.clone(),
                tainted: false,
            }],
            jwt_authorities: Vec::new(),
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(appended.sequence_number > own.sequence_number);
    assert_eq!(
        appended.x509_authorities.len(),
        own.x509_authorities.len() + 1
    );
    let garbage = bundles
        .append_bundle(AppendBundleRequest {
            x509_authorities: vec![types::X509Certificate {
                asn1: b"junk".to_vec(),
                tainted: false,
            }],
            jwt_authorities: Vec::new(),
            output_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::InvalidArgument);
    assert_eq!(
        own_bundle(server).await.sequence_number,
        appended.sequence_number
    );

    let federated = types::Bundle {
        trust_domain: "partner.org".to_owned(),
        x509_authorities: vec![types::X509Certificate {
            asn1: foreign_root,
            tainted: false,
        }],
        ..types::Bundle::default()
    };
    let mut own_td = federated.clone();
    own_td.trust_domain = "example.org".to_owned();
    let created = bundles
        .batch_create_federated_bundle(BatchCreateFederatedBundleRequest {
            bundle: vec![federated.clone(), federated, own_td],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let codes: Vec<i32> = created
        .iter()
        .map(|r| r.status.as_ref().unwrap().code)
        .collect();
    assert_eq!(
        codes,
        [0, Code::AlreadyExists as i32, Code::InvalidArgument as i32]
    );
    assert_eq!(created[0].bundle.as_ref().unwrap().sequence_number, 1);

    let listed = bundles
        .list_federated_bundles(ListFederatedBundlesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .bundles;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].trust_domain, "partner.org");
    let counted = bundles
        .count_bundles(CountBundlesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(counted.count, 2);

    let mut federating = entry("/partner-client", "unix:uid:4242");
    federating.federates_with = vec!["partner.org".to_owned()];
    let results = server
        .entries()
        .await
        .batch_create_entry(BatchCreateEntryRequest {
            entries: vec![federating],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(results[0].status.as_ref().unwrap().code, 0);

    let restricted = bundles
        .batch_delete_federated_bundle(BatchDeleteFederatedBundleRequest {
            trust_domains: vec!["partner.org".to_owned(), "unknown.org".to_owned()],
            mode: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    let codes: Vec<i32> = restricted
        .iter()
        .map(|r| r.status.as_ref().unwrap().code)
        .collect();
    assert_eq!(
        codes,
        [Code::FailedPrecondition as i32, Code::NotFound as i32]
    );

    let dissociated = bundles
        .batch_delete_federated_bundle(BatchDeleteFederatedBundleRequest {
            trust_domains: vec!["partner.org".to_owned()],
            mode: 2,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(dissociated[0].status.as_ref().unwrap().code, 0);
    let gone = bundles
        .get_federated_bundle(GetFederatedBundleRequest {
            trust_domain: "partner.org".to_owned(),
            output_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

/// A self-signed CA certificate from another PKI.
fn rcgen_ca_der() -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&key).unwrap().der().to_vec()
}

#[tokio::test]
async fn authorities_rotate_through_the_bundle() {
    let server = TestServer::start(&Options::default());
    authority_rotation_updates_the_bundle(&server).await;
}

#[tokio::test]
async fn bundles_are_managed() {
    let server = TestServer::start(&Options::default());
    bundle_management(&server).await;
}
