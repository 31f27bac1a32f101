//! Random identifiers the control plane hands out (operation ids, webhook
//! tokens, scratch file names). The local cloud makes its own: it shares no
//! code with the control plane it stands in for.

use rand::Rng;

/// `len` random lowercase hex digits.
pub fn random_hex(len: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdef";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| DIGITS[rng.random_range(0..DIGITS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_of_the_asked_length() {
        let id = super::random_hex(32);
        assert_eq!(id.len(), 32);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(id, super::random_hex(32));
    }
}
