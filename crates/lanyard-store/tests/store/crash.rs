//! Acknowledged writes survive `kill -9`: a child process (this test binary, run
//! again in writer mode) creates entries in a loop and prints each ID after its
//! commit returns; the test kills it at a random point and checks every printed ID.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use lanyard_store::model::{EntryId, NewEntry};
use lanyard_store::{Store, StoreConfig};
use rand::Rng as _;

use crate::common::{TestDb, spec};

const SQLITE_PATH_VAR: &str = "LANYARD_STORE_CRASH_SQLITE";
const POSTGRES_URL_VAR: &str = "LANYARD_STORE_CRASH_POSTGRES";
const COMMITTED: &str = "committed ";
const ROUNDS: usize = 3;

#[test]
fn sqlite_acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::sqlite_in(dir.path());
    let StoreConfig::Sqlite { path, .. } = &config else {
        unreachable!("a sqlite config")
    };
    let path = path.to_str().unwrap().to_owned();
    check_rounds(&config, (SQLITE_PATH_VAR, &path));
}

#[test]
fn postgres_acknowledged_writes_survive_kill_9() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(db) = runtime.block_on(TestDb::postgres()) else {
        return;
    };
    let StoreConfig::Postgres {
        connection_string, ..
    } = &db.config
    else {
        unreachable!("a postgres config")
    };
    check_rounds(&db.config, (POSTGRES_URL_VAR, connection_string));
    runtime.block_on(db.finish());
}

fn check_rounds(config: &StoreConfig, child_env: (&str, &str)) {
    let mut acknowledged = Vec::new();
    for round in 0..ROUNDS {
        acknowledged.extend(run_and_kill(child_env, round));

        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let store = Store::open(config).await.unwrap();
            for id in &acknowledged {
                let id = EntryId::parse(id).unwrap();
                assert!(
                    store.get_entry(&id).await.unwrap().is_some(),
                    "acknowledged entry {id} lost in round {round}"
                );
            }
            store.close().await;
        });
    }
    assert!(acknowledged.len() >= ROUNDS * 20);
}

/// Starts the writer, kills it after a random number of acknowledgements (while it
/// keeps writing), and returns every ID it acknowledged.
fn run_and_kill((var, value): (&str, &str), round: usize) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", "crash::writer_child", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(var, value)
        .env("LANYARD_STORE_CRASH_ROUND", round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let kill_after = rand::rng().random_range(20..200);

    let mut acknowledged = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(id) = line.strip_prefix(COMMITTED) {
            acknowledged.push(id.to_owned());
        }
        if !killed && acknowledged.len() >= kill_after {
            child.kill().unwrap();
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(killed, "the writer stopped by itself: {status}");
    acknowledged
}

/// Writer mode: only does something when started by the tests above.
#[tokio::test]
#[ignore = "run by the kill -9 tests as a child process"]
async fn writer_child() {
    let config = if let Ok(path) = std::env::var(SQLITE_PATH_VAR) {
        StoreConfig::Sqlite {
            path: path.into(),
            busy_timeout: lanyard_store::DEFAULT_BUSY_TIMEOUT,
        }
    } else if let Ok(url) = std::env::var(POSTGRES_URL_VAR) {
        StoreConfig::postgres(url)
    } else {
        eprintln!("writer_child runs only as a child of the kill -9 tests");
        return;
    };
    let round = std::env::var("LANYARD_STORE_CRASH_ROUND").unwrap_or_default();
    let store = Store::open(&config).await.unwrap();
    for i in 0.. {
        let id = EntryId::parse(&format!("crash-{round}-{i}")).unwrap();
        let new = NewEntry {
            id: Some(id.clone()),
            spec: spec(&format!("/crash/{round}/{i}"), "/p", &["k:v"]),
        };
        store.create_entry(new).await.unwrap();
        println!("{COMMITTED}{id}");
    }
}
