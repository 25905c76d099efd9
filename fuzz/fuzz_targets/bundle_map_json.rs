//! SPIFFE bundle map parsing.
#![no_main]

use lanyard_spiffe::BundleSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if let Ok(set) = BundleSet::parse_bundle_map_json(input) {
        let written = set
            .to_bundle_map_json()
            .expect("a parsed map can be written");
        let again =
            BundleSet::parse_bundle_map_json(written.as_bytes()).expect("written map parses");
        assert_eq!(again.len(), set.len());
    }
});
