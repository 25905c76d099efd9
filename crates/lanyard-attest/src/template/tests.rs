use super::*;

const SCHEMA: TemplateSchema = TemplateSchema {
    fields: &[
        "PluginName",
        "Fingerprint",
        "Subject.CommonName",
        "TrustDomain",
    ],
    maps: &["URISanSelectors"],
};

fn render(text: &str) -> Result<String, TemplateError> {
    Template::parse(text, &SCHEMA)?.render(|field| match field {
        TemplateField::Field("PluginName") => Some(Cow::Borrowed("x509pop")),
        TemplateField::Field("Fingerprint") => Some(Cow::Borrowed("0beec7b5")),
        TemplateField::Field("Subject.CommonName") => Some(Cow::Borrowed("node-1")),
        TemplateField::Field("TrustDomain") => Some(Cow::Borrowed("example.org")),
        TemplateField::MapEntry {
            map: "URISanSelectors",
            key,
        } if key == "dc" => Some(Cow::Borrowed("east")),
        _ => None,
    })
}

#[test]
fn renders_field_references_with_any_spacing() {
    assert_eq!(
        render("/{{ .PluginName }}/{{ .Fingerprint }}").unwrap(),
        "/x509pop/0beec7b5"
    );
    assert_eq!(
        render("{{.PluginName}}/{{ .Fingerprint}}").unwrap(),
        "x509pop/0beec7b5"
    );
    assert_eq!(
        render("/cn/{{ .Subject.CommonName }}").unwrap(),
        "/cn/node-1"
    );
    assert_eq!(render("/{{ .TrustDomain }}/x").unwrap(), "/example.org/x");
    assert_eq!(render("/dc/{{ .URISanSelectors.dc }}").unwrap(), "/dc/east");
    assert_eq!(render("/static/path").unwrap(), "/static/path");
}

#[test]
fn trim_markers_remove_adjacent_whitespace() {
    assert_eq!(
        render("/a/  {{- .PluginName -}}  /b").unwrap(),
        "/a/x509pop/b"
    );
    assert_eq!(
        render("/a/ {{ .PluginName }} /b").unwrap(),
        "/a/ x509pop /b"
    );
}

#[test]
fn rejects_everything_but_known_fields() {
    for (text, want) in [
        ("", TemplateError::Empty),
        ("/{{ .PluginName", TemplateError::Unclosed(1)),
        ("/{{ .Nope }}", TemplateError::UnknownField("Nope".into())),
        (
            "/{{ .Subject.Country }}",
            TemplateError::UnknownField("Subject.Country".into()),
        ),
        (
            "/{{ .URISanSelectors }}",
            TemplateError::UnknownField("URISanSelectors".into()),
        ),
        (
            "/{{ .URISanSelectors.a.b }}",
            TemplateError::UnknownField("URISanSelectors.a.b".into()),
        ),
    ] {
        assert_eq!(Template::parse(text, &SCHEMA).unwrap_err(), want, "{text}");
    }

    for action in [
        "{{ printf \"%s\" .PluginName }}",
        "{{ .PluginName | upper }}",
        "{{ if .PluginName }}x{{ end }}",
        "{{ }}",
        "{{ . }}",
        "{{ .PluginName.x- }}",
        "{{/* c */}}",
        "{{ $x := 1 }}",
        "{{ .Plugin Name }}",
    ] {
        assert!(
            matches!(
                Template::parse(action, &SCHEMA).unwrap_err(),
                TemplateError::UnsupportedAction(_) | TemplateError::UnknownField(_)
            ),
            "{action}"
        );
    }
}

#[test]
fn missing_value_is_an_error() {
    assert_eq!(
        render("/{{ .URISanSelectors.other }}").unwrap_err(),
        TemplateError::MissingValue("URISanSelectors.other".into())
    );
}

#[test]
fn lists_its_fields() {
    let template = Template::parse("/{{ .PluginName }}/{{ .URISanSelectors.k }}", &SCHEMA).unwrap();
    let names: Vec<String> = template.fields().map(TemplateField::name).collect();
    assert_eq!(names, ["PluginName", "URISanSelectors.k"]);
}
