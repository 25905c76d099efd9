//! SPIRE-style command lines.
//!
//! SPIRE's CLIs use Go's `flag` package: long flags take a single dash (`-socketPath`,
//! `-spiffeID x`, `-flag=value`, a bare `-admin` for booleans). clap only understands
//! `--long`, so [`normalize_go_style_args`] rewrites argv before clap sees it. Every
//! single-dash word longer than one letter becomes a long flag, known or not, so a
//! misspelled `-spiffeId` reaches clap as `--spiffeId` and its error names the whole word
//! with a "similar argument" tip. Negative numbers (`-1`), a lone `-` (stdin) and the
//! values of flags that take one are left alone.

use std::ffi::OsString;

use clap::{Arg, Command};

/// Rewrites Go-style single-dash long flags into clap's `--long` form.
///
/// `command` is the full clap command tree; the subcommand being parsed is followed as the
/// words go by, so each word is checked against the flags of the right (sub)command,
/// including global flags propagated from its parents. The first word is the program name.
///
/// Booleans may be written `-admin`, `-admin=true` or `-admin=false` as Go allows; the
/// false form is dropped because clap flags are off by default.
pub fn normalize_go_style_args<I, T>(command: &Command, args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut command = command.clone();
    command.build();

    let mut args = args.into_iter().map(Into::into);
    let mut out: Vec<OsString> = args.next().into_iter().collect();
    let mut current = &command;
    let mut pending_value_for: Option<String> = None;
    let mut only_positionals = false;

    for arg in args {
        // A flag's value always joins it (`--hint=-h`) so clap cannot mistake a value
        // that starts with a dash for a flag, as Go's flag package never does.
        if let Some(name) = pending_value_for.take() {
            let mut joined = OsString::from(format!("--{name}="));
            joined.push(&arg);
            out.push(joined);
            continue;
        }
        if only_positionals {
            out.push(arg);
            continue;
        }

        let Some(word) = arg.to_str() else {
            out.push(arg);
            continue;
        };

        if word == "--" {
            only_positionals = true;
            out.push(arg);
            continue;
        }

        // `-x` (one letter) stays a short flag; `--x` and `-xy` are long flags.
        let dashes = if word.starts_with("--") { 2 } else { 1 };
        if word.starts_with('-') && word.len() > 2 {
            let body = &word[dashes..];
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            if let Some(flag) = find_long_flag(current, name) {
                let rewritten = rewrite_flag(flag, name, value);
                if rewritten.expects_value {
                    pending_value_for = Some(name.to_owned());
                } else {
                    out.extend(rewritten.words.into_iter().map(OsString::from));
                }
                continue;
            }
            if dashes == 1 && !is_negative_number(body) {
                out.push(OsString::from(format!("-{word}")));
            } else {
                out.push(arg);
            }
            continue;
        }

        if !word.starts_with('-')
            && let Some(sub) = current.find_subcommand(word)
        {
            current = sub;
        }
        out.push(arg);
    }

    if let Some(name) = pending_value_for {
        out.push(OsString::from(format!("--{name}")));
    }
    out
}

/// Parses a boolean the way Go's `strconv.ParseBool` does.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

struct Rewritten {
    words: Vec<String>,
    expects_value: bool,
}

fn rewrite_flag(flag: &Arg, name: &str, value: Option<&str>) -> Rewritten {
    let takes_value = flag.get_action().takes_values();
    let words = match (takes_value, value) {
        (true, Some(value)) => vec![format!("--{name}={value}")],
        (true, None) => {
            return Rewritten {
                words: vec![format!("--{name}")],
                expects_value: true,
            };
        }
        (false, None) => vec![format!("--{name}")],
        (false, Some(value)) => match parse_go_bool(value) {
            Some(true) => vec![format!("--{name}")],
            Some(false) => Vec::new(),
            // Let clap report the bad value with its usual message.
            None => vec![format!("--{name}={value}")],
        },
    };
    Rewritten {
        words,
        expects_value: false,
    }
}

/// True for the body of `-1`, `-2.5` or `-.5`: a value, never a flag name.
fn is_negative_number(body: &str) -> bool {
    let digits = body.strip_prefix('.').unwrap_or(body);
    digits.starts_with(|c: char| c.is_ascii_digit())
}

fn find_long_flag<'a>(command: &'a Command, name: &str) -> Option<&'a Arg> {
    command.get_arguments().find(|arg| {
        arg.get_long() == Some(name)
            || arg
                .get_all_aliases()
                .is_some_and(|aliases| aliases.contains(&name))
    })
}

#[cfg(test)]
mod tests {
    use clap::{ArgAction, Command};

    use super::*;

    fn tree() -> Command {
        Command::new("lanyard-server")
            .subcommand(
                Command::new("entry").subcommand(
                    Command::new("create")
                        .arg(Arg::new("socketPath").long("socketPath"))
                        .arg(Arg::new("spiffeID").long("spiffeID"))
                        .arg(Arg::new("hint").long("hint"))
                        .arg(
                            Arg::new("selector")
                                .long("selector")
                                .action(ArgAction::Append),
                        )
                        .arg(Arg::new("ttl").long("x509SVIDTTL"))
                        .arg(Arg::new("admin").long("admin").action(ArgAction::SetTrue))
                        .arg(Arg::new("data").long("data")),
                ),
            )
            .subcommand(Command::new("run").arg(Arg::new("config").long("config")))
    }

    fn normalize(args: &[&str]) -> Vec<String> {
        normalize_go_style_args(&tree(), args.iter().copied())
            .into_iter()
            .map(|a| a.into_string().expect("test args are UTF-8"))
            .collect()
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let out = normalize(&["bin", "run", "-config", "server.conf"]);
        assert_eq!(out, ["bin", "run", "--config=server.conf"]);
    }

    #[test]
    fn equals_form_and_repeated_flags_are_kept() {
        let out = normalize(&[
            "bin",
            "entry",
            "create",
            "-spiffeID=spiffe://td/w",
            "-selector",
            "unix:uid:0",
            "-selector",
            "unix:gid:0",
        ]);
        assert_eq!(
            out,
            [
                "bin",
                "entry",
                "create",
                "--spiffeID=spiffe://td/w",
                "--selector=unix:uid:0",
                "--selector=unix:gid:0"
            ]
        );
    }

    #[test]
    fn values_that_look_like_flags_survive() {
        let out = normalize(&[
            "bin",
            "entry",
            "create",
            "-x509SVIDTTL",
            "-1",
            "-data",
            "-",
            "-hint",
            "-admin",
        ]);
        assert_eq!(
            out,
            [
                "bin",
                "entry",
                "create",
                "--x509SVIDTTL=-1",
                "--data=-",
                "--hint=-admin"
            ]
        );
    }

    #[test]
    fn boolean_flags_accept_go_bool_values() {
        let out = normalize(&["bin", "entry", "create", "-admin"]);
        assert_eq!(out, ["bin", "entry", "create", "--admin"]);

        let out = normalize(&["bin", "entry", "create", "-admin=true"]);
        assert_eq!(out, ["bin", "entry", "create", "--admin"]);

        let out = normalize(&["bin", "entry", "create", "-admin=false"]);
        assert_eq!(out, ["bin", "entry", "create"]);

        let out = normalize(&["bin", "entry", "create", "-admin=maybe"]);
        assert_eq!(out, ["bin", "entry", "create", "--admin=maybe"]);
    }

    #[test]
    fn flags_of_other_subcommands_are_left_for_clap_to_refuse() {
        let out = normalize(&["bin", "run", "-spiffeID", "x"]);
        assert_eq!(out, ["bin", "run", "--spiffeID", "x"]);
    }

    #[test]
    fn double_dash_form_is_left_alone_and_its_value_skipped() {
        let out = normalize(&["bin", "run", "--config", "-config"]);
        assert_eq!(out, ["bin", "run", "--config=-config"]);

        let out = normalize(&["bin", "run", "-config"]);
        assert_eq!(
            out,
            ["bin", "run", "--config"],
            "a missing value is left to clap"
        );
    }

    #[test]
    fn unknown_single_dash_words_become_long_flags() {
        let out = normalize(&["bin", "entry", "create", "-spiffeId", "x", "-selectr=a"]);
        assert_eq!(
            out,
            ["bin", "entry", "create", "--spiffeId", "x", "--selectr=a"]
        );

        let out = normalize(&["bin", "run", "-confg", "x"]);
        assert_eq!(out, ["bin", "run", "--confg", "x"]);

        let out = normalize(&["bin", "run", "--confg", "x"]);
        assert_eq!(out, ["bin", "run", "--confg", "x"], "already long");
    }

    #[test]
    fn negative_numbers_are_not_flags() {
        let out = normalize(&["bin", "run", "-1", "-25", "-2.5", "-.5"]);
        assert_eq!(out, ["bin", "run", "-1", "-25", "-2.5", "-.5"]);
    }

    #[test]
    fn misspelled_flag_error_names_the_whole_word() {
        let command = tree();
        for (args, named) in [
            (
                &["bin", "entry", "create", "-spiffeId", "x"][..],
                "--spiffeId",
            ),
            (&["bin", "run", "-confg", "x"][..], "--confg"),
        ] {
            let err = command
                .clone()
                .try_get_matches_from(normalize(args))
                .expect_err("misspelled flag");
            let text = err.to_string();
            assert!(text.contains(&format!("'{named}'")), "{text}");
            assert!(text.contains("similar argument"), "{text}");
        }
    }

    #[test]
    fn words_after_terminator_are_untouched() {
        let out = normalize(&["bin", "run", "--", "-config"]);
        assert_eq!(out, ["bin", "run", "--", "-config"]);
    }

    #[test]
    fn help_is_rewritten_too() {
        let out = normalize(&["bin", "run", "-help"]);
        assert_eq!(out, ["bin", "run", "--help"]);
    }

    #[test]
    fn short_flags_and_lone_dash_pass_through() {
        let out = normalize(&["bin", "run", "-h", "-"]);
        assert_eq!(out, ["bin", "run", "-h", "-"]);
    }
}
