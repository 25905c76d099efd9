//! TPM enrollments for the `tpm` node attestor: join tokens looked at without
//! being consumed, and the record of which EK is enrolled as which xname.

use lanyard_spiffe::{Selector, SelectorSet};
use time::OffsetDateTime;

use crate::backend::{Conn as _, DbRow, args};
use crate::error::is_unique_violation;
use crate::model::{JoinToken, TpmEnrollment, token_hash};
use crate::sql::{db_time, time_from_db};
use crate::tokens::{TOKEN, take};
use crate::tx::{read_tx, write_tx};
use crate::{Store, StoreError};

const ENROLLMENT: &str = "tpm enrollment";
const COLUMNS: &str = "ek_sha256, xname, node_type, ek_public, ldevid_serial, node_selectors, \
                       enrolled_at, residency_checked_at";

impl Store {
    /// The token's grant WITHOUT consuming it. `NotFound` if unknown or used,
    /// `Expired` if it expired at or before `now`.
    pub async fn peek_join_token(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<JoinToken, StoreError> {
        let row = read_tx!(self, |conn| {
            conn.fetch_optional(
                "SELECT expires_at, node_selectors FROM join_tokens WHERE token_hash = $1",
                args![token_hash(token)],
            )
            .await?
            .map(|row| token_from_row(&row))
            .transpose()?
        });
        let token = row.ok_or(StoreError::NotFound(TOKEN))?;
        if token.expires_at <= now {
            return Err(StoreError::Expired(TOKEN));
        }
        Ok(token)
    }

    /// The enrollment of the EK with this hash, if any.
    pub async fn get_tpm_enrollment_by_ek(
        &self,
        ek_sha256: &[u8],
    ) -> Result<Option<TpmEnrollment>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tpm_enrollments WHERE ek_sha256 = $1");
        Ok(read_tx!(self, |conn| conn
            .fetch_optional(&sql, args![ek_sha256.to_vec()])
            .await?
            .map(|r| enrollment_from_row(&r))
            .transpose()?))
    }

    /// The enrollment of the node with this xname, if any.
    pub async fn get_tpm_enrollment_by_xname(
        &self,
        xname: &str,
    ) -> Result<Option<TpmEnrollment>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tpm_enrollments WHERE xname = $1");
        Ok(read_tx!(self, |conn| conn
            .fetch_optional(&sql, args![xname])
            .await?
            .map(|r| enrollment_from_row(&r))
            .transpose()?))
    }

    /// In one transaction: redeems `token` (as [`take_join_token`](Self::take_join_token)),
    /// refuses with `Conflict` if the EK is enrolled under another xname, replaces any
    /// other enrollment of the xname (the node's previous TPM) and stores `enrollment`.
    /// Nothing changes on error.
    pub async fn complete_tpm_enrollment(
        &self,
        token: &str,
        enrollment: &TpmEnrollment,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let selectors: Vec<String> = enrollment
            .node_selectors
            .iter()
            .map(ToString::to_string)
            .collect();
        let selectors = serde_json::to_string(&selectors)
            .map_err(|_| StoreError::InvalidArgument("node selectors cannot be encoded"))?;
        let insert = format!(
            "INSERT INTO tpm_enrollments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        write_tx!(self, |tx| {
            let taken = take(tx.conn, token_hash(token))
                .await?
                .ok_or(StoreError::NotFound(TOKEN))?;
            if taken.expires_at <= now {
                return Err(StoreError::Expired(TOKEN));
            }
            let owner = tx
                .conn
                .fetch_optional(
                    "SELECT xname FROM tpm_enrollments WHERE ek_sha256 = $1",
                    args![enrollment.ek_sha256.clone()],
                )
                .await?;
            if let Some(owner) = owner
                && owner.text("xname")? != enrollment.xname
            {
                return Err(StoreError::Conflict(ENROLLMENT));
            }
            tx.conn
                .execute(
                    "DELETE FROM tpm_enrollments WHERE xname = $1 OR ek_sha256 = $2",
                    args![enrollment.xname.as_str(), enrollment.ek_sha256.clone()],
                )
                .await?;
            tx.conn
                .execute(
                    &insert,
                    args![
                        enrollment.ek_sha256.clone(),
                        enrollment.xname.as_str(),
                        enrollment.node_type.clone(),
                        enrollment.ek_public.clone(),
                        enrollment.ldevid_serial.as_str(),
                        selectors,
                        db_time(enrollment.enrolled_at),
                        db_time(enrollment.residency_checked_at)
                    ],
                )
                .await
                .map_err(|err| {
                    // A concurrent enrollment of the same EK or xname won.
                    if is_unique_violation(&err) {
                        StoreError::Conflict(ENROLLMENT)
                    } else {
                        StoreError::Backend(err)
                    }
                })?
        });
        Ok(())
    }

    /// Records that the EK's node proved residency again at `at`.
    pub async fn record_tpm_residency_check(
        &self,
        ek_sha256: &[u8],
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        write_tx!(self, |tx| {
            tx.conn
                .execute(
                    "UPDATE tpm_enrollments SET residency_checked_at = $1 WHERE ek_sha256 = $2",
                    args![db_time(at), ek_sha256.to_vec()],
                )
                .await?
        });
        Ok(())
    }

    /// Forgets the enrollment of `xname` (an administrator releasing its TPM for use
    /// elsewhere). Returns whether there was one.
    pub async fn delete_tpm_enrollment(&self, xname: &str) -> Result<bool, StoreError> {
        let deleted = write_tx!(self, |tx| {
            tx.conn
                .execute("DELETE FROM tpm_enrollments WHERE xname = $1", args![xname])
                .await?
        });
        Ok(deleted > 0)
    }
}

fn token_from_row<R: DbRow>(row: &R) -> Result<JoinToken, StoreError> {
    Ok(JoinToken {
        expires_at: time_from_db(row.i64("expires_at")?, "join_tokens.expires_at")?,
        node_selectors: parse_selectors(&row.text("node_selectors")?, "join_tokens")?,
    })
}

fn enrollment_from_row<R: DbRow>(row: &R) -> Result<TpmEnrollment, StoreError> {
    Ok(TpmEnrollment {
        ek_sha256: row.bytes("ek_sha256")?,
        xname: row.text("xname")?,
        node_type: row.opt_text("node_type")?,
        ek_public: row.bytes("ek_public")?,
        ldevid_serial: row.text("ldevid_serial")?,
        node_selectors: parse_selectors(&row.text("node_selectors")?, "tpm_enrollments")?,
        enrolled_at: time_from_db(row.i64("enrolled_at")?, "tpm_enrollments.enrolled_at")?,
        residency_checked_at: time_from_db(
            row.i64("residency_checked_at")?,
            "tpm_enrollments.residency_checked_at",
        )?,
    })
}

fn parse_selectors(json: &str, table: &'static str) -> Result<SelectorSet, StoreError> {
    let selectors: Vec<String> =
        serde_json::from_str(json).map_err(|_| StoreError::Corrupt(table))?;
    selectors
        .iter()
        .map(|s| Selector::parse(s))
        .collect::<Result<SelectorSet, _>>()
        .map_err(|_| StoreError::Corrupt(table))
}
