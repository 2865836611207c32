//! Message signing per Standard Webhooks (the Svix scheme).
//!
//! A symmetric signature is `v1,` + base64(HMAC-SHA256(key, `"{msg_id}.{timestamp}.{body}"`)),
//! where the key is the base64-decoded part of a `whsec_…` secret. An endpoint may instead have
//! an ed25519 key (`whsk_…`, see [`crate::ed25519`]): its signatures are `v1a,…` over the same
//! content. During key rotation a message carries one signature per valid key, space-separated,
//! and a receiver accepts if any one matches.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of the textual form of a symmetric secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Number of random bytes in a generated secret (Svix and Standard Webhooks both use 24).
pub const GENERATED_SECRET_LEN: usize = 24;
/// Smallest accepted decoded secret, in bytes (Standard Webhooks lower bound).
pub const MIN_SECRET_LEN: usize = 24;
/// Largest accepted decoded secret, in bytes (Standard Webhooks upper bound).
pub const MAX_SECRET_LEN: usize = 64;

/// Receivers (the Python `svix` library among them) append padding before decoding, so a
/// user-supplied secret whose `=` padding was stripped must still parse.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An endpoint's signing key: the raw bytes behind a `whsec_…` string (HMAC), or an ed25519
/// key (`whsk_…`).
///
/// `Debug` never prints the key, so a secret can sit inside structs that get logged.
#[derive(Clone)]
pub struct Secret(Key);

#[derive(Clone)]
enum Key {
    Hmac(Vec<u8>),
    Ed25519(ed25519_dalek::SigningKey),
}

/// Why a textual secret was rejected by [`Secret::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing left after removing the optional `whsec_` prefix.
    #[error("secret is empty")]
    Empty,
    /// The part after `whsec_` is not standard base64.
    #[error("secret is not valid base64")]
    InvalidBase64,
    /// The secret decodes to a key outside the accepted size.
    #[error("secret must decode to {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes, got {0}")]
    InvalidLength(usize),
    /// A `whsk_` ed25519 key that is not one.
    #[error(transparent)]
    Asymmetric(#[from] crate::ed25519::KeyError),
    /// A `whpk_` public key was given where a secret is needed.
    #[error("a whpk_ public key cannot sign; give the whsk_ secret key")]
    PublicKey,
}

impl SecretError {
    /// Stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        "invalid_secret"
    }
}

impl Secret {
    /// A fresh key of [`GENERATED_SECRET_LEN`] bytes from the operating system's CSPRNG.
    pub fn generate() -> Secret {
        let mut bytes = vec![0u8; GENERATED_SECRET_LEN];
        OsRng.fill_bytes(&mut bytes);
        Secret(Key::Hmac(bytes))
    }

    /// A fresh ed25519 key (its signatures are `v1a`).
    pub fn generate_ed25519() -> Secret {
        Secret(Key::Ed25519(crate::ed25519::generate()))
    }

    /// The ed25519 key with this 32-byte seed (e.g. read back from storage).
    pub fn ed25519_from_seed(seed: &[u8]) -> Option<Secret> {
        let seed: [u8; 32] = seed.try_into().ok()?;
        Some(Secret(Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            &seed,
        ))))
    }

    /// Whether this is an ed25519 key (signatures `v1a`) rather than an HMAC secret (`v1`).
    pub fn is_asymmetric(&self) -> bool {
        matches!(self.0, Key::Ed25519(_))
    }

    /// Parses `whsec_<base64>` (the prefix is optional) into a key of
    /// [`MIN_SECRET_LEN`]..=[`MAX_SECRET_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// [`SecretError`] if the text is empty, not standard base64, or the wrong length.
    pub fn parse(s: &str) -> Result<Secret, SecretError> {
        let encoded = s.trim();
        if let Some(key) = encoded.strip_prefix(crate::ed25519::SECRET_KEY_PREFIX) {
            if key.is_empty() {
                return Err(SecretError::Empty);
            }
            return Ok(Secret(Key::Ed25519(crate::ed25519::parse_seed(key)?)));
        }
        if encoded.starts_with(crate::ed25519::PUBLIC_KEY_PREFIX) {
            return Err(SecretError::PublicKey);
        }
        let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let bytes = decode_lenient(encoded).map_err(|_| SecretError::InvalidBase64)?;
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&bytes.len()) {
            return Err(SecretError::InvalidLength(bytes.len()));
        }
        Ok(Secret(Key::Hmac(bytes)))
    }

    /// Wraps raw HMAC key bytes without checking their length (e.g. a key read back from
    /// storage).
    pub fn from_bytes(bytes: Vec<u8>) -> Secret {
        Secret(Key::Hmac(bytes))
    }

    /// The raw key bytes: the HMAC key, or the 32-byte seed of an ed25519 key.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Key::Hmac(bytes) => bytes,
            Key::Ed25519(key) => key.as_bytes(),
        }
    }

    /// The secret's textual form: `whsec_` + padded standard base64, or for an ed25519 key
    /// `whsk_` + base64(seed ‖ public key).
    pub fn to_whsec(&self) -> String {
        self.secret_text()
    }

    /// See [`Secret::to_whsec`].
    pub fn secret_text(&self) -> String {
        match &self.0 {
            Key::Hmac(bytes) => format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)),
            Key::Ed25519(key) => crate::ed25519::secret_text(key),
        }
    }

    /// What a receiver verifies with, and what the API shows (as Svix does): the `whsec_`
    /// secret itself, or the `whpk_` public key of an ed25519 key (its secret half is never
    /// shown again).
    pub fn public_text(&self) -> String {
        match &self.0 {
            Key::Hmac(_) => self.secret_text(),
            Key::Ed25519(key) => crate::ed25519::public_text(key),
        }
    }
}

/// Standard base64, padding optional.
pub(crate) fn decode_lenient(encoded: &str) -> Result<Vec<u8>, base64::DecodeError> {
    LENIENT_BASE64.decode(encoded)
}

/// The signed content, `"{msg_id}.{timestamp}.{body}"`, for the ed25519 signer (the HMAC
/// feeds the same parts to its MAC without copying the body).
pub(crate) fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{msg_id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The MAC over the signed content, shared by [`sign`] and [`verify`] so both always agree on
/// the exact bytes.
fn mac(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of any length, so new_from_slice cannot fail"
    )]
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key size");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Signs one message: returns `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`.
///
/// `body` must be the exact bytes put on the wire; `timestamp` is the unix time (seconds) of
/// this attempt, so retries are signed again.
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    if let Key::Ed25519(key) = &secret.0 {
        return crate::ed25519::sign(key, msg_id, timestamp, body);
    }
    let tag = mac(secret, msg_id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// The `webhook-signature` / `svix-signature` header value: one signature per secret,
/// space-separated, so receivers holding either the old or the new key during a rotation
/// accept the message.
pub fn signature_header(secrets: &[Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// True if any `v1` entry in a signature header matches `secret` for this message (for an
/// ed25519 key: any `v1a` entry is its valid signature).
///
/// The comparison is constant-time. Other versions and malformed entries are skipped, as the
/// reference verifiers do. The timestamp tolerance is the caller's business: this only checks
/// the MAC.
pub fn verify(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    if let Key::Ed25519(key) = &secret.0 {
        return crate::ed25519::verify(&key.verifying_key(), msg_id, timestamp, body, header);
    }
    let expected = mac(secret, msg_id, timestamp, body);
    header.split_whitespace().any(|entry| {
        let Some(("v1", encoded)) = entry.split_once(',') else {
            return false;
        };
        match STANDARD.decode(encoded) {
            Ok(candidate) => expected.clone().verify_slice(&candidate).is_ok(),
            Err(_) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const VECTOR_TS: i64 = 1_649_367_553;
    const VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const VECTOR_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn vector_secret() -> Secret {
        Secret::parse(VECTOR_SECRET).unwrap()
    }

    #[test]
    fn signs_the_standard_webhooks_vector() {
        let secret = vector_secret();
        assert_eq!(secret.as_bytes().len(), 24);
        assert_eq!(sign(&secret, VECTOR_ID, VECTOR_TS, VECTOR_BODY), VECTOR_SIG);
    }

    #[test]
    fn verifies_the_standard_webhooks_vector() {
        let secret = vector_secret();
        assert!(verify(
            &secret,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
            VECTOR_SIG
        ));
    }

    #[test]
    fn verify_rejects_any_change() {
        let secret = vector_secret();
        assert!(!verify(
            &secret,
            "msg_other",
            VECTOR_TS,
            VECTOR_BODY,
            VECTOR_SIG
        ));
        assert!(!verify(
            &secret,
            VECTOR_ID,
            VECTOR_TS + 1,
            VECTOR_BODY,
            VECTOR_SIG
        ));
        assert!(!verify(&secret, VECTOR_ID, VECTOR_TS, b"{}", VECTOR_SIG));
        let other = Secret::generate();
        assert!(!verify(
            &other,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
            VECTOR_SIG
        ));
    }

    #[test]
    fn verify_skips_other_versions_and_garbage() {
        let secret = vector_secret();
        let sig_b64 = VECTOR_SIG.trim_start_matches("v1,");
        // Same bytes under another version label must not count.
        assert!(!verify(
            &secret,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
            &format!("v1a,{sig_b64}")
        ));
        assert!(!verify(&secret, VECTOR_ID, VECTOR_TS, VECTOR_BODY, ""));
        assert!(!verify(&secret, VECTOR_ID, VECTOR_TS, VECTOR_BODY, "v1"));
        assert!(!verify(
            &secret,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
            "v1,!!!notbase64"
        ));
        // A truncated MAC must not verify.
        assert!(!verify(
            &secret,
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
            "v1,tZ1I4/hDygAJgO5T"
        ));
        // The valid entry is found among junk entries.
        let header = format!("v1a,abc v0,xyz garbage {VECTOR_SIG} v1,AAAA");
        assert!(verify(&secret, VECTOR_ID, VECTOR_TS, VECTOR_BODY, &header));
    }

    #[test]
    fn signature_header_has_one_entry_per_secret() {
        let old = vector_secret();
        let new = Secret::generate();
        let header = signature_header(
            &[new.clone(), old.clone()],
            VECTOR_ID,
            VECTOR_TS,
            VECTOR_BODY,
        );
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1], VECTOR_SIG);
        assert!(verify(&old, VECTOR_ID, VECTOR_TS, VECTOR_BODY, &header));
        assert!(verify(&new, VECTOR_ID, VECTOR_TS, VECTOR_BODY, &header));
        assert_eq!(signature_header(&[], VECTOR_ID, VECTOR_TS, VECTOR_BODY), "");
    }

    #[test]
    fn generated_secrets_are_24_random_bytes_and_round_trip() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_eq!(a.as_bytes().len(), GENERATED_SECRET_LEN);
        assert_ne!(a.as_bytes(), b.as_bytes());
        let text = a.to_whsec();
        assert!(text.starts_with("whsec_"));
        // 24 bytes encode to exactly 32 base64 characters with no padding.
        assert_eq!(text.len(), "whsec_".len() + 32);
        assert_eq!(Secret::parse(&text).unwrap().as_bytes(), a.as_bytes());
    }

    #[test]
    fn parse_accepts_missing_prefix_and_missing_padding() {
        let with = vector_secret();
        let without = Secret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(with.as_bytes(), without.as_bytes());

        // 25 bytes need padding ("==" stripped here).
        let key = Secret::from_bytes(vec![7u8; 25]);
        let padded = key.to_whsec();
        assert!(padded.ends_with('='));
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(Secret::parse(unpadded).unwrap().as_bytes(), key.as_bytes());
        assert_eq!(Secret::parse(&padded).unwrap().as_bytes(), key.as_bytes());
    }

    #[test]
    fn parse_enforces_length_bounds() {
        let enc = |n: usize| format!("whsec_{}", STANDARD.encode(vec![1u8; n]));
        assert!(Secret::parse(&enc(24)).is_ok());
        assert!(Secret::parse(&enc(64)).is_ok());
        assert_eq!(
            Secret::parse(&enc(23)).unwrap_err(),
            SecretError::InvalidLength(23)
        );
        assert_eq!(
            Secret::parse(&enc(65)).unwrap_err(),
            SecretError::InvalidLength(65)
        );
    }

    #[test]
    fn parse_rejects_empty_and_non_base64() {
        assert_eq!(Secret::parse("").unwrap_err(), SecretError::Empty);
        assert_eq!(Secret::parse("whsec_").unwrap_err(), SecretError::Empty);
        assert_eq!(
            Secret::parse("whsec_not*base64*at*all*at*all*at*all").unwrap_err(),
            SecretError::InvalidBase64
        );
        // URL-safe alphabet is not the standard one.
        assert_eq!(
            Secret::parse("whsec_C2FVsBQIhrscChlQIMV-b5sSYspob7oD").unwrap_err(),
            SecretError::InvalidBase64
        );
        assert_eq!(SecretError::Empty.code(), "invalid_secret");
    }

    #[test]
    fn debug_redacts_the_key() {
        let secret = vector_secret();
        let shown = format!("{secret:?}");
        assert!(!shown.contains("C2FVsBQ"));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn signature_is_over_exact_body_bytes() {
        // Non-UTF-8 bodies sign fine and whitespace changes the signature.
        let secret = vector_secret();
        let raw = [0xffu8, 0x00, 0x2e];
        let sig = sign(&secret, VECTOR_ID, VECTOR_TS, &raw);
        assert!(verify(&secret, VECTOR_ID, VECTOR_TS, &raw, &sig));
        let spaced = br#"{"email": "test@example.com","username":"test_user"}"#;
        assert_ne!(sign(&secret, VECTOR_ID, VECTOR_TS, spaced), VECTOR_SIG);
    }
}
