//! The `unix` workload attestor: user, group and supplementary groups of the caller, and
//! with `discover_workload_path` its executable's path and SHA-256.
//!
//! The uid and gid are the ones the kernel recorded at connect time (`SO_PEERCRED`);
//! supplementary groups come from `/proc/<pid>/status`. Names are looked up through the
//! C library, so NSS sources (LDAP, SSSD) common on clusters are honoured; a uid or gid
//! without a name simply yields no `user`/`group` selector.

use std::fmt::Write as _;
use std::io::Read as _;

use aws_lc_rs::digest;
use lanyard_spiffe::Selector;

use super::{ProcFs, WorkloadAttestor, selector};
use crate::config::{UnixAttestorConfig, WorkloadSizeLimit};
use crate::workload::peer::Caller;

/// The `unix` attestor.
#[derive(Debug, Clone)]
pub struct UnixAttestor {
    config: UnixAttestorConfig,
    proc: ProcFs,
}

impl UnixAttestor {
    /// An attestor with `config`, reading processes from `proc`.
    pub fn new(config: UnixAttestorConfig, proc: ProcFs) -> Self {
        Self { config, proc }
    }
}

impl WorkloadAttestor for UnixAttestor {
    fn name(&self) -> &'static str {
        "unix"
    }

    fn attest(&self, caller: &Caller) -> Result<Vec<Selector>, String> {
        let mut selectors = vec![selector("unix", &format!("uid:{}", caller.uid))?];
        if let Some(user) = uzers::get_user_by_uid(caller.uid) {
            selectors.push(selector(
                "unix",
                &format!("user:{}", user.name().to_string_lossy()),
            )?);
        }
        selectors.push(selector("unix", &format!("gid:{}", caller.gid))?);
        if let Some(name) = group_name(caller.gid) {
            selectors.push(selector("unix", &format!("group:{name}"))?);
        }

        let status = self.proc.read(caller.pid, "status")?;
        for gid in supplementary_gids(&status)? {
            selectors.push(selector("unix", &format!("supplementary_gid:{gid}"))?);
            if let Some(name) = group_name(gid) {
                selectors.push(selector("unix", &format!("supplementary_group:{name}"))?);
            }
        }

        if self.config.discover_workload_path {
            selectors.extend(self.workload_path_selectors(caller.pid)?);
        }
        Ok(selectors)
    }
}

impl UnixAttestor {
    fn workload_path_selectors(&self, pid: i32) -> Result<Vec<Selector>, String> {
        let exe = self.proc.path(pid, "exe");
        let path = std::fs::read_link(&exe)
            .map_err(|err| format!("cannot resolve the executable of process {pid}: {err}"))?;
        let mut selectors = vec![selector("unix", &format!("path:{}", path.display()))?];

        let limit = match self.config.workload_size_limit {
            WorkloadSizeLimit::NeverHash => return Ok(selectors),
            WorkloadSizeLimit::Unlimited => None,
            WorkloadSizeLimit::Bytes(limit) => Some(limit),
        };
        // Hash through /proc/<pid>/exe, not the path: that is the file the process runs,
        // even when the path was replaced or lives in another mount namespace.
        let digest = sha256_bounded(&exe, limit)
            .map_err(|err| format!("cannot hash the executable of process {pid}: {err}"))?;
        selectors.push(selector("unix", &format!("sha256:{digest}"))?);
        Ok(selectors)
    }
}

/// The `Groups:` line of `/proc/<pid>/status`.
fn supplementary_gids(status: &str) -> Result<Vec<u32>, String> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .ok_or("process status has no Groups line")?;
    line.split_whitespace()
        .map(|gid| {
            gid.parse()
                .map_err(|_| format!("process status has a malformed group id {gid:?}"))
        })
        .collect()
}

fn group_name(gid: u32) -> Option<String> {
    uzers::get_group_by_gid(gid).map(|group| group.name().to_string_lossy().into_owned())
}

/// Lower-case hex SHA-256 of the file at `path`, refusing files larger than `limit`.
fn sha256_bounded(path: &std::path::Path, limit: Option<u64>) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|err| err.to_string())?;
    let size = file.metadata().map_err(|err| err.to_string())?.len();
    if let Some(limit) = limit
        && size > limit
    {
        return Err(format!(
            "executable is {size} bytes, above workload_size_limit {limit}"
        ));
    }

    // The file may grow while it is read; never read past the limit.
    let mut reader = file.take(limit.map_or(u64::MAX, |limit| limit.saturating_add(1)));
    let mut context = digest::Context::new(&digest::SHA256);
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut read_total: u64 = 0;
    loop {
        let n = reader.read(&mut buffer).map_err(|err| err.to_string())?;
        if n == 0 {
            break;
        }
        read_total += n as u64;
        context.update(&buffer[..n]);
    }
    if limit.is_some_and(|limit| read_total > limit) {
        return Err("executable grew above workload_size_limit while hashed".to_owned());
    }

    let mut hex = String::with_capacity(64);
    for byte in context.finish().as_ref() {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn supplementary_groups_come_from_the_groups_line() {
        let status = "Name:\tbash\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 27 \nVmRSS:\t1 kB\n";

        assert_eq!(supplementary_gids(status).unwrap(), vec![4, 24, 27]);
        assert_eq!(
            supplementary_gids("Groups:\t\n").unwrap(),
            Vec::<u32>::new()
        );
        assert!(supplementary_gids("Name:\tx\n").is_err());
        assert!(supplementary_gids("Groups:\t4 x\n").is_err());
    }

    #[test]
    fn sha256_matches_a_known_digest_and_respects_the_limit() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"abc").unwrap();

        assert_eq!(
            sha256_bounded(file.path(), None).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(sha256_bounded(file.path(), Some(3)).is_ok());
        let err = sha256_bounded(file.path(), Some(2)).unwrap_err();
        assert!(err.contains("workload_size_limit"), "{err}");
    }
}
