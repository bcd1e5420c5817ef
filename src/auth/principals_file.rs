//! The principals file: who may call, and the SHA-256 of each of their API keys (never the keys).
//!
//! ```json
//! {
//!   "principals": [
//!     { "name": "agencies/esdc-edsc/teams/ei-benefits",
//!       "api_key_sha256": ["<64 hex digits>"] },
//!     { "name": "agencies/cic", "officer": "desk-17", "api_key_sha256": ["<64 hex digits>"] },
//!     { "name": "portals/my-service", "api_key_sha256": ["<old>", "<new>"] },
//!     { "name": "administrators/catalogue-team", "api_key_sha256": ["<64 hex digits>"] },
//!     { "name": "auditors/oag-bvg", "api_key_sha256": ["<64 hex digits>"] }
//!   ],
//!   "quotas": {
//!     "default": { "calls_per_second": 200, "burst": 400 },
//!     "principals": { "agencies/esdc-edsc": { "calls_per_second": 1000, "burst": 2000 } }
//!   }
//! }
//! ```
//! A principal may hold several keys (to rotate one without downtime); a key belongs to one
//! principal. An agency that authenticates with mutual TLS lists its client certificates'
//! SHA-256 (of the DER) as `certificate_sha256`. The optional `quotas` are the calls each
//! principal may make ([`QuotaSettings`]). `single-window principals new-key NAME` makes a key and prints its entry.

use std::{collections::HashSet, path::Path};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use super::KeyHash;
use crate::{domain::principal::Principal, grpc::calls::QuotaSettings};

/// The file's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalsFile {
    pub principals: Vec<PrincipalEntry>,
    /// Calls per second each principal may make; none when absent.
    #[serde(default, skip_serializing_if = "is_default")]
    pub quotas: QuotaSettings,
}

fn is_default(quotas: &QuotaSettings) -> bool {
    *quotas == QuotaSettings::default()
}

/// One principal and its keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalEntry {
    /// `agencies/{agency}[/teams/{team}]`, `portals/{portal}`, `administrators/{id}` or
    /// `auditors/{id}`.
    pub name: String,
    /// The officer acting, for an agency credential used by one officer's desk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    /// Lower-case hex SHA-256 of each API key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_key_sha256: Vec<String>,
    /// Lower-case hex SHA-256 of each client certificate (DER) that authenticates it over mutual
    /// TLS (`openssl x509 -in cert.pem -outform DER | sha256sum`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_sha256: Vec<String>,
}

/// What a principals file holds: API-key hashes and certificate fingerprints, each naming one
/// principal.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub api_keys: Vec<(KeyHash, Principal)>,
    pub certificates: Vec<([u8; 32], Principal)>,
    pub quotas: QuotaSettings,
}

impl PrincipalsFile {
    /// Every credential of the file at `path`, checked.
    pub fn load(path: &Path) -> anyhow::Result<Credentials> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the principals file {}", path.display()))?;
        let file: Self = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid principals file", path.display()))?;
        file.keys()
            .with_context(|| format!("in the principals file {}", path.display()))
    }

    /// Every credential of the file; an error names the first bad entry.
    pub fn keys(&self) -> anyhow::Result<Credentials> {
        let mut seen = HashSet::new();
        self.quotas.check()?;
        let mut credentials = Credentials {
            quotas: self.quotas.clone(),
            ..Credentials::default()
        };
        for entry in &self.principals {
            let principal = Principal::parse(&entry.name, entry.officer.as_deref())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if entry.api_key_sha256.is_empty() && entry.certificate_sha256.is_empty() {
                bail!(
                    "`{}` has neither api_key_sha256 nor certificate_sha256",
                    entry.name
                );
            }
            for (field, hashes, out) in [
                (
                    "api_key_sha256",
                    &entry.api_key_sha256,
                    &mut credentials.api_keys,
                ),
                (
                    "certificate_sha256",
                    &entry.certificate_sha256,
                    &mut credentials.certificates,
                ),
            ] {
                for hex in hashes {
                    let hash =
                        parse_hash(hex).with_context(|| format!("{field} of `{}`", entry.name))?;
                    if !seen.insert(hash) {
                        bail!("a {field} of `{}` is listed twice", entry.name);
                    }
                    out.push((hash, principal.clone()));
                }
            }
        }
        Ok(credentials)
    }
}

fn parse_hash(hex: &str) -> anyhow::Result<KeyHash> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("`{hex}` is not 64 hex digits");
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)?;
    }
    Ok(hash)
}

/// Lower-case hex of `hash`.
pub fn to_hex(hash: &KeyHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hash_key;

    fn file(json: &str) -> anyhow::Result<Vec<(KeyHash, Principal)>> {
        Ok(serde_json::from_str::<PrincipalsFile>(json)?
            .keys()?
            .api_keys)
    }

    #[test]
    fn a_valid_file_maps_each_key_to_its_principal() {
        let a = to_hex(&hash_key("key-a"));
        let b = to_hex(&hash_key("key-b"));
        let keys = file(&format!(
            r#"{{"principals": [
                {{"name": "agencies/cic/teams/passports", "officer": "desk-1", "api_key_sha256": ["{a}"]}},
                {{"name": "auditors/oag", "api_key_sha256": ["{b}"]}}
            ]}}"#
        ))
        .expect("valid");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].0, hash_key("key-a"));
        assert_eq!(keys[1].1.name(), "auditors/oag");
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let a = to_hex(&hash_key("key-a"));
        for bad in [
            r#"{"principals": [{"name": "citizens/1", "api_key_sha256": ["00"]}]}"#.to_owned(),
            format!(
                r#"{{"principals": [{{"name": "portals/p", "api_key_sha256": ["{a}", "{a}"]}}]}}"#
            ),
            r#"{"principals": [{"name": "portals/p", "api_key_sha256": ["xyz"]}]}"#.to_owned(),
            r#"{"principals": [{"name": "portals/p", "api_key_sha256": []}]}"#.to_owned(),
            format!(
                r#"{{"principals": [{{"name": "portals/p", "api_key": "{a}", "api_key_sha256": ["{a}"]}}]}}"#
            ),
            format!(
                r#"{{"principals": [{{"name": "portals/p", "officer": "o", "api_key_sha256": ["{a}"]}}]}}"#
            ),
        ] {
            assert!(file(&bad).is_err(), "{bad}");
        }
    }
}
