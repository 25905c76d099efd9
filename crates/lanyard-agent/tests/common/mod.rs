//! An agent's public socket served in process for interop tests: the real cache, the
//! real minter (renewal at half-life), real certificates and JWT-SVIDs from lanyard-ca,
//! and the real Workload API, SDS and unix attestation. Only the server is replaced by
//! an in-process signer, until the server's agent endpoint is available.

#![allow(dead_code, reason = "each interop test file uses a different part")]

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lanyard_agent::cache::minter::{mint_due, run_x509_minter};
use lanyard_agent::cache::{
    Cache, EntryUpdate, JwtSvid, SvidSigner, X509SvidRequest, X509SvidResult,
};
use lanyard_agent::config::{SdsConfig, UnixAttestorConfig};
use lanyard_agent::convert::Entry;
use lanyard_agent::sds::SecretDiscovery;
use lanyard_agent::workload::attestor::{ProcFs, UnixAttestor, WorkloadAttestation};
use lanyard_agent::workload::endpoint::{PublicServices, bind_public_socket, serve_public_socket};
use lanyard_agent::workload::{WorkloadApi, WorkloadApiConfig};
use lanyard_ca::{
    CaSubject, JwtKey, JwtSvidRequest, KeyId, KeyManager as _, KeyType, MemoryKeyManager,
    X509Authority,
};
use lanyard_spiffe::{Bundle, Selector, SpiffeId, TrustDomain};
use rustls_pki_types::CertificateDer;
use tokio_util::sync::CancellationToken;

/// The trust domain of the test agent.
pub(crate) const TD: &str = "example.org";

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Signs like the server would, in process.
pub(crate) struct LocalSigner {
    ca: X509Authority,
    keys: MemoryKeyManager,
    /// JWT signing keys, oldest first; the last one signs.
    jwt: Mutex<Vec<JwtKey>>,
    ids: Mutex<HashMap<String, SpiffeId>>,
    x509_ttl: Duration,
}

impl LocalSigner {
    fn new(td: &TrustDomain, x509_ttl: Duration) -> Self {
        let keys = MemoryKeyManager::new();
        let now = SystemTime::now();
        let ca_key = keys
            .generate_key(&KeyId::new("ca").unwrap(), KeyType::EcP256)
            .unwrap();
        let jwt_key = keys
            .generate_key(&KeyId::new("jwt").unwrap(), KeyType::EcP256)
            .unwrap();
        Self {
            ca: X509Authority::self_signed(
                td,
                &CaSubject::default(),
                ca_key,
                Duration::from_secs(86_400),
                now,
            )
            .unwrap(),
            jwt: Mutex::new(vec![
                JwtKey::new(jwt_key, now, Duration::from_secs(86_400)).unwrap(),
            ]),
            keys,
            ids: Mutex::new(HashMap::new()),
            x509_ttl,
        }
    }

    /// The bundle the server would publish.
    pub(crate) fn bundle(&self) -> Bundle {
        let mut bundle = Bundle::new(self.ca.trust_domain().clone());
        bundle
            .add_x509_authority(self.ca.certificate().clone())
            .unwrap();
        for key in self.jwt.lock().unwrap().iter() {
            bundle.add_jwt_authority(key.authority().unwrap()).unwrap();
        }
        bundle
    }

    /// Prepares a new JWT signing key, signs with it from now on, and returns the key
    /// ID; the old key stays in the bundle.
    pub(crate) fn rotate_jwt_key(&self) -> String {
        let mut keys = self.jwt.lock().unwrap();
        let id = KeyId::new(format!("jwt-{}", keys.len())).unwrap();
        let signer = self.keys.generate_key(&id, KeyType::EcP256).unwrap();
        let key = JwtKey::new(signer, SystemTime::now(), Duration::from_secs(86_400)).unwrap();
        let key_id = key.key_id().to_owned();
        keys.push(key);
        key_id
    }

    fn id_of(&self, entry_id: &str) -> Result<SpiffeId, tonic::Status> {
        self.ids
            .lock()
            .unwrap()
            .get(entry_id)
            .cloned()
            .ok_or_else(|| tonic::Status::not_found("no such entry"))
    }
}

impl SvidSigner for LocalSigner {
    fn new_x509_svids(
        &self,
        requests: Vec<X509SvidRequest>,
    ) -> BoxFuture<'_, Result<Vec<X509SvidResult>, tonic::Status>> {
        let results = requests
            .into_iter()
            .map(|request| {
                let spiffe_id = self.id_of(&request.entry_id)?;
                let public_key = lanyard_ca::public_key_from_csr(&request.csr)
                    .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
                let issued = self
                    .ca
                    .issue_x509_svid(
                        &lanyard_ca::X509SvidRequest {
                            public_key,
                            spiffe_id,
                            dns_names: Vec::new(),
                            ttl: self.x509_ttl,
                        },
                        SystemTime::now(),
                    )
                    .map_err(|e| tonic::Status::internal(e.to_string()))?;
                let chain: Vec<CertificateDer<'static>> = issued.chain();
                Ok(chain)
            })
            .collect();
        Box::pin(async move { Ok(results) })
    }

    fn new_jwt_svid<'a>(
        &'a self,
        entry_id: &'a str,
        audiences: &'a [String],
    ) -> BoxFuture<'a, Result<JwtSvid, tonic::Status>> {
        Box::pin(async move {
            let spiffe_id = self.id_of(entry_id)?;
            let now = SystemTime::now();
            let issued = self
                .jwt
                .lock()
                .unwrap()
                .last()
                .unwrap()
                .issue_jwt_svid(
                    &JwtSvidRequest {
                        spiffe_id: spiffe_id.clone(),
                        audience: audiences.to_vec(),
                        ttl: Duration::from_secs(300),
                        issuer: None,
                        include_jti: false,
                    },
                    now,
                )
                .map_err(|e| tonic::Status::internal(e.to_string()))?;
            Ok(JwtSvid {
                token: issued.token().to_owned(),
                spiffe_id,
                issued_at: now,
                expires_at: issued.expires_at(),
                hint: String::new(),
            })
        })
    }
}

/// How the test agent is set up.
pub(crate) struct Options {
    /// Lifetime of the X.509-SVIDs (renewed at half-life).
    pub x509_ttl: Duration,
    /// Produce `unix:path` and `unix:sha256` selectors.
    pub(crate) discover_workload_path: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            x509_ttl: Duration::from_secs(3600),
            discover_workload_path: false,
        }
    }
}

/// The public socket of an agent, served in process on its own runtime.
pub(crate) struct TestAgent {
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) cache: Cache,
    pub(crate) signer: Arc<LocalSigner>,
    pub(crate) socket: PathBuf,
    pub(crate) dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl TestAgent {
    /// Serves `entries` (already minted) with `options`.
    pub(crate) fn start(entries: Vec<Entry>, options: Options) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let td = TrustDomain::new(TD).unwrap();
        let signer = Arc::new(LocalSigner::new(&td, options.x509_ttl));
        let cache = Cache::new(td.clone(), signer.clone(), 1000, 1000);
        cache.set_bundle(signer.bundle());

        // Everyone may reach the socket: a workload may run as another user.
        let dir = tempfile::Builder::new()
            .prefix("lyi")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.path().join("public/api.sock");
        let stop = CancellationToken::new();

        let attestation = WorkloadAttestation::new(vec![Arc::new(UnixAttestor::new(
            UnixAttestorConfig {
                discover_workload_path: options.discover_workload_path,
                ..UnixAttestorConfig::default()
            },
            ProcFs::live(),
        ))]);
        let services = PublicServices {
            workload: Some(WorkloadApi::new(
                cache.clone(),
                attestation.clone(),
                WorkloadApiConfig {
                    trust_domain: td,
                    allow_unauthenticated_verifiers: false,
                    allowed_foreign_jwt_claims: Default::default(),
                },
            )),
            sds: Some(SecretDiscovery::new(
                cache.clone(),
                attestation,
                SdsConfig::default(),
            )),
        };

        runtime.block_on(async {
            let listener = bind_public_socket(&socket).unwrap();
            let shutdown = stop.clone();
            tokio::spawn(serve_public_socket(listener, services, async move {
                shutdown.cancelled().await;
            }));
            let (rejections, _ignored) = tokio::sync::mpsc::channel(1);
            tokio::spawn(run_x509_minter(
                cache.clone(),
                KeyType::EcP256,
                rejections,
                stop.clone(),
            ));
        });
        let agent = Self {
            runtime,
            cache,
            signer,
            socket,
            dir,
            stop,
        };
        agent.set_entries(entries);
        agent
    }

    /// Replaces the entries and mints their SVIDs before returning.
    pub(crate) fn set_entries(&self, entries: Vec<Entry>) {
        for entry in &entries {
            self.signer
                .ids
                .lock()
                .unwrap()
                .insert(entry.id.clone(), entry.spiffe_id.clone());
        }
        self.cache.update_entries(EntryUpdate::Full(entries));
        self.runtime
            .block_on(mint_due(&self.cache, KeyType::EcP256, SystemTime::now()))
            .unwrap();
    }

    /// `unix:///<socket>`, the form `SPIFFE_ENDPOINT_SOCKET` takes.
    pub(crate) fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A directory every user may read, for programs run as another user.
    pub(crate) fn shared_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// An entry of the test trust domain.
pub(crate) fn entry(entry_id: &str, path: &str, selectors: &[&str]) -> Entry {
    let td = TrustDomain::new(TD).unwrap();
    Entry {
        id: entry_id.to_owned(),
        spiffe_id: SpiffeId::from_parts(&td, path).unwrap(),
        parent_id: SpiffeId::from_parts(&td, "/spire/agent/join_token/test").unwrap(),
        selectors: selectors
            .iter()
            .map(|s| Selector::parse(s).unwrap())
            .collect(),
        x509_svid_ttl: 0,
        jwt_svid_ttl: 0,
        federates_with: Vec::new(),
        admin: false,
        downstream: false,
        expires_at: 0,
        dns_names: Vec::new(),
        revision_number: 1,
        hint: String::new(),
        created_at: 0,
    }
}

/// `unix:uid:<uid of this process>`.
pub(crate) fn my_uid_selector() -> String {
    format!("unix:uid:{}", rustix::process::geteuid().as_raw())
}

/// Runs `command`, failing the test with its output unless it succeeds; returns stdout.
pub(crate) fn run_ok(command: &mut std::process::Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    stdout
}

/// Where the repository's `interop/` folder is.
pub(crate) fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}
