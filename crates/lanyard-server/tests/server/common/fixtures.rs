//! Request builders and checks shared by the scenarios.

use lanyard_proto::spire::api::server::bundle::v1::GetBundleRequest;
use lanyard_proto::spire::api::server::entry::v1::{
    BatchCreateEntryRequest, CountEntriesRequest, ListEntriesRequest,
};
use lanyard_proto::spire::api::types;
use lanyard_spiffe::{Bundle, BundleSet, JwtAuthority, TrustDomain};
use rustls_pki_types::CertificateDer;

use super::{TRUST_DOMAIN, TestServer};

/// A wire SPIFFE ID in the test trust domain.
pub(crate) fn id(path: &str) -> types::Spiffeid {
    types::Spiffeid {
        trust_domain: TRUST_DOMAIN.to_owned(),
        path: path.to_owned(),
    }
}

/// Wire selectors from `type:value` strings.
pub(crate) fn selectors(list: &[&str]) -> Vec<types::Selector> {
    list.iter()
        .map(|s| {
            let (kind, value) = s.split_once(':').expect("type:value");
            types::Selector {
                r#type: kind.to_owned(),
                value: value.to_owned(),
            }
        })
        .collect()
}

/// A valid entry: `path` under the test trust domain, parented to an agent.
pub(crate) fn entry(path: &str, selector: &str) -> types::Entry {
    types::Entry {
        spiffe_id: Some(id(path)),
        parent_id: Some(id("/spire/agent/join_token/node-1")),
        selectors: selectors(&[selector]),
        x509_svid_ttl: 600,
        hint: "test".to_owned(),
        ..types::Entry::default()
    }
}

/// Creates entries and returns their IDs; every item must succeed.
pub(crate) async fn create_all(server: &TestServer, entries: Vec<types::Entry>) -> Vec<String> {
    let results = server
        .entries()
        .await
        .batch_create_entry(BatchCreateEntryRequest {
            entries,
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    results
        .into_iter()
        .map(|r| {
            let status = r.status.unwrap();
            assert_eq!(status.code, 0, "{}", status.message);
            r.entry.unwrap().id
        })
        .collect()
}

/// Every entry, sorted by ID.
pub(crate) async fn all_entries(server: &TestServer) -> Vec<types::Entry> {
    let mut entries = server
        .entries()
        .await
        .list_entries(ListEntriesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries;
    entries.sort_by(|a, b| a.id.cmp(&b.id));
    entries
}

/// The number of entries.
pub(crate) async fn count(server: &TestServer) -> i32 {
    server
        .entries()
        .await
        .count_entries(CountEntriesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .count
}

/// The server's own bundle over the API.
pub(crate) async fn own_bundle(server: &TestServer) -> types::Bundle {
    server
        .bundles()
        .await
        .get_bundle(GetBundleRequest::default())
        .await
        .unwrap()
        .into_inner()
}

/// A wire bundle as a `lanyard-spiffe` bundle set, for verifying SVIDs.
pub(crate) fn bundle_set(bundle: &types::Bundle) -> BundleSet {
    let td = TrustDomain::new(&bundle.trust_domain).unwrap();
    let mut spiffe = Bundle::new(td);
    for authority in &bundle.x509_authorities {
        spiffe
            .add_x509_authority(CertificateDer::from(authority.asn1.clone()))
            .unwrap();
    }
    for key in &bundle.jwt_authorities {
        spiffe
            .add_jwt_authority(
                JwtAuthority::new(&key.key_id, key.public_key.clone(), None).unwrap(),
            )
            .unwrap();
    }
    std::iter::once(spiffe).collect()
}

/// A DER CSR with the given URI and DNS SANs, signed by a fresh P-256 key.
pub(crate) fn csr(uris: &[&str], dns_names: &[&str]) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    for uri in uris {
        params
            .subject_alt_names
            .push(rcgen::SanType::URI((*uri).try_into().unwrap()));
    }
    for name in dns_names {
        params
            .subject_alt_names
            .push(rcgen::SanType::DnsName((*name).try_into().unwrap()));
    }
    params.serialize_request(&key).unwrap().der().to_vec()
}
