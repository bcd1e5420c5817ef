//! The demo principals of the embedded default: three Government of Canada agencies with a team
//! each, a portal, an administrator and an auditor. Their keys are public (printed by
//! `single-window demo credentials`), so the server accepts them only while it listens on a
//! loopback address and no principals file is configured.

use serde::Serialize;

use crate::domain::principal::{Principal, PrincipalKind};

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

#[cfg(test)]
mod tests {
    use super::*;

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
