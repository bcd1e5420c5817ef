//! Opaque page tokens, signed by the server and bound to the request (and caller) that got them.
//!
//! A token is base64url of `version ‖ binding ‖ cursor ‖ tag`:
//! - `binding`: 16 bytes of SHA-256 over the method, the request's protobuf encoding with its
//!   paging fields cleared (canonical and stable across releases: the wire format is the API), and
//!   any extra context the caller binds (the catalogue generation a ranking came from, the
//!   principal that asked);
//! - `cursor`: the position to resume after, as JSON;
//! - `tag`: 16 bytes of HMAC-SHA-256 over everything before it, with the server's key.
//!
//! An edited cursor fails the tag; a token reused with other filters or by another caller fails
//! the binding. Several replicas share the key from configuration; during a rotation tokens signed
//! with the previous key are still accepted, while new tokens use the current one.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest as _, Sha256};

use crate::error::AppError;

const VERSION: u8 = 1;
const BINDING_LEN: usize = 16;
const TAG_LEN: usize = 16;

/// What a token is bound to: the request that produced it and, optionally, more context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding([u8; BINDING_LEN]);

impl Binding {
    /// Binds to `method` and `request`, whose `page_size` and `page_token` the caller has cleared.
    pub fn request(method: &str, request: &impl prost::Message) -> BindingBuilder {
        let mut hasher = Sha256::new();
        absorb(&mut hasher, method.as_bytes());
        absorb(&mut hasher, &request.encode_to_vec());
        BindingBuilder(hasher)
    }

    /// Binds to `method` and the query of the list request `request`: everything but its page
    /// size and page token, so that another page of the same query accepts the token.
    pub fn query(method: &str, request: &impl ListQuery) -> BindingBuilder {
        Self::request(method, &request.without_page())
    }
}

/// A list request: a query and the page fields a token does not depend on.
pub trait ListQuery: prost::Message + Sized {
    /// The request with `page_size` and `page_token` cleared.
    fn without_page(&self) -> Self;
}

macro_rules! list_queries {
    ($($request:ident),* $(,)?) => {
        $(impl ListQuery for crate::proto::v1::$request {
            fn without_page(&self) -> Self {
                Self {
                    page_size: 0,
                    page_token: String::new(),
                    ..self.clone()
                }
            }
        })*
    };
}

list_queries!(
    ListAccessEventsRequest,
    ListConsentsRequest,
    ListEarlyWarningsRequest,
    ListFormsRequest,
    ListRequestsRequest,
    ListServiceStandardsRequest,
    ListServicesRequest,
    ListSubmissionsRequest,
    ListSurveyInvitationsRequest,
    SearchServicesRequest
);

/// A binding still taking context.
#[derive(Debug, Clone)]
pub struct BindingBuilder(Sha256);

impl BindingBuilder {
    /// Also binds `context` (for example a catalogue generation, or the caller's principal).
    pub fn and(mut self, context: &[u8]) -> Self {
        absorb(&mut self.0, context);
        self
    }

    /// The finished binding.
    pub fn finish(self) -> Binding {
        let digest = self.0.finalize();
        let mut out = [0u8; BINDING_LEN];
        out.copy_from_slice(&digest[..BINDING_LEN]);
        Binding(out)
    }
}

fn absorb(hasher: &mut Sha256, part: &[u8]) {
    hasher.update((part.len() as u64).to_be_bytes());
    hasher.update(part);
}

/// A page-token signing key: any secret of at least 32 bytes. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenKey(Vec<u8>);

impl TokenKey {
    /// Shortest accepted key, in bytes.
    pub const MIN_LEN: usize = 32;

    /// The key `secret`, refused when shorter than [`TokenKey::MIN_LEN`] bytes.
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, String> {
        let secret = secret.into();
        if secret.len() < Self::MIN_LEN {
            return Err(format!(
                "a page-token key must be at least {} bytes (for example 44 characters of base64 from 32 random bytes)",
                Self::MIN_LEN
            ));
        }
        Ok(Self(secret))
    }

    /// A fresh random key.
    pub fn random() -> Self {
        let mut key = vec![0u8; Self::MIN_LEN];
        getrandom::fill(&mut key).expect("the operating system's random source");
        Self(key)
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey([redacted])")
    }
}

/// Signs and checks page tokens.
#[derive(Debug, Clone)]
pub struct PageTokens {
    current: TokenKey,
    previous: Option<TokenKey>,
}

impl PageTokens {
    /// Tokens signed with `current`, also accepting those signed with `previous`.
    pub fn new(current: TokenKey, previous: Option<TokenKey>) -> Self {
        Self { current, previous }
    }

    /// A token resuming after `position` for requests bound to `binding`.
    pub fn encode<K: Serialize>(
        &self,
        binding: &Binding,
        position: &K,
    ) -> Result<String, AppError> {
        let cursor = serde_json::to_vec(position).map_err(|e| {
            AppError::Internal(anyhow::Error::new(e).context("encoding a page cursor"))
        })?;
        let mut bytes = Vec::with_capacity(1 + BINDING_LEN + cursor.len() + TAG_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&binding.0);
        bytes.extend_from_slice(&cursor);
        let tag = self
            .current
            .mac()
            .chain_update(&bytes)
            .finalize()
            .into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The position in `token`; `None` for an empty token (the first page).
    pub fn decode<K: DeserializeOwned>(
        &self,
        token: &str,
        binding: &Binding,
    ) -> Result<Option<K>, AppError> {
        if token.is_empty() {
            return Ok(None);
        }
        let malformed =
            || AppError::InvalidPageToken("page_token is malformed; start again without it");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| malformed())?;
        if bytes.len() < 1 + BINDING_LEN + TAG_LEN || bytes[0] != VERSION {
            return Err(malformed());
        }
        let (signed, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        let verifies = |key: &TokenKey| {
            key.mac()
                .chain_update(signed)
                .verify_truncated_left(tag)
                .is_ok()
        };
        if !verifies(&self.current) && !self.previous.as_ref().is_some_and(verifies) {
            return Err(AppError::InvalidPageToken(
                "page_token was altered, or signed with a key this service no longer accepts; start again without it",
            ));
        }
        if signed[1..=BINDING_LEN] != binding.0 {
            return Err(AppError::InvalidPageToken(
                "page_token was issued for another request (other filters, another caller or, for search, an older catalogue); start again without it",
            ));
        }
        serde_json::from_slice(&signed[1 + BINDING_LEN..])
            .map(Some)
            .map_err(|_| malformed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1::ListServicesRequest;

    fn key(byte: u8) -> TokenKey {
        TokenKey::new(vec![byte; 32]).expect("key")
    }

    fn binding(agency: &str) -> Binding {
        let request = ListServicesRequest {
            agencies: vec![agency.to_owned()],
            ..Default::default()
        };
        Binding::request("ListServices", &request).finish()
    }

    #[test]
    fn a_token_round_trips_and_is_bound_to_its_request_and_context() {
        let tokens = PageTokens::new(key(1), None);
        let token = tokens
            .encode(&binding("agencies/cic"), &"1003")
            .expect("encode");
        let back: Option<String> = tokens
            .decode(&token, &binding("agencies/cic"))
            .expect("decode");
        assert_eq!(back.as_deref(), Some("1003"));
        assert!(
            tokens
                .decode::<String>(&token, &binding("agencies/cra-arc"))
                .is_err()
        );
        let request = ListServicesRequest::default();
        let alice = Binding::request("ListServices", &request)
            .and(b"alice")
            .finish();
        let bob = Binding::request("ListServices", &request)
            .and(b"bob")
            .finish();
        let token = tokens.encode(&alice, &1u32).expect("encode");
        assert!(tokens.decode::<u32>(&token, &alice).is_ok());
        assert!(
            tokens.decode::<u32>(&token, &bob).is_err(),
            "bound to the caller"
        );
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let tokens = PageTokens::new(key(1), None);
        let token = tokens.encode(&binding("a"), &"1003").expect("encode");
        let bytes = URL_SAFE_NO_PAD.decode(&token).expect("base64");
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut changed = bytes.clone();
                changed[i] ^= bit;
                let edited = URL_SAFE_NO_PAD.encode(&changed);
                assert!(
                    tokens.decode::<String>(&edited, &binding("a")).is_err(),
                    "byte {i} bit {bit:#x} changed and the token was accepted"
                );
            }
        }
        for garbage in ["!", "AAAA", "e30", &"A".repeat(200)] {
            assert!(
                tokens.decode::<String>(garbage, &binding("a")).is_err(),
                "{garbage}"
            );
        }
    }

    #[test]
    fn the_previous_key_is_accepted_during_a_rotation_and_others_are_not() {
        let old = PageTokens::new(key(1), None);
        let rotated = PageTokens::new(key(2), Some(key(1)));
        let after = PageTokens::new(key(2), None);
        let token = old.encode(&binding("a"), &7u32).expect("encode");
        assert_eq!(
            rotated
                .decode::<u32>(&token, &binding("a"))
                .expect("accepted"),
            Some(7)
        );
        assert!(after.decode::<u32>(&token, &binding("a")).is_err());
        let fresh = rotated.encode(&binding("a"), &8u32).expect("encode");
        assert_eq!(
            after
                .decode::<u32>(&fresh, &binding("a"))
                .expect("current key"),
            Some(8)
        );
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert!(TokenKey::new(vec![0u8; 31]).is_err());
        let key = TokenKey::new("s3cret-s3cret-s3cret-s3cret-s3cret!").expect("key");
        assert!(!format!("{key:?}").contains("s3cret"));
    }
}
