//! Asymmetric signing keys per Standard Webhooks (`v1a`): ed25519 over the same
//! `"{msg_id}.{timestamp}.{body}"` content as `v1`, so receivers verify with a public key
//! (`whpk_…`) that cannot sign, while the server keeps the secret key (`whsk_…`).
//!
//! A `whsk_` secret is base64 of either the 32-byte seed (what the Standard Webhooks
//! libraries take) or the seed followed by its 32-byte public key (what Svix shows); both
//! name the same key, and the second is refused when its public half does not match.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use rand::rngs::OsRng;
use rand::RngCore;

/// Prefix of the textual form of an ed25519 secret key.
pub const SECRET_KEY_PREFIX: &str = "whsk_";
/// Prefix of the textual form of an ed25519 public key.
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";

/// Why a `whsk_` key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not base64.
    #[error("the whsk_ key is not valid base64")]
    InvalidBase64,
    /// Neither a 32-byte seed nor a 64-byte seed and public key.
    #[error(
        "a whsk_ key must decode to a 32-byte seed or 64 bytes (seed and public key), got {0}"
    )]
    InvalidLength(usize),
    /// A 64-byte key whose second half is not the public key of its first.
    #[error("the public half of the whsk_ key does not match its seed")]
    Mismatch,
}

/// Parses the base64 part of a `whsk_` key (prefix already removed).
pub(crate) fn parse_seed(encoded: &str) -> Result<SigningKey, KeyError> {
    let bytes = super::signing::decode_lenient(encoded).map_err(|_| KeyError::InvalidBase64)?;
    let seed: [u8; 32] = match bytes.len() {
        32 | 64 => {
            let mut seed = [0u8; 32];
            seed.copy_from_slice(&bytes[..32]);
            seed
        }
        n => return Err(KeyError::InvalidLength(n)),
    };
    let key = SigningKey::from_bytes(&seed);
    if bytes.len() == 64 && key.verifying_key().as_bytes()[..] != bytes[32..] {
        return Err(KeyError::Mismatch);
    }
    Ok(key)
}

/// A fresh key from the operating system's CSPRNG.
pub(crate) fn generate() -> SigningKey {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    SigningKey::from_bytes(&seed)
}

/// `whsk_` + base64(seed ‖ public key), the form Svix shows.
pub(crate) fn secret_text(key: &SigningKey) -> String {
    format!(
        "{SECRET_KEY_PREFIX}{}",
        STANDARD.encode(key.to_keypair_bytes())
    )
}

/// `whpk_` + base64(public key): what receivers verify with.
pub(crate) fn public_text(key: &SigningKey) -> String {
    format!(
        "{PUBLIC_KEY_PREFIX}{}",
        STANDARD.encode(key.verifying_key().as_bytes())
    )
}

/// `v1a,` + base64(ed25519 signature of `"{msg_id}.{timestamp}.{body}"`).
pub(crate) fn sign(key: &SigningKey, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let signature = key.sign(&super::signing::signed_content(msg_id, timestamp, body));
    format!("v1a,{}", STANDARD.encode(signature.to_bytes()))
}

/// True if any `v1a` entry of a signature header is a valid signature by `public` of this
/// message. Other versions and malformed entries are skipped.
pub fn verify(
    public: &VerifyingKey,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    let content = super::signing::signed_content(msg_id, timestamp, body);
    header.split_whitespace().any(|entry| {
        let Some(("v1a", encoded)) = entry.split_once(',') else {
            return false;
        };
        let Ok(bytes) = STANDARD.decode(encoded) else {
            return false;
        };
        let Ok(signature) = ed25519_dalek::Signature::from_slice(&bytes) else {
            return false;
        };
        public.verify(&content, &signature).is_ok()
    })
}

/// Parses a `whpk_` public key.
pub fn parse_public(text: &str) -> Option<VerifyingKey> {
    let encoded = text.trim().strip_prefix(PUBLIC_KEY_PREFIX)?;
    let bytes: [u8; 32] = STANDARD.decode(encoded).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Secret;

    // The asymmetric vector of the Standard Webhooks reference libraries
    // (libraries/go/webhook_asymmetric_test.go, TestAsymmetricWebhookSign).
    const VECTOR_KEY: &str = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TS: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIG: &str =
        "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";

    #[test]
    fn signs_the_standard_webhooks_vector() {
        let secret = Secret::parse(&format!("whsk_{VECTOR_KEY}")).unwrap();
        assert!(secret.is_asymmetric());
        assert_eq!(
            crate::signing::sign(&secret, VECTOR_ID, VECTOR_TS, VECTOR_BODY),
            VECTOR_SIG
        );
        let public = parse_public(&secret.public_text()).unwrap();
        assert!(verify(
            &public,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
            VECTOR_SIG
        ));
        assert!(!verify(
            &public,
            VECTOR_ID,
            VECTOR_TS + 1,
            VECTOR_BODY,
            VECTOR_SIG
        ));
        assert!(!verify(&public, VECTOR_ID, VECTOR_TS, b"{}", VECTOR_SIG));
        // The same bytes under the symmetric label do not count.
        let relabelled = VECTOR_SIG.replacen("v1a,", "v1,", 1);
        assert!(!verify(
            &public,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
            &relabelled
        ));
    }

    #[test]
    fn the_seed_and_svix_forms_name_the_same_key() {
        let short = Secret::parse(&format!("whsk_{VECTOR_KEY}")).unwrap();
        let long_text = short.secret_text();
        assert!(long_text.starts_with(SECRET_KEY_PREFIX));
        let long = Secret::parse(&long_text).unwrap();
        assert_eq!(long.public_text(), short.public_text());
        assert!(short.public_text().starts_with(PUBLIC_KEY_PREFIX));
        // A 64-byte key whose public half is not its own is refused.
        let mut bytes = STANDARD.decode(&long_text[5..]).unwrap();
        bytes[63] ^= 1;
        assert_eq!(
            Secret::parse(&format!("whsk_{}", STANDARD.encode(&bytes))).unwrap_err(),
            crate::signing::SecretError::Asymmetric(KeyError::Mismatch)
        );
        assert_eq!(
            Secret::parse(&format!("whsk_{}", STANDARD.encode([1u8; 40]))).unwrap_err(),
            crate::signing::SecretError::Asymmetric(KeyError::InvalidLength(40))
        );
    }

    #[test]
    fn rotation_headers_mix_v1_and_v1a() {
        let new = Secret::generate_ed25519();
        let old = Secret::generate();
        let header = crate::signing::signature_header(
            &[new.clone(), old.clone()],
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
        );
        assert!(header.starts_with("v1a,"));
        let public = parse_public(&new.public_text()).unwrap();
        assert!(verify(&public, VECTOR_ID, VECTOR_TS, VECTOR_BODY, &header));
        assert!(crate::signing::verify(
            &old,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
            &header
        ));
        assert!(crate::signing::verify(
            &new,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
            &header
        ));
    }
}
