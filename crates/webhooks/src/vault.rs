//! Secrets at rest: endpoint signing secrets are stored sealed with the server's secret key
//! (XChaCha20-Poly1305, a random nonce per secret), so a copy of the database alone does not
//! let anyone forge webhooks.

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::signing::Secret;

const PREFIX: &str = "sealed1:";

/// Seals and opens secrets with one key.
#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// A sealed value that cannot be opened (wrong key or corrupted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stored secret cannot be opened: wrong --secret-key or corrupted data")]
pub struct SealError;

impl Vault {
    /// A vault keyed by `key` (any length; it is hashed down to 256 bits, domain-separated).
    pub fn new(key: &[u8]) -> Vault {
        let mut h = Sha256::new();
        h.update(b"datahooks-vault-v1:");
        h.update(key);
        let k = h.finalize();
        Vault {
            cipher: XChaCha20Poly1305::new(Key::from_slice(&k)),
        }
    }

    /// Seals a signing secret for storage.
    pub fn seal(&self, secret: &Secret) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let ct = self
            .cipher
            .encrypt(&nonce, secret.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Opens a sealed secret.
    pub fn open(&self, sealed: &str) -> Result<Secret, SealError> {
        let b64 = sealed.strip_prefix(PREFIX).ok_or(SealError)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| SealError)?;
        if raw.len() < 24 {
            return Err(SealError);
        }
        let (nonce, ct) = raw.split_at(24);
        let pt = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| SealError)?;
        Ok(Secret::from_bytes(pt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_hides_the_secret() {
        let v = Vault::new(b"k");
        let s = Secret::generate();
        let sealed = v.seal(&s);
        assert!(!sealed.contains(&s.to_whsec()[6..]));
        assert_eq!(v.open(&sealed).unwrap().as_bytes(), s.as_bytes());
        assert_ne!(v.seal(&s), sealed, "nonces must differ");
    }

    #[test]
    fn wrong_key_or_garbage_fails() {
        let sealed = Vault::new(b"a").seal(&Secret::generate());
        assert_eq!(Vault::new(b"b").open(&sealed).err(), Some(SealError));
        assert_eq!(Vault::new(b"a").open("plain").err(), Some(SealError));
        assert_eq!(Vault::new(b"a").open("sealed1:AAAA").err(), Some(SealError));
    }
}
