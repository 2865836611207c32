//! API key material, shared by the backends so that keys look and hash the same on both.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The stored form of a key: its SHA-256, hex. Keys are 256-bit random tokens, so a slow hash
/// adds nothing.
pub(crate) fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh key: its public id and the full secret key.
pub(crate) fn new_key_parts() -> (String, String) {
    let mut id_bytes = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id_bytes);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let id = hex::encode(id_bytes);
    // No '.' in the key: the svix client reads a region from the last '.'-segment of a token.
    let key = format!("dh_{id}_{}", hex::encode(secret));
    (id, key)
}

/// A fresh setup-link token: 256 random bits, URL-safe. Stored, like keys, as its hash.
pub(crate) fn new_setup_token() -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    hex::encode(secret)
}
