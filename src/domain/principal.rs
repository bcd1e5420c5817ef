//! Who is calling. Every call resolves to exactly one [`Principal`], from its credential only
//! (never from request fields).

use std::fmt;

use super::names;

/// The kinds of caller, each allowed its own methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalKind {
    /// No credential: the catalogue and the public reports only.
    Public,
    /// An agency's back-end, optionally with the team and officer acting.
    Agency,
    /// A one-stop-shop portal (acting for one citizen once it proves which).
    Portal,
    /// A catalogue administrator.
    Administrator,
    /// An auditor.
    Auditor,
}

impl PrincipalKind {
    /// Every kind, for authorization matrices.
    pub const ALL: [PrincipalKind; 5] = [
        PrincipalKind::Public,
        PrincipalKind::Agency,
        PrincipalKind::Portal,
        PrincipalKind::Administrator,
        PrincipalKind::Auditor,
    ];

    /// The lower-case name used in principals files and `demo credentials`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Public => "public",
            PrincipalKind::Agency => "agency",
            PrincipalKind::Portal => "portal",
            PrincipalKind::Administrator => "administrator",
            PrincipalKind::Auditor => "auditor",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The anonymous public.
    Public,
    /// `agencies/{agency}`, with `agencies/{agency}/teams/{team}` and an opaque officer id when the
    /// credential names them.
    Agency {
        agency: String,
        team: Option<String>,
        officer: Option<String>,
    },
    /// `portals/{portal}`.
    Portal { portal: String },
    /// `administrators/{id}`.
    Administrator { id: String },
    /// `auditors/{id}`.
    Auditor { id: String },
}

/// Collections of principal names.
pub const AGENCIES: &str = names::AGENCIES;
pub const TEAMS: &str = "teams";
pub const PORTALS: &str = "portals";
pub const ADMINISTRATORS: &str = "administrators";
pub const AUDITORS: &str = "auditors";

/// Why a principal name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalError(pub String);

impl fmt::Display for PrincipalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Principal {
    /// Its kind.
    pub fn kind(&self) -> PrincipalKind {
        match self {
            Principal::Public => PrincipalKind::Public,
            Principal::Agency { .. } => PrincipalKind::Agency,
            Principal::Portal { .. } => PrincipalKind::Portal,
            Principal::Administrator { .. } => PrincipalKind::Administrator,
            Principal::Auditor { .. } => PrincipalKind::Auditor,
        }
    }

    /// The principal's resource name: `agencies/esdc-edsc/teams/ei-benefits`, `portals/x`...;
    /// `anonymous` for the public. Officers are not part of the name.
    pub fn name(&self) -> String {
        match self {
            Principal::Public => "anonymous".to_owned(),
            Principal::Agency {
                agency, team: None, ..
            } => names::format(AGENCIES, agency),
            Principal::Agency {
                agency,
                team: Some(team),
                ..
            } => format!("{AGENCIES}/{agency}/{TEAMS}/{team}"),
            Principal::Portal { portal } => names::format(PORTALS, portal),
            Principal::Administrator { id } => names::format(ADMINISTRATORS, id),
            Principal::Auditor { id } => names::format(AUDITORS, id),
        }
    }

    /// The principal a name denotes (`agencies/{agency}[/teams/{team}]`, `portals/{id}`,
    /// `administrators/{id}`, `auditors/{id}`), with `officer` for an agency.
    pub fn parse(name: &str, officer: Option<&str>) -> Result<Self, PrincipalError> {
        let parts: Vec<&str> = name.split('/').collect();
        let id = |s: &str| -> Result<String, PrincipalError> {
            if names::valid_id(s) {
                Ok(s.to_owned())
            } else {
                Err(PrincipalError(format!(
                    "`{s}` is not a valid id in `{name}`"
                )))
            }
        };
        let has_officer = officer.is_some();
        let officer = officer.map(&id).transpose()?;
        let principal = match parts.as_slice() {
            [AGENCIES, agency] => Principal::Agency {
                agency: id(agency)?,
                team: None,
                officer,
            },
            [AGENCIES, agency, TEAMS, team] => Principal::Agency {
                agency: id(agency)?,
                team: Some(id(team)?),
                officer,
            },
            [PORTALS, portal] => Principal::Portal {
                portal: id(portal)?,
            },
            [ADMINISTRATORS, admin] => Principal::Administrator { id: id(admin)? },
            [AUDITORS, auditor] => Principal::Auditor { id: id(auditor)? },
            _ => {
                return Err(PrincipalError(format!(
                    "`{name}` is not a principal: use agencies/{{agency}}[/teams/{{team}}], portals/{{portal}}, administrators/{{id}} or auditors/{{id}}"
                )));
            }
        };
        if has_officer && principal.kind() != PrincipalKind::Agency {
            return Err(PrincipalError(format!(
                "only agencies have officers, not `{name}`"
            )));
        }
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_refused() {
        for name in [
            "agencies/esdc-edsc",
            "agencies/esdc-edsc/teams/ei-benefits",
            "portals/my-service",
            "administrators/catalogue",
            "auditors/oag-bvg",
        ] {
            let principal = Principal::parse(name, None).expect(name);
            assert_eq!(principal.name(), name);
        }
        let officer =
            Principal::parse("agencies/cic/teams/passports", Some("officer-7")).expect("officer");
        assert!(
            matches!(officer, Principal::Agency { officer: Some(ref o), .. } if o == "officer-7")
        );
        for bad in [
            "",
            "agencies",
            "agencies/",
            "agencies/a/teams",
            "agencies/a/b/c",
            "citizens/1",
            "portals/a b ",
        ] {
            assert!(Principal::parse(bad, None).is_err(), "{bad:?}");
        }
        assert!(Principal::parse("portals/p", Some("officer")).is_err());
        assert_eq!(Principal::Public.kind(), PrincipalKind::Public);
    }
}
