//! `-expandEnv`: environment variable substitution in the configuration text.

/// Replaces `$NAME` and `${NAME}` with the value of the environment variable `NAME`
/// (empty when unset), before the text is parsed. `$$` stands for a literal `$`; a `$`
/// followed by anything else is kept as it is.
pub fn expand_env(text: &str) -> String {
    expand_env_with(text, |name| std::env::var(name).ok())
}

/// [`expand_env`] with an explicit variable lookup.
pub fn expand_env_with(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;

    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];

        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) if is_name(&braced[..end]) => {
                    out.push_str(&lookup(&braced[..end]).unwrap_or_default());
                    rest = &braced[end + 1..];
                }
                _ => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len > 0 && !after.starts_with(|c: char| c.is_ascii_digit()) {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
                rest = &after[len..];
            } else {
                out.push('$');
                rest = after;
            }
        }
    }

    out.push_str(rest);
    out
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "TD" => Some("example.org".to_owned()),
            "PORT" => Some("8081".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn both_forms_expand() {
        let out = expand_env_with("td = \"$TD\"\nport = ${PORT}\n", lookup);
        assert_eq!(out, "td = \"example.org\"\nport = 8081\n");
    }

    #[test]
    fn unset_variables_become_empty() {
        assert_eq!(expand_env_with("a$NOPE-b", lookup), "a-b");
        assert_eq!(expand_env_with("a${NOPE}b", lookup), "ab");
    }

    #[test]
    fn dollars_that_are_not_variables_stay() {
        assert_eq!(
            expand_env_with("cost $5 $ {x} $$TD", lookup),
            "cost $5 $ {x} $TD"
        );
        assert_eq!(expand_env_with("${not closed", lookup), "${not closed");
        assert_eq!(expand_env_with("end$", lookup), "end$");
    }
}
