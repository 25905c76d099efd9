use lanyard_proto::spire::api::types;
use lanyard_spiffe::TrustDomain;
use tonic::Code;

use super::*;

fn td() -> TrustDomain {
    TrustDomain::new("example.org").expect("valid trust domain")
}

fn proto_id(td: &str, path: &str) -> types::Spiffeid {
    types::Spiffeid {
        trust_domain: td.to_owned(),
        path: path.to_owned(),
    }
}

fn valid_entry() -> types::Entry {
    types::Entry {
        spiffe_id: Some(proto_id("example.org", "/web")),
        parent_id: Some(proto_id("example.org", "/spire/agent/join_token/abc")),
        selectors: vec![types::Selector {
            r#type: "unix".to_owned(),
            value: "uid:1000".to_owned(),
        }],
        x509_svid_ttl: 3600,
        dns_names: vec!["web.example.org".to_owned()],
        hint: "web".to_owned(),
        ..types::Entry::default()
    }
}

fn rejected(entry: &types::Entry) -> String {
    let error = entry_from_proto(&td(), entry, &full_entry_mask()).expect_err("must be rejected");
    assert_eq!(error.code(), Code::InvalidArgument, "{error}");
    error.message().to_owned()
}

#[test]
fn a_valid_entry_round_trips() {
    let parsed = entry_from_proto(&td(), &valid_entry(), &full_entry_mask()).expect("valid");
    assert_eq!(parsed.id, None);
    assert_eq!(parsed.spec.spiffe_id.as_str(), "spiffe://example.org/web");
    assert_eq!(parsed.spec.x509_svid_ttl, 3600);
    assert_eq!(parsed.spec.selectors.len(), 1);
}

#[test]
fn entry_ids_must_be_in_the_trust_domain_and_outside_the_reserved_path() {
    let mut entry = valid_entry();
    entry.spiffe_id = Some(proto_id("other.org", "/web"));
    assert!(rejected(&entry).contains("spiffe_id"));

    entry.spiffe_id = Some(proto_id("example.org", ""));
    assert!(rejected(&entry).contains("spiffe_id"));

    entry.spiffe_id = Some(proto_id("example.org", "/spire/agent/x"));
    assert!(rejected(&entry).contains("reserved"));

    entry.spiffe_id = Some(proto_id("example.org", "/spire"));
    assert!(rejected(&entry).contains("reserved"));

    entry.spiffe_id = Some(proto_id("example.org", "/spire-ish"));
    entry_from_proto(&td(), &entry, &full_entry_mask())
        .expect("only the /spire segment is reserved");

    entry.spiffe_id = Some(proto_id("example.org", "web"));
    assert!(rejected(&entry).contains("spiffe_id"));

    entry.spiffe_id = None;
    assert!(rejected(&entry).contains("spiffe_id"));
}

#[test]
fn parent_ids_must_be_in_the_trust_domain() {
    let mut entry = valid_entry();
    entry.parent_id = Some(proto_id("other.org", "/agent"));
    assert!(rejected(&entry).contains("parent_id"));

    entry.parent_id = Some(proto_id("Example.org", "/agent"));
    assert!(rejected(&entry).contains("parent_id"));
}

#[test]
fn selectors_ttls_hint_and_dns_names_are_checked() {
    let mut entry = valid_entry();
    entry.selectors.clear();
    assert!(rejected(&entry).contains("selectors"));

    let mut entry = valid_entry();
    entry.selectors[0].value.clear();
    assert!(rejected(&entry).contains("selectors"));

    let mut entry = valid_entry();
    entry.selectors[0].r#type = "a:b".to_owned();
    assert!(rejected(&entry).contains("selectors"));

    let mut entry = valid_entry();
    entry.x509_svid_ttl = -1;
    assert!(rejected(&entry).contains("x509_svid_ttl"));

    let mut entry = valid_entry();
    entry.jwt_svid_ttl = -5;
    assert!(rejected(&entry).contains("jwt_svid_ttl"));

    let mut entry = valid_entry();
    entry.hint = "h".repeat(MAX_HINT_LEN + 1);
    assert!(rejected(&entry).contains("hint"));
    entry.hint = "h".repeat(MAX_HINT_LEN);
    entry_from_proto(&td(), &entry, &full_entry_mask()).expect("a hint at the limit is fine");

    let mut entry = valid_entry();
    entry.dns_names = vec!["bad_name.example.org".to_owned()];
    assert!(rejected(&entry).contains("dns_names"));

    let mut entry = valid_entry();
    entry.federates_with = vec!["Not A Domain".to_owned()];
    assert!(rejected(&entry).contains("federates_with"));

    let mut entry = valid_entry();
    entry.expires_at = -1;
    assert!(rejected(&entry).contains("expires_at"));

    let mut entry = valid_entry();
    entry.id = "has space".to_owned();
    assert!(rejected(&entry).contains("id"));
}

#[test]
fn a_masked_update_checks_only_masked_fields() {
    let entry = types::Entry {
        hint: "new".to_owned(),
        ..types::Entry::default()
    };
    let mask = types::EntryMask {
        hint: true,
        ..types::EntryMask::default()
    };
    let parsed = entry_from_proto(&td(), &entry, &mask).expect("only the hint is read");
    assert_eq!(parsed.spec.hint, "new");
    assert!(store_mask(&mask).hint);
    assert!(!store_mask(&mask).selectors);
}

#[test]
fn output_masks_keep_only_selected_fields() {
    let parsed = entry_from_proto(&td(), &valid_entry(), &full_entry_mask()).expect("valid");
    let stored = lanyard_store::model::RegistrationEntry {
        id: lanyard_store::model::EntryId::parse("e1").expect("valid"),
        revision_number: 3,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        spec: parsed.spec,
    };
    let only_hint = types::EntryMask {
        hint: true,
        ..types::EntryMask::default()
    };
    let shown = entry_to_proto(&stored, Some(&only_hint));
    assert_eq!(shown.id, "e1");
    assert_eq!(shown.hint, "web");
    assert!(shown.spiffe_id.is_none());
    assert!(shown.selectors.is_empty());
    assert_eq!(shown.revision_number, 0);

    let full = entry_to_proto(&stored, None);
    assert_eq!(full.revision_number, 3);
    assert_eq!(full.spiffe_id, Some(proto_id("example.org", "/web")));
}

#[test]
fn dns_names_follow_label_rules() {
    for good in ["a.example.org", "*.example.org", "x", "a-b.c1"] {
        check_dns_name(good).unwrap_or_else(|e| panic!("{good}: {e}"));
    }
    let long_label = format!("{}.org", "a".repeat(64));
    for bad in [
        "",
        "*",
        "a..b",
        "-a.org",
        "a-.org",
        "a b",
        "*.*.org",
        long_label.as_str(),
    ] {
        assert!(check_dns_name(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn selector_filters_need_selectors() {
    let empty = types::SelectorMatch::default();
    let error = selector_match_from_proto("filter.by_selectors", &empty).expect_err("empty");
    assert!(error.message().contains("filter.by_selectors"));

    let bad_mode = types::SelectorMatch {
        selectors: vec![types::Selector {
            r#type: "a".to_owned(),
            value: "b".to_owned(),
        }],
        r#match: 42,
    };
    assert!(selector_match_from_proto("f", &bad_mode).is_err());
}

#[test]
fn bundles_reject_garbage_authorities() {
    let bundle = types::Bundle {
        trust_domain: "other.org".to_owned(),
        x509_authorities: vec![types::X509Certificate {
            asn1: b"not a certificate".to_vec(),
            tainted: false,
        }],
        ..types::Bundle::default()
    };
    let error = bundle_from_proto(&bundle).expect_err("garbage");
    assert!(error.message().contains("x509_authorities[0]"), "{error}");

    let bundle = types::Bundle {
        trust_domain: "other.org".to_owned(),
        jwt_authorities: vec![types::JwtKey {
            public_key: vec![1, 2, 3],
            key_id: "k".to_owned(),
            ..types::JwtKey::default()
        }],
        ..types::Bundle::default()
    };
    assert!(
        bundle_from_proto(&bundle)
            .expect_err("garbage")
            .message()
            .contains("jwt_authorities[0]")
    );

    let bundle = types::Bundle {
        trust_domain: String::new(),
        ..types::Bundle::default()
    };
    assert!(
        bundle_from_proto(&bundle)
            .expect_err("no td")
            .message()
            .contains("trust_domain")
    );
}
