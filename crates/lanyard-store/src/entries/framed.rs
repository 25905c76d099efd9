//! A chunk of entries as one text value, for a full load.
//!
//! Handing rows from the database driver to the caller costs more than reading
//! them (sqlx copies every column of every row and passes each row between
//! threads), so the database concatenates a whole chunk into one value: every field
//! framed as `<byte length>:<bytes>`, the fields of an entry in a fixed order, the
//! entries one after the other, and an entry's selectors framed inside one field.
//! The SQL is the same on SQLite (3.44 or later) and PostgreSQL.

use lanyard_spiffe::{Selector, SelectorSet};

use crate::StoreError;
use crate::model::{EntrySpec, RegistrationEntry};
use crate::sql::{opt_time_from_db, parse_db, time_from_db};

/// The query for one chunk: entries with IDs after `$1`, at most `$2`, ordered by
/// ID, as one column `chunk` (NULL when there are none).
pub(super) fn chunk_sql() -> String {
    let selectors = format!(
        "COALESCE((SELECT string_agg({} || {}, '') FROM entry_selectors s \
         WHERE s.entry_id = e.id), '')",
        frame("s.type"),
        frame("s.value")
    );
    let fields = [
        frame("e.id"),
        frame("e.spiffe_id"),
        frame("e.parent_id"),
        frame(&int("e.x509_svid_ttl")),
        frame(&int("e.jwt_svid_ttl")),
        frame(&flag("e.admin")),
        frame(&flag("e.downstream")),
        frame("e.hint"),
        frame("COALESCE(CAST(e.expires_at AS TEXT), '')"),
        frame(&int("e.revision_number")),
        frame(&flag("e.store_svid")),
        frame(&flag("e.jwt_svid_include_jti")),
        frame(&flag("e.disable_x509_svid_prefetch")),
        frame(&int("e.created_at")),
        frame(&selectors),
    ];
    format!(
        "SELECT string_agg({}, '' ORDER BY e.id) AS chunk FROM (SELECT * FROM \
         registration_entries WHERE id > $1 ORDER BY id LIMIT $2) e",
        fields.join(" || ")
    )
}

fn frame(text: &str) -> String {
    format!("CAST(octet_length({text}) AS TEXT) || ':' || {text}")
}

fn int(column: &str) -> String {
    format!("CAST({column} AS TEXT)")
}

fn flag(column: &str) -> String {
    format!("CASE WHEN {column} THEN '1' ELSE '0' END")
}

/// The entries of a chunk, in its order (DNS names and federated trust domains
/// are not part of it).
pub(super) fn decode(chunk: &str, into: &mut Vec<RegistrationEntry>) -> Result<(), StoreError> {
    let mut frames = Frames(chunk);
    while !frames.0.is_empty() {
        into.push(entry(&mut frames)?);
    }
    Ok(())
}

fn entry(f: &mut Frames<'_>) -> Result<RegistrationEntry, StoreError> {
    let id = parse_db(f.next()?, "registration_entries.id")?;
    let spiffe_id = parse_db(f.next()?, "registration_entries.spiffe_id")?;
    let parent_id = parse_db(f.next()?, "registration_entries.parent_id")?;
    let mut spec = EntrySpec::new(spiffe_id, parent_id, SelectorSet::new());
    spec.x509_svid_ttl = parse_db(f.next()?, "x509_svid_ttl")?;
    spec.jwt_svid_ttl = parse_db(f.next()?, "jwt_svid_ttl")?;
    spec.admin = f.flag()?;
    spec.downstream = f.flag()?;
    spec.hint = f.next()?.to_owned();
    let expires_at = match f.next()? {
        "" => None,
        secs => Some(parse_db(secs, "expires_at")?),
    };
    spec.expires_at = opt_time_from_db(expires_at, "expires_at")?;
    let revision_number = parse_db(f.next()?, "revision_number")?;
    spec.store_svid = f.flag()?;
    spec.jwt_svid_include_jti = f.flag()?;
    spec.disable_x509_svid_prefetch = f.flag()?;
    let created_at = time_from_db(parse_db(f.next()?, "created_at")?, "created_at")?;

    let mut inner = Frames(f.next()?);
    let mut selectors = Vec::with_capacity(1);
    while !inner.0.is_empty() {
        let (kind, value) = (inner.next()?, inner.next()?);
        let selector =
            Selector::new(kind, value).map_err(|_| StoreError::Corrupt("entry_selectors"))?;
        selectors.push(selector);
    }
    spec.selectors = super::scan::selector_set(selectors);

    Ok(RegistrationEntry {
        id,
        revision_number,
        created_at,
        spec,
    })
}

/// The fields left in a framed text.
struct Frames<'a>(&'a str);

impl<'a> Frames<'a> {
    fn next(&mut self) -> Result<&'a str, StoreError> {
        const BAD: StoreError = StoreError::Corrupt("registration_entries (framed)");
        let (len, rest) = self.0.split_once(':').ok_or(BAD)?;
        let len: usize = len.parse().map_err(|_| BAD)?;
        let field = rest.get(..len).ok_or(BAD)?;
        self.0 = rest.get(len..).ok_or(BAD)?;
        Ok(field)
    }

    fn flag(&mut self) -> Result<bool, StoreError> {
        Ok(self.next()? == "1")
    }
}

#[cfg(test)]
mod tests {
    use super::Frames;

    #[test]
    fn frames_split_on_byte_lengths_not_separators() {
        let mut f = Frames("3:a:b0:5:\u{e9}:\u{e9}");
        assert_eq!(f.next().unwrap(), "a:b");
        assert_eq!(f.next().unwrap(), "");
        assert_eq!(f.next().unwrap(), "\u{e9}:\u{e9}");
        assert!(f.0.is_empty());
        assert!(Frames("5:abc").next().is_err());
        assert!(Frames("1:\u{e9}").next().is_err());
        assert!(Frames("x:abc").next().is_err());
    }
}
