//! Our SPIFFE ID parser against the `spiffe` crate: same verdict on random input,
//! except where the specification lets us be stricter. Each such difference has
//! its own test below, citing the rule.
#![allow(clippy::unwrap_used, reason = "test code")]

use lanyard_spiffe::{SpiffeId, SpiffeIdError, TrustDomain};
use proptest::prelude::*;

/// Inputs on which we are stricter than the `spiffe` crate on purpose.
fn intended_difference(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let non_canonical_scheme = scheme != "spiffe" && scheme.eq_ignore_ascii_case("spiffe");
    let upper_case_td = authority.bytes().any(|b| b.is_ascii_uppercase());
    non_canonical_scheme || upper_case_td || s.len() > lanyard_spiffe::id::MAX_SPIFFE_ID_LEN
}

fn check_agreement(s: &str) -> Result<(), TestCaseError> {
    let ours = SpiffeId::parse(s);
    let theirs = spiffe::SpiffeId::new(s);
    if intended_difference(s) {
        prop_assert!(ours.is_err(), "we must reject {s:?}");
        return Ok(());
    }
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => {
            prop_assert_eq!(a.as_str(), b.to_string());
            prop_assert_eq!(a.trust_domain().as_str(), b.trust_domain().as_str());
            prop_assert_eq!(a.path(), b.path());
        }
        (Err(_), Err(_)) => {}
        _ => prop_assert!(false, "disagree on {s:?}: ours {ours:?}, theirs {theirs:?}"),
    }
    Ok(())
}

fn near_miss_ids() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        8 => Just("spiffe://".to_owned()),
        1 => Just("SPIFFE://".to_owned()),
        1 => Just("spiffe:/".to_owned()),
        1 => Just("http://".to_owned()),
        1 => Just(String::new()),
    ];
    let authority = "[a-z0-9._-]{0,12}|[a-zA-Z0-9._:@%?#\\[\\] -]{0,12}";
    let segment = "[a-zA-Z0-9._-]{0,6}|\\.{1,2}|[a-zA-Z0-9._%:?#~ /-]{0,6}|\\PC{0,3}";
    let path = prop::collection::vec(segment, 0..5)
        .prop_map(|segs| segs.iter().map(|s| format!("/{s}")).collect::<String>());
    (scheme, authority, path).prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn agrees_on_near_miss_ids(s in near_miss_ids()) {
        check_agreement(&s)?;
    }

    #[test]
    fn agrees_on_arbitrary_strings(s in "\\PC{0,40}") {
        check_agreement(&s)?;
    }

    #[test]
    fn agrees_on_bare_trust_domains(s in "[a-zA-Z0-9._:/%@-]{0,20}") {
        // The `spiffe` crate's `TrustDomain::new` also takes IDs; compare bare names only.
        prop_assume!(!s.contains(":/"));
        let ours = TrustDomain::new(&s);
        let theirs = spiffe::TrustDomain::new(&s);
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            prop_assert!(ours.is_err());
        } else {
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}", s);
        }
    }

    #[test]
    fn valid_ids_round_trip(td in "[a-z0-9._-]{1,20}", segs in prop::collection::vec("[a-zA-Z0-9._-]{1,8}", 0..6)) {
        let segs: Vec<String> = segs.into_iter().filter(|s| s != "." && s != "..").collect();
        let path: String = segs.iter().map(|s| format!("/{s}")).collect();
        let s = format!("spiffe://{td}{path}");
        let id = SpiffeId::parse(&s).unwrap();
        prop_assert_eq!(id.as_str(), s.as_str());
        prop_assert_eq!(id.segments().collect::<Vec<_>>(), segs.iter().map(String::as_str).collect::<Vec<_>>());
        let rebuilt = SpiffeId::from_parts(&TrustDomain::new(&td).unwrap(), &path).unwrap();
        prop_assert_eq!(rebuilt, id);
        prop_assert!(spiffe::SpiffeId::new(&s).is_ok());
    }
}

/// SPIFFE-ID §2.1: "Trust domain names ... MUST be lowercase". The `spiffe` crate
/// lower-cases the trust domain; we reject it, as go-spiffe does, so an ID is
/// always kept exactly as written.
#[test]
fn difference_upper_case_trust_domain_is_rejected() {
    let s = "spiffe://Example.org/a";
    assert_eq!(
        spiffe::SpiffeId::new(s).unwrap().to_string(),
        "spiffe://example.org/a"
    );
    assert_eq!(
        SpiffeId::parse(s).unwrap_err(),
        SpiffeIdError::TrustDomainUppercase('E')
    );
}

/// SPIFFE-ID §2 fixes the scheme as `spiffe`; the canonical form is lower case and
/// an ID must round-trip exactly. The `spiffe` crate accepts `SPIFFE://`; we reject
/// it, as go-spiffe does.
#[test]
fn difference_upper_case_scheme_is_rejected() {
    let s = "SPIFFE://example.org/a";
    assert!(spiffe::SpiffeId::new(s).is_ok());
    assert_eq!(SpiffeId::parse(s).unwrap_err(), SpiffeIdError::WrongScheme);
}

/// SPIFFE-ID §2.3: implementations MUST accept IDs up to 2048 bytes and SHOULD NOT
/// generate longer ones. The `spiffe` crate parses longer IDs; we refuse them so
/// that nothing longer ever enters the system (and parsing stays bounded).
#[test]
fn difference_ids_over_2048_bytes_are_rejected() {
    let s = format!("spiffe://example.org/{}", "a".repeat(2100));
    assert!(spiffe::SpiffeId::new(&s).is_ok());
    assert!(matches!(
        SpiffeId::parse(&s),
        Err(SpiffeIdError::TooLong { .. })
    ));
}

/// A trust domain ID with a path is not a trust domain. The `spiffe` crate's
/// `TrustDomain::new` drops the path; our `from_name_or_id` rejects it so that a
/// workload ID is never mistaken for its trust domain in configuration.
#[test]
fn difference_trust_domain_from_id_with_path_is_rejected() {
    let s = "spiffe://example.org/workload";
    assert_eq!(spiffe::TrustDomain::new(s).unwrap().as_str(), "example.org");
    assert_eq!(
        TrustDomain::from_name_or_id(s).unwrap_err(),
        SpiffeIdError::TrustDomainWithPath
    );
}
