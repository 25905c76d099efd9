use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::key::KeyType;

fn sample() -> Journal {
    let mut journal = Journal::new();
    journal.jwt.active = Some(JwtEntry {
        meta: EntryMeta {
            slot: Slot::B,
            status: Status::Active,
            authority_id: "kid-1".into(),
            key_type: KeyType::EcP384,
            issued_at: 10,
            not_after: 20,
            tainted: false,
        },
        public_key: Der(vec![1, 2, 3]),
    });
    journal
}

#[test]
fn journal_round_trips_through_json() {
    let journal = sample();

    let bytes = journal.to_json().unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();

    assert!(text.contains("\"ACTIVE\""), "{text}");
    assert!(text.contains("\"AQID\""), "der is base64: {text}");
    assert_eq!(Journal::from_json(&bytes).unwrap(), journal);
}

#[test]
fn journal_rejects_other_versions_and_garbage() {
    let mut value: serde_json::Value =
        serde_json::from_slice(&sample().to_json().unwrap()).unwrap();
    value["version"] = 99.into();

    let bytes = serde_json::to_vec(&value).unwrap();
    assert!(matches!(
        Journal::from_json(&bytes),
        Err(JournalError::UnsupportedVersion(99))
    ));
    assert!(matches!(
        Journal::from_json(b"[]"),
        Err(JournalError::Malformed(_))
    ));
}

#[test]
fn file_store_saves_atomically_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileJournalStore::new(dir.path().join("journal.json"));

    assert!(store.load().unwrap().is_none());
    store.save(b"first").unwrap();
    store.save(b"second").unwrap();

    assert_eq!(store.load().unwrap().unwrap(), b"second");
    let mode = std::fs::metadata(store.path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn memory_store_clones_share_the_journal() {
    let store = MemoryJournalStore::new();
    let clone = store.clone();

    store.save(b"j").unwrap();

    assert_eq!(clone.load().unwrap().unwrap(), b"j");
}
