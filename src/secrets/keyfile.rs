//! The key file: the sealing keys with their ids, which one seals, and the blind-index key.
//!
//! ```json
//! {
//!   "current_sealing_key": "2026-12",
//!   "sealing_keys": [ { "id": "2026-06", "key": "<base64 of 32 bytes>" },
//!                     { "id": "2026-12", "key": "<base64 of 32 bytes>" } ],
//!   "blind_index_key": "<base64 of 32 bytes>",
//!   "log_signing_key": "<base64 of a 32-byte Ed25519 seed>",
//!   "demo_identity_provider_key": "<base64 of a 32-byte Ed25519 seed>"
//! }
//! ```
//! `log_signing_key` signs the access log's checkpoints. `demo_identity_provider_key` (optional)
//! signs the demo citizens' tokens of the embedded default.

use std::{io::Write as _, path::Path};

use anyhow::{Context as _, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

use super::{Keyring, SecretKey, Secrets};

/// The file's contents (holds secrets: written only with owner-only permissions).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    pub current_sealing_key: String,
    pub sealing_keys: Vec<KeyEntry>,
    pub blind_index_key: String,
    pub log_signing_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub demo_identity_provider_key: Option<String>,
}

/// One sealing key.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub id: String,
    pub key: String,
}

fn decode(what: &str, text: &str) -> anyhow::Result<SecretKey> {
    let bytes = STANDARD
        .decode(text.trim())
        .with_context(|| format!("{what} is not base64"))?;
    SecretKey::from_bytes(&bytes).with_context(|| format!("{what} must be 32 bytes"))
}

impl KeyFile {
    /// A new file with one random sealing key (`id`) and a random blind-index key.
    pub fn generate(id: &str) -> Self {
        Self {
            current_sealing_key: id.to_owned(),
            sealing_keys: vec![KeyEntry {
                id: id.to_owned(),
                key: STANDARD.encode(SecretKey::random().bytes()),
            }],
            blind_index_key: STANDARD.encode(SecretKey::random().bytes()),
            log_signing_key: STANDARD.encode(SecretKey::random().bytes()),
            demo_identity_provider_key: Some(STANDARD.encode(SecretKey::random().bytes())),
        }
    }

    /// Every secret of the file.
    pub fn secrets(&self) -> anyhow::Result<Secrets> {
        let seed = |what: &str, text: &str| -> anyhow::Result<ed25519_dalek::SigningKey> {
            Ok(ed25519_dalek::SigningKey::from_bytes(
                decode(what, text)?.bytes(),
            ))
        };
        Ok(Secrets {
            keyring: std::sync::Arc::new(self.keyring()?),
            log_signing_key: std::sync::Arc::new(seed("log_signing_key", &self.log_signing_key)?),
            demo_identity_provider_key: self
                .demo_identity_provider_key
                .as_deref()
                .map(|k| seed("demo_identity_provider_key", k))
                .transpose()?,
        })
    }

    /// The keyring these keys make.
    pub fn keyring(&self) -> anyhow::Result<Keyring> {
        let mut sealing = Vec::new();
        for entry in &self.sealing_keys {
            if sealing.iter().any(|(id, _)| id == &entry.id) {
                bail!("sealing key `{}` is listed twice", entry.id);
            }
            let key = decode(&format!("sealing key `{}`", entry.id), &entry.key)?;
            sealing.push((entry.id.clone(), key));
        }
        let index = decode("blind_index_key", &self.blind_index_key)?;
        Keyring::new(&self.current_sealing_key, sealing, index).with_context(|| {
            format!(
                "current_sealing_key `{}` is not among sealing_keys",
                self.current_sealing_key
            )
        })
    }
}

impl KeyFile {
    /// The key file at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key file {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid key file", path.display()))
    }

    /// Writes the file to `path` with owner-only permissions, atomically (a partial file renamed
    /// over it after it is synced).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self)?;
        let partial = path.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options
            .open(&partial)
            .with_context(|| format!("cannot create the key file {}", partial.display()))?;
        out.write_all(&json)?;
        out.sync_all()?;
        std::fs::rename(&partial, path)
            .with_context(|| format!("cannot write the key file {}", path.display()))
    }

    /// Adds a new random sealing key `id` and makes it the one that seals.
    pub fn rotate(&mut self, id: &str) -> anyhow::Result<()> {
        if id.is_empty() || self.sealing_keys.iter().any(|k| k.id == id) {
            bail!("the new key needs an id not used before (`{id}` is taken or empty)");
        }
        self.sealing_keys.push(KeyEntry {
            id: id.to_owned(),
            key: STANDARD.encode(SecretKey::random().bytes()),
        });
        self.current_sealing_key = id.to_owned();
        Ok(())
    }

    /// Replaces the blind-index key with a new random one; returns the new key.
    pub fn new_blind_index_key(&mut self) -> anyhow::Result<SecretKey> {
        let key = SecretKey::random();
        self.blind_index_key = STANDARD.encode(key.bytes());
        Ok(key)
    }
}

impl Secrets {
    /// The secrets of the key file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        KeyFile::read(path)?
            .secrets()
            .with_context(|| format!("in the key file {}", path.display()))
    }

    /// The secrets of `path`, creating it with new random keys (owner-only permissions) when it
    /// does not exist: what the embedded default does beside its database.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if path.exists() {
            return Self::load(path);
        }
        let file = KeyFile::generate("k1");
        file.write(path)?;
        file.secrets()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_file_is_owner_only_and_loads_to_the_same_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys.json");
        let created = Secrets::load_or_create(&path).expect("created").keyring;
        let sealed = created.seal(b"secret", b"row");
        let loaded = Secrets::load_or_create(&path).expect("loaded").keyring;
        assert_eq!(loaded.open(&sealed, b"row").expect("same keys"), b"secret");
        assert_eq!(
            created.blind_index("d", b"v"),
            loaded.blind_index("d", b"v")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "no access for group or others: {mode:o}");
        }
    }

    #[test]
    fn bad_key_files_say_what_is_wrong() {
        let good = STANDARD.encode([7u8; 32]);
        for bad in [
            format!(
                r#"{{"current_sealing_key": "a", "sealing_keys": [], "blind_index_key": "{good}", "log_signing_key": "{good}"}}"#
            ),
            format!(
                r#"{{"current_sealing_key": "a", "sealing_keys": [{{"id": "a", "key": "short"}}], "blind_index_key": "{good}", "log_signing_key": "{good}"}}"#
            ),
            format!(
                r#"{{"current_sealing_key": "a", "sealing_keys": [{{"id": "a", "key": "{good}"}}, {{"id": "a", "key": "{good}"}}], "blind_index_key": "{good}", "log_signing_key": "{good}"}}"#
            ),
            format!(
                r#"{{"current_sealing_key": "a", "sealing_keys": [{{"id": "a", "key": "{good}"}}], "blind_index_key": "AAAA", "log_signing_key": "{good}"}}"#
            ),
        ] {
            let file: KeyFile = serde_json::from_str(&bad).expect("json");
            assert!(file.keyring().is_err(), "{bad}");
        }
    }
}
