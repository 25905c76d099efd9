//! SPIFFE bundle JSON and JWT JWKS parsing; a parsed bundle must write and read back.
#![no_main]

use lanyard_spiffe::{Bundle, TrustDomain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let td = TrustDomain::new("example.org").expect("constant trust domain is valid");
    if let Ok(bundle) = Bundle::parse_json(td.clone(), input) {
        let written = bundle.to_json().expect("a parsed bundle can be written");
        let again =
            Bundle::parse_json(td.clone(), written.as_bytes()).expect("written bundle parses");
        assert_eq!(again.x509_authorities(), bundle.x509_authorities());
        assert_eq!(again.jwt_authorities(), bundle.jwt_authorities());
    }
    let _ = Bundle::parse_jwt_jwks(td, input);
});
