//! Turning the configuration into the running parts: data directory, datastore,
//! key manager, upstream authority and CA.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lanyard_ca::manager::CaConfig;
use lanyard_ca::{
    CaSubject, DiskKeyManager, DiskUpstreamAuthority, KeyManager, MemoryKeyManager, SystemClock,
    UpstreamAuthority,
};
use lanyard_store::{DEFAULT_BUSY_TIMEOUT, Store, StoreConfig};

use crate::ca::{CaSettings, ServerCa};
use crate::config::{DatabaseType, KeyManagerConfig, ServerConfig, UpstreamAuthorityConfig};

/// File in `data_dir` holding this server's CA journal key (one journal per
/// server when several share a database).
const JOURNAL_ID_FILE: &str = "ca-journal-id";

/// How long an expired authority stays in the bundle (SPIRE's 24 h).
const PRUNE_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Creates the data directory (mode 0700) if it does not exist.
pub(super) fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data_dir {}", dir.display()))
}

/// Opens the configured datastore and applies its migrations.
pub(super) async fn open_store(config: &ServerConfig) -> anyhow::Result<Store> {
    let datastore = &config.plugins.datastore;
    let store_config = match datastore.database_type {
        DatabaseType::Sqlite3 => StoreConfig::Sqlite {
            path: datastore
                .sqlite_path()
                .context("the sqlite3 datastore needs a file path")?,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        },
        DatabaseType::Postgres => {
            let mut pg = StoreConfig::postgres(datastore.connection_string.clone());
            if let (
                StoreConfig::Postgres {
                    max_connections, ..
                },
                Some(max),
            ) = (&mut pg, datastore.max_open_conns)
            {
                *max_connections = max;
            }
            pg
        }
    };
    Store::open(&store_config)
        .await
        .context("cannot open the datastore")
}

/// Opens the key manager, the upstream authority (if any) and the CA manager
/// with its journal in `store`.
pub(super) async fn open_ca(config: &ServerConfig, store: Arc<Store>) -> anyhow::Result<ServerCa> {
    let keys = open_key_manager(&config.plugins.key_manager).await?;
    let upstream = open_upstream(config.plugins.upstream_authority.as_ref()).await?;
    let journal_key = journal_key(&config.data_dir)?;

    let mut ca = CaConfig::new(config.trust_domain.clone());
    ca.ca_key_type = config.ca_key_type;
    ca.jwt_key_type = config.jwt_key_type;
    ca.ca_ttl = config.ca_ttl.as_std();
    ca.ca_subject = CaSubject {
        country: config.ca_subject.country.first().cloned(),
        organization: config.ca_subject.organization.first().cloned(),
        organizational_unit: None,
        common_name: config.ca_subject.common_name.clone(),
    };
    ca.jwt_enabled = !config.disable_jwt_svids;
    ca.prune_grace = PRUNE_GRACE;
    let settings = CaSettings {
        ca,
        default_x509_svid_ttl: config.default_x509_svid_ttl.as_std(),
        default_jwt_svid_ttl: config.default_jwt_svid_ttl.as_std(),
        jwt_issuer: config.jwt_issuer.clone(),
    };

    ServerCa::open(
        settings,
        keys,
        upstream,
        store,
        journal_key,
        Arc::new(SystemClock),
    )
    .await
    .context("cannot open the CA")
}

/// The CA's TTL warnings that the configuration check did not already report.
pub(super) fn unreported_ttl_warnings(config: &ServerConfig, ca: &ServerCa) -> Vec<String> {
    ca.ttl_warnings()
        .into_iter()
        .filter(|(name, _)| !config.warnings.iter().any(|w| w.starts_with(name)))
        .map(|(_, warning)| warning)
        .collect()
}

async fn open_key_manager(config: &KeyManagerConfig) -> anyhow::Result<Arc<dyn KeyManager>> {
    match config {
        KeyManagerConfig::Memory => Ok(Arc::new(MemoryKeyManager::new())),
        KeyManagerConfig::Disk { keys_path } => {
            let path = keys_path.clone();
            let keys = tokio::task::spawn_blocking(move || DiskKeyManager::open(path))
                .await?
                .context("cannot open the disk key manager")?;
            Ok(Arc::new(keys))
        }
    }
}

async fn open_upstream(
    config: Option<&UpstreamAuthorityConfig>,
) -> anyhow::Result<Option<Arc<dyn UpstreamAuthority>>> {
    let Some(UpstreamAuthorityConfig::Disk {
        cert_file_path,
        key_file_path,
        bundle_file_path,
    }) = config.cloned()
    else {
        return Ok(None);
    };
    let upstream = tokio::task::spawn_blocking(move || {
        DiskUpstreamAuthority::load(&cert_file_path, &key_file_path, bundle_file_path.as_deref())
    })
    .await?
    .context("cannot load the disk upstream authority")?;
    Ok(Some(Arc::new(upstream)))
}

/// This server's journal key: read from `data_dir`, or created once.
fn journal_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(JOURNAL_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    }

    let key = uuid::Uuid::new_v4().to_string();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(key.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::File::open(data_dir)?.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}
