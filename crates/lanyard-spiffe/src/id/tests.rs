use super::*;

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

fn td(s: &str) -> TrustDomain {
    TrustDomain::new(s).unwrap()
}

fn parse_err(s: &str) -> SpiffeIdError {
    SpiffeId::parse(s).unwrap_err()
}

#[test]
fn parses_valid_ids_and_round_trips() {
    for s in [
        "spiffe://example.org",
        "spiffe://example.org/a",
        "spiffe://example.org/ns/prod/sa/Web-1_2.x",
        "spiffe://a.b-c_d.0/...",
        "spiffe://192.168.0.1/x",
        "spiffe://x/A/b/C",
    ] {
        let parsed = id(s);
        assert_eq!(parsed.as_str(), s);
        assert_eq!(parsed.to_string(), s);
        assert_eq!(s.parse::<SpiffeId>().unwrap(), parsed);
    }
}

#[test]
fn exposes_trust_domain_path_and_segments() {
    let parsed = id("spiffe://example.org/ns/prod/web");
    assert_eq!(parsed.trust_domain().as_str(), "example.org");
    assert_eq!(parsed.path(), "/ns/prod/web");
    assert!(!parsed.is_root());
    assert_eq!(parsed.segments().collect::<Vec<_>>(), ["ns", "prod", "web"]);

    let root = id("spiffe://example.org");
    assert_eq!(root.path(), "");
    assert!(root.is_root());
    assert_eq!(root.segments().count(), 0);
    assert_eq!(root, td("example.org").id());
}

#[test]
fn rejects_empty_input() {
    assert_eq!(parse_err(""), SpiffeIdError::Empty);
}

#[test]
fn scheme_must_be_spiffe() {
    for s in [
        "http://example.org/a",
        "spiffe:/example.org",
        "spiffe:example.org",
        "example.org/a",
        "spiffe//example.org",
        "urn:spiffe:example.org",
    ] {
        assert_eq!(parse_err(s), SpiffeIdError::WrongScheme, "{s}");
    }
}

#[test]
fn upper_case_scheme_is_rejected() {
    // The ID is kept verbatim (exact round-trip), so only the canonical lower-case
    // scheme is accepted, as go-spiffe does.
    assert_eq!(
        parse_err("SPIFFE://example.org"),
        SpiffeIdError::WrongScheme
    );
    assert_eq!(
        parse_err("Spiffe://example.org/a"),
        SpiffeIdError::WrongScheme
    );
}

#[test]
fn trust_domain_must_not_be_empty() {
    assert_eq!(parse_err("spiffe://"), SpiffeIdError::MissingTrustDomain);
    assert_eq!(parse_err("spiffe:///a"), SpiffeIdError::MissingTrustDomain);
    assert_eq!(
        TrustDomain::new("").unwrap_err(),
        SpiffeIdError::MissingTrustDomain
    );
}

#[test]
fn trust_domain_must_not_have_userinfo() {
    assert_eq!(
        parse_err("spiffe://user@example.org/a"),
        SpiffeIdError::UserInfo
    );
    assert_eq!(
        parse_err("spiffe://u:p@example.org"),
        SpiffeIdError::UserInfo
    );
}

#[test]
fn trust_domain_must_not_have_port() {
    assert_eq!(
        parse_err("spiffe://example.org:8443/a"),
        SpiffeIdError::Port
    );
    assert_eq!(parse_err("spiffe://example.org:"), SpiffeIdError::Port);
}

#[test]
fn ids_must_not_have_query_or_fragment() {
    assert_eq!(parse_err("spiffe://example.org?x=1"), SpiffeIdError::Query);
    assert_eq!(
        parse_err("spiffe://example.org/a?x=1"),
        SpiffeIdError::Query
    );
    assert_eq!(parse_err("spiffe://example.org/a?"), SpiffeIdError::Query);
    assert_eq!(parse_err("spiffe://example.org#f"), SpiffeIdError::Fragment);
    assert_eq!(
        parse_err("spiffe://example.org/a#f"),
        SpiffeIdError::Fragment
    );
}

#[test]
fn trust_domain_must_be_lower_case() {
    assert_eq!(
        parse_err("spiffe://Example.org/a"),
        SpiffeIdError::TrustDomainUppercase('E')
    );
    assert_eq!(
        TrustDomain::new("EXAMPLE").unwrap_err(),
        SpiffeIdError::TrustDomainUppercase('E')
    );
}

#[test]
fn trust_domain_charset_is_enforced() {
    for (s, c) in [
        ("spiffe://exa mple.org", ' '),
        ("spiffe://example.org!", '!'),
        ("spiffe://ex\u{e4}mple.org", '\u{e4}'),
        ("spiffe://[ab]/a", '['),
        ("spiffe://a+b", '+'),
        ("spiffe://a\\b", '\\'),
    ] {
        assert_eq!(parse_err(s), SpiffeIdError::TrustDomainCharacter(c), "{s}");
    }
}

#[test]
fn ipv6_literal_trust_domain_is_rejected() {
    // IPv6 needs '[' and ':', outside the trust domain character set.
    assert!(SpiffeId::parse("spiffe://[2001:db8::1]").is_err());
    assert!(TrustDomain::new("[::1]").is_err());
}

#[test]
fn ip_looking_trust_domain_is_an_ordinary_name() {
    let a = td("10.0.0.1");
    let b = td("10.000.0.1");
    assert_ne!(a, b, "no address normalisation");
    assert_eq!(a.id().as_str(), "spiffe://10.0.0.1");
    assert!(td("999.999.999.999").id().is_root());
}

#[test]
fn percent_encoding_is_rejected() {
    assert_eq!(
        parse_err("spiffe://ex%41mple.org"),
        SpiffeIdError::PercentEncoding
    );
    assert_eq!(
        parse_err("spiffe://example.org/a%2Fb"),
        SpiffeIdError::PercentEncoding
    );
    assert_eq!(
        parse_err("spiffe://example.org/%2e"),
        SpiffeIdError::PercentEncoding
    );
}

#[test]
fn path_must_not_have_empty_segments() {
    assert_eq!(
        parse_err("spiffe://example.org//a"),
        SpiffeIdError::EmptySegment
    );
    assert_eq!(
        parse_err("spiffe://example.org/a//b"),
        SpiffeIdError::EmptySegment
    );
}

#[test]
fn path_must_not_have_dot_segments() {
    for s in [
        "spiffe://example.org/.",
        "spiffe://example.org/..",
        "spiffe://example.org/a/./b",
        "spiffe://example.org/a/../b",
        "spiffe://example.org/a/..",
    ] {
        assert_eq!(parse_err(s), SpiffeIdError::DotSegment, "{s}");
    }
    // Segments that merely contain dots are fine.
    assert!(SpiffeId::parse("spiffe://example.org/.../.a/a..").is_ok());
}

#[test]
fn path_must_not_end_with_slash() {
    assert_eq!(
        parse_err("spiffe://example.org/"),
        SpiffeIdError::TrailingSlash
    );
    assert_eq!(
        parse_err("spiffe://example.org/a/"),
        SpiffeIdError::TrailingSlash
    );
}

#[test]
fn path_charset_is_enforced() {
    for (s, c) in [
        ("spiffe://example.org/a b", ' '),
        ("spiffe://example.org/a:b", ':'),
        ("spiffe://example.org/a@b", '@'),
        ("spiffe://example.org/\u{e9}", '\u{e9}'),
        ("spiffe://example.org/a+b", '+'),
        ("spiffe://example.org/a~b", '~'),
    ] {
        assert_eq!(parse_err(s), SpiffeIdError::PathCharacter(c), "{s}");
    }
}

#[test]
fn path_is_case_sensitive() {
    assert_ne!(
        id("spiffe://example.org/Web"),
        id("spiffe://example.org/web")
    );
    assert_eq!(id("spiffe://example.org/Web").path(), "/Web");
}

#[test]
fn accepts_ids_up_to_2048_bytes() {
    let prefix = "spiffe://example.org/";
    let longest = format!("{prefix}{}", "a".repeat(MAX_SPIFFE_ID_LEN - prefix.len()));
    assert_eq!(longest.len(), 2048);
    assert_eq!(id(&longest).as_str(), longest);

    let segmented = format!("{prefix}{}", "ab/".repeat(674) + "abcd");
    assert!(segmented.len() <= 2048);
    assert!(SpiffeId::parse(&segmented).is_ok());
}

#[test]
fn rejects_and_never_generates_ids_over_2048_bytes() {
    let prefix = "spiffe://example.org/";
    let long = format!(
        "{prefix}{}",
        "a".repeat(MAX_SPIFFE_ID_LEN + 1 - prefix.len())
    );
    assert_eq!(
        parse_err(&long),
        SpiffeIdError::TooLong {
            len: 2049,
            max: 2048
        }
    );

    let base = td("example.org");
    let path = format!("/{}", "a".repeat(2048 - "spiffe://example.org".len()));
    assert!(matches!(
        SpiffeId::from_parts(&base, &path),
        Err(SpiffeIdError::TooLong { .. })
    ));
    let near = SpiffeId::from_parts(&base, &path[..path.len() - 1]).unwrap();
    assert_eq!(near.as_str().len(), 2048);
    assert!(matches!(near.join("b"), Err(SpiffeIdError::TooLong { .. })));
}

#[test]
fn trust_domain_is_at_most_255_bytes() {
    let ok = "a".repeat(255);
    assert_eq!(td(&ok).as_str(), ok);
    assert!(SpiffeId::parse(&format!("spiffe://{ok}/x")).is_ok());

    let long = "a".repeat(256);
    let expected = SpiffeIdError::TrustDomainTooLong { len: 256, max: 255 };
    assert_eq!(TrustDomain::new(&long).unwrap_err(), expected);
    assert_eq!(parse_err(&format!("spiffe://{long}/x")), expected);
}

#[test]
fn trust_domain_new_takes_bare_names_only() {
    assert_eq!(td("example.org").to_string(), "example.org");
    assert_eq!(
        TrustDomain::new("spiffe://example.org").unwrap_err(),
        SpiffeIdError::Port
    );
    assert_eq!(
        TrustDomain::new("example.org/a").unwrap_err(),
        SpiffeIdError::TrustDomainCharacter('/')
    );
}

#[test]
fn trust_domain_from_name_or_id() {
    assert_eq!(
        TrustDomain::from_name_or_id("example.org").unwrap(),
        td("example.org")
    );
    assert_eq!(
        TrustDomain::from_name_or_id("spiffe://example.org").unwrap(),
        td("example.org")
    );
    assert_eq!(
        TrustDomain::from_name_or_id("spiffe://example.org/a").unwrap_err(),
        SpiffeIdError::TrustDomainWithPath
    );
    assert_eq!(
        TrustDomain::from_name_or_id("spiffe://Example.org").unwrap_err(),
        SpiffeIdError::TrustDomainUppercase('E')
    );
}

#[test]
fn from_parts_validates_the_path() {
    let base = td("example.org");
    assert_eq!(SpiffeId::from_parts(&base, "").unwrap(), base.id());
    assert_eq!(
        SpiffeId::from_parts(&base, "/a/b").unwrap().as_str(),
        "spiffe://example.org/a/b"
    );
    assert_eq!(
        SpiffeId::from_parts(&base, "a").unwrap_err(),
        SpiffeIdError::PathNotAbsolute
    );
    assert_eq!(
        SpiffeId::from_parts(&base, "/").unwrap_err(),
        SpiffeIdError::TrailingSlash
    );
    assert_eq!(
        SpiffeId::from_parts(&base, "/a/../b").unwrap_err(),
        SpiffeIdError::DotSegment
    );
    assert_eq!(
        SpiffeId::from_parts(&base, "/a?b").unwrap_err(),
        SpiffeIdError::Query
    );
}

#[test]
fn join_appends_checked_segments() {
    let root = td("example.org").id();
    let agent = root.join("spire/agent").unwrap();
    assert_eq!(agent.as_str(), "spiffe://example.org/spire/agent");
    let node = agent.join("x1000c0s0b0n0").unwrap();
    assert_eq!(
        node.as_str(),
        "spiffe://example.org/spire/agent/x1000c0s0b0n0"
    );
    assert_eq!(node.trust_domain(), root.trust_domain());

    for (bad, err) in [
        ("", SpiffeIdError::EmptySegment),
        ("/a", SpiffeIdError::EmptySegment),
        ("a/", SpiffeIdError::TrailingSlash),
        ("a//b", SpiffeIdError::EmptySegment),
        ("..", SpiffeIdError::DotSegment),
        ("a/./b", SpiffeIdError::DotSegment),
        ("a%2f", SpiffeIdError::PercentEncoding),
        ("a?b", SpiffeIdError::Query),
        ("a#b", SpiffeIdError::Fragment),
        ("a b", SpiffeIdError::PathCharacter(' ')),
    ] {
        assert_eq!(root.join(bad).unwrap_err(), err, "{bad:?}");
    }
}

#[test]
fn membership() {
    let a = td("a.org");
    let b = td("b.org");
    let x = id("spiffe://a.org/x");
    assert!(x.is_member_of(&a));
    assert!(!x.is_member_of(&b));
    assert!(a.contains(&x));
    assert!(a.id().is_member_of(&a));
    // Prefix lookalikes are different trust domains.
    assert!(!id("spiffe://a.org.evil/x").is_member_of(&a));
}

#[test]
fn ordering_follows_the_uri_string() {
    let mut ids = [
        id("spiffe://b/a"),
        id("spiffe://a/b"),
        id("spiffe://a"),
        id("spiffe://a/a"),
    ];
    ids.sort();
    let sorted: Vec<_> = ids.iter().map(SpiffeId::as_str).collect();
    assert_eq!(
        sorted,
        ["spiffe://a", "spiffe://a/a", "spiffe://a/b", "spiffe://b/a"]
    );
}

#[test]
fn serde_uses_the_string_form() {
    let x = id("spiffe://example.org/a");
    assert_eq!(
        serde_json::to_string(&x).unwrap(),
        "\"spiffe://example.org/a\""
    );
    assert_eq!(
        serde_json::from_str::<SpiffeId>("\"spiffe://example.org/a\"").unwrap(),
        x
    );
    assert!(serde_json::from_str::<SpiffeId>("\"spiffe://example.org/\"").is_err());

    let t = td("example.org");
    assert_eq!(serde_json::to_string(&t).unwrap(), "\"example.org\"");
    assert_eq!(
        serde_json::from_str::<TrustDomain>("\"example.org\"").unwrap(),
        t
    );
    assert!(serde_json::from_str::<TrustDomain>("\"Example.org\"").is_err());
}

#[test]
fn errors_name_the_rule() {
    assert_eq!(
        parse_err("spiffe://example.org/a/").to_string(),
        "path must not end with '/'"
    );
    assert_eq!(
        parse_err("spiffe://Ex").to_string(),
        "trust domain must be lower case, found 'E'"
    );
}
