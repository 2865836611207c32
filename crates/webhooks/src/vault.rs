//! Secrets at rest: endpoint signing secrets are stored sealed with the server's secret key
//! (XChaCha20-Poly1305, a random nonce per secret), so a copy of the database alone does not
//! let anyone forge webhooks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::signing::Secret;

const PREFIX: &str = "sealed1:";
/// Most opened secrets a vault remembers (it forgets them all when full).
const OPENED_MAX: usize = 4096;
/// Marks a sealed ed25519 seed (the kind of key is kept outside the ciphertext, so a sealed
/// HMAC secret can never be read back as an ed25519 key or the other way round).
const ED25519: &str = "ed25519:";

/// Seals secrets with one key and opens them with any of its keys.
///
/// While the secret key is rotated, a vault holds the new key first and the old one after it:
/// it seals with the new key and still opens what the old one sealed (see [`Vault::reseal`]).
#[derive(Clone)]
pub struct Vault {
    /// The key that seals, then keys that only open.
    ciphers: Vec<XChaCha20Poly1305>,
    /// Secrets opened before, by their sealed text. Every delivery signs with its endpoint's
    /// secrets, and decrypting them again each time was ~3 % of the server's CPU in a
    /// fan-out. A sealed text never changes meaning (a new secret is a new text), so an entry
    /// is never stale; the map is emptied when it reaches [`OPENED_MAX`].
    opened: Arc<Mutex<HashMap<String, Secret>>>,
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
        Vault::of(vec![cipher(key)])
    }

    /// A vault that seals with `first` and opens with `first` or any of `others`.
    pub fn with_keys(first: &[u8], others: &[Vec<u8>]) -> Vault {
        let mut ciphers = vec![cipher(first)];
        ciphers.extend(others.iter().map(|k| cipher(k)));
        Vault::of(ciphers)
    }

    fn of(ciphers: Vec<XChaCha20Poly1305>) -> Vault {
        Vault {
            ciphers,
            opened: Arc::default(),
        }
    }

    /// Re-seals `sealed` with the sealing key when another key sealed it: `Ok(None)` when it is
    /// sealed with the sealing key already, an error when no key opens it.
    pub fn reseal(&self, sealed: &str) -> Result<Option<String>, SealError> {
        let (kind, inner) = match sealed.strip_prefix(ED25519) {
            Some(inner) => (ED25519, inner),
            None => ("", sealed),
        };
        let raw = decode(inner)?;
        let (nonce, ct) = raw.split_at(24);
        for (i, c) in self.ciphers.iter().enumerate() {
            if let Ok(pt) = c.decrypt(XNonce::from_slice(nonce), ct) {
                return Ok((i > 0).then(|| format!("{kind}{}", self.seal_bytes(&pt))));
            }
        }
        Err(SealError)
    }

    /// Seals a signing secret for storage.
    pub fn seal(&self, secret: &Secret) -> String {
        let sealed = self.seal_bytes(secret.as_bytes());
        if secret.is_asymmetric() {
            format!("{ED25519}{sealed}")
        } else {
            sealed
        }
    }

    fn seal_bytes(&self, plain: &[u8]) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let ct = self.ciphers[0].encrypt(&nonce, plain).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Opens a sealed secret.
    pub fn open(&self, sealed: &str) -> Result<Secret, SealError> {
        let opened = || self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(secret) = opened().get(sealed) {
            return Ok(secret.clone());
        }
        let secret = match sealed.strip_prefix(ED25519) {
            Some(inner) => {
                let seed = self.open_bytes(inner)?;
                Secret::ed25519_from_seed(&seed).ok_or(SealError)?
            }
            None => self.open_bytes(sealed).map(Secret::from_bytes)?,
        };
        let mut opened = opened();
        if opened.len() >= OPENED_MAX {
            opened.clear();
        }
        opened.insert(sealed.to_owned(), secret.clone());
        Ok(secret)
    }

    fn open_bytes(&self, sealed: &str) -> Result<Vec<u8>, SealError> {
        let raw = decode(sealed)?;
        let (nonce, ct) = raw.split_at(24);
        self.ciphers
            .iter()
            .find_map(|c| c.decrypt(XNonce::from_slice(nonce), ct).ok())
            .ok_or(SealError)
    }
}

/// The cipher for a key (any length; hashed down to 256 bits, domain-separated).
fn cipher(key: &[u8]) -> XChaCha20Poly1305 {
    let mut h = Sha256::new();
    h.update(b"datahooks-vault-v1:");
    h.update(key);
    let k = h.finalize();
    XChaCha20Poly1305::new(Key::from_slice(&k))
}

/// The nonce and ciphertext of a sealed value (at least 24 bytes: the nonce).
fn decode(sealed: &str) -> Result<Vec<u8>, SealError> {
    let b64 = sealed.strip_prefix(PREFIX).ok_or(SealError)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| SealError)?;
    if raw.len() < 24 {
        return Err(SealError);
    }
    Ok(raw)
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
    fn ed25519_keys_keep_their_kind_through_seal_and_reseal() {
        let s = Secret::generate_ed25519();
        let under_old = Vault::new(b"old").seal(&s);
        assert!(under_old.starts_with("ed25519:sealed1:"));
        let both = Vault::with_keys(b"new", &[b"old".to_vec()]);
        let opened = both.open(&under_old).unwrap();
        assert!(opened.is_asymmetric());
        assert_eq!(opened.public_text(), s.public_text());
        let resealed = both.reseal(&under_old).unwrap().expect("old key");
        let again = Vault::new(b"new").open(&resealed).unwrap();
        assert!(again.is_asymmetric());
        assert_eq!(again.public_text(), s.public_text());
        // An HMAC secret stays one.
        let h = Secret::generate();
        assert!(!both.open(&both.seal(&h)).unwrap().is_asymmetric());
    }

    #[test]
    fn opened_secrets_are_remembered_within_a_bound() {
        let v = Vault::new(b"k");
        let s = Secret::generate();
        let sealed = v.seal(&s);
        assert_eq!(v.open(&sealed).unwrap().as_bytes(), s.as_bytes());
        assert_eq!(v.open(&sealed).unwrap().as_bytes(), s.as_bytes());
        assert_eq!(v.opened.lock().unwrap().len(), 1);
        // A vault with another key remembers nothing of this one's.
        assert_eq!(Vault::new(b"other").open(&sealed).err(), Some(SealError));
        for _ in 0..OPENED_MAX {
            v.open(&v.seal(&Secret::generate())).unwrap();
        }
        assert!(v.opened.lock().unwrap().len() <= OPENED_MAX);
        assert_eq!(v.open(&sealed).unwrap().as_bytes(), s.as_bytes());
    }

    #[test]
    fn wrong_key_or_garbage_fails() {
        let sealed = Vault::new(b"a").seal(&Secret::generate());
        assert_eq!(Vault::new(b"b").open(&sealed).err(), Some(SealError));
        assert_eq!(Vault::new(b"a").open("plain").err(), Some(SealError));
        assert_eq!(Vault::new(b"a").open("sealed1:AAAA").err(), Some(SealError));
    }

    #[test]
    fn rotation_opens_with_either_key_and_reseals_with_the_first() {
        let s = Secret::generate();
        let under_old = Vault::new(b"old").seal(&s);
        let both = Vault::with_keys(b"new", &[b"old".to_vec()]);
        assert_eq!(both.open(&under_old).unwrap().as_bytes(), s.as_bytes());
        let resealed = both
            .reseal(&under_old)
            .unwrap()
            .expect("sealed by the old key");
        let only_new = Vault::new(b"new");
        assert_eq!(only_new.open(&resealed).unwrap().as_bytes(), s.as_bytes());
        assert_eq!(only_new.open(&under_old).err(), Some(SealError));
        assert_eq!(
            both.reseal(&resealed),
            Ok(None),
            "already under the new key"
        );
        assert_eq!(only_new.reseal(&under_old), Err(SealError));
        assert_eq!(
            Vault::new(b"old").open(&both.seal(&s)).err(),
            Some(SealError)
        );
    }
}
