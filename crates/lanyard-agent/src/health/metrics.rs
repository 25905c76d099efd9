//! Metric names and the helpers that record them. The `metrics` facade is a no-op
//! until the binary installs a recorder (the Prometheus exporter).

/// Agent SVID renewals, labelled `result` = `ok` | `error`, `method` = `renew` | `reattest`.
pub const AGENT_SVID_RENEWALS: &str = "lanyard_agent_svid_renewals_total";
/// Attestations, labelled `result`.
pub const ATTESTATIONS: &str = "lanyard_agent_attestations_total";
/// Entry syncs, labelled `mode` = `push` | `poll` and `result`.
pub const SYNCS: &str = "lanyard_agent_syncs_total";
/// Workload X.509-SVIDs minted, labelled `result`.
pub const X509_SVIDS_MINTED: &str = "lanyard_agent_x509_svids_minted_total";
/// Authorized entries held.
pub const ENTRIES: &str = "lanyard_agent_entries";
/// Workload X.509-SVIDs cached.
pub const CACHED_X509_SVIDS: &str = "lanyard_agent_cached_x509_svids";
/// JWT-SVIDs cached.
pub const CACHED_JWT_SVIDS: &str = "lanyard_agent_cached_jwt_svids";

/// Counts one agent SVID renewal attempt.
pub fn count_renewal(method: &'static str, ok: bool) {
    metrics::counter!(AGENT_SVID_RENEWALS, "method" => method, "result" => result(ok)).increment(1);
}

/// Counts one attestation attempt.
pub fn count_attestation(ok: bool) {
    metrics::counter!(ATTESTATIONS, "result" => result(ok)).increment(1);
}

/// Counts one sync round.
pub fn count_sync(mode: &'static str, ok: bool) {
    metrics::counter!(SYNCS, "mode" => mode, "result" => result(ok)).increment(1);
}

/// Counts minted and failed workload SVIDs.
pub fn count_svids_minted(minted: usize, failed: usize) {
    metrics::counter!(X509_SVIDS_MINTED, "result" => "ok").increment(minted as u64);
    metrics::counter!(X509_SVIDS_MINTED, "result" => "error").increment(failed as u64);
}

fn result(ok: bool) -> &'static str {
    if ok { "ok" } else { "error" }
}
