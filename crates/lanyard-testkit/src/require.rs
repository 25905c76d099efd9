//! The rule for tests that need something from outside the process (a
//! PostgreSQL server, swtpm): when it is missing, print why and skip, unless
//! the run says it is required, in which case the test fails.

/// Set to `1` (as `scripts/test` and CI do) to make missing PostgreSQL a failure.
pub const REQUIRE_POSTGRES_VAR: &str = "LANYARD_REQUIRE_POSTGRES";

/// Set to `1` (as `scripts/test` and CI do) to make missing swtpm a failure.
pub const REQUIRE_TPM_VAR: &str = "TPM_TESTS_REQUIRED";

/// Set to `1` (as `scripts/test` and CI do) to make a missing interop program
/// (SPIRE binaries, the Python virtualenv) a failure.
pub const REQUIRE_INTEROP_VAR: &str = "LANYARD_REQUIRE_INTEROP";

/// Reports a missing requirement of the current test: prints a skip notice
/// and returns when `required_var` is not `1`, so the caller can return early.
///
/// # Panics
///
/// When `required_var` is set to `1`: the run demands the requirement, so the
/// test fails with `reason` instead of passing without testing anything.
pub fn skip_or_fail(required_var: &str, reason: &str) {
    let required = std::env::var(required_var).is_ok_and(|value| value == "1");
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_owned();

    match decide(required, &test, required_var, reason) {
        Ok(skip_notice) => eprintln!("{skip_notice}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// `Ok(notice)` to skip, `Err(message)` to fail.
fn decide(required: bool, test: &str, required_var: &str, reason: &str) -> Result<String, String> {
    if required {
        Err(format!(
            "{test}: {reason}, and {required_var}=1 requires it"
        ))
    } else {
        Ok(format!(
            "skipping {test}: {reason} (set {required_var}=1 to make this a failure)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_requirement_is_skipped_with_the_reason_when_not_required() {
        let notice = decide(false, "my_test", REQUIRE_POSTGRES_VAR, "no server").unwrap();

        assert!(notice.starts_with("skipping my_test: no server"));
        assert!(notice.contains("LANYARD_REQUIRE_POSTGRES=1"));
    }

    #[test]
    fn a_missing_requirement_fails_when_required() {
        let failure = decide(true, "my_test", REQUIRE_TPM_VAR, "swtpm not found").unwrap_err();

        assert_eq!(
            failure,
            "my_test: swtpm not found, and TPM_TESTS_REQUIRED=1 requires it"
        );
    }
}
