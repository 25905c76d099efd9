//! The `systemd` workload attestor: `systemd:id` (the unit the caller runs in) and
//! `systemd:fragment_path` (the unit file that defines it).
//!
//! The unit is read from the caller's cgroup (`/proc/<pid>/cgroup`, the unified hierarchy
//! or the v1 `name=systemd` one): the outermost `.service` or `.scope` component of the
//! path is the unit the system manager reports for the process, so a service's
//! sub-cgroups and a user manager's units are attributed as systemd itself would
//! (`user@1000.service`). The fragment is looked up in the system unit directories in
//! systemd's order, templates (`name@instance.service`) falling back to `name@.service`.
//! A process outside any unit yields no selectors.

use std::path::{Path, PathBuf};

use lanyard_spiffe::Selector;

use super::{ProcFs, WorkloadAttestor, selector};
use crate::workload::peer::Caller;

/// System unit directories, highest precedence first.
const UNIT_DIRS: [&str; 9] = [
    "etc/systemd/system.control",
    "run/systemd/system.control",
    "run/systemd/transient",
    "etc/systemd/system",
    "run/systemd/system",
    "run/systemd/generator",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// The `systemd` attestor.
#[derive(Debug, Clone)]
pub struct SystemdAttestor {
    proc: ProcFs,
    root: PathBuf,
}

impl SystemdAttestor {
    /// An attestor reading processes from `proc` and unit files below `root` (`/`).
    pub fn new(proc: ProcFs, root: PathBuf) -> Self {
        Self { proc, root }
    }

    /// The unit file of `unit`, when one exists.
    pub fn fragment_path(&self, unit: &str) -> Option<PathBuf> {
        let template = template_of(unit);
        UNIT_DIRS.iter().find_map(|dir| {
            let dir = self.root.join(dir);
            std::iter::once(unit)
                .chain(template.as_deref())
                .map(|name| dir.join(name))
                .find(|candidate| candidate.exists())
        })
    }
}

impl WorkloadAttestor for SystemdAttestor {
    fn name(&self) -> &'static str {
        "systemd"
    }

    fn attest(&self, caller: &Caller) -> Result<Vec<Selector>, String> {
        let cgroup = self.proc.read(caller.pid, "cgroup")?;
        let Some(unit) = unit_of_cgroup_file(&cgroup) else {
            return Ok(Vec::new());
        };

        let mut selectors = vec![selector("systemd", &format!("id:{unit}"))?];
        if let Some(fragment) = self.fragment_path(unit) {
            // Report the path as the system sees it, without the test root.
            let shown = Path::new("/").join(fragment.strip_prefix(&self.root).unwrap_or(&fragment));
            selectors.push(selector(
                "systemd",
                &format!("fragment_path:{}", shown.display()),
            )?);
        }
        Ok(selectors)
    }
}

/// The unit of a process from the text of its `/proc/<pid>/cgroup`.
pub(crate) fn unit_of_cgroup_file(text: &str) -> Option<&str> {
    let path = systemd_cgroup_path(text)?;
    path.split('/').find(|component| is_process_unit(component))
}

/// The cgroup path systemd manages: the unified (`0::`) line, else v1 `name=systemd`.
fn systemd_cgroup_path(text: &str) -> Option<&str> {
    let mut named = None;
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() && path != "/" {
            return Some(path);
        }
        if controllers == "name=systemd" {
            named = Some(path);
        }
    }
    named
}

fn is_process_unit(component: &str) -> bool {
    let name = component
        .strip_suffix(".service")
        .or_else(|| component.strip_suffix(".scope"));
    name.is_some_and(|name| !name.is_empty())
}

/// `name@.service` for `name@instance.service`.
fn template_of(unit: &str) -> Option<String> {
    let (prefix, rest) = unit.split_once('@')?;
    let (instance, suffix) = rest.rsplit_once('.')?;
    (!instance.is_empty()).then(|| format!("{prefix}@.{suffix}"))
}

#[cfg(test)]
mod tests;
