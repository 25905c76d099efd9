//! PEM bundle parsing.
#![no_main]

use lanyard_spiffe::{Bundle, TrustDomain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let td = TrustDomain::new("example.org").expect("constant trust domain is valid");
    if let Ok(bundle) = Bundle::parse_x509_pem(td.clone(), input) {
        let pem = bundle.x509_authorities_to_pem();
        let again = Bundle::parse_x509_pem(td, pem.as_bytes()).expect("written pem parses");
        assert_eq!(again.x509_authorities(), bundle.x509_authorities());
    }
});
