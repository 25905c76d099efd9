//! DER certificate chains: splitting, the leaf profile and verification.
#![no_main]

use std::time::UNIX_EPOCH;

use lanyard_spiffe::x509::{check_x509_svid_leaf, split_der_chain, verify_x509_svid};
use lanyard_spiffe::{BundleSet, X509Svid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let _ = check_x509_svid_leaf(input);
    let _ = X509Svid::parse_der_chain(input);
    if let Ok(chain) = split_der_chain(input) {
        let _ = verify_x509_svid(&chain, &BundleSet::new(), UNIX_EPOCH);
    }
});
