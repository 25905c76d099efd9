//! The scenarios of the performance plan, one module each, and what they share: the
//! server they start, and a fleet of attested simulated agents.

pub mod agent_proc;
pub mod idle;
pub mod s1;
pub mod s2;
pub mod s3;
pub mod s4;
pub mod s5;

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tonic::transport::Channel;

use crate::ceiling::Ceiling;
use crate::client::{self, AgentKeys, Target};
use crate::server::{BenchServer, ServerOptions};

/// What every scenario gets.
#[derive(Debug, Clone)]
pub struct Harness {
    /// How to start the server.
    pub server: ServerOptions,
    /// The ceiling measured at the start of the run.
    pub ceiling: Ceiling,
    /// How long any one simulated agent may keep retrying.
    pub deadline: Duration,
}

impl Harness {
    /// Starts a server with these options and a [`Target`] for it.
    pub async fn start_server(
        &self,
        options: ServerOptions,
    ) -> anyhow::Result<(BenchServer, Duration, Target)> {
        let (server, took) = BenchServer::start(options)?;
        let target = Target::new(
            server.agent_address(),
            &server.trust_domain()?,
            server.trust_anchors().await?,
        )?;
        Ok((server, took, target))
    }
}

/// An attested simulated agent holding an mTLS channel.
#[derive(Clone)]
pub struct AttestedNode {
    /// The agent ID's path (`/spire/agent/join_token/<token>`).
    pub agent_path: String,
    /// The mTLS channel (one connection).
    pub channel: Channel,
}

/// Attests one agent per token (`parallel` at a time, outside any measurement) and
/// opens its mTLS channel.
pub async fn attest_fleet(
    target: &Target,
    tokens: Vec<String>,
    parallel: usize,
) -> anyhow::Result<Vec<AttestedNode>> {
    let keys = generate_keys(tokens.len()).await?;
    let attempts = tokens.into_iter().zip(keys).map(|(token, keys)| {
        let target = target.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(120);
            let (chain, _) = client::with_retries(deadline, || {
                let channel = target.bootstrap_channel();
                let csr = keys.csr.clone();
                let token = token.clone();
                async move {
                    let channel = channel.map_err(|e| tonic::Status::internal(e.to_string()))?;
                    client::attest_join_token(channel, &token, csr).await
                }
            })
            .await;
            let chain = chain?;
            let channel = target.mtls_channel(&chain, &keys.key)?;
            Ok::<_, anyhow::Error>(AttestedNode {
                agent_path: crate::server::join_token_agent_path(&token),
                channel,
            })
        }
    });
    futures::stream::iter(attempts)
        .buffered(parallel.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Syncs until the agent sees `expected` entries (the server's entry cache follows its
/// datastore asynchronously, so entries created just before may be missing at first);
/// returns their IDs and the number of syncs it took.
pub async fn sync_until(
    channel: &Channel,
    expected: usize,
    deadline: Instant,
) -> anyhow::Result<(Vec<String>, u32)> {
    let mut syncs = 0;
    loop {
        let outcome = client::sync_entries(channel.clone()).await?;
        syncs += 1;
        let ids = client::synced_entry_ids(&outcome);
        if ids.len() >= expected {
            return Ok((ids, syncs));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the agent saw {} of {expected} entries at the deadline",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `count` agent keys with CSRs, made on the blocking pool in a few large chunks.
pub async fn generate_keys(count: usize) -> anyhow::Result<Vec<AgentKeys>> {
    let chunk = count.div_ceil(4).max(1);
    let mut tasks = Vec::new();
    let mut left = count;
    while left > 0 {
        let n = left.min(chunk);
        left -= n;
        tasks.push(tokio::task::spawn_blocking(move || {
            (0..n)
                .map(|_| AgentKeys::generate())
                .collect::<anyhow::Result<Vec<_>>>()
        }));
    }
    let mut keys = Vec::with_capacity(count);
    for task in tasks {
        keys.extend(task.await??);
    }
    Ok(keys)
}

/// `count` workload CSRs, made on the blocking pool.
pub async fn generate_csrs(count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    tokio::task::spawn_blocking(move || client::workload_csrs(count)).await?
}

/// The distinct messages among `errors`, most frequent first, at most `limit`.
pub fn summarize_errors(errors: &[String], limit: usize) -> Vec<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for e in errors {
        *counts.entry(e.as_str()).or_default() += 1;
    }
    let mut sorted: Vec<(&str, usize)> = counts.into_iter().collect();
    sorted.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    sorted
        .into_iter()
        .take(limit)
        .map(|(message, n)| format!("{n} x {message}"))
        .collect()
}
