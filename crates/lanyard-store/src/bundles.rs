//! Trust bundles. Every change bumps the bundle's sequence number and records a
//! `bundle` change.

use lanyard_spiffe::TrustDomain;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{Conn, DbRow, args};
use crate::changelog::{ChangeKind, Tx};
use crate::entries;
use crate::model::{
    BundleDeleteMode, BundleRecord, JwtAuthority, Page, PageRequest, X509Authority,
};
use crate::sql::{db_time, page_token, page_token_key, parse_db, u64_from_db, u64_to_db};
use crate::tx::{read_tx, write_tx};
use crate::{Store, StoreError};

const BUNDLE: &str = "bundle";

impl Store {
    pub async fn get_bundle(&self, td: &TrustDomain) -> Result<Option<BundleRecord>, StoreError> {
        Ok(read_tx!(self, |conn| get(conn, td, "").await?))
    }

    /// One page, ordered by trust domain.
    pub async fn list_bundles(&self, page: &PageRequest) -> Result<Page<BundleRecord>, StoreError> {
        let after = page.page_token.as_deref().map(page_token_key).transpose()?;
        let limit = if page.page_size == 0 {
            i64::MAX
        } else {
            i64::from(page.page_size) + 1
        };
        let mut items = read_tx!(self, |conn| {
            select(
                conn,
                "WHERE trust_domain > $1 ORDER BY trust_domain LIMIT $2",
                after,
                limit,
            )
            .await?
        });

        let mut next_page_token = None;
        if page.page_size > 0 && items.len() > page.page_size as usize {
            items.truncate(page.page_size as usize);
            next_page_token = items.last().map(|b| page_token(b.trust_domain.as_str()));
        }
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub async fn count_bundles(&self) -> Result<u64, StoreError> {
        Ok(read_tx!(self, |conn| {
            let row = conn
                .fetch_optional("SELECT COUNT(*) AS n FROM bundles", vec![])
                .await?;
            u64_from_db(row.map(|r| r.i64("n")).transpose()?.unwrap_or(0), "count")?
        }))
    }

    /// Stores a bundle for a trust domain that has none. `AlreadyExists` otherwise.
    pub async fn create_bundle(&self, bundle: &BundleRecord) -> Result<BundleRecord, StoreError> {
        Ok(write_tx!(self, |tx| {
            if lock(tx.conn, &bundle.trust_domain).await?.is_some() {
                return Err(StoreError::AlreadyExists(BUNDLE));
            }
            write(&mut tx, bundle, None).await?
        }))
    }

    /// Replaces an existing bundle's content. `NotFound` if there is none.
    pub async fn update_bundle(&self, bundle: &BundleRecord) -> Result<BundleRecord, StoreError> {
        Ok(write_tx!(self, |tx| {
            let current = lock(tx.conn, &bundle.trust_domain)
                .await?
                .ok_or(StoreError::NotFound(BUNDLE))?;
            write(&mut tx, bundle, Some(&current)).await?
        }))
    }

    /// Creates or replaces a bundle (the sequence number is the store's).
    pub async fn set_bundle(&self, bundle: &BundleRecord) -> Result<BundleRecord, StoreError> {
        Ok(write_tx!(self, |tx| {
            let current = lock(tx.conn, &bundle.trust_domain).await?;
            write(&mut tx, bundle, current.as_ref()).await?
        }))
    }

    /// Adds the authorities not already present, creating the bundle if needed.
    pub async fn append_bundle(
        &self,
        td: &TrustDomain,
        x509: &[X509Authority],
        jwt: &[JwtAuthority],
    ) -> Result<BundleRecord, StoreError> {
        Ok(write_tx!(self, |tx| {
            let current = lock(tx.conn, td).await?;
            let mut next = current
                .clone()
                .unwrap_or_else(|| BundleRecord::new(td.clone()));
            next.append(x509, jwt);
            write(&mut tx, &next, current.as_ref()).await?
        }))
    }

    /// Read-modify-write under the bundle's lock (taint, revoke, prune authorities).
    /// `NotFound` if there is no bundle.
    pub async fn modify_bundle<F>(
        &self,
        td: &TrustDomain,
        modify: F,
    ) -> Result<BundleRecord, StoreError>
    where
        F: FnOnce(&mut BundleRecord) + Send,
    {
        Ok(write_tx!(self, |tx| {
            let current = lock(tx.conn, td)
                .await?
                .ok_or(StoreError::NotFound(BUNDLE))?;
            let mut next = current.clone();
            modify(&mut next);
            next.trust_domain = td.clone();
            write(&mut tx, &next, Some(&current)).await?
        }))
    }

    /// Deletes a bundle; `mode` says what happens to entries federating with it.
    /// `NotFound` if absent; `Conflict` in `Restrict` mode while entries use it.
    pub async fn delete_bundle(
        &self,
        td: &TrustDomain,
        mode: BundleDeleteMode,
    ) -> Result<(), StoreError> {
        write_tx!(self, |tx| {
            lock(tx.conn, td)
                .await?
                .ok_or(StoreError::NotFound(BUNDLE))?;
            match mode {
                BundleDeleteMode::Restrict => {
                    let used = tx
                        .conn
                        .fetch_optional(
                            "SELECT entry_id FROM entry_federates_with WHERE trust_domain = $1 LIMIT 1",
                            args![td.as_str()],
                        )
                        .await?;
                    if used.is_some() {
                        return Err(StoreError::Conflict("entries federate with this bundle"));
                    }
                }
                BundleDeleteMode::Dissociate => {
                    entries::unfederate(&mut tx, td.as_str(), false).await?
                }
                BundleDeleteMode::Delete => entries::unfederate(&mut tx, td.as_str(), true).await?,
            }
            tx.conn
                .execute(
                    "DELETE FROM bundles WHERE trust_domain = $1",
                    args![td.as_str()],
                )
                .await?;
            tx.record(ChangeKind::Bundle, td.as_str());
        });
        Ok(())
    }
}

/// Every bundle, ordered by trust domain.
pub(crate) async fn all<C: Conn>(conn: &mut C) -> Result<Vec<BundleRecord>, StoreError> {
    select(
        conn,
        "WHERE trust_domain > $1 ORDER BY trust_domain LIMIT $2",
        None,
        i64::MAX,
    )
    .await
}

/// The `data` column: everything but the key and the sequence number.
#[derive(Serialize, Deserialize)]
struct StoredContent {
    x509_authorities: Vec<X509Authority>,
    jwt_authorities: Vec<JwtAuthority>,
    refresh_hint: Option<u64>,
}

async fn get<C: Conn>(
    conn: &mut C,
    td: &TrustDomain,
    suffix: &str,
) -> Result<Option<BundleRecord>, StoreError> {
    let sql = format!(
        "SELECT trust_domain, data, sequence_number FROM bundles WHERE trust_domain = $1{suffix}"
    );
    let row = conn.fetch_optional(&sql, args![td.as_str()]).await?;
    row.as_ref().map(from_row).transpose()
}

/// Reads the bundle and locks it until commit (where the engine has row locks).
async fn lock<C: Conn>(conn: &mut C, td: &TrustDomain) -> Result<Option<BundleRecord>, StoreError> {
    get(conn, td, C::FOR_UPDATE).await
}

async fn select<C: Conn>(
    conn: &mut C,
    tail: &str,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<BundleRecord>, StoreError> {
    let sql = format!("SELECT trust_domain, data, sequence_number FROM bundles {tail}");
    let rows = conn
        .fetch_all(&sql, args![after.unwrap_or_default(), limit])
        .await?;
    rows.iter().map(from_row).collect()
}

/// Writes `next`'s content over `current` (or as new). Nothing changes, and no
/// change is recorded, when the content is the same.
async fn write<C: Conn>(
    tx: &mut Tx<'_, C>,
    next: &BundleRecord,
    current: Option<&BundleRecord>,
) -> Result<BundleRecord, StoreError> {
    if let Some(current) = current
        && current.same_content(next)
    {
        return Ok(current.clone());
    }

    let content = StoredContent {
        x509_authorities: next.x509_authorities.clone(),
        jwt_authorities: next.jwt_authorities.clone(),
        refresh_hint: next.refresh_hint,
    };
    let data = serde_json::to_string(&content)
        .map_err(|_| StoreError::InvalidArgument("bundle cannot be encoded"))?;
    let sequence_number = current.map_or(1, |c| c.sequence_number + 1);
    let now = db_time(OffsetDateTime::now_utc());
    tx.conn
        .execute(
            "INSERT INTO bundles (trust_domain, data, sequence_number, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (trust_domain) DO UPDATE \
             SET data = excluded.data, sequence_number = excluded.sequence_number, \
             updated_at = excluded.updated_at",
            args![
                next.trust_domain.as_str(),
                data,
                u64_to_db(sequence_number),
                now
            ],
        )
        .await?;
    tx.record(ChangeKind::Bundle, next.trust_domain.as_str());

    let mut stored = next.clone();
    stored.sequence_number = sequence_number;
    Ok(stored)
}

fn from_row<R: DbRow>(row: &R) -> Result<BundleRecord, StoreError> {
    let content: StoredContent = serde_json::from_str(&row.text("data")?)
        .map_err(|_| StoreError::Corrupt("bundles.data"))?;
    Ok(BundleRecord {
        trust_domain: parse_db(&row.text("trust_domain")?, "bundles.trust_domain")?,
        x509_authorities: content.x509_authorities,
        jwt_authorities: content.jwt_authorities,
        refresh_hint: content.refresh_hint,
        sequence_number: u64_from_db(row.i64("sequence_number")?, "bundles.sequence_number")?,
    })
}
