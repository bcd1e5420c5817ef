//! Authentication: from a call's credential to its [`Principal`].
//!
//! A call without `authorization` is the anonymous public. `authorization: Bearer <JWT>` names
//! the principal of a token from the configured identity provider (`jwt`). `authorization:
//! Bearer <API key>` names the principal whose key hashes (SHA-256) to a hash in the principals
//! file (or, for the embedded default on a loopback address, a demo principal). Any other
//! credential, or one nobody holds, is UNAUTHENTICATED: a bad credential is never treated as no
//! credential. Keys are never kept in clear, never logged, never printed by `Debug`.

pub mod demo;
pub mod jwt;
mod principals_file;

use std::{collections::HashMap, fmt, path::Path, sync::Arc};

use http::HeaderMap;
use sha2::{Digest as _, Sha256};

pub use principals_file::{Credentials, PrincipalEntry, PrincipalsFile, to_hex};

use crate::{domain::principal::Principal, error::AppError};

/// The SHA-256 of an API key.
pub type KeyHash = [u8; 32];

/// The hash a key is known by.
pub fn hash_key(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

/// The metadata key of the citizen token a portal sends with every call for its citizen.
pub const CITIZEN_TOKEN_HEADER: &str = "x-citizen-token";

/// The citizen a portal acts for, as its verified citizen token names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenToken {
    /// The identity provider (`iss`).
    pub issuer: String,
    /// The citizen's id at that provider (`sub`).
    pub subject: String,
}

/// Resolves credentials to principals.
#[derive(Clone, Default)]
pub struct Authenticator {
    api_keys: HashMap<KeyHash, Principal>,
    certificates: HashMap<[u8; 32], Principal>,
    jwt: Option<Arc<jwt::JwtVerifier>>,
    citizens: Option<Arc<jwt::JwtVerifier>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("api_keys", &self.api_keys.len())
            .field("certificates", &self.certificates.len())
            .field("jwt", &self.jwt)
            .field("citizens", &self.citizens)
            .finish()
    }
}

/// Whether `token` has the shape of a JWT (three base64url parts).
fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && parts.iter().all(|p| {
            p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl Authenticator {
    /// Accepts the keys whose hashes `keys` lists.
    pub fn new(keys: impl IntoIterator<Item = (KeyHash, Principal)>) -> Self {
        Self {
            api_keys: keys.into_iter().collect(),
            certificates: HashMap::new(),
            jwt: None,
            citizens: None,
        }
    }

    /// Also accepts the API keys `keys` (each a key's hash and its principal).
    pub fn with_keys(mut self, keys: impl IntoIterator<Item = (KeyHash, Principal)>) -> Self {
        self.api_keys.extend(keys);
        self
    }

    /// Also accepts citizen tokens that `verifier` verifies (the citizens' identity provider).
    pub fn with_citizen_tokens(mut self, verifier: jwt::JwtVerifier) -> Self {
        self.citizens = Some(Arc::new(verifier));
        self
    }

    /// The citizen a call of `principal` acts for: only a portal may send `x-citizen-token`, and
    /// it must verify. `None` when none was sent.
    pub fn citizen_token(
        &self,
        headers: &HeaderMap,
        principal: &Principal,
    ) -> Result<Option<CitizenToken>, AppError> {
        let Some(value) = headers.get(CITIZEN_TOKEN_HEADER) else {
            return Ok(None);
        };
        if principal.kind() != crate::domain::principal::PrincipalKind::Portal {
            return Err(AppError::Unauthenticated(
                "x-citizen-token is accepted only with a portal's credential",
            ));
        }
        let bad = AppError::Unauthenticated("the citizen token is not valid for this service");
        let token = value.to_str().map_err(|_| bad)?.trim();
        let verifier = self.citizens.as_ref().ok_or(AppError::Unauthenticated(
            "this service accepts no citizen tokens (no citizen identity provider is configured)",
        ))?;
        let subject = verifier.verify_subject(token)?;
        Ok(Some(CitizenToken {
            issuer: verifier.issuer().to_owned(),
            subject,
        }))
    }

    /// Also accepts JWTs that `verifier` verifies.
    pub fn with_jwt(mut self, verifier: jwt::JwtVerifier) -> Self {
        self.jwt = Some(Arc::new(verifier));
        self
    }

    /// The principals of `file`, and the quotas it gives them.
    pub fn from_file(path: &Path) -> anyhow::Result<(Self, crate::grpc::calls::QuotaSettings)> {
        let credentials = PrincipalsFile::load(path)?;
        let mut authenticator = Self::new(credentials.api_keys);
        authenticator.certificates = credentials.certificates.into_iter().collect();
        Ok((authenticator, credentials.quotas))
    }

    /// The demo principals of the embedded default.
    pub fn demo() -> Self {
        Self::new(
            demo::CREDENTIALS
                .iter()
                .map(|c| (hash_key(c.token), c.principal())),
        )
    }

    /// How many API keys are known.
    pub fn key_count(&self) -> usize {
        self.api_keys.len()
    }

    /// The principal of a call with `headers` on a connection whose client certificate, if it
    /// presented one, has the SHA-256 `certificate`. A certificate is the credential: it must be
    /// listed, and then no `authorization` header may claim another identity.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        certificate: Option<&[u8; 32]>,
    ) -> Result<Principal, AppError> {
        if let Some(certificate) = certificate {
            if headers.contains_key(http::header::AUTHORIZATION) {
                return Err(AppError::Unauthenticated(
                    "send a client certificate or an authorization header, not both",
                ));
            }
            return self
                .certificates
                .get(certificate)
                .cloned()
                .ok_or(AppError::Unauthenticated(
                    "the client certificate is not registered with this service",
                ));
        }
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Ok(Principal::Public);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthenticated(
                "the authorization header must be `Bearer <credential>`",
            ))?;
        if looks_like_jwt(token) {
            return match &self.jwt {
                Some(verifier) => verifier.verify(token),
                None => Err(AppError::Unauthenticated(
                    "this service accepts no JWTs (no identity provider is configured)",
                )),
            };
        }
        self.api_keys
            .get(&hash_key(token))
            .cloned()
            .ok_or(AppError::Unauthenticated(
                "the credential is not valid for this service",
            ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::principal::PrincipalKind;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            authorization.parse().expect("header"),
        );
        headers
    }

    #[test]
    fn no_credential_is_public_and_a_bad_one_is_unauthenticated() {
        let auth = Authenticator::demo();
        assert_eq!(
            auth.authenticate(&HeaderMap::new(), None).expect("public"),
            Principal::Public
        );
        let esdc = demo::CREDENTIALS
            .iter()
            .find(|c| c.kind == PrincipalKind::Agency)
            .expect("a demo agency");
        let principal = auth
            .authenticate(&headers(&format!("Bearer {}", esdc.token)), None)
            .expect("a demo key");
        assert_eq!(principal.name(), esdc.principal);
        for bad in [
            "Bearer nope",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            esdc.token,
            "bearer x",
        ] {
            assert!(
                matches!(
                    auth.authenticate(&headers(bad), None),
                    Err(AppError::Unauthenticated(_))
                ),
                "{bad:?}"
            );
        }
        assert!(!format!("{auth:?}").contains(esdc.token));
    }
}
