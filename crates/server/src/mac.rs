//! The one MAC helper for what the server hands out and later takes back: web session cookies
//! and asset upload policies. HMAC-SHA256 over a purpose label and the payload (so a value
//! signed for one purpose is worthless for another), hex encoded, and checked with the
//! `hmac` crate's constant-time comparison.
//!
//! Every failure is a refusal: a signature that is not hex, has the wrong length, or does not
//! match, and (were it ever to happen) a key HMAC will not take, all verify as `false`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a MAC is for; the label is mixed into the MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A web session cookie's token.
    Session,
    /// An asset upload policy.
    UploadPolicy,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"ui-session:",
            Purpose::UploadPolicy => b"asset-policy:",
        }
    }
}

fn mac(key: &[u8], purpose: Purpose, payload: &str) -> Option<Hmac<Sha256>> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).ok()?;
    m.update(purpose.label());
    m.update(payload.as_bytes());
    Some(m)
}

/// The MAC of `payload` for `purpose`, hex. `None` only if HMAC refused the key (it takes
/// keys of any length, so this does not happen); callers then refuse to hand anything out.
pub fn sign(key: &[u8], purpose: Purpose, payload: &str) -> Option<String> {
    mac(key, purpose, payload).map(|m| hex::encode(m.finalize().into_bytes()))
}

/// Whether `signature` (hex) is the MAC of `payload` for `purpose`, compared in constant time.
pub fn verify(key: &[u8], purpose: Purpose, payload: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature) else {
        return false;
    };
    match mac(key, purpose, payload) {
        Some(m) => m.verify_slice(&given).is_ok(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_key_purpose_and_payload() {
        let key = [7u8; 32];
        let sig = sign(&key, Purpose::Session, "abc").unwrap();
        assert_eq!(sig.len(), 64);
        assert!(verify(&key, Purpose::Session, "abc", &sig));
        assert!(!verify(&key, Purpose::Session, "abd", &sig), "payload");
        assert!(!verify(&key, Purpose::UploadPolicy, "abc", &sig), "purpose");
        assert!(!verify(&[8u8; 32], Purpose::Session, "abc", &sig), "key");
        assert!(!verify(&key, Purpose::Session, "abc", &sig[..62]), "short");
        assert!(!verify(&key, Purpose::Session, "abc", ""), "empty");
        assert!(!verify(&key, Purpose::Session, "abc", "zz"), "not hex");
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(
            !verify(&key, Purpose::Session, "abc", &flipped),
            "one nibble"
        );
        // Upper-case hex of the right MAC is the same bytes: accepted.
        assert!(verify(&key, Purpose::Session, "abc", &sig.to_uppercase()));
    }

    #[test]
    fn the_empty_key_still_signs_and_checks() {
        let sig = sign(b"", Purpose::UploadPolicy, "p").unwrap();
        assert!(verify(b"", Purpose::UploadPolicy, "p", &sig));
        assert!(!verify(b"x", Purpose::UploadPolicy, "p", &sig));
    }
}
