//! The demo principals of the embedded default: three Government of Canada agencies with a team
//! each, a portal, an administrator and an auditor. Their keys are public (printed by
//! `single-window demo credentials`), so the server accepts them only while it listens on a
//! loopback address and no principals file is configured.
//!
//! The demo identity provider: the citizens' tokens of the embedded default, signed (EdDSA) with
//! a key the server generates once and keeps in its key file, for the demo citizens whose records
//! and identity links the server creates on first start.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::JwkSet};
use serde::Serialize;

use super::jwt::{JwtSettings, JwtVerifier};
use crate::{
    clock::SharedClock,
    domain::principal::{Principal, PrincipalKind},
};

/// The demo identity provider's issuer (`iss` of its tokens).
pub const IDP_ISSUER: &str = "single-window-demo-idp";
/// The audience of its tokens.
pub const IDP_AUDIENCE: &str = "single-window";
const IDP_KEY_ID: &str = "demo-idp-1";
/// How long a printed demo citizen token is valid.
pub const CITIZEN_TOKEN_TTL_SECONDS: i64 = 30 * 86_400;

/// A demo citizen: the record the server creates on first start and the identity provider's
/// subject linked to it.
#[derive(Debug, Clone, Copy)]
pub struct DemoCitizen {
    /// The record's id (`citizens/{id}`).
    pub id: &'static str,
    /// The identity provider's subject.
    pub subject: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub date_of_birth: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
    pub line1: &'static str,
    pub city: &'static str,
    pub province: &'static str,
    pub postal_code: &'static str,
    pub sin: &'static str,
    pub french: bool,
}

/// The demo citizens, both reached through the demo portal.
pub const CITIZENS: &[DemoCitizen] = &[
    DemoCitizen {
        id: "demo-amelie",
        subject: "amelie.tremblay",
        given_name: "Amélie",
        family_name: "Tremblay",
        date_of_birth: "1988-04-12",
        email: "amelie.tremblay@example.ca",
        phone: "418-555-0142",
        line1: "12 rue Saint-Jean",
        city: "Québec",
        province: "QC",
        postal_code: "G1R 1N9",
        sin: "273 456 780",
        french: true,
    },
    DemoCitizen {
        id: "demo-jordan",
        subject: "jordan.okafor",
        given_name: "Jordan",
        family_name: "Okafor",
        date_of_birth: "1996-09-30",
        email: "jordan.okafor@example.ca",
        phone: "613-555-0177",
        line1: "400 Laurier Avenue West",
        city: "Ottawa",
        province: "ON",
        postal_code: "K1R 7X7",
        sin: "512 345 679",
        french: false,
    },
];

/// The JWKS of the demo identity provider whose key is `key`.
fn jwks(key: &SigningKey) -> JwkSet {
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    serde_json::from_value(serde_json::json!({
        "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": IDP_KEY_ID, "alg": "EdDSA", "use": "sig" }]
    }))
    .expect("a well-formed JWKS")
}

/// A verifier of the demo identity provider's tokens.
pub fn idp_verifier(key: &SigningKey, clock: SharedClock) -> anyhow::Result<JwtVerifier> {
    let settings = JwtSettings {
        issuer: IDP_ISSUER.to_owned(),
        audience: IDP_AUDIENCE.to_owned(),
        algorithms: vec![Algorithm::EdDSA],
    };
    JwtVerifier::from_jwks(&jwks(key), settings, clock)
}

/// A token of the demo identity provider for `subject`, valid from `now` (Unix seconds).
pub fn citizen_token(key: &SigningKey, subject: &str, now: i64) -> String {
    // PKCS#8 v1 of an Ed25519 seed (RFC 8410): a fixed prefix, then the 32 bytes.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(key.as_bytes());
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(IDP_KEY_ID.to_owned());
    let claims = serde_json::json!({
        "iss": IDP_ISSUER, "aud": IDP_AUDIENCE, "sub": subject,
        "iat": now, "nbf": now, "exp": now + CITIZEN_TOKEN_TTL_SECONDS,
    });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&der))
        .expect("signing with an in-memory key cannot fail")
}

/// One demo principal and its key.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DemoCredential {
    /// The principal's name.
    pub principal: &'static str,
    /// Its kind.
    #[serde(serialize_with = "kind_name")]
    pub kind: PrincipalKind,
    /// The API key to send as `authorization: Bearer <token>`.
    pub token: &'static str,
}

fn kind_name<S: serde::Serializer>(kind: &PrincipalKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

impl DemoCredential {
    /// The principal it authenticates.
    pub fn principal(&self) -> Principal {
        Principal::parse(self.principal, None).expect("demo principal names are valid")
    }
}

/// Every demo credential.
pub const CREDENTIALS: &[DemoCredential] = &[
    DemoCredential {
        principal: "agencies/esdc-edsc/teams/ei-benefits",
        kind: PrincipalKind::Agency,
        token: "demo-esdc-edsc-ei-benefits-0c6f2b81",
    },
    DemoCredential {
        principal: "agencies/cra-arc/teams/benefits-credits",
        kind: PrincipalKind::Agency,
        token: "demo-cra-arc-benefits-credits-5d19e7a4",
    },
    DemoCredential {
        principal: "agencies/cic/teams/passports",
        kind: PrincipalKind::Agency,
        token: "demo-cic-passports-93b40c2e",
    },
    DemoCredential {
        principal: "portals/demo-portal",
        kind: PrincipalKind::Portal,
        token: "demo-portal-7a2d5f10",
    },
    DemoCredential {
        principal: "administrators/demo-admin",
        kind: PrincipalKind::Administrator,
        token: "demo-admin-4e8c1b96",
    },
    DemoCredential {
        principal: "auditors/demo-auditor",
        kind: PrincipalKind::Auditor,
        token: "demo-auditor-b1f7390d",
    },
];

/// One line of `demo credentials` and of the demo identity provider's sign-in list: a principal
/// and its key; a portal's line also names a demo citizen it acts for, with that citizen's token.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialLine {
    pub principal: &'static str,
    pub kind: &'static str,
    pub token: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citizen: Option<String>,
    /// The citizen's name as the identity provider knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citizen_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citizen_token: Option<String>,
}

/// Every demo credential, the portal's once per demo citizen with a token signed by `idp` and
/// valid from `now` (Unix seconds).
pub fn credential_lines(idp: &SigningKey, now: i64) -> Vec<CredentialLine> {
    let mut lines = Vec::new();
    for c in CREDENTIALS {
        let base = || CredentialLine {
            principal: c.principal,
            kind: c.kind.as_str(),
            token: c.token,
            citizen: None,
            citizen_name: None,
            citizen_token: None,
        };
        if c.kind != PrincipalKind::Portal {
            lines.push(base());
            continue;
        }
        for citizen in CITIZENS {
            lines.push(CredentialLine {
                citizen: Some(format!("citizens/{}", citizen.id)),
                citizen_name: Some(format!("{} {}", citizen.given_name, citizen.family_name)),
                citizen_token: Some(citizen_token(idp, citizen.subject, now)),
                ..base()
            });
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{clock::ManualClock, domain::time::Timestamp};

    #[test]
    fn the_demo_identity_provider_verifies_its_own_tokens_only() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let now = 1_800_000_000;
        let clock = ManualClock::new(Timestamp::from_unix_millis(now * 1000));
        let verifier = idp_verifier(&key, clock.clone() as Arc<_>).expect("verifier");
        let token = citizen_token(&key, "amelie.tremblay", now);
        assert_eq!(
            verifier.verify_subject(&token).expect("valid"),
            "amelie.tremblay"
        );
        let other = citizen_token(&SigningKey::from_bytes(&[6; 32]), "amelie.tremblay", now);
        assert!(
            verifier.verify_subject(&other).is_err(),
            "another provider's key"
        );
        clock.set(Timestamp::from_unix_millis(
            (now + CITIZEN_TOKEN_TTL_SECONDS + 60) * 1000,
        ));
        assert!(verifier.verify_subject(&token).is_err(), "expired");
    }

    #[test]
    fn every_demo_credential_names_a_principal_of_its_kind() {
        for credential in CREDENTIALS {
            assert_eq!(
                credential.principal().kind(),
                credential.kind,
                "{credential:?}"
            );
        }
        let agencies: Vec<_> = CREDENTIALS
            .iter()
            .filter(|c| c.kind == PrincipalKind::Agency)
            .collect();
        assert_eq!(agencies.len(), 3);
    }
}
