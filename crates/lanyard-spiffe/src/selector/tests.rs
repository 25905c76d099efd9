use super::*;

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn set(items: &[&str]) -> SelectorSet {
    items.iter().map(|s| sel(s)).collect()
}

#[test]
fn parses_type_and_value_at_the_first_colon() {
    let s = sel("unix:uid:1000");
    assert_eq!(s.kind(), "unix");
    assert_eq!(s.value(), "uid:1000");
    assert_eq!(s.to_string(), "unix:uid:1000");
    assert_eq!(Selector::new("unix", "uid:1000").unwrap(), s);

    let spaced = sel("docker:label:com.example:a b");
    assert_eq!(spaced.value(), "label:com.example:a b");
    assert_eq!(spaced.to_string().parse::<Selector>().unwrap(), spaced);
}

#[test]
fn rejects_malformed_selectors() {
    assert_eq!(
        Selector::parse("unix").unwrap_err(),
        SelectorError::MissingSeparator
    );
    assert_eq!(Selector::parse(":x").unwrap_err(), SelectorError::EmptyType);
    assert_eq!(
        Selector::parse("unix:").unwrap_err(),
        SelectorError::EmptyValue
    );
    assert_eq!(
        Selector::new("a:b", "c").unwrap_err(),
        SelectorError::TypeContainsColon
    );
    assert_eq!(
        Selector::parse("unix:uid:\n0").unwrap_err(),
        SelectorError::ControlCharacter('\n')
    );
    assert_eq!(
        Selector::parse("un\u{0}ix:uid").unwrap_err(),
        SelectorError::ControlCharacter('\u{0}')
    );
}

#[test]
fn bounds_type_and_value_length() {
    let value = "v".repeat(MAX_SELECTOR_VALUE_LEN);
    assert!(Selector::new("t", &value).is_ok());
    assert_eq!(
        Selector::new("t", &format!("{value}v")).unwrap_err(),
        SelectorError::ValueTooLong {
            len: 1025,
            max: 1024
        }
    );

    let kind = "k".repeat(MAX_SELECTOR_TYPE_LEN);
    assert!(Selector::new(&kind, "v").is_ok());
    assert!(matches!(
        Selector::new(&format!("{kind}k"), "v"),
        Err(SelectorError::TypeTooLong { .. })
    ));
}

#[test]
fn orders_by_type_then_value() {
    let mut v = [sel("a-:x"), sel("a:z"), sel("a:b")];
    v.sort();
    let names: Vec<String> = v.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["a:b", "a:z", "a-:x"]);
}

#[test]
fn serde_uses_the_string_form() {
    let s = sel("unix:uid:0");
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"unix:uid:0\"");
    assert_eq!(
        serde_json::from_str::<Selector>("\"unix:uid:0\"").unwrap(),
        s
    );
    assert!(serde_json::from_str::<Selector>("\"unix\"").is_err());

    let parsed: SelectorSet = serde_json::from_str(r#"["b:1","a:1","b:1"]"#).unwrap();
    assert_eq!(parsed, set(&["a:1", "b:1"]));
    assert_eq!(serde_json::to_string(&parsed).unwrap(), r#"["a:1","b:1"]"#);
}

#[test]
fn set_is_sorted_and_deduplicated() {
    let mut s = set(&["b:2", "a:1", "b:2", "a:1:x"]);
    assert_eq!(s.len(), 3);
    let names: Vec<String> = s.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["a:1", "a:1:x", "b:2"]);
    assert!(s.contains(&sel("a:1:x")));
    assert!(!s.contains(&sel("a:2")));

    assert!(!s.insert(sel("b:2")));
    assert!(s.insert(sel("a:0")));
    assert_eq!(s.iter().next().unwrap(), &sel("a:0"));
    assert!(SelectorSet::new().is_empty());
}

#[test]
fn match_modes_follow_spire() {
    let entry = set(&["unix:uid:0", "unix:gid:0"]);

    let same = set(&["unix:gid:0", "unix:uid:0"]);
    let more = set(&["unix:uid:0", "unix:gid:0", "unix:path:/bin/x"]);
    let fewer = set(&["unix:uid:0"]);
    let other = set(&["unix:uid:1"]);
    let empty = SelectorSet::new();

    let cases = [
        (&same, [true, true, true, true]),
        (&more, [false, true, false, true]),
        (&fewer, [false, false, true, true]),
        (&other, [false, false, false, false]),
        (&empty, [false, false, true, false]),
    ];
    let modes = [
        SelectorMatch::Exact,
        SelectorMatch::Subset,
        SelectorMatch::Superset,
        SelectorMatch::Any,
    ];
    for (filter, expected) in cases {
        for (mode, want) in modes.into_iter().zip(expected) {
            assert_eq!(entry.matches(filter, mode), want, "{mode} {filter:?}");
        }
    }
    assert!(entry.is_subset_of(&more));
    assert!(!more.is_subset_of(&entry));
    assert!(empty.is_subset_of(&entry));
}

#[test]
fn match_mode_names_round_trip() {
    for mode in [
        SelectorMatch::Exact,
        SelectorMatch::Subset,
        SelectorMatch::Superset,
        SelectorMatch::Any,
    ] {
        assert_eq!(mode.to_string().parse::<SelectorMatch>().unwrap(), mode);
    }
    assert!("all".parse::<SelectorMatch>().is_err());
}
