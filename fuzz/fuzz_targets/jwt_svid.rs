//! JWT-SVID parsing and verification against an empty bundle set.
#![no_main]

use std::time::UNIX_EPOCH;

use lanyard_spiffe::{BundleSet, parse_jwt_svid_insecure, verify_jwt_svid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let _ = parse_jwt_svid_insecure(input);
    let _ = verify_jwt_svid(input, &BundleSet::new(), "aud", UNIX_EPOCH);
});
