//! JWT bearer credentials from an identity provider: signature by a key of the configured JWKS
//! (chosen by `kid`), an algorithm from the allow-list (never `none`, never HMAC), the configured
//! issuer and audience, and `exp` / `nbf` against the service's clock (30 s of leeway).
//!
//! Claims that name the principal: `kind` (`agency`, `portal`, `administrator`, `auditor`);
//! for an agency, `agency`, and optionally `team` and `officer`; for the others, `sub` is the id.
//! `roles` is kept for later use.

use std::{path::Path, str::FromStr};

use anyhow::{Context as _, bail};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::{Deserialize, de::DeserializeOwned};

use crate::{clock::SharedClock, domain::principal::Principal, error::AppError};

/// Seconds a token's `exp` and `nbf` may be off.
const LEEWAY_SECONDS: i64 = 30;

/// Where tokens come from and what they must say.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub algorithms: Vec<Algorithm>,
}

/// Parses an allow-listed algorithm name (`RS256`, `ES256`, `EdDSA`...); HMAC is refused: the
/// service holds no shared secrets with identity providers.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    match Algorithm::from_str(name.trim()) {
        Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => Err(format!(
            "`{name}`: HMAC algorithms are not accepted for JWTs"
        )),
        Ok(alg) => Ok(alg),
        Err(_) => Err(format!(
            "`{name}` is not a JWT algorithm (RS256, ES256, EdDSA...)"
        )),
    }
}

/// One key of the identity provider, decoded once when the JWKS is loaded.
struct VerifyingKey {
    kid: Option<String>,
    /// The algorithm the JWKS publishes the key for, if it says.
    algorithm: Option<String>,
    key: DecodingKey,
}

/// Verifies tokens against one identity provider's keys.
pub struct JwtVerifier {
    keys: Vec<VerifyingKey>,
    settings: JwtSettings,
    clock: SharedClock,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("keys", &self.keys.len())
            .field("settings", &self.settings)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    kind: String,
    #[serde(default)]
    agency: Option<String>,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    officer: Option<String>,
}

fn bad_token() -> AppError {
    AppError::Unauthenticated("the token is not valid for this service")
}

impl JwtVerifier {
    /// A verifier for the keys of the JWKS file at `path`.
    pub fn from_file(
        path: &Path,
        settings: JwtSettings,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the JWKS file {}", path.display()))?;
        let set: JwkSet = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JWKS (RFC 7517) document", path.display()))?;
        Self::from_jwks(&set, settings, clock).with_context(|| format!("in {}", path.display()))
    }

    /// A verifier for the keys of `set`.
    pub fn from_jwks(
        set: &JwkSet,
        settings: JwtSettings,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        if set.keys.is_empty() {
            bail!("the JWKS holds no key");
        }
        let keys = set
            .keys
            .iter()
            .map(|jwk| {
                Ok(VerifyingKey {
                    kid: jwk.common.key_id.clone(),
                    algorithm: jwk.common.key_algorithm.map(|a| a.to_string()),
                    key: DecodingKey::from_jwk(jwk)
                        .context("a key of the JWKS cannot verify signatures")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            keys,
            settings,
            clock,
        })
    }

    /// The issuer tokens must name.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The subject (`sub`) of a citizen token, if it verifies.
    pub fn verify_subject(&self, token: &str) -> Result<String, AppError> {
        let claims: SubjectClaims = self.verify_claims(token)?;
        if claims.sub.is_empty() || claims.sub.len() > 256 {
            return Err(bad_token());
        }
        Ok(claims.sub)
    }

    /// The principal `token` names, if it verifies.
    pub fn verify(&self, token: &str) -> Result<Principal, AppError> {
        principal(self.verify_claims(token)?)
    }

    /// The claims of `token` if its signature, algorithm, issuer, audience and times are good.
    fn verify_claims<C: DeserializeOwned + Timed>(&self, token: &str) -> Result<C, AppError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad_token())?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(bad_token());
        }
        let verifying = match &header.kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_ref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
        .ok_or_else(bad_token)?;
        if verifying
            .algorithm
            .as_ref()
            .is_some_and(|a| *a != format!("{:?}", header.alg))
        {
            return Err(bad_token()); // the key is published for another algorithm
        }
        // One algorithm, the token's own, already checked against the allow-list (the library
        // wants every allowed algorithm to match the key's family).
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Times are checked below against the service's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<C>(token, &verifying.key, &validation)
            .map_err(|error| {
                tracing::debug!(%error, "JWT refused");
                bad_token()
            })?
            .claims;
        let now = self.clock.now().unix_millis() / 1000;
        let (exp, nbf) = claims.times();
        if exp + LEEWAY_SECONDS <= now {
            return Err(AppError::Unauthenticated("the token has expired"));
        }
        if nbf.is_some_and(|nbf| nbf - LEEWAY_SECONDS > now) {
            return Err(AppError::Unauthenticated("the token is not valid yet"));
        }
        Ok(claims)
    }
}

/// Claims with an expiry and an optional not-before.
trait Timed {
    fn times(&self) -> (i64, Option<i64>);
}

impl Timed for Claims {
    fn times(&self) -> (i64, Option<i64>) {
        (self.exp, self.nbf)
    }
}

/// The claims of a citizen token from the citizen's identity provider.
#[derive(Debug, Deserialize)]
struct SubjectClaims {
    sub: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
}

impl Timed for SubjectClaims {
    fn times(&self) -> (i64, Option<i64>) {
        (self.exp, self.nbf)
    }
}

fn principal(claims: Claims) -> Result<Principal, AppError> {
    let name = match (claims.kind.as_str(), &claims.agency, &claims.team) {
        ("agency", Some(agency), None) => format!("agencies/{agency}"),
        ("agency", Some(agency), Some(team)) => format!("agencies/{agency}/teams/{team}"),
        ("portal", None, None) => format!("portals/{}", claims.sub),
        ("administrator", None, None) => format!("administrators/{}", claims.sub),
        ("auditor", None, None) => format!("auditors/{}", claims.sub),
        _ => {
            return Err(AppError::Unauthenticated(
                "the token does not name a principal",
            ));
        }
    };
    Principal::parse(&name, claims.officer.as_deref())
        .map_err(|_| AppError::Unauthenticated("the token does not name a principal"))
}

#[cfg(test)]
mod tests {
    use std::{path::PathBuf, sync::Arc};

    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    use super::*;
    use crate::{clock::ManualClock, domain::time::Timestamp};

    const NOW: i64 = 1_800_000_000;

    fn data(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/jwt")
            .join(name)
    }

    fn verifier() -> JwtVerifier {
        let settings = JwtSettings {
            issuer: "https://idp.test".to_owned(),
            audience: "single-window".to_owned(),
            algorithms: vec![Algorithm::EdDSA, Algorithm::RS256],
        };
        let clock = ManualClock::new(Timestamp::from_unix_millis(NOW * 1000));
        JwtVerifier::from_file(&data("jwks.json"), settings, clock as Arc<_>).expect("jwks")
    }

    fn claims() -> Value {
        json!({
            "iss": "https://idp.test", "aud": "single-window", "sub": "svc-7",
            "exp": NOW + 300, "nbf": NOW - 10,
            "kind": "agency", "agency": "cic", "team": "passports", "officer": "desk-17"
        })
    }

    fn sign(claims: &Value, key: &str, kid: Option<&str>) -> String {
        let pem = std::fs::read(data(key)).expect("test key");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_ed_pem(&pem).expect("pem"),
        )
        .expect("sign")
    }

    fn with(change: impl FnOnce(&mut Value)) -> String {
        let mut c = claims();
        change(&mut c);
        sign(&c, "idp.pem", Some("test-idp-1"))
    }

    #[test]
    fn a_valid_token_names_its_agency_team_and_officer() {
        let principal = verifier()
            .verify(&sign(&claims(), "idp.pem", Some("test-idp-1")))
            .expect("valid");
        assert_eq!(principal.name(), "agencies/cic/teams/passports");
        assert!(
            matches!(principal, Principal::Agency { officer: Some(ref o), .. } if o == "desk-17")
        );
        let portal = verifier()
            .verify(&with(|c| {
                c["kind"] = json!("portal");
                c.as_object_mut().map(|o| {
                    o.remove("agency");
                    o.remove("team");
                    o.remove("officer")
                });
            }))
            .expect("portal");
        assert_eq!(portal.name(), "portals/svc-7");
    }

    #[test]
    fn bad_tokens_are_unauthenticated() {
        let v = verifier();
        let valid = sign(&claims(), "idp.pem", Some("test-idp-1"));
        let (head, rest) = valid.split_once('.').expect("parts");
        let (payload, signature) = rest.split_once('.').expect("parts");
        let mut tampered_payload = URL_SAFE_NO_PAD.decode(payload).expect("payload");
        tampered_payload[10] ^= 1;
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let hmac_confusion = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"XKvXebGyGDlUFYW6SdnCJaSZTiWYylR9bK9gpJtz4EE").expect("key"),
        )
        .expect("hs256");
        let cases = [
            ("expired", with(|c| c["exp"] = json!(NOW - 31))),
            ("not yet valid", with(|c| c["nbf"] = json!(NOW + 31))),
            (
                "wrong audience",
                with(|c| c["aud"] = json!("another-service")),
            ),
            (
                "wrong issuer",
                with(|c| c["iss"] = json!("https://evil.test")),
            ),
            (
                "no exp",
                with(|c| {
                    c.as_object_mut().map(|o| o.remove("exp"));
                }),
            ),
            ("unknown kind", with(|c| c["kind"] = json!("citizen"))),
            (
                "team without agency",
                with(|c| {
                    c.as_object_mut().map(|o| o.remove("agency"));
                }),
            ),
            (
                "another identity provider",
                sign(&claims(), "other.pem", Some("test-idp-1")),
            ),
            ("unknown kid", sign(&claims(), "idp.pem", Some("nope"))),
            ("alg none", format!("{none_header}.{payload}.")),
            (
                "tampered",
                format!(
                    "{head}.{}.{signature}",
                    URL_SAFE_NO_PAD.encode(&tampered_payload)
                ),
            ),
            ("HMAC with the public key", hmac_confusion),
        ];
        for (what, token) in cases {
            assert!(
                matches!(v.verify(&token), Err(AppError::Unauthenticated(_))),
                "{what} was accepted"
            );
        }
        assert!(
            v.verify(&with(|c| c["exp"] = json!(NOW - 29))).is_ok(),
            "within the leeway"
        );
    }

    #[test]
    fn hmac_is_refused_as_an_allowed_algorithm() {
        assert!(parse_algorithm("HS256").is_err());
        assert!(parse_algorithm("none").is_err());
        assert_eq!(parse_algorithm("EdDSA"), Ok(Algorithm::EdDSA));
    }
}
