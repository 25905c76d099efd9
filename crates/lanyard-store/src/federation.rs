//! Federation relationships.

use lanyard_spiffe::TrustDomain;
use time::OffsetDateTime;

use crate::backend::{Conn, DbRow, args};
use crate::error::unique_as_exists;
use crate::model::{BundleEndpointProfile, FederationRelationship, Page, PageRequest};
use crate::sql::{db_time, page_token, page_token_key, parse_db};
use crate::tx::{read_tx, write_tx};
use crate::{Store, StoreError};

const RELATIONSHIP: &str = "federation relationship";
const COLUMNS: &str =
    "trust_domain, bundle_endpoint_url, bundle_endpoint_profile, endpoint_spiffe_id";

impl Store {
    /// `AlreadyExists` if the trust domain already has one.
    pub async fn create_federation_relationship(
        &self,
        rel: &FederationRelationship,
    ) -> Result<FederationRelationship, StoreError> {
        let now = db_time(OffsetDateTime::now_utc());
        write_tx!(self, |tx| {
            tx.conn
                .execute(
                    "INSERT INTO federation_relationships (trust_domain, bundle_endpoint_url, \
                     bundle_endpoint_profile, endpoint_spiffe_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                    args![
                        rel.trust_domain.as_str(),
                        rel.bundle_endpoint_url.as_str(),
                        rel.profile.name(),
                        endpoint_id(&rel.profile),
                        now,
                    ],
                )
                .await
                .map_err(unique_as_exists(RELATIONSHIP))?
        });
        Ok(rel.clone())
    }

    pub async fn get_federation_relationship(
        &self,
        trust_domain: &TrustDomain,
    ) -> Result<Option<FederationRelationship>, StoreError> {
        Ok(read_tx!(self, |conn| get(conn, trust_domain).await?))
    }

    /// One page, ordered by trust domain.
    pub async fn list_federation_relationships(
        &self,
        page: &PageRequest,
    ) -> Result<Page<FederationRelationship>, StoreError> {
        let after = page.page_token.as_deref().map(page_token_key).transpose()?;
        let limit = if page.page_size == 0 {
            i64::MAX
        } else {
            i64::from(page.page_size) + 1
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM federation_relationships WHERE trust_domain > $1 \
             ORDER BY trust_domain LIMIT $2"
        );
        let rows = read_tx!(self, |conn| {
            let rows = conn
                .fetch_all(&sql, args![after.unwrap_or_default(), limit])
                .await?;
            rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?
        });

        let mut items = rows;
        let mut next_page_token = None;
        if page.page_size > 0 && items.len() > page.page_size as usize {
            items.truncate(page.page_size as usize);
            next_page_token = items.last().map(|r| page_token(r.trust_domain.as_str()));
        }
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// Replaces the relationship for `rel.trust_domain`. `NotFound` if there is none.
    pub async fn update_federation_relationship(
        &self,
        rel: &FederationRelationship,
    ) -> Result<FederationRelationship, StoreError> {
        let n = write_tx!(self, |tx| {
            tx.conn
                .execute(
                    "UPDATE federation_relationships SET bundle_endpoint_url = $1, \
                     bundle_endpoint_profile = $2, endpoint_spiffe_id = $3 WHERE trust_domain = $4",
                    args![
                        rel.bundle_endpoint_url.as_str(),
                        rel.profile.name(),
                        endpoint_id(&rel.profile),
                        rel.trust_domain.as_str(),
                    ],
                )
                .await?
        });
        if n == 0 {
            return Err(StoreError::NotFound(RELATIONSHIP));
        }
        Ok(rel.clone())
    }

    /// `NotFound` if there is none. The trust domain's bundle is left alone.
    pub async fn delete_federation_relationship(
        &self,
        trust_domain: &TrustDomain,
    ) -> Result<(), StoreError> {
        let n = write_tx!(self, |tx| {
            tx.conn
                .execute(
                    "DELETE FROM federation_relationships WHERE trust_domain = $1",
                    args![trust_domain.as_str()],
                )
                .await?
        });
        if n == 0 {
            return Err(StoreError::NotFound(RELATIONSHIP));
        }
        Ok(())
    }
}

async fn get<C: Conn>(
    conn: &mut C,
    trust_domain: &TrustDomain,
) -> Result<Option<FederationRelationship>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM federation_relationships WHERE trust_domain = $1");
    let row = conn
        .fetch_optional(&sql, args![trust_domain.as_str()])
        .await?;
    row.as_ref().map(from_row).transpose()
}

fn endpoint_id(profile: &BundleEndpointProfile) -> Option<String> {
    match profile {
        BundleEndpointProfile::HttpsWeb => None,
        BundleEndpointProfile::HttpsSpiffe { endpoint_spiffe_id } => {
            Some(endpoint_spiffe_id.to_string())
        }
    }
}

fn from_row<R: DbRow>(row: &R) -> Result<FederationRelationship, StoreError> {
    let profile = match row.text("bundle_endpoint_profile")?.as_str() {
        "https_web" => BundleEndpointProfile::HttpsWeb,
        "https_spiffe" => {
            let id = row
                .opt_text("endpoint_spiffe_id")?
                .ok_or(StoreError::Corrupt(
                    "federation_relationships.endpoint_spiffe_id",
                ))?;
            BundleEndpointProfile::HttpsSpiffe {
                endpoint_spiffe_id: parse_db(&id, "federation_relationships.endpoint_spiffe_id")?,
            }
        }
        _ => {
            return Err(StoreError::Corrupt(
                "federation_relationships.bundle_endpoint_profile",
            ));
        }
    };
    Ok(FederationRelationship {
        trust_domain: parse_db(
            &row.text("trust_domain")?,
            "federation_relationships.trust_domain",
        )?,
        bundle_endpoint_url: parse_db(
            &row.text("bundle_endpoint_url")?,
            "federation_relationships.bundle_endpoint_url",
        )?,
        profile,
    })
}
