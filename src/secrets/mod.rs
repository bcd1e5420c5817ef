//! Privacy at rest: identifiers are sealed with an AEAD bound to their row and scheme, and found
//! by a keyed blind index, never stored or compared in clear.
//!
//! - Sealing: XChaCha20-Poly1305 with a random 192-bit nonce; the associated data is the row's
//!   binding (for example the citizen id and the identifier scheme), so a sealed value moved to
//!   another row or scheme fails to open. Every sealed value names the key that sealed it: old
//!   keys still open, the current one seals, and re-sealing moves values to the current key.
//! - Blind index: HMAC-SHA-256 with its own key over a domain-separated value, so equal values
//!   find each other and nothing else can be learned from the index. A new index key means
//!   re-indexing every value (a command of the records capability).
//!
//! Keys come from a key file ([`Secrets::load`]) or, for the embedded default, are generated
//! once and kept beside the database ([`Secrets::load_or_create`]). Keys never reach `Debug`.

mod keyfile;

use std::fmt;

use chacha20poly1305::{
    KeyInit as _, XChaCha20Poly1305, XNonce,
    aead::{Aead as _, Payload},
};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

pub use keyfile::KeyFile;

/// Every secret the service holds: the keyring, the key that signs the access log's checkpoints,
/// and the demo identity provider's key (embedded default only). Never printed.
#[derive(Clone)]
pub struct Secrets {
    pub keyring: std::sync::Arc<Keyring>,
    pub log_signing_key: std::sync::Arc<ed25519_dalek::SigningKey>,
    pub demo_identity_provider_key: Option<ed25519_dalek::SigningKey>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("keyring", &self.keyring)
            .finish_non_exhaustive()
    }
}

/// Key length of both the AEAD and the blind index.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// A secret key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_BYTES]);

impl SecretKey {
    /// A fresh random key.
    pub fn random() -> Self {
        let mut key = [0u8; KEY_BYTES];
        getrandom::fill(&mut key).expect("the operating system's random source");
        Self(key)
    }

    /// The key of `bytes`, which must be [`KEY_BYTES`] long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; KEY_BYTES]>::try_from(bytes).ok().map(Self)
    }

    fn bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// A sealed value as stored: the id of the key that sealed it, the nonce, the ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// It names a key the keyring does not hold.
    #[error("sealed with unknown key `{0}`")]
    UnknownKey(String),
    /// It was altered, or belongs to another row or scheme.
    #[error("the sealed value does not authenticate")]
    NotAuthentic,
}

/// The keys of the service.
#[derive(Clone)]
pub struct Keyring {
    current: String,
    sealing: Vec<(String, SecretKey)>,
    index: SecretKey,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.sealing.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("sealing_key_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// A keyring sealing with `current` (which must be among `sealing`), opening with any of
    /// `sealing`, indexing with `index`.
    pub fn new(current: &str, sealing: Vec<(String, SecretKey)>, index: SecretKey) -> Option<Self> {
        sealing.iter().any(|(id, _)| id == current).then(|| Self {
            current: current.to_owned(),
            sealing,
            index,
        })
    }

    /// This keyring with another blind-index key (for re-indexing).
    pub fn with_index_key(&self, index: SecretKey) -> Self {
        Self {
            index,
            ..self.clone()
        }
    }

    /// The id of the key that seals new values.
    pub fn current_key_id(&self) -> &str {
        &self.current
    }

    fn key(&self, id: &str) -> Option<&SecretKey> {
        self.sealing
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, key)| key)
    }

    /// Seals `plaintext` for the row and scheme that `binding` names.
    pub fn seal(&self, plaintext: &[u8], binding: &[u8]) -> Sealed {
        let key = self
            .key(&self.current)
            .expect("the current key is in the keyring");
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).expect("the operating system's random source");
        let cipher = XChaCha20Poly1305::new(key.bytes().into());
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: binding,
                },
            )
            .expect("sealing an in-memory value cannot fail");
        Sealed {
            key_id: self.current.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    /// Opens `sealed` for the row and scheme that `binding` names.
    pub fn open(&self, sealed: &Sealed, binding: &[u8]) -> Result<Vec<u8>, OpenError> {
        let key = self
            .key(&sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
        let nonce = <[u8; NONCE_BYTES]>::try_from(sealed.nonce.as_slice())
            .map_err(|_| OpenError::NotAuthentic)?;
        XChaCha20Poly1305::new(key.bytes().into())
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: binding,
                },
            )
            .map_err(|_| OpenError::NotAuthentic)
    }

    /// Whether `sealed` should be re-sealed with the current key.
    pub fn is_stale(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.current
    }

    /// The blind index of `value` in `domain` (for example the identifier scheme): equal inputs
    /// give equal indexes, and nothing else can be learned from one.
    pub fn blind_index(&self, domain: &str, value: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.index.bytes()).expect("any key length");
        mac.update(&(domain.len() as u64).to_be_bytes());
        mac.update(domain.as_bytes());
        mac.update(value);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(current: &str) -> Keyring {
        let sealing = vec![
            (
                "k1".to_owned(),
                SecretKey::from_bytes(&[1; 32]).expect("key"),
            ),
            (
                "k2".to_owned(),
                SecretKey::from_bytes(&[2; 32]).expect("key"),
            ),
        ];
        Keyring::new(
            current,
            sealing,
            SecretKey::from_bytes(&[9; 32]).expect("key"),
        )
        .expect("ring")
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_row_and_unaltered() {
        let ring = ring("k2");
        let sealed = ring.seal(b"130692544", b"citizens/c-1|sin");
        assert_eq!(sealed.key_id, "k2");
        assert!(
            !sealed.ciphertext.windows(9).any(|w| w == b"130692544"),
            "no clear text"
        );
        assert_eq!(
            ring.open(&sealed, b"citizens/c-1|sin").expect("opens"),
            b"130692544"
        );
        assert_eq!(
            ring.open(&sealed, b"citizens/c-2|sin"),
            Err(OpenError::NotAuthentic)
        );
        let mut altered = sealed.clone();
        altered.ciphertext[0] ^= 1;
        assert_eq!(
            ring.open(&altered, b"citizens/c-1|sin"),
            Err(OpenError::NotAuthentic)
        );
        let again = ring.seal(b"130692544", b"citizens/c-1|sin");
        assert_ne!(again.nonce, sealed.nonce, "a fresh nonce every time");
    }

    #[test]
    fn old_keys_still_open_and_unknown_keys_are_named() {
        let old = ring("k1").seal(b"x", b"row");
        let rotated = ring("k2");
        assert!(rotated.is_stale(&old));
        assert_eq!(rotated.open(&old, b"row").expect("old key opens"), b"x");
        let unknown = Sealed {
            key_id: "k9".to_owned(),
            ..old
        };
        assert_eq!(
            rotated.open(&unknown, b"row"),
            Err(OpenError::UnknownKey("k9".to_owned()))
        );
        assert!(Keyring::new("k3", Vec::new(), SecretKey::random()).is_none());
    }

    #[test]
    fn blind_indexes_match_equal_values_in_the_same_domain_only() {
        let ring = ring("k1");
        assert_eq!(
            ring.blind_index("sin", b"130692544"),
            ring.blind_index("sin", b"130692544")
        );
        assert_ne!(
            ring.blind_index("sin", b"130692544"),
            ring.blind_index("sin", b"130692545")
        );
        assert_ne!(
            ring.blind_index("sin", b"1"),
            ring.blind_index("passport", b"1")
        );
        assert!(!format!("{ring:?}").contains("[9"), "keys never print");
    }
}
