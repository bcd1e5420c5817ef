//! Opaque page tokens bound to the request that produced them.
//!
//! A token is base64url of `{"q": <request fingerprint>, "k": <position>}`. The fingerprint is a
//! digest of the method and every filter, so a token reused with other filters is refused.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use crate::error::AppError;

#[derive(Serialize, Deserialize)]
struct Token<K> {
    q: String,
    k: K,
}

/// The fingerprint of a request: `method` and a canonical rendering of its filters.
pub fn fingerprint(method: &str, filters: &impl std::fmt::Debug) -> String {
    let digest = Sha256::digest(format!("{method}\n{filters:?}").as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// A token resuming after `position` for the request `fingerprint`.
pub fn encode<K: Serialize>(fingerprint: &str, position: &K) -> String {
    let json = serde_json::to_vec(&Token {
        q: fingerprint.to_owned(),
        k: position,
    })
    .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The position in `token`; `None` for an empty token (the first page).
pub fn decode<K: DeserializeOwned>(token: &str, fingerprint: &str) -> Result<Option<K>, AppError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| AppError::InvalidPageToken("page_token is malformed"))?;
    let token: Token<K> = serde_json::from_slice(&bytes)
        .map_err(|_| AppError::InvalidPageToken("page_token is malformed"))?;
    if token.q != fingerprint {
        return Err(AppError::InvalidPageToken(
            "page_token was issued for another request (other filters or, for search, an older catalogue); start again without it",
        ));
    }
    Ok(Some(token.k))
}
