//! SPIFFE ID and trust domain parsing; a parsed ID must round-trip exactly.
#![no_main]

use lanyard_spiffe::{SpiffeId, TrustDomain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(id) = SpiffeId::parse(input) {
        assert_eq!(id.as_str(), input);
        let rebuilt = SpiffeId::from_parts(id.trust_domain(), id.path());
        assert_eq!(rebuilt.as_ref(), Ok(&id));
    }
    if let Ok(td) = TrustDomain::new(input) {
        assert_eq!(td.as_str(), input);
    }
    let _ = TrustDomain::from_name_or_id(input);
});
