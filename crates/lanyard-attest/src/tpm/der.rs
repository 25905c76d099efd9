//! A minimal DER writer for the few structures built by hand: public keys
//! as `SubjectPublicKeyInfo`, and the LDevID certificate's `otherName`
//! subject alternative names and certificate policies.

/// Universal tags used here.
pub(crate) mod tag {
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const UTF8_STRING: u8 = 0x0C;
    pub(crate) const SEQUENCE: u8 = 0x30;
    /// `[0] EXPLICIT` (constructed, context-specific 0).
    pub(crate) const CONTEXT_0: u8 = 0xA0;
}

/// `tag || length || content`.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already-encoded elements.
pub(crate) fn sequence(elements: &[&[u8]]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &elements.concat())
}

/// A non-negative INTEGER from big-endian magnitude bytes.
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = {
        let skip = magnitude.iter().take_while(|b| **b == 0).count();
        &magnitude[skip..]
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(tag::INTEGER, &content)
}

/// A BIT STRING with no unused bits.
pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(tag::BIT_STRING, &content)
}

/// An OBJECT IDENTIFIER from its arcs. The first two arcs must form a
/// valid prefix (0.x or 1.x with x < 40, or 2.x); constants only.
pub(crate) fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut content = Vec::new();
    let (first, rest) = match arcs {
        [a, b, rest @ ..] => (a * 40 + b, rest),
        [a] => (a * 40, &[][..]),
        [] => (0, &[][..]),
    };
    push_base128(&mut content, first);
    for arc in rest {
        push_base128(&mut content, *arc);
    }
    tlv(tag::OID, &content)
}

fn push_base128(out: &mut Vec<u8>, mut value: u64) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    loop {
        groups[n] = (value & 0x7f) as u8;
        n += 1;
        value >>= 7;
        if value == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        let more = if i == 0 { 0 } else { 0x80 };
        out.push(groups[i] | more);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_known_values() {
        // 1.2.840.113549.1.1.1 (rsaEncryption)
        assert_eq!(
            oid(&[1, 2, 840, 113_549, 1, 1, 1]),
            hex::decode("06092a864886f70d010101").unwrap()
        );
        // 2.23.133.1.2 (TPM 2.0 hwType)
        assert_eq!(
            oid(&[2, 23, 133, 1, 2]),
            hex::decode("06056781050102").unwrap()
        );
        assert_eq!(unsigned_integer(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0, 1]), vec![0x02, 0x01, 0x01]);
        assert_eq!(unsigned_integer(&[]), vec![0x02, 0x01, 0x00]);
        let long = tlv(tag::OCTET_STRING, &[7u8; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}
