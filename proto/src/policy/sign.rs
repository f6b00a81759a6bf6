//! Ed25519 signing (collector) and verification (agent) of canonical bundles, with `ring`.
//!
//! A [`SignedBundle`] is one byte string: the 64-byte signature, then the canonical bundle it
//! signs. It travels as one opaque blob (chunked by [`super::split`]); the agent verifies before
//! it decodes anything, so a forged bundle never reaches the decoder's caller.

use std::fmt;

use ring::rand::SecureRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use super::{PolicyBundle, PolicyError, canon};
use crate::limits;

/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
const KEY_PREFIX: &str = "ed25519:";

/// The collector's policy key (private; kept 0600 by the collector).
#[derive(Debug)]
pub struct PolicySigner {
    pair: Ed25519KeyPair,
}

impl PolicySigner {
    /// Creates a new key, returned as PKCS#8 v2 DER for the collector to store.
    ///
    /// # Errors
    /// [`PolicyError::Key`] if the random source fails.
    pub fn generate_pkcs8(rng: &dyn SecureRandom) -> Result<Vec<u8>, PolicyError> {
        Ed25519KeyPair::generate_pkcs8(rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| PolicyError::Key("cannot generate an Ed25519 key".into()))
    }

    /// Loads a key from PKCS#8 v2 DER (as [`Self::generate_pkcs8`] returns).
    ///
    /// # Errors
    /// [`PolicyError::Key`] when the bytes are not an Ed25519 PKCS#8 v2 key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, PolicyError> {
        Ed25519KeyPair::from_pkcs8(der)
            .map(|pair| Self { pair })
            .map_err(|e| PolicyError::Key(format!("not an Ed25519 PKCS#8 v2 key: {e}")))
    }

    /// The public half, for agents to pin.
    pub fn public_key(&self) -> PolicyPublicKey {
        let mut k = [0u8; PUBLIC_KEY_LEN];
        k.copy_from_slice(self.pair.public_key().as_ref());
        PolicyPublicKey(k)
    }

    /// Encodes and signs a bundle.
    ///
    /// # Errors
    /// Those of [`canon::encode_bundle`]: a bundle every agent would refuse is not signed.
    pub fn sign(&self, bundle: &PolicyBundle) -> Result<SignedBundle, PolicyError> {
        let canonical = canon::encode_bundle(bundle)?;
        let sig = self.pair.sign(&canonical);
        let mut blob = Vec::with_capacity(SIGNATURE_LEN + canonical.len());
        blob.extend_from_slice(sig.as_ref());
        blob.extend_from_slice(&canonical);
        Ok(SignedBundle { blob })
    }
}

/// The public policy key an agent pins at enrollment. Text form: `ed25519:` + 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyPublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl PolicyPublicKey {
    /// Parses the text form (surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`PolicyError::Key`] on anything but `ed25519:` and 64 hex digits.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let hex_part = text
            .trim()
            .strip_prefix(KEY_PREFIX)
            .ok_or_else(|| PolicyError::Key(format!("expected text starting with {KEY_PREFIX}")))?;
        let mut k = [0u8; PUBLIC_KEY_LEN];
        hex::decode_to_slice(hex_part, &mut k)
            .map_err(|e| PolicyError::Key(format!("expected 64 hex digits: {e}")))?;
        Ok(Self(k))
    }

    /// Short fingerprint for people: the first 8 bytes of SHA-256 of the key, in hex.
    pub fn fingerprint(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.0);
        hex::encode(&d.as_ref()[..8])
    }
}

impl fmt::Display for PolicyPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_PREFIX}{}", hex::encode(self.0))
    }
}

impl fmt::Debug for PolicyPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PolicyPublicKey({self})")
    }
}

/// Signature followed by the canonical bundle, as signed by the collector.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedBundle {
    blob: Vec<u8>,
}

impl SignedBundle {
    /// Wraps received bytes, checking only their length (verify with [`Self::verify`]).
    ///
    /// # Errors
    /// [`PolicyError::Malformed`] when too short, [`PolicyError::TooLarge`] when over the cap.
    pub fn from_bytes(blob: Vec<u8>) -> Result<Self, PolicyError> {
        if blob.len() < SIGNATURE_LEN + canon::MAGIC.len() {
            return Err(PolicyError::Malformed(format!(
                "{} bytes is too short for a signed bundle",
                blob.len()
            )));
        }
        if blob.len() > max_signed_len() {
            return Err(PolicyError::TooLarge(format!(
                "{} bytes, at most {} allowed",
                blob.len(),
                max_signed_len()
            )));
        }
        Ok(Self { blob })
    }

    /// The bytes as sent and stored.
    pub fn as_bytes(&self) -> &[u8] {
        &self.blob
    }

    /// SHA-256 of the whole blob, `sha256:<hex>`: identifies a transfer and what an agent applies.
    pub fn digest(&self) -> String {
        digest_text(&self.blob)
    }

    /// Verifies the signature with the pinned key, then decodes the bundle.
    ///
    /// # Errors
    /// [`PolicyError::BadSignature`] first; then those of [`canon::decode_bundle`].
    pub fn verify(&self, key: &PolicyPublicKey) -> Result<PolicyBundle, PolicyError> {
        let (sig, canonical) = self.blob.split_at(SIGNATURE_LEN);
        UnparsedPublicKey::new(&ED25519, &key.0)
            .verify(canonical, sig)
            .map_err(|_| PolicyError::BadSignature)?;
        canon::decode_bundle(canonical)
    }
}

impl fmt::Debug for SignedBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedBundle")
            .field("len", &self.blob.len())
            .field("digest", &self.digest())
            .finish()
    }
}

/// Largest signed blob: the canonical cap plus the signature.
pub(super) fn max_signed_len() -> usize {
    limits::POLICY_BUNDLE + SIGNATURE_LEN
}

/// `sha256:<hex>` of `bytes`.
pub(super) fn digest_text(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    format!("sha256:{}", hex::encode(d.as_ref()))
}
