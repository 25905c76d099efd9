//! Selector parsing; a parsed selector must round-trip exactly.
#![no_main]

use lanyard_spiffe::Selector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(selector) = Selector::parse(input) {
        assert_eq!(selector.to_string(), input);
    }
});
