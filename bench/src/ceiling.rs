//! The machine's crypto ceiling, measured in the same run as the scenarios: P-256 ECDSA
//! signs and verifies per second on one core with aws-lc-rs, the library the server
//! signs with. Scenario throughput is reported as a ratio to these figures, because
//! absolute times on a shared machine drift from run to run.

use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use rustix::time::{ClockId, clock_gettime};
use serde::Serialize;

/// The size of the message signed: about a certificate's to-be-signed part.
const MESSAGE_LEN: usize = 400;

/// The ceiling on this machine, per core.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ceiling {
    /// P-256 ECDSA signatures per second on one core.
    pub sign_per_s: f64,
    /// P-256 ECDSA verifications per second on one core.
    pub verify_per_s: f64,
    /// X.509-SVIDs from CSRs per second on one core if only the crypto cost
    /// (one CSR signature verify plus one certificate sign).
    pub x509_from_csr_per_s: f64,
    /// JWT-SVIDs per second on one core if only the crypto cost (one sign).
    pub jwt_per_s: f64,
    /// Online cores (`nproc`).
    pub cores: usize,
}

/// Measures the ceiling: each operation runs `rounds` times for `per_round` of thread
/// CPU time and the best round counts (noise from other tenants only slows rounds
/// down).
pub fn measure(rounds: usize, per_round: Duration) -> anyhow::Result<Ceiling> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        .map_err(|_| anyhow::anyhow!("p-256 key generation failed"))?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("p-256 key rejected"))?;
    let message = [0x5a_u8; MESSAGE_LEN];
    let signature = key
        .sign(&rng, &message)
        .map_err(|_| anyhow::anyhow!("p-256 signing failed"))?;
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key.public_key().as_ref());

    let mut sign_per_s: f64 = 0.0;
    let mut verify_per_s: f64 = 0.0;
    for _ in 0..rounds.max(1) {
        sign_per_s = sign_per_s.max(rate(per_round, || key.sign(&rng, &message).is_ok()));
        verify_per_s = verify_per_s.max(rate(per_round, || {
            public.verify(&message, signature.as_ref()).is_ok()
        }));
    }
    anyhow::ensure!(
        sign_per_s > 0.0 && verify_per_s > 0.0,
        "the ceiling measurement failed"
    );
    Ok(Ceiling {
        sign_per_s,
        verify_per_s,
        x509_from_csr_per_s: 1.0 / (1.0 / sign_per_s + 1.0 / verify_per_s),
        jwt_per_s: sign_per_s,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
    })
}

/// Operations per second of thread CPU time; 0 when an operation fails.
fn rate(budget: Duration, mut op: impl FnMut() -> bool) -> f64 {
    // Warm up caches and the CPU's frequency.
    for _ in 0..64 {
        if !op() {
            return 0.0;
        }
    }
    let start = thread_cpu();
    let mut count: u64 = 0;
    loop {
        for _ in 0..64 {
            if !op() {
                return 0.0;
            }
        }
        count += 64;
        let spent = thread_cpu().saturating_sub(start);
        if spent >= budget {
            return count as f64 / spent.as_secs_f64();
        }
    }
}

fn thread_cpu() -> Duration {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x509_ceiling_is_below_both_primitives() {
        let ceiling = measure(1, Duration::from_millis(20)).unwrap();
        assert!(ceiling.x509_from_csr_per_s < ceiling.sign_per_s);
        assert!(ceiling.x509_from_csr_per_s < ceiling.verify_per_s);
        assert!(ceiling.cores >= 1);
    }
}
