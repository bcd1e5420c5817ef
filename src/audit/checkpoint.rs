//! Signed checkpoints of the access log, in the C2SP formats (`tlog-checkpoint` inside a
//! `signed-note`): the log's origin, its size and root, signed with Ed25519, so that anyone who
//! keeps one can later check, with a consistency proof, that the log only grew.
//!
//! ```text
//! single-window.example.ca/access-log
//! 42
//! 9RkZ8fKv...base64 root...=
//!
//! — single-window.example.ca/access-log Az3grl...base64(key id ‖ signature)...
//! ```

use base64::{Engine as _, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};

use super::merkle::Hash;

/// The signature algorithm byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;

/// What a checkpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (a URL-like origin line).
    pub origin: String,
    /// Entries in the log.
    pub size: u64,
    /// The Merkle root over them.
    pub root: Hash,
}

/// Why a signed checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a signed checkpoint: {0}")]
    Malformed(&'static str),
    #[error("no valid signature by `{0}`")]
    NotSigned(String),
}

/// The 4-byte key id of a signed-note key: SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// The signed-note verifier key of `name` and `key`: `name+hex(key id)+base64(0x01 ‖ key)`.
pub fn verifier_key(name: &str, key: &VerifyingKey) -> String {
    let id = key_id(name, key);
    let mut blob = vec![ED25519];
    blob.extend_from_slice(key.as_bytes());
    format!(
        "{name}+{:02x}{:02x}{:02x}{:02x}+{}",
        id[0],
        id[1],
        id[2],
        id[3],
        STANDARD.encode(blob)
    )
}

/// The name and key of a signed-note verifier key, checking its key id.
pub fn parse_verifier_key(text: &str) -> Result<(String, VerifyingKey), CheckpointError> {
    let bad = CheckpointError::Malformed("a verifier key is name+keyid+base64(0x01 key)");
    // The name holds no `+`; the base64 key may.
    let mut parts = text.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(blob)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad);
    };
    let blob = STANDARD.decode(blob).map_err(|_| bad.clone())?;
    if blob.len() != 33 || blob[0] != ED25519 {
        return Err(bad);
    }
    let bytes = <[u8; 32]>::try_from(&blob[1..]).map_err(|_| bad.clone())?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad.clone())?;
    let expected = key_id(name, &key);
    let expected: String = expected.iter().map(|b| format!("{b:02x}")).collect();
    if expected != id {
        return Err(bad);
    }
    Ok((name.to_owned(), key))
}

impl Checkpoint {
    /// The checkpoint body: `origin\nsize\nbase64(root)\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// The signed note of this checkpoint, signed by `name` with `key`.
    pub fn sign(&self, name: &str, key: &SigningKey) -> String {
        let body = self.body();
        let signature = key.sign(body.as_bytes());
        let mut blob = key_id(name, &key.verifying_key()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{body}\n\u{2014} {name} {}\n", STANDARD.encode(blob))
    }

    /// The checkpoint of `note` if `name` signed it with `key`.
    pub fn verify(note: &str, name: &str, key: &VerifyingKey) -> Result<Self, CheckpointError> {
        let (body, signatures) = note.split_once("\n\n").ok_or(CheckpointError::Malformed(
            "no blank line before the signatures",
        ))?;
        let body = format!("{body}\n");
        let id = key_id(name, key);
        let signed = signatures.lines().any(|line| {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return false;
            };
            let Some((signer, blob)) = rest.split_once(' ') else {
                return false;
            };
            let Ok(blob) = STANDARD.decode(blob) else {
                return false;
            };
            signer == name
                && blob.len() == 4 + 64
                && blob[..4] == id
                && Signature::from_slice(&blob[4..])
                    .is_ok_and(|sig| key.verify(body.as_bytes(), &sig).is_ok())
        });
        if !signed {
            return Err(CheckpointError::NotSigned(name.to_owned()));
        }
        Self::parse_body(&body)
    }

    fn parse_body(body: &str) -> Result<Self, CheckpointError> {
        let mut lines = body.lines();
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed(
                "a checkpoint has an origin, a size and a root",
            ));
        };
        let size = size
            .parse()
            .map_err(|_| CheckpointError::Malformed("the size is not a number"))?;
        let root = STANDARD
            .decode(root)
            .ok()
            .and_then(|r| Hash::try_from(r.as_slice()).ok())
            .ok_or(CheckpointError::Malformed(
                "the root is not 32 bytes of base64",
            ))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_keys_round_trip_and_a_wrong_id_is_refused() {
        let key = SigningKey::from_bytes(&[9; 32]);
        for seed in 0..20u8 {
            let k = SigningKey::from_bytes(&[seed; 32]).verifying_key();
            let text = verifier_key("example.ca/log", &k);
            assert_eq!(parse_verifier_key(&text).expect("parses").1, k, "{text}");
        }
        let text = verifier_key("example.ca/log", &key.verifying_key());
        let (name, parsed) = parse_verifier_key(&text).expect("parses");
        assert_eq!(name, "example.ca/log");
        assert_eq!(parsed, key.verifying_key());
        let other = text.replacen("example.ca/log", "example.ca/other", 1);
        assert!(parse_verifier_key(&other).is_err());
        assert!(parse_verifier_key("nonsense").is_err());
    }

    const NAME: &str = "single-window.test/access-log";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: NAME.to_owned(),
            size: 42,
            root: [7; 32],
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_reads_back() {
        let note = checkpoint().sign(NAME, &key(1));
        assert!(note.starts_with("single-window.test/access-log\n42\n"));
        let read = Checkpoint::verify(&note, NAME, &key(1).verifying_key()).expect("verifies");
        assert_eq!(read, checkpoint());
    }

    #[test]
    fn an_altered_or_foreign_checkpoint_is_refused() {
        let note = checkpoint().sign(NAME, &key(1));
        let altered = note.replacen("\n42\n", "\n41\n", 1);
        assert!(Checkpoint::verify(&altered, NAME, &key(1).verifying_key()).is_err());
        assert!(Checkpoint::verify(&note, NAME, &key(2).verifying_key()).is_err());
        assert!(Checkpoint::verify(&note, "another/log", &key(1).verifying_key()).is_err());
        assert!(Checkpoint::verify("garbage", NAME, &key(1).verifying_key()).is_err());
    }
}
