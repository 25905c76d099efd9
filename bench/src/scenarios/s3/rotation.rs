//! Rotation fan-out: how long a new X.509-SVID takes to reach every open
//! `FetchX509SVID` stream.
//!
//! The trigger is an update of the workloads' entry through the admin API (a new
//! `x509_svid_ttl`): the change reaches the agent over its sync stream, the agent
//! re-mints the SVID for the new entry revision (the TTL is baked into the certificate)
//! and pushes it to every stream. Unlike waiting for a short TTL to run out, the bench
//! knows the trigger instant, so both the fan-out itself (first to last stream) and the
//! whole path (trigger to last stream) are measured.

use std::time::{Duration, Instant};

use lanyard_proto::spire::api::server::entry::v1::BatchUpdateEntryRequest;
use lanyard_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use lanyard_proto::spire::api::types;
use lanyard_proto::workload::X509svidResponse;
use tonic::transport::Channel;

/// A stream held open by one workload, and the leaf-first chain it saw last.
pub(super) struct HeldStream {
    pub(super) stream: tonic::Streaming<X509svidResponse>,
    pub(super) svid: Vec<u8>,
}

/// What the rotation measurement saw.
pub(super) struct Rotation {
    /// For every stream that got the new SVID: trigger -> its arrival.
    pub(super) arrivals: Vec<Duration>,
    /// Trigger -> the admin API answered the update.
    pub(super) update_answered: Duration,
    /// Streams that ended or failed instead, with why.
    pub(super) errors: Vec<String>,
}

impl Rotation {
    /// First stream -> last stream.
    pub(super) fn fan_out(&self) -> Duration {
        match (self.arrivals.iter().min(), self.arrivals.iter().max()) {
            (Some(first), Some(last)) => *last - *first,
            _ => Duration::ZERO,
        }
    }
}

/// Updates `entry_id` so the agent re-mints its SVID, and waits (up to `timeout`) until
/// every stream in `streams` delivered an SVID other than the one it held.
pub(super) async fn measure(
    admin: Channel,
    entry_id: &str,
    streams: Vec<HeldStream>,
    timeout: Duration,
) -> anyhow::Result<Rotation> {
    let watchers: Vec<_> = streams
        .into_iter()
        .map(|held| tokio::spawn(wait_for_new_svid(held)))
        .collect();
    // Let every watcher reach its first poll before the clock starts.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let trigger = Instant::now();
    let answers = EntryClient::new(admin)
        .batch_update_entry(BatchUpdateEntryRequest {
            entries: vec![types::Entry {
                id: entry_id.to_owned(),
                x509_svid_ttl: 1800,
                ..types::Entry::default()
            }],
            input_mask: Some(types::EntryMask {
                x509_svid_ttl: true,
                ..types::EntryMask::default()
            }),
            output_mask: None,
        })
        .await?
        .into_inner();
    let update_answered = trigger.elapsed();
    for result in answers.results {
        let code = result.status.as_ref().map_or(-1, |s| s.code);
        anyhow::ensure!(code == 0, "entry update failed: {:?}", result.status);
    }

    let deadline = trigger + timeout;
    let mut rotation = Rotation {
        arrivals: Vec::new(),
        update_answered,
        errors: Vec::new(),
    };
    let mut held = Vec::new();
    for watcher in watchers {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, watcher).await {
            Ok(Ok(Ok((arrived, stream)))) => {
                rotation
                    .arrivals
                    .push(arrived.saturating_duration_since(trigger));
                held.push(stream);
            }
            Ok(Ok(Err(error))) => rotation.errors.push(error),
            Ok(Err(error)) => rotation.errors.push(format!("rotation watcher: {error}")),
            Err(_) => rotation
                .errors
                .push("rotation: no new svid before the deadline".to_owned()),
        }
    }
    drop(held);
    Ok(rotation)
}

/// Reads `held` until a message carries another SVID; returns when it arrived and the
/// stream, so it stays open until every stream is done.
async fn wait_for_new_svid(
    mut held: HeldStream,
) -> Result<(Instant, tonic::Streaming<X509svidResponse>), String> {
    loop {
        let message = held
            .stream
            .message()
            .await
            .map_err(|s| format!("rotation: {:?} {}", s.code(), s.message()))?
            .ok_or_else(|| "rotation: stream ended".to_owned())?;
        let arrived = Instant::now();
        match message.svids.first() {
            Some(svid) if svid.x509_svid != held.svid => return Ok((arrived, held.stream)),
            Some(_) => {}
            None => return Err("rotation: message without svid".to_owned()),
        }
    }
}
