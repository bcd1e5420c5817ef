//! The authorization matrix of CitizenService: every RPC x every kind of caller x own or other or
//! missing citizen x the agency's consent present, absent, expired, revoked or for another
//! purpose. An oracle says what each cell must answer; a read that succeeds never releases a
//! category the consent does not cover; a denial for a missing citizen is byte-identical to the
//! one for an existing citizen.

use prost_types::FieldMask;
use single_window::proto::v1::{self as pb, ConsentCategory as Cat, ConsentPurpose as Purpose};
use tonic::{Code, Status};

use crate::{
    citizens::{
        ADMIN, AMELIE, AUDITOR, As, CIC, ESDC, PORTAL, amelie, consent, get, grant, jordan, req,
        ts, unix_now,
    },
    helpers::{TestApp, backends},
};

/// The state of ESDC's consent from Amélie for service delivery (identity and contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConsentState {
    Present,
    Absent,
    Expired,
    Revoked,
    OtherPurpose,
}

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Public,
    GrantedAgency,
    OtherAgency,
    PortalOwn,
    PortalOther,
    PortalWithoutToken,
    /// A portal for a citizen whom Amélie authorised to read her identity.
    Representative,
    Administrator,
    Auditor,
}

const WHO: [Who; 9] = [
    Who::Public,
    Who::GrantedAgency,
    Who::OtherAgency,
    Who::PortalOwn,
    Who::PortalOther,
    Who::PortalWithoutToken,
    Who::Representative,
    Who::Administrator,
    Who::Auditor,
];

const REPRESENTATIVE_SUBJECT: &str = "matrix.representative";

fn credential(app: &TestApp, who: Who) -> As {
    match who {
        Who::Public => As::Public,
        Who::GrantedAgency => As::Key(ESDC),
        Who::OtherAgency => As::Key(CIC),
        Who::PortalOwn => amelie(app),
        Who::PortalOther => jordan(app),
        Who::PortalWithoutToken => As::Key(PORTAL),
        Who::Representative => crate::citizens::portal_for(app, REPRESENTATIVE_SUBJECT),
        Who::Administrator => As::Key(ADMIN),
        Who::Auditor => As::Key(AUDITOR),
    }
}

/// The methods of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Get,
    Update,
    Find,
    Create,
    Grant,
    Revoke,
    ListConsents,
    ListEvents,
    ListRepresentatives,
    Authorize,
    RevokeRepresentative,
    IssueClaimCode,
    Claim,
    ListNotices,
}

const RPCS: [Rpc; 14] = [
    Rpc::Get,
    Rpc::Update,
    Rpc::Find,
    Rpc::Create,
    Rpc::Grant,
    Rpc::Revoke,
    Rpc::ListConsents,
    Rpc::ListEvents,
    Rpc::ListRepresentatives,
    Rpc::Authorize,
    Rpc::RevokeRepresentative,
    Rpc::IssueClaimCode,
    Rpc::Claim,
    Rpc::ListNotices,
];

/// What a cell must answer: `None` for OK.
fn oracle(rpc: Rpc, who: Who, own: bool, exists: bool, state: ConsentState) -> Option<Code> {
    use Who::*;
    let denied = Some(Code::PermissionDenied);
    let policy = match rpc {
        Rpc::Find | Rpc::ListNotices | Rpc::IssueClaimCode => &[GrantedAgency, OtherAgency][..],
        Rpc::Claim => &[PortalOwn, PortalOther, PortalWithoutToken, Representative][..],
        Rpc::ListEvents => &[
            PortalOwn,
            PortalOther,
            PortalWithoutToken,
            Representative,
            Auditor,
        ][..],
        _ => &[
            GrantedAgency,
            OtherAgency,
            PortalOwn,
            PortalOther,
            PortalWithoutToken,
            Representative,
        ][..],
    };
    if who == Public {
        return Some(Code::Unauthenticated);
    }
    if !policy.contains(&who) {
        return denied;
    }
    if who == PortalWithoutToken {
        return Some(Code::Unauthenticated);
    }
    let target = own && exists; // Amélie herself
    match (rpc, who) {
        (Rpc::Find | Rpc::ListNotices, _) => None,
        // Every portal of the matrix is linked to a record already.
        (Rpc::Claim, _) => Some(Code::AlreadyExists),
        // Amélie's record is claimed; the other record is not; the ghost is nobody.
        (Rpc::IssueClaimCode, _) if target => Some(Code::FailedPrecondition),
        (Rpc::IssueClaimCode, _) if exists => None,
        // Permission first; then the named representative does not exist.
        (Rpc::Authorize, GrantedAgency | OtherAgency) if exists => Some(Code::InvalidArgument),
        (Rpc::Authorize, PortalOwn) if target => Some(Code::InvalidArgument),
        // No such representation: the same denial for everyone.
        (Rpc::RevokeRepresentative, _) => denied,
        // A portal whose citizen already has a record cannot create another.
        (Rpc::Create, PortalOwn | PortalOther | Representative) => Some(Code::AlreadyExists),
        // The representative may read Amélie's identity and her log, nothing else.
        (Rpc::Get | Rpc::ListEvents | Rpc::ListRepresentatives, Representative) if target => None,
        (Rpc::ListRepresentatives, GrantedAgency | OtherAgency) => None,
        (Rpc::Create, _) => None,
        (Rpc::Get, GrantedAgency) if target && state == ConsentState::Present => None,
        (Rpc::Get | Rpc::Update | Rpc::Revoke, GrantedAgency | OtherAgency) => denied,
        (Rpc::Grant, GrantedAgency) if exists => None, // for itself, given at a counter
        (Rpc::Grant, GrantedAgency | OtherAgency) => denied,
        (Rpc::ListConsents, GrantedAgency | OtherAgency) => None,
        (
            Rpc::Get
            | Rpc::Update
            | Rpc::Grant
            | Rpc::ListConsents
            | Rpc::ListEvents
            | Rpc::ListRepresentatives,
            PortalOwn,
        ) if target => None,
        (Rpc::Revoke, PortalOwn) if target => Some(Code::NotFound),
        (Rpc::ListEvents, Auditor) if exists => None,
        (Rpc::ListEvents, Auditor) => Some(Code::NotFound),
        _ => denied,
    }
}

/// Calls `rpc` on `citizen` as `who`; for a successful read, the categories released.
async fn call(app: &TestApp, who: &As, rpc: Rpc, citizen: &str) -> Result<Vec<i32>, Status> {
    let mut c = app.citizens.clone();
    match rpc {
        Rpc::Get => get(app, who, citizen, Purpose::ServiceDelivery, &[])
            .await
            .map(|c| c.categories),
        Rpc::Update => {
            // A current etag: read as the citizen herself (so that only permission decides).
            let etag = get(app, &amelie(app), AMELIE, Purpose::Unspecified, &[])
                .await
                .map(|c| c.etag)
                .unwrap_or_else(|_| "\"v1\"".to_owned());
            let request = pb::UpdateCitizenRequest {
                citizen: Some(pb::Citizen {
                    name: citizen.to_owned(),
                    etag,
                    preferences: Some(pb::Preferences {
                        language: pb::Language::French as i32,
                        preferred_channel: 0,
                    }),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["preferences".to_owned()],
                }),
            };
            c.update_citizen(req(who, request))
                .await
                .map(|_| Vec::new())
        }
        Rpc::Find => {
            let request = pb::FindCitizenRequest {
                purpose: Purpose::ServiceDelivery as i32,
                family_name: "Tremblay".to_owned(),
                date_of_birth: "1988-04-12".to_owned(),
                ..Default::default()
            };
            c.find_citizen(req(who, request)).await.map(|_| Vec::new())
        }
        Rpc::Create => {
            let request = pb::CreateCitizenRequest {
                citizen: Some(crate::citizens::new_citizen("Matrix", "Case", "")),
                request_id: String::new(),
            };
            c.create_citizen(req(who, request))
                .await
                .map(|_| Vec::new())
        }
        Rpc::Grant => {
            let mut given = consent("esdc-edsc", Purpose::Prefill, &[Cat::Contact]);
            given.channel = pb::Channel::InPerson as i32;
            grant(app, who, citizen, given).await.map(|_| Vec::new())
        }
        Rpc::Revoke => {
            let request = pb::RevokeConsentRequest {
                name: format!("{citizen}/consents/does-not-exist"),
            };
            c.revoke_consent(req(who, request))
                .await
                .map(|_| Vec::new())
        }
        Rpc::ListConsents => {
            let request = pb::ListConsentsRequest {
                parent: citizen.to_owned(),
                ..Default::default()
            };
            c.list_consents(req(who, request)).await.map(|_| Vec::new())
        }
        Rpc::ListEvents => crate::citizens::events(app, who, citizen, 0)
            .await
            .map(|_| Vec::new()),
        Rpc::ListRepresentatives => c
            .list_representatives(req(
                who,
                pb::ListRepresentativesRequest {
                    parent: citizen.to_owned(),
                },
            ))
            .await
            .map(|_| Vec::new()),
        Rpc::Authorize => crate::citizens::authorize(
            app,
            who,
            citizen,
            crate::citizens::representation(
                "citizens/ghost-representative",
                &[Cat::Contact],
                false,
            ),
        )
        .await
        .map(|_| Vec::new()),
        Rpc::RevokeRepresentative => c
            .revoke_representative(req(
                who,
                pb::RevokeRepresentativeRequest {
                    name: format!("{citizen}/representatives/nope"),
                },
            ))
            .await
            .map(|_| Vec::new()),
        Rpc::IssueClaimCode => c
            .issue_claim_code(req(
                who,
                pb::IssueClaimCodeRequest {
                    name: citizen.to_owned(),
                },
            ))
            .await
            .map(|_| Vec::new()),
        Rpc::Claim => c
            .claim_citizen(req(
                who,
                pb::ClaimCitizenRequest {
                    code: "WRONG-CODE".to_owned(),
                },
            ))
            .await
            .map(|_| Vec::new()),
        Rpc::ListNotices => c
            .list_change_notices(req(who, pb::ListChangeNoticesRequest::default()))
            .await
            .map(|_| Vec::new()),
    }
}

/// Revokes every live consent of Amélie, then gives ESDC the consent of `state`.
async fn set_state(app: &TestApp, state: ConsentState) {
    let me = amelie(app);
    let listed = app
        .citizens
        .clone()
        .list_consents(req(
            &me,
            pb::ListConsentsRequest {
                parent: AMELIE.to_owned(),
                page_size: 500,
                page_token: String::new(),
            },
        ))
        .await
        .expect("listed")
        .into_inner();
    for c in listed
        .consents
        .iter()
        .filter(|c| c.state != pb::ConsentState::Revoked as i32)
    {
        app.citizens
            .clone()
            .revoke_consent(req(
                &me,
                pb::RevokeConsentRequest {
                    name: c.name.clone(),
                },
            ))
            .await
            .expect("revoked");
    }
    let covered = [Cat::Identity, Cat::Contact];
    let now = unix_now();
    match state {
        ConsentState::Absent => {}
        ConsentState::Present => {
            grant(
                app,
                &me,
                AMELIE,
                consent("esdc-edsc", Purpose::ServiceDelivery, &covered),
            )
            .await
            .expect("granted");
        }
        ConsentState::Expired => {
            let mut c = consent("esdc-edsc", Purpose::ServiceDelivery, &covered);
            c.valid_from = ts(now - 7200);
            c.valid_until = ts(now - 60);
            grant(app, &me, AMELIE, c).await.expect("granted");
        }
        ConsentState::Revoked => {
            let c = grant(
                app,
                &me,
                AMELIE,
                consent("esdc-edsc", Purpose::ServiceDelivery, &covered),
            )
            .await
            .expect("granted");
            app.citizens
                .clone()
                .revoke_consent(req(&me, pb::RevokeConsentRequest { name: c.name }))
                .await
                .expect("revoked");
        }
        ConsentState::OtherPurpose => {
            grant(
                app,
                &me,
                AMELIE,
                consent("esdc-edsc", Purpose::EligibilityAssessment, &covered),
            )
            .await
            .expect("granted");
        }
    }
}

#[tokio::test]
async fn every_citizen_rpc_answers_every_caller_as_the_oracle_says() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let allowed = [Cat::Identity as i32, Cat::Contact as i32];
        // Another citizen, whose record no portal is linked to.
        let other = crate::citizens::create(
            &app,
            &As::Key(CIC),
            crate::citizens::new_citizen("Other", "Person", ""),
            "",
        )
        .await
        .expect("created")
        .name;
        // A representative of Amélie, for her identity only.
        let representative = crate::citizens::portal_for(&app, REPRESENTATIVE_SUBJECT);
        let rep = crate::citizens::create(
            &app,
            &representative,
            crate::citizens::new_citizen("Rep", "Resentative", ""),
            "",
        )
        .await
        .expect("the representative's own record");
        crate::citizens::authorize(
            &app,
            &amelie(&app),
            AMELIE,
            crate::citizens::representation(&rep.name, &[Cat::Identity], false),
        )
        .await
        .expect("authorised");
        for state in [
            ConsentState::Present,
            ConsentState::Absent,
            ConsentState::Expired,
            ConsentState::Revoked,
            ConsentState::OtherPurpose,
        ] {
            set_state(&app, state).await;
            for rpc in RPCS {
                for who in WHO {
                    let credential = credential(&app, who);
                    let mut denials = Vec::new();
                    for (citizen, own, exists) in [
                        (AMELIE, true, true),
                        (other.as_str(), false, true),
                        ("citizens/ghost-7", false, false),
                    ] {
                        let expected = oracle(rpc, who, own, exists, state);
                        let got = call(&app, &credential, rpc, citizen).await;
                        let cell = format!("{backend:?} {state:?} {rpc:?} {who:?} {citizen}");
                        match (&got, expected) {
                            (Ok(released), None) => {
                                if rpc == Rpc::Get && who == Who::GrantedAgency {
                                    assert!(
                                        released.iter().all(|c| allowed.contains(c)),
                                        "{cell}: released {released:?}"
                                    );
                                }
                                if rpc == Rpc::Get && who == Who::Representative {
                                    assert_eq!(released, &[Cat::Identity as i32], "{cell}");
                                }
                            }
                            (Err(status), Some(code)) => {
                                assert_eq!(status.code(), code, "{cell}: {status:?}");
                                if code == Code::PermissionDenied && rpc != Rpc::Create {
                                    denials.push((
                                        exists,
                                        (status.message().to_owned(), status.details().to_vec()),
                                    ));
                                }
                            }
                            (got, expected) => panic!("{cell}: expected {expected:?}, got {got:?}"),
                        }
                    }
                    // A denial for the missing citizen is the same as one for an existing citizen.
                    if let Some((_, missing)) = denials.iter().find(|(exists, _)| !exists) {
                        for (_, other) in denials.iter().filter(|(exists, _)| *exists) {
                            assert_eq!(other, missing, "{backend:?} {state:?} {rpc:?} {who:?}");
                        }
                    }
                }
            }
        }
    }
}
