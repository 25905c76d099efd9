//! Third-party programs installed by `scripts/setup-deps` for interop tests:
//! SPIRE's binaries in `interop/bin/` and the Python virtualenv `.venv/`.

use std::path::{Path, PathBuf};

use crate::require::{REQUIRE_INTEROP_VAR, skip_or_fail};

/// Folder with the built interop programs; `scripts/test` sets it.
pub const INTEROP_BIN_VAR: &str = "LANYARD_INTEROP_BIN";

/// The virtualenv's python interpreter; `scripts/test` sets it.
pub const PYTHON_VAR: &str = "LANYARD_PYTHON";

/// The interop program `name` (e.g. `spire-server`), or `None` after printing
/// why the test is skipped.
///
/// # Panics
///
/// When the program is missing and `LANYARD_REQUIRE_INTEROP=1`: the test fails.
pub fn interop_program(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(INTEROP_BIN_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("interop").join("bin"));

    found_or_skip(executable_in(&dir, name))
}

/// The python interpreter of the interop virtualenv (with py-spiffe, grpcio
/// and xds-protos), or `None` after printing why the test is skipped.
///
/// # Panics
///
/// When it is missing and `LANYARD_REQUIRE_INTEROP=1`: the test fails.
pub fn interop_python() -> Option<PathBuf> {
    let path = std::env::var_os(PYTHON_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv").join("bin").join("python"));
    let found = if is_executable(&path) {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing (run scripts/setup-deps python)",
            path.display()
        ))
    };

    found_or_skip(found)
}

fn found_or_skip(found: Result<PathBuf, String>) -> Option<PathBuf> {
    match found {
        Ok(path) => Some(path),
        Err(reason) => {
            skip_or_fail(REQUIRE_INTEROP_VAR, &reason);
            None
        }
    }
}

fn executable_in(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing (run scripts/setup-deps go)",
            path.display()
        ))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;

    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The workspace root, two levels above this crate's manifest.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ShortTempDir;
    use std::process::Command;

    #[test]
    fn a_missing_program_is_reported_with_the_setup_step() {
        let dir = ShortTempDir::new().unwrap();

        let reason = executable_in(dir.path(), "spire-server").unwrap_err();

        assert!(reason.ends_with("spire-server is missing (run scripts/setup-deps go)"));
    }

    #[test]
    fn a_file_without_execute_permission_is_not_a_program() {
        let dir = ShortTempDir::new().unwrap();
        std::fs::write(dir.join("tool"), b"#!/bin/sh\n").unwrap();

        assert!(executable_in(dir.path(), "tool").is_err());
    }

    #[test]
    fn the_spire_binaries_are_version_1_13_3() {
        for name in ["spire-server", "spire-agent"] {
            let Some(program) = interop_program(name) else {
                return;
            };

            let output = Command::new(&program).arg("--version").output().unwrap();

            // Both print their version on stderr.
            let printed = String::from_utf8_lossy(&output.stderr).into_owned()
                + &String::from_utf8_lossy(&output.stdout);
            assert!(printed.starts_with("1.13.3"), "{name}: {printed}");
        }
    }

    #[test]
    fn the_python_environment_has_the_interop_clients() {
        let Some(python) = interop_python() else {
            return;
        };

        let status = Command::new(python)
            .args([
                "-c",
                "import spiffe, grpc, envoy.service.secret.v3.sds_pb2_grpc",
            ])
            .status()
            .unwrap();

        assert!(status.success());
    }
}
