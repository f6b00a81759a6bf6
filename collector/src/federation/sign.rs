//! Signatures of posture summaries: ECDSA P-256 with SHA-256 (ASN.1), by the downstream's
//! client key, verified upstream against the public key of the certificate the session was
//! authenticated with. The signature travels beside the exact signed bytes, so the stored body
//! can be verified again later.

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};

/// A downstream's signing key.
#[derive(Debug)]
pub struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Signer {
    /// Loads the key from its PEM (PKCS#8, as written by enrollment).
    ///
    /// # Errors
    /// A message when the key is not a P-256 PKCS#8 key.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let der = rcgen::KeyPair::from_pem(pem)
            .map_err(|e| format!("unreadable key: {e}"))?
            .serialize_der();
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der, &rng)
            .map_err(|e| format!("not a P-256 key: {e}"))?;
        Ok(Self { key, rng })
    }

    /// Hex signature of `body`.
    ///
    /// # Errors
    /// A message if signing fails (the system RNG failed).
    pub fn sign(&self, body: &[u8]) -> Result<String, String> {
        self.key
            .sign(&self.rng, body)
            .map(|s| hex::encode(s.as_ref()))
            .map_err(|_| "signing failed".to_owned())
    }
}

/// Whether `sig_hex` is a valid signature of `body` by `public_key` (an uncompressed P-256
/// point, as certified).
pub fn verify(public_key: &[u8], body: &[u8], sig_hex: &str) -> bool {
    let Ok(sig) = hex::decode(sig_hex) else {
        return false;
    };
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, public_key)
        .verify(body, &sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_and_key() {
        let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
        let s = Signer::from_pem(&k.serialize_pem()).expect("signer");
        let sig = s.sign(b"summary").expect("sign");
        assert!(verify(k.public_key_raw(), b"summary", &sig));
        assert!(!verify(k.public_key_raw(), b"summarY", &sig));
        assert!(!verify(other.public_key_raw(), b"summary", &sig));
        assert!(!verify(k.public_key_raw(), b"summary", "zz"));
        assert!(!verify(k.public_key_raw(), b"summary", ""));
    }
}
