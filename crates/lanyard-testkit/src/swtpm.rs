//! A real TPM 2.0 simulator per test: swtpm processes on loopback.
//!
//! - [`TpmManufacturer`]: a private swtpm local CA (never the system one)
//!   that manufactures TPM states with EK certificates; its root and
//!   intermediate are the manufacturer roots a verifier trusts.
//! - [`TpmImage`]: one manufactured TPM (state files). [`shared_image`] is
//!   manufactured once per test binary; [`TpmManufacturer::manufacture`]
//!   makes distinct TPMs for multi-node tests.
//! - [`Swtpm`]: a running simulator on a copy of an image's state, on a free
//!   port pair (server P, control P+1, as the swtpm TCTI requires), killed
//!   and removed on drop. Copies of one image are the same TPM (same EK).
//!
//! Tests call [`require_swtpm`] first: when swtpm is missing it prints why
//! and returns false, unless `TPM_TESTS_REQUIRED=1`, where the test fails.
//!
//! The shared CA and image live in `/tmp/ly-*` directories for the whole
//! test binary and are not removed at exit (statics are never dropped).

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::dir::ShortTempDir;
use crate::process::ChildGuard;
use crate::require::{REQUIRE_TPM_VAR, skip_or_fail};

const START_ATTEMPTS: usize = 5;
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `swtpm` and `swtpm_setup` can be run.
pub fn swtpm_available() -> bool {
    ["swtpm", "swtpm_setup", "swtpm_localca"]
        .iter()
        .all(|tool| find_program(tool).is_some())
}

/// True when swtpm is installed. Otherwise prints why the test is skipped
/// and returns false, or fails the test when `TPM_TESTS_REQUIRED=1`.
pub fn require_swtpm() -> bool {
    if swtpm_available() {
        return true;
    }
    skip_or_fail(
        REQUIRE_TPM_VAR,
        "swtpm, swtpm_setup or swtpm_localca not found on PATH (install swtpm and swtpm-tools)",
    );
    false
}

/// The TPM image manufactured once for this test binary by
/// [`TpmManufacturer::shared`].
///
/// # Panics
///
/// If manufacturing fails (swtpm is installed but broken): the test fails.
pub fn shared_image() -> &'static TpmImage {
    static IMAGE: OnceLock<TpmImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        TpmManufacturer::shared()
            .manufacture()
            .expect("swtpm_setup manufactures a TPM")
    })
}

/// A private swtpm local CA that manufactures TPMs with EK certificates.
#[derive(Debug)]
pub struct TpmManufacturer {
    dir: ShortTempDir,
    lock: Mutex<()>,
}

impl TpmManufacturer {
    /// The manufacturer shared by this test binary.
    ///
    /// # Panics
    ///
    /// If its directory cannot be created.
    pub fn shared() -> &'static Self {
        static SHARED: OnceLock<TpmManufacturer> = OnceLock::new();
        SHARED.get_or_init(|| Self::new().expect("swtpm manufacturer directory"))
    }

    /// A new manufacturer with its own CA (created on the first TPM).
    pub fn new() -> io::Result<Self> {
        let dir = ShortTempDir::new()?;
        let ca = dir.join("ca");
        fs::create_dir_all(&ca)?;
        fs::write(
            dir.join("swtpm-localca.conf"),
            format!(
                "statedir = {ca}\nsigningkey = {ca}/signkey.pem\nissuercert = {ca}/issuercert.pem\ncertserial = {ca}/certserial\n",
                ca = ca.display()
            ),
        )?;
        fs::write(
            dir.join("swtpm-localca.options"),
            "--platform-manufacturer Lanyard\n--platform-version 2.1\n--platform-model TestNode\n",
        )?;
        fs::write(
            dir.join("swtpm_setup.conf"),
            format!(
                "create_certs_tool = {tool}\ncreate_certs_tool_config = {dir}/swtpm-localca.conf\ncreate_certs_tool_options = {dir}/swtpm-localca.options\nactive_pcr_banks = sha256\n",
                tool = find_program("swtpm_localca")
                    .unwrap_or_else(|| PathBuf::from("swtpm_localca"))
                    .display(),
                dir = dir.path().display()
            ),
        )?;
        Ok(Self {
            dir,
            lock: Mutex::new(()),
        })
    }

    /// Manufactures a new, distinct TPM: RSA and ECC EKs with certificates
    /// from this manufacturer's CA, and a platform certificate.
    pub fn manufacture(&self) -> io::Result<TpmImage> {
        let image = ShortTempDir::new()?;
        let state = image.join("state");
        fs::create_dir_all(&state)?;

        // swtpm_localca keeps a serial counter in the CA directory.
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let output = Command::new("swtpm_setup")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(&state)
            .arg("--config")
            .arg(self.dir.join("swtpm_setup.conf"))
            .args([
                "--createek",
                "--decryption",
                "--create-ek-cert",
                "--create-platform-cert",
                "--lock-nvram",
                "--overwrite",
            ])
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "swtpm_setup failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(TpmImage { dir: image })
    }

    /// The CA's root certificate (PEM): the manufacturer root to trust.
    pub fn root_pem(&self) -> io::Result<Vec<u8>> {
        self.ensure_ca()?;
        fs::read(self.dir.join("ca").join("swtpm-localca-rootca-cert.pem"))
    }

    /// The CA's intermediate that signs EK certificates (PEM).
    pub fn intermediate_pem(&self) -> io::Result<Vec<u8>> {
        self.ensure_ca()?;
        fs::read(self.dir.join("ca").join("issuercert.pem"))
    }

    /// swtpm_localca creates its CA with the first certificate it signs.
    fn ensure_ca(&self) -> io::Result<()> {
        if self.dir.join("ca").join("issuercert.pem").is_file() {
            return Ok(());
        }
        self.manufacture().map(drop)
    }

    /// The CA directory.
    pub fn ca_dir(&self) -> PathBuf {
        self.dir.join("ca")
    }
}

/// One manufactured TPM's state.
#[derive(Debug)]
pub struct TpmImage {
    dir: ShortTempDir,
}

impl TpmImage {
    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Starts a simulator on a fresh copy of this TPM's state.
    pub fn start(&self) -> io::Result<Swtpm> {
        let copy = ShortTempDir::new()?;
        let state = copy.join("state");
        copy_dir(&self.state_dir(), &state)?;

        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match spawn(&state) {
                Ok((child, port)) => {
                    return Ok(Swtpm {
                        child,
                        port,
                        _dir: copy,
                    });
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| io::Error::other("swtpm did not start")))
    }
}

/// A running swtpm, killed and its state removed on drop.
#[derive(Debug)]
pub struct Swtpm {
    child: ChildGuard,
    port: u16,
    _dir: ShortTempDir,
}

impl Swtpm {
    /// The TCTI string for tss-esapi: `swtpm:host=127.0.0.1,port=P`.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The TPM command port (the control port is the next one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The simulator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn spawn(state: &Path) -> io::Result<(ChildGuard, u16)> {
    let port = free_port_pair()?;
    let mut command = Command::new("swtpm");
    command
        .args(["socket", "--tpm2", "--flags", "not-need-init,startup-clear"])
        .arg("--tpmstate")
        .arg(format!("dir={}", state.display()))
        .arg("--server")
        .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
        .arg("--ctrl")
        .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = ChildGuard::spawn(&mut command)?;

    let start = Instant::now();
    let addrs: [SocketAddr; 2] = [
        ([127, 0, 0, 1], port).into(),
        ([127, 0, 0, 1], port + 1).into(),
    ];
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!("swtpm exited early: {status}")));
        }
        let up = addrs
            .iter()
            .all(|addr| TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok());
        if up {
            return Ok((child, port));
        }
        if start.elapsed() > START_TIMEOUT {
            return Err(io::Error::other("swtpm did not listen in time"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port P on 127.0.0.1 such that P and P+1 were both free.
fn free_port_pair() -> io::Result<u16> {
    for _ in 0..50 {
        let first = TcpListener::bind(("127.0.0.1", 0))?;
        let port = first.local_addr()?.port();
        if port == u16::MAX {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no free port pair found"))
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_simulator_listens_and_is_gone_after_drop() {
        if !require_swtpm() {
            return;
        }
        let swtpm = shared_image().start().unwrap();
        let port = swtpm.port();
        assert!(swtpm.tcti().ends_with(&format!("port={port}")));
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(TcpStream::connect(("127.0.0.1", port + 1)).is_ok());

        drop(swtpm);

        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn manufactured_tpms_have_ek_certificates_from_the_private_ca() {
        if !require_swtpm() {
            return;
        }
        let image = shared_image();
        let names: Vec<String> = fs::read_dir(image.state_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.is_empty());
        let root = TpmManufacturer::shared().root_pem().unwrap();
        assert!(String::from_utf8_lossy(&root).contains("BEGIN CERTIFICATE"));
        assert!(TpmManufacturer::shared().intermediate_pem().is_ok());
    }
}
