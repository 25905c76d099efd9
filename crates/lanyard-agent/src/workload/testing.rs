//! Test fixture: the public socket served in process over a real cache whose SVIDs a
//! real CA (lanyard-ca) signs, on a Unix socket in a temporary directory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lanyard_ca::{JwtKey, JwtSvidRequest, KeyId, KeyManager as _, KeyType, MemoryKeyManager};
use lanyard_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use lanyard_spiffe::{Bundle, Selector, SelectorSet, SpiffeId};
use tokio::sync::oneshot;
use tonic::transport::Channel;

use super::attestor::{ProcFs, UnixAttestor, WorkloadAttestation};
use super::endpoint::{PublicServices, bind_public_socket, serve_public_socket};
use super::{SECURITY_HEADER, WorkloadApi, WorkloadApiConfig};
use crate::cache::minter::mint_due;
use crate::cache::{Cache, EntryUpdate, JwtSvid, SvidSigner, X509SvidRequest, X509SvidResult};
use crate::config::{SdsConfig, UnixAttestorConfig};
use crate::convert::Entry;
use crate::sds::SecretDiscovery;
use crate::testutil::{TestCa, id, td};

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The trust domain of the fixture.
pub(crate) const TD: &str = "example.org";

/// Signs like the server would, in process.
pub(crate) struct LocalSigner {
    pub(crate) ca: TestCa,
    pub(crate) jwt: JwtKey,
    ids: Mutex<HashMap<String, SpiffeId>>,
    pub(crate) x509_ttl: Duration,
}

impl LocalSigner {
    fn new(td_name: &str) -> Self {
        let now = SystemTime::now();
        let signer = MemoryKeyManager::new()
            .generate_key(&KeyId::new("jwt").expect("key id"), KeyType::EcP256)
            .expect("jwt key");
        Self {
            ca: TestCa::valid_from(td_name, now - Duration::from_secs(60)),
            jwt: JwtKey::new(
                signer,
                now - Duration::from_secs(60),
                Duration::from_secs(86_400),
            )
            .expect("jwt key"),
            ids: Mutex::new(HashMap::new()),
            x509_ttl: Duration::from_secs(3600),
        }
    }

    /// The bundle a server of this CA would publish: X.509 and JWT authorities.
    pub(crate) fn bundle(&self) -> Bundle {
        let mut bundle = self.ca.bundle();
        bundle
            .add_jwt_authority(self.jwt.authority().expect("jwt authority"))
            .expect("add jwt authority");
        bundle
    }

    fn know(&self, entry: &Entry) {
        self.ids
            .lock()
            .expect("lock")
            .insert(entry.id.clone(), entry.spiffe_id.clone());
    }

    fn id_of(&self, entry_id: &str) -> Result<SpiffeId, tonic::Status> {
        self.ids
            .lock()
            .expect("lock")
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
                let id = self.id_of(&request.entry_id)?;
                let key = lanyard_ca::public_key_from_csr(&request.csr)
                    .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
                Ok(self.ca.issue_for_spki(
                    &id,
                    key.spki_der().as_ref(),
                    self.x509_ttl,
                    SystemTime::now(),
                ))
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
            let request = JwtSvidRequest {
                spiffe_id: spiffe_id.clone(),
                audience: audiences.to_vec(),
                ttl: Duration::from_secs(300),
                issuer: None,
                include_jti: false,
            };
            let issued = self
                .jwt
                .issue_jwt_svid(&request, now)
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

/// A selector set from `type:value` strings.
pub(crate) fn selectors(list: &[&str]) -> SelectorSet {
    list.iter()
        .map(|s| Selector::parse(s).expect("selector"))
        .collect()
}

/// `unix:uid:<uid of this test process>`: what the unix attestor gives us.
pub(crate) fn my_uid_selector() -> String {
    format!("unix:uid:{}", rustix::process::geteuid().as_raw())
}

/// An entry of the fixture's trust domain.
pub(crate) fn entry(entry_id: &str, path: &str, sel: &[&str]) -> Entry {
    Entry {
        id: entry_id.into(),
        spiffe_id: id(TD, path),
        parent_id: id(TD, "/spire/agent/join_token/t"),
        selectors: selectors(sel),
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

/// A running public socket over a populated cache.
pub(crate) struct Agent {
    pub(crate) cache: Cache,
    pub(crate) signer: Arc<LocalSigner>,
    pub(crate) socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Serves `entries`, minted, with the unix attestor and default settings.
    pub(crate) async fn start(entries: Vec<Entry>) -> Self {
        Self::start_with(entries, |_| {}).await
    }

    /// As [`Agent::start`], with the Workload API settings adjusted by `tweak`.
    pub(crate) async fn start_with(
        entries: Vec<Entry>,
        tweak: impl FnOnce(&mut WorkloadApiConfig),
    ) -> Self {
        let signer = Arc::new(LocalSigner::new(TD));
        for entry in &entries {
            signer.know(entry);
        }
        let cache = Cache::new(td(TD), signer.clone(), 1000, 1000);
        cache.set_bundle(signer.bundle());
        cache.update_entries(EntryUpdate::Full(entries));
        mint_due(&cache, KeyType::EcP256, SystemTime::now())
            .await
            .expect("mint");

        let attestation = WorkloadAttestation::new(vec![Arc::new(UnixAttestor::new(
            UnixAttestorConfig::default(),
            ProcFs::live(),
        ))]);
        let mut config = WorkloadApiConfig {
            trust_domain: td(TD),
            allow_unauthenticated_verifiers: false,
            allowed_foreign_jwt_claims: Default::default(),
        };
        tweak(&mut config);
        let services = PublicServices {
            workload: Some(WorkloadApi::new(cache.clone(), attestation.clone(), config)),
            sds: Some(SecretDiscovery::new(
                cache.clone(),
                attestation,
                SdsConfig::default(),
            )),
        };

        let dir = tempfile::Builder::new()
            .prefix("lw")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let socket = dir.path().join("public/api.sock");
        let listener = bind_public_socket(&socket).expect("bind");
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(serve_public_socket(listener, services, async {
            let _ = stopped.await;
        }));
        Self {
            cache,
            signer,
            socket,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// A channel to the socket.
    pub(crate) async fn channel(&self) -> Channel {
        lanyard_daemon::socket::connect_unix_channel(&self.socket)
            .await
            .expect("connect")
    }

    /// A Workload API client.
    pub(crate) async fn client(&self) -> SpiffeWorkloadApiClient<Channel> {
        SpiffeWorkloadApiClient::new(self.channel().await)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `message` with the security header.
pub(crate) fn with_header<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(SECURITY_HEADER, "true".parse().expect("ascii"));
    request
}
