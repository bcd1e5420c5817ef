//! The shared citizen record: consent-filtered reads, denials that say nothing, idempotent
//! creation, etags and field masks, graded matching, change notices and the citizen tokens of
//! portals. Every case runs on both backends.

use prost_types::{FieldMask, Timestamp};
use single_window::{
    auth::demo,
    proto::v1::{
        self as pb, Citizen, ConsentCategory as Cat, ConsentPurpose as Purpose,
        citizen_service_client::CitizenServiceClient,
    },
    secrets::Secrets,
};
use tonic::{Code, Request, Status, transport::Channel};

use crate::{
    assert_error,
    helpers::{TestApp, backends},
};

pub const ESDC: &str = "demo-esdc-edsc-ei-benefits-0c6f2b81";
pub const CRA: &str = "demo-cra-arc-benefits-credits-5d19e7a4";
pub const CIC: &str = "demo-cic-passports-93b40c2e";
pub const PORTAL: &str = "demo-portal-7a2d5f10";
pub const ADMIN: &str = "demo-admin-4e8c1b96";
pub const AUDITOR: &str = "demo-auditor-b1f7390d";
pub const AMELIE: &str = "citizens/demo-amelie";
pub const JORDAN: &str = "citizens/demo-jordan";

/// How a test call authenticates.
#[derive(Debug, Clone)]
pub enum As {
    Public,
    Key(&'static str),
    /// The demo portal with a citizen token.
    Portal(String),
}

/// `message` with the credentials of `who`.
pub fn req<T>(who: &As, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let m = request.metadata_mut();
    match who {
        As::Public => {}
        As::Key(key) => {
            m.insert(
                "authorization",
                format!("Bearer {key}").parse().expect("metadata"),
            );
        }
        As::Portal(token) => {
            m.insert(
                "authorization",
                format!("Bearer {PORTAL}").parse().expect("metadata"),
            );
            m.insert("x-citizen-token", token.parse().expect("metadata"));
        }
    }
    request
}

/// The demo portal acting for the demo citizen with `subject`.
pub fn portal_for(app: &TestApp, subject: &str) -> As {
    let secrets = Secrets::load(&app.db.keys_file).expect("the test key file");
    let key = secrets.demo_identity_provider_key.expect("a demo IdP key");
    As::Portal(demo::citizen_token(&key, subject, unix_now()))
}

pub fn amelie(app: &TestApp) -> As {
    portal_for(app, "amelie.tremblay")
}

pub fn jordan(app: &TestApp) -> As {
    portal_for(app, "jordan.okafor")
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn client(app: &TestApp) -> CitizenServiceClient<Channel> {
    app.citizens.clone()
}

pub fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

/// A consent to `agency` for `purpose` on `categories`, valid from an hour ago.
pub fn consent(agency: &str, purpose: Purpose, categories: &[Cat]) -> pb::Consent {
    pb::Consent {
        grantee: format!("agencies/{agency}"),
        purpose: purpose as i32,
        categories: categories.iter().map(|c| *c as i32).collect(),
        valid_from: ts(unix_now() - 3600),
        ..Default::default()
    }
}

pub async fn grant(
    app: &TestApp,
    who: &As,
    citizen: &str,
    c: pb::Consent,
) -> Result<pb::Consent, Status> {
    let request = pb::GrantConsentRequest {
        parent: citizen.to_owned(),
        consent: Some(c),
        request_id: String::new(),
    };
    client(app)
        .grant_consent(req(who, request))
        .await
        .map(|r| r.into_inner())
}

pub async fn get(
    app: &TestApp,
    who: &As,
    citizen: &str,
    purpose: Purpose,
    mask: &[&str],
) -> Result<Citizen, Status> {
    let request = pb::GetCitizenRequest {
        name: citizen.to_owned(),
        purpose: purpose as i32,
        read_mask: (!mask.is_empty()).then(|| FieldMask {
            paths: mask.iter().map(|p| (*p).to_owned()).collect(),
        }),
    };
    client(app)
        .get_citizen(req(who, request))
        .await
        .map(|r| r.into_inner())
}

/// A new record as an agency would create it.
pub fn new_citizen(given: &str, family: &str, sin: &str) -> Citizen {
    Citizen {
        identity: Some(pb::Identity {
            given_name: given.to_owned(),
            family_name: family.to_owned(),
            date_of_birth: "1970-05-17".to_owned(),
            ..Default::default()
        }),
        contact: Some(pb::Contact {
            email: "someone@example.ca".to_owned(),
            phone: "(204) 555-0100".to_owned(),
        }),
        addresses: vec![pb::Address {
            kind: pb::AddressKind::Residential as i32,
            line1: "1 Main Street".to_owned(),
            city: "Winnipeg".to_owned(),
            province: "MB".to_owned(),
            postal_code: "r3c 4t3".to_owned(),
            ..Default::default()
        }],
        identifiers: if sin.is_empty() {
            Vec::new()
        } else {
            vec![pb::Identifier {
                scheme: pb::IdentifierScheme::Sin as i32,
                value: sin.to_owned(),
                ..Default::default()
            }]
        },
        ..Default::default()
    }
}

pub async fn create(
    app: &TestApp,
    who: &As,
    citizen: Citizen,
    request_id: &str,
) -> Result<Citizen, Status> {
    let request = pb::CreateCitizenRequest {
        citizen: Some(citizen),
        request_id: request_id.to_owned(),
    };
    client(app)
        .create_citizen(req(who, request))
        .await
        .map(|r| r.into_inner())
}

fn categories(c: &Citizen) -> Vec<Cat> {
    c.categories
        .iter()
        .map(|v| Cat::try_from(*v).expect("a category"))
        .collect()
}

#[tokio::test]
async fn an_agency_reads_only_the_categories_its_live_consent_covers() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let cra = As::Key(CRA);
        grant(
            &app,
            &amelie(&app),
            AMELIE,
            consent(
                "cra-arc",
                Purpose::EligibilityAssessment,
                &[Cat::Identity, Cat::Address],
            ),
        )
        .await
        .expect("the citizen grants");
        let read = get(&app, &cra, AMELIE, Purpose::EligibilityAssessment, &[])
            .await
            .expect("a covered read");
        assert_eq!(categories(&read), [Cat::Identity, Cat::Address]);
        assert_eq!(
            read.identity.as_ref().expect("identity").family_name,
            "Tremblay"
        );
        assert_eq!(read.addresses[0].postal_code, "G1R 1N9");
        assert!(
            read.contact.is_none() && read.identifiers.is_empty(),
            "nothing else: {read:?}"
        );

        let only = get(
            &app,
            &cra,
            AMELIE,
            Purpose::EligibilityAssessment,
            &["addresses"],
        )
        .await
        .expect("less");
        assert_eq!(categories(&only), [Cat::Address]);
        assert!(only.identity.is_none());

        for (purpose, mask) in [
            (Purpose::EligibilityAssessment, &["contact"][..]),
            (
                Purpose::EligibilityAssessment,
                &["identity", "identifiers"][..],
            ),
            (Purpose::ServiceDelivery, &[][..]),
        ] {
            let denied = get(&app, &cra, AMELIE, purpose, mask)
                .await
                .expect_err("not covered");
            assert_error(&denied, Code::PermissionDenied, "PERMISSION_DENIED", None);
        }
        let other = get(
            &app,
            &As::Key(ESDC),
            AMELIE,
            Purpose::EligibilityAssessment,
            &[],
        )
        .await
        .expect_err("no grant");
        assert_error(&other, Code::PermissionDenied, "PERMISSION_DENIED", None);

        let own = get(&app, &amelie(&app), AMELIE, Purpose::Unspecified, &[])
            .await
            .expect("the citizen's own");
        assert_eq!(own.identifiers[0].value, "273456780");
        assert_eq!(categories(&own).len(), 7);
        let theirs = get(&app, &jordan(&app), AMELIE, Purpose::Unspecified, &[])
            .await
            .expect_err("another citizen");
        assert_error(&theirs, Code::PermissionDenied, "PERMISSION_DENIED", None);
    }
}

/// Everything a client can see of a failure.
fn seen(status: &Status) -> (Code, String, Vec<u8>) {
    (
        status.code(),
        status.message().to_owned(),
        status.details().to_vec(),
    )
}

#[tokio::test]
async fn denials_are_byte_identical_for_missing_and_existing_citizens() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let cic = As::Key(CIC);
        let existing = get(&app, &cic, AMELIE, Purpose::ServiceDelivery, &[])
            .await
            .expect_err("no consent");
        let missing = get(
            &app,
            &cic,
            "citizens/nobody-here",
            Purpose::ServiceDelivery,
            &[],
        )
        .await
        .expect_err("no one");
        assert_eq!(seen(&existing), seen(&missing));
        let portal_other = get(&app, &jordan(&app), AMELIE, Purpose::Unspecified, &[])
            .await
            .expect_err("other");
        let portal_missing = get(
            &app,
            &jordan(&app),
            "citizens/nobody-here",
            Purpose::Unspecified,
            &[],
        )
        .await
        .expect_err("missing");
        assert_eq!(seen(&portal_other), seen(&portal_missing));
        assert_eq!(seen(&existing), seen(&portal_other));
        let grant_existing = grant(
            &app,
            &cic,
            AMELIE,
            consent("cra-arc", Purpose::Prefill, &[Cat::Contact]),
        )
        .await
        .expect_err("for another agency");
        let grant_missing = grant(
            &app,
            &cic,
            "citizens/nobody-here",
            consent("cra-arc", Purpose::Prefill, &[Cat::Contact]),
        )
        .await
        .expect_err("missing");
        assert_eq!(seen(&grant_existing), seen(&grant_missing));
    }
}

#[tokio::test]
async fn a_revocation_takes_effect_for_every_call_after_it() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let esdc = As::Key(ESDC);
        for round in 0..5 {
            let given = grant(
                &app,
                &amelie(&app),
                AMELIE,
                consent("esdc-edsc", Purpose::ServiceDelivery, &[Cat::Contact]),
            )
            .await
            .expect("granted");
            assert_eq!(given.state, pb::ConsentState::Active as i32);
            get(&app, &esdc, AMELIE, Purpose::ServiceDelivery, &[])
                .await
                .expect("read under consent");
            let revoked = client(&app)
                .revoke_consent(req(
                    &amelie(&app),
                    pb::RevokeConsentRequest {
                        name: given.name.clone(),
                    },
                ))
                .await
                .expect("revoked")
                .into_inner();
            assert_eq!(revoked.state, pb::ConsentState::Revoked as i32);
            assert_eq!(revoked.revoked_by, "portals/demo-portal");
            let denied = get(&app, &esdc, AMELIE, Purpose::ServiceDelivery, &[])
                .await
                .expect_err(&format!("round {round}"));
            assert_error(&denied, Code::PermissionDenied, "PERMISSION_DENIED", None);
        }
    }
}

#[tokio::test]
async fn consents_that_are_expired_pending_or_for_another_purpose_release_nothing() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let now = unix_now();
        let mut expired = consent("cic", Purpose::ServiceDelivery, &[Cat::Identity]);
        expired.valid_from = ts(now - 7200);
        expired.valid_until = ts(now - 3600);
        let mut pending = consent("cic", Purpose::ServiceDelivery, &[Cat::Identity]);
        pending.valid_from = ts(now + 3600);
        let other = consent("cic", Purpose::Prefill, &[Cat::Identity]);
        for c in [expired, pending, other] {
            grant(&app, &amelie(&app), AMELIE, c)
                .await
                .expect("granted");
        }
        let denied = get(&app, &As::Key(CIC), AMELIE, Purpose::ServiceDelivery, &[])
            .await
            .expect_err("nothing live");
        assert_error(&denied, Code::PermissionDenied, "PERMISSION_DENIED", None);
        let listed = client(&app)
            .list_consents(req(
                &amelie(&app),
                pb::ListConsentsRequest {
                    parent: AMELIE.to_owned(),
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        let states: Vec<i32> = listed.consents.iter().map(|c| c.state).collect();
        assert_eq!(
            states,
            [
                pb::ConsentState::Expired as i32,
                pb::ConsentState::Pending as i32,
                pb::ConsentState::Active as i32
            ]
        );
    }
}

#[tokio::test]
async fn create_citizen_is_idempotent_on_request_id() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let esdc = As::Key(ESDC);
        let body = new_citizen("Marie-Ève", "Côté", "130 692 544");
        let first = create(&app, &esdc, body.clone(), "req-1")
            .await
            .expect("created");
        assert!(first.name.starts_with("citizens/"));
        assert_eq!(
            first.contact.as_ref().expect("contact").phone,
            "+12045550100"
        );
        assert_eq!(first.addresses[0].postal_code, "R3C 4T3");
        let again = create(&app, &esdc, body.clone(), "req-1")
            .await
            .expect("a retry");
        assert_eq!(again, first, "a retry answers the first response");
        let (a, b) = tokio::join!(
            create(&app, &esdc, new_citizen("Ana", "Silva", ""), "req-2"),
            create(&app, &esdc, new_citizen("Ana", "Silva", ""), "req-2"),
        );
        let (a, b) = (a.expect("concurrent first"), b.expect("concurrent retry"));
        assert_eq!(a.name, b.name, "concurrent retries create one citizen");
        let mut other = body.clone();
        other.identity.as_mut().expect("identity").given_name = "Marie".to_owned();
        let reused = create(&app, &esdc, other, "req-1")
            .await
            .expect_err("another body");
        assert_error(&reused, Code::AlreadyExists, "ALREADY_EXISTS", None);
        let by_another = create(
            &app,
            &As::Key(CRA),
            new_citizen("Marie-Ève", "Côté", ""),
            "req-1",
        )
        .await
        .expect("request ids are per caller");
        assert_ne!(by_another.name, first.name);
        let duplicate = create(
            &app,
            &esdc,
            new_citizen("Someone", "Else", "130692544"),
            "req-3",
        )
        .await
        .expect_err("the SIN is taken");
        assert_error(&duplicate, Code::AlreadyExists, "ALREADY_EXISTS", None);
    }
}

pub async fn update(
    app: &TestApp,
    who: &As,
    citizen: Citizen,
    paths: &[&str],
) -> Result<Citizen, Status> {
    let request = pb::UpdateCitizenRequest {
        citizen: Some(citizen),
        update_mask: Some(FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    };
    client(app)
        .update_citizen(req(who, request))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn updates_need_a_current_etag_and_change_only_the_masked_fields() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let me = amelie(&app);
        let read = get(&app, &me, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect("read");
        let mut change = read.clone();
        change.contact.as_mut().expect("contact").email = "amelie@example.org".to_owned();
        change.identity.as_mut().expect("identity").given_name = "Not changed".to_owned();
        let updated = update(&app, &me, change.clone(), &["contact.email"])
            .await
            .expect("updated");
        assert_eq!(
            updated.contact.as_ref().expect("contact").email,
            "amelie@example.org"
        );
        assert_eq!(
            updated.contact.as_ref().expect("contact").phone,
            "+14185550142",
            "unmasked fields stay"
        );
        assert_eq!(
            updated.identity.as_ref().expect("identity").given_name,
            "Amélie"
        );
        assert_ne!(updated.etag, read.etag);
        let stale = update(&app, &me, change.clone(), &["contact.email"])
            .await
            .expect_err("stale etag");
        assert_error(&stale, Code::Aborted, "ETAG_MISMATCH", None);
        for (path, field) in [
            ("name", "update_mask.paths[0]"),
            ("etag", "update_mask.paths[0]"),
            ("contact.fax", "update_mask.paths[0]"),
            ("nickname", "update_mask.paths[0]"),
            ("addresses[0].city", "update_mask.paths[0]"),
        ] {
            let bad = update(&app, &me, updated.clone(), &[path])
                .await
                .expect_err(path);
            assert_error(&bad, Code::InvalidArgument, "INVALID_ARGUMENT", Some(field));
        }
        let mut no_etag = updated.clone();
        no_etag.etag.clear();
        let missing = update(&app, &me, no_etag, &["contact"])
            .await
            .expect_err("etag required");
        assert_error(
            &missing,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("citizen.etag"),
        );
        // An agency needs record-maintenance consent for what it changes, and is refused before
        // the etag is looked at.
        let cra = As::Key(CRA);
        let refused = update(&app, &cra, change.clone(), &["contact.email"])
            .await
            .expect_err("no consent");
        assert_error(&refused, Code::PermissionDenied, "PERMISSION_DENIED", None);
        grant(
            &app,
            &me,
            AMELIE,
            consent("cra-arc", Purpose::RecordMaintenance, &[Cat::Contact]),
        )
        .await
        .expect("granted");
        let mut by_cra = updated.clone();
        by_cra.contact.as_mut().expect("contact").phone = "418 555 0199".to_owned();
        let done = update(&app, &cra, by_cra.clone(), &["contact.phone"])
            .await
            .expect("maintained");
        assert_eq!(
            categories(&done),
            [Cat::Contact],
            "the agency sees what its consent covers"
        );
        assert_eq!(done.contact.expect("contact").phone, "+14185550199");
        let beyond = update(&app, &cra, by_cra, &["addresses"])
            .await
            .expect_err("not covered");
        assert_error(&beyond, Code::PermissionDenied, "PERMISSION_DENIED", None);
    }
}

#[tokio::test]
async fn find_citizen_grades_candidates_and_each_candidate_sees_the_search() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let cra = As::Key(CRA);
        let find = |r: pb::FindCitizenRequest| {
            let mut c = client(&app);
            let request = req(&cra, r);
            async move { c.find_citizen(request).await.map(|r| r.into_inner()) }
        };
        let by_sin = find(pb::FindCitizenRequest {
            purpose: Purpose::ServiceDelivery as i32,
            identifier: Some(pb::Identifier {
                scheme: pb::IdentifierScheme::Sin as i32,
                value: "273-456-780".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("found");
        assert_eq!(by_sin.candidates.len(), 1);
        assert_eq!(by_sin.candidates[0].citizen, AMELIE);
        assert_eq!(by_sin.candidates[0].grade, pb::MatchGrade::Certain as i32);
        let by_traits = find(pb::FindCitizenRequest {
            purpose: Purpose::ServiceDelivery as i32,
            given_name: "amelie".to_owned(),
            family_name: "TREMBLAY".to_owned(),
            date_of_birth: "1988-04-12".to_owned(),
            ..Default::default()
        })
        .await
        .expect("found");
        assert_eq!(by_traits.candidates[0].citizen, AMELIE);
        assert_eq!(
            by_traits.candidates[0].grade,
            pb::MatchGrade::Probable as i32
        );
        let none = find(pb::FindCitizenRequest {
            purpose: Purpose::ServiceDelivery as i32,
            family_name: "Nobody".to_owned(),
            date_of_birth: "1901-01-01".to_owned(),
            ..Default::default()
        })
        .await
        .expect("searched");
        assert!(none.candidates.is_empty());
        let vague = find(pb::FindCitizenRequest {
            purpose: Purpose::ServiceDelivery as i32,
            family_name: "Tremblay".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("one trait is not enough");
        assert_error(
            &vague,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("identifier"),
        );
        let no_purpose = find(pb::FindCitizenRequest {
            family_name: "Tremblay".to_owned(),
            postal_code: "G1R 1N9".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("a purpose is required");
        assert_error(
            &no_purpose,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("purpose"),
        );
        let log = events(&app, &amelie(&app), AMELIE, 0)
            .await
            .expect("the log");
        let finds: Vec<_> = log
            .events
            .iter()
            .filter(|e| e.action == pb::AccessAction::Find as i32)
            .collect();
        assert_eq!(
            finds.len(),
            2,
            "each search that returned her is in her log"
        );
        assert!(
            finds
                .iter()
                .all(|e| e.actor == "agencies/cra-arc/teams/benefits-credits")
        );
        let portal = client(&app)
            .find_citizen(req(&amelie(&app), pb::FindCitizenRequest::default()))
            .await
            .expect_err("agencies only");
        assert_error(&portal, Code::PermissionDenied, "PERMISSION_DENIED", None);
    }
}

pub async fn events(
    app: &TestApp,
    who: &As,
    citizen: &str,
    known: i64,
) -> Result<pb::ListAccessEventsResponse, Status> {
    let request = pb::ListAccessEventsRequest {
        parent: citizen.to_owned(),
        page_size: 500,
        known_tree_size: known,
        ..Default::default()
    };
    client(app)
        .list_access_events(req(who, request))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn portals_prove_their_citizen_with_a_token_from_the_citizens_identity_provider() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let without = get(&app, &As::Key(PORTAL), AMELIE, Purpose::Unspecified, &[])
            .await
            .expect_err("no citizen token");
        assert_error(&without, Code::Unauthenticated, "UNAUTHENTICATED", None);
        let stranger = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
        let forged = As::Portal(demo::citizen_token(
            &stranger,
            "amelie.tremblay",
            unix_now(),
        ));
        let refused = get(&app, &forged, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect_err("another provider");
        assert_error(&refused, Code::Unauthenticated, "UNAUTHENTICATED", None);
        let key = Secrets::load(&app.db.keys_file)
            .expect("keys")
            .demo_identity_provider_key
            .expect("idp");
        let expired = As::Portal(demo::citizen_token(
            &key,
            "amelie.tremblay",
            unix_now() - demo::CITIZEN_TOKEN_TTL_SECONDS - 120,
        ));
        let late = get(&app, &expired, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect_err("expired");
        assert_error(&late, Code::Unauthenticated, "UNAUTHENTICATED", None);
        let As::Portal(token) = amelie(&app) else {
            unreachable!()
        };
        let mut request = req(
            &As::Key(ESDC),
            pb::GetCitizenRequest {
                name: AMELIE.to_owned(),
                purpose: Purpose::ServiceDelivery as i32,
                ..Default::default()
            },
        );
        request
            .metadata_mut()
            .insert("x-citizen-token", token.parse().expect("metadata"));
        let agency_with_token = client(&app)
            .get_citizen(request)
            .await
            .expect_err("only portals send citizen tokens");
        assert_error(
            &agency_with_token,
            Code::Unauthenticated,
            "UNAUTHENTICATED",
            None,
        );
        let mut request = Request::new(pb::GetCitizenRequest {
            name: AMELIE.to_owned(),
            ..Default::default()
        });
        request
            .metadata_mut()
            .insert("x-citizen-token", token.parse().expect("metadata"));
        let token_alone = client(&app)
            .get_citizen(request)
            .await
            .expect_err("a citizen token alone is no principal");
        assert_eq!(token_alone.code(), Code::Unauthenticated);
        // A token whose subject has no record yet: the portal creates it, once.
        let newcomer = portal_for(&app, "new.person");
        let before = get(&app, &newcomer, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect_err("not linked");
        assert_error(&before, Code::PermissionDenied, "PERMISSION_DENIED", None);
        let mine = create(&app, &newcomer, new_citizen("New", "Person", ""), "")
            .await
            .expect("created and linked");
        get(&app, &newcomer, &mine.name, Purpose::Unspecified, &[])
            .await
            .expect("now linked");
        let twice = create(&app, &newcomer, new_citizen("New", "Person", ""), "")
            .await
            .expect_err("once");
        assert_error(&twice, Code::AlreadyExists, "ALREADY_EXISTS", None);
    }
}

#[tokio::test]
async fn a_contact_change_notifies_the_agencies_that_asked_and_only_them() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let me = amelie(&app);
        grant(
            &app,
            &me,
            AMELIE,
            consent(
                "cra-arc",
                Purpose::NotifyOfChanges,
                &[Cat::Contact, Cat::Address],
            ),
        )
        .await
        .expect("granted");
        let read = get(&app, &me, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect("read");
        let mut change = read.clone();
        change.contact.as_mut().expect("contact").email = "new@example.ca".to_owned();
        let updated = update(&app, &me, change, &["contact"])
            .await
            .expect("updated");
        let mut moved = updated.clone();
        moved.addresses[0].line1 = "99 rue Saint-Paul".to_owned();
        update(&app, &me, moved, &["addresses"])
            .await
            .expect("moved");
        let notices = |key: &'static str, after: i64| {
            let mut c = client(&app);
            async move {
                c.list_change_notices(req(
                    &As::Key(key),
                    pb::ListChangeNoticesRequest {
                        after_position: after,
                        page_size: 0,
                    },
                ))
                .await
                .map(|r| r.into_inner())
            }
        };
        let cra = notices(CRA, 0).await.expect("listed");
        let kinds: Vec<i32> = cra.notices.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            [
                pb::ChangeKind::Contact as i32,
                pb::ChangeKind::Address as i32
            ]
        );
        assert!(cra.notices.iter().all(|n| n.citizen == AMELIE));
        assert!(cra.notices[0].position < cra.notices[1].position);
        let rest = notices(CRA, cra.next_position).await.expect("resumed");
        assert!(rest.notices.is_empty());
        assert_eq!(rest.next_position, cra.next_position);
        assert!(
            notices(ESDC, 0).await.expect("listed").notices.is_empty(),
            "no consent, no notice"
        );
        // Past retention: resuming from a forgotten position is refused, naming the oldest.
        let mut again = get(&app, &me, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect("read");
        again.contact.as_mut().expect("contact").email = "third@example.ca".to_owned();
        update(&app, &me, again, &["contact"])
            .await
            .expect("updated");
        let first = cra.notices[0].position;
        let forget = format!(
            "DELETE FROM change_notices WHERE position <= {}",
            cra.next_position
        );
        crate::access_log::exec(&app, backend, &forget).await;
        let gone = notices(CRA, first).await.expect_err("forgotten");
        assert_error(&gone, Code::FailedPrecondition, "FAILED_PRECONDITION", None);
        let fresh = notices(CRA, 0).await.expect("from the oldest retained");
        assert_eq!(fresh.notices.len(), 1);
    }
}

/// A change that makes a valid message invalid.
type Spoil<T> = fn(&mut T);

#[tokio::test]
async fn every_bad_field_of_a_new_record_is_named() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let esdc = As::Key(ESDC);
        let cases: Vec<(Spoil<Citizen>, &str)> = vec![
            (
                |c| c.identity.as_mut().unwrap().given_name.clear(),
                "citizen.identity.given_name",
            ),
            (
                |c| c.identity.as_mut().unwrap().family_name = "x".repeat(101),
                "citizen.identity.family_name",
            ),
            (
                |c| c.identity.as_mut().unwrap().date_of_birth = "1970-02-30".to_owned(),
                "citizen.identity.date_of_birth",
            ),
            (
                |c| c.identity.as_mut().unwrap().date_of_birth = "2999-01-01".to_owned(),
                "citizen.identity.date_of_birth",
            ),
            (
                |c| c.contact.as_mut().unwrap().email = "not an email".to_owned(),
                "citizen.contact.email",
            ),
            (
                |c| c.contact.as_mut().unwrap().phone = "555".to_owned(),
                "citizen.contact.phone",
            ),
            (
                |c| c.addresses[0].postal_code = "K1A 0B1".to_owned(),
                "citizen.addresses[0].postal_code",
            ),
            (
                |c| c.addresses[0].province = "ZZ".to_owned(),
                "citizen.addresses[0].province",
            ),
            (|c| c.addresses[0].kind = 0, "citizen.addresses[0].kind"),
            (
                |c| c.addresses[0].line1.clear(),
                "citizen.addresses[0].line1",
            ),
            (
                |c| c.identifiers[0].value = "130692545".to_owned(),
                "citizen.identifiers[0].value",
            ),
            (
                |c| c.identifiers[0].scheme = 0,
                "citizen.identifiers[0].scheme",
            ),
            (
                |c| c.identifiers[0].province = "ON".to_owned(),
                "citizen.identifiers[0].province",
            ),
            (
                |c| {
                    c.accessibility = Some(pb::Accessibility {
                        needs: vec![1, 1],
                        note: String::new(),
                    })
                },
                "citizen.accessibility.needs[1]",
            ),
            (
                |c| c.circumstances = Some(pb::Circumstances { declared: vec![99] }),
                "citizen.circumstances.declared[0]",
            ),
            (
                |c| {
                    c.preferences = Some(pb::Preferences {
                        language: 7,
                        preferred_channel: 0,
                    })
                },
                "citizen.preferences.language",
            ),
        ];
        for (spoil, field) in cases {
            let mut citizen = new_citizen("Test", "Person", "130 692 544");
            spoil(&mut citizen);
            let status = create(&app, &esdc, citizen, "").await.expect_err(field);
            assert_error(
                &status,
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
                Some(field),
            );
            assert!(
                !status.message().contains("130692545"),
                "identifiers are never echoed"
            );
        }
        let long_id = create(&app, &esdc, new_citizen("A", "B", ""), &"r".repeat(65))
            .await
            .expect_err("request_id");
        assert_error(
            &long_id,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("request_id"),
        );
        let missing = client(&app)
            .create_citizen(req(&esdc, pb::CreateCitizenRequest::default()))
            .await
            .expect_err("citizen required");
        assert_error(
            &missing,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("citizen"),
        );
        for (name, field) in [("", "name"), ("citizen/x", "name"), ("citizens/", "name")] {
            let bad = get(&app, &esdc, name, Purpose::ServiceDelivery, &[])
                .await
                .expect_err(name);
            assert_error(&bad, Code::InvalidArgument, "INVALID_ARGUMENT", Some(field));
        }
        let no_purpose = get(&app, &esdc, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect_err("purpose");
        assert_error(
            &no_purpose,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("purpose"),
        );
        let bad_mask = get(
            &app,
            &esdc,
            AMELIE,
            Purpose::ServiceDelivery,
            &["identity.given_name"],
        )
        .await
        .expect_err("mask");
        assert_error(
            &bad_mask,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("read_mask.paths[0]"),
        );
        let me = amelie(&app);
        let consent_cases: Vec<(Spoil<pb::Consent>, &str)> = vec![
            (
                |c| c.grantee = "agencies/no-such-agency".to_owned(),
                "consent.grantee",
            ),
            (|c| c.grantee = "cra-arc".to_owned(), "consent.grantee"),
            (|c| c.purpose = 0, "consent.purpose"),
            (|c| c.categories.clear(), "consent.categories"),
            (|c| c.categories = vec![2, 2], "consent.categories[1]"),
            (
                |c| c.valid_until = ts(unix_now() - 7200),
                "consent.valid_until",
            ),
            (
                |c| {
                    c.valid_from = Some(Timestamp {
                        seconds: 1,
                        nanos: -5,
                    })
                },
                "consent.valid_from",
            ),
        ];
        for (spoil, field) in consent_cases {
            let mut c = consent("cra-arc", Purpose::Prefill, &[Cat::Contact]);
            spoil(&mut c);
            let status = grant(&app, &me, AMELIE, c).await.expect_err(field);
            assert_error(
                &status,
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
                Some(field),
            );
        }
        let by_agency = grant(
            &app,
            &As::Key(CRA),
            AMELIE,
            consent("cra-arc", Purpose::Prefill, &[Cat::Contact]),
        )
        .await
        .expect_err("channel");
        assert_error(
            &by_agency,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("consent.channel"),
        );
        let revoke = client(&app)
            .revoke_consent(req(
                &me,
                pb::RevokeConsentRequest {
                    name: "citizens/demo-amelie/consent/x".to_owned(),
                },
            ))
            .await
            .expect_err("bad name");
        assert_error(
            &revoke,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("name"),
        );
        let negative = events(&app, &me, AMELIE, -1)
            .await
            .expect_err("negative size");
        assert_error(
            &negative,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("known_tree_size"),
        );
    }
}

pub async fn authorize(
    app: &TestApp,
    who: &As,
    citizen: &str,
    r: pb::Representation,
) -> Result<pb::Representation, Status> {
    let request = pb::AuthorizeRepresentativeRequest {
        parent: citizen.to_owned(),
        representation: Some(r),
        request_id: String::new(),
    };
    client(app)
        .authorize_representative(req(who, request))
        .await
        .map(|r| r.into_inner())
}

pub fn representation(
    representative: &str,
    categories: &[Cat],
    manage_consents: bool,
) -> pb::Representation {
    pb::Representation {
        representative: representative.to_owned(),
        kind: pb::RepresentationKind::PowerOfAttorney as i32,
        categories: categories.iter().map(|c| *c as i32).collect(),
        manage_consents,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_representative_acts_within_their_scope_and_the_log_names_them() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (me, jordan) = (amelie(&app), jordan(&app));
        let given = authorize(
            &app,
            &me,
            AMELIE,
            representation(JORDAN, &[Cat::Contact, Cat::Address], false),
        )
        .await
        .expect("authorised");
        assert_eq!(given.state, pb::ConsentState::Active as i32);
        let read = get(&app, &jordan, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect("within scope");
        assert_eq!(categories(&read), [Cat::Contact, Cat::Address]);
        assert!(read.identity.is_none() && read.identifiers.is_empty());
        let beyond = get(
            &app,
            &jordan,
            AMELIE,
            Purpose::Unspecified,
            &["identifiers"],
        )
        .await
        .expect_err("out of scope");
        assert_error(&beyond, Code::PermissionDenied, "PERMISSION_DENIED", None);
        let no_consents = grant(
            &app,
            &jordan,
            AMELIE,
            consent("cic", Purpose::Prefill, &[Cat::Contact]),
        )
        .await
        .expect_err("may not manage consents");
        assert_error(
            &no_consents,
            Code::PermissionDenied,
            "PERMISSION_DENIED",
            None,
        );
        let log = events(&app, &jordan, AMELIE, 0)
            .await
            .expect("a representative reads the log");
        let reads: Vec<_> = log
            .events
            .iter()
            .filter(|e| e.representative == JORDAN)
            .collect();
        assert!(
            reads.len() >= 3,
            "every access by the representative names them: {reads:?}"
        );
        assert!(reads.iter().all(|e| e.actor == "portals/demo-portal"));
        assert!(
            reads
                .iter()
                .any(|e| e.outcome == pb::AccessOutcome::Denied as i32)
        );
        let mine = client(&app)
            .list_representatives(req(
                &jordan,
                pb::ListRepresentativesRequest {
                    parent: AMELIE.to_owned(),
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        assert_eq!(mine.representations.len(), 1);

        // Recorded by an agency, on documents: now Jordan may manage Amélie's consents.
        let by_agency = authorize(
            &app,
            &As::Key(ESDC),
            AMELIE,
            representation(JORDAN, &[Cat::Contact], true),
        )
        .await
        .expect("recorded");
        assert_eq!(
            by_agency.recorded_by,
            "agencies/esdc-edsc/teams/ei-benefits"
        );
        grant(
            &app,
            &jordan,
            AMELIE,
            consent("cic", Purpose::Prefill, &[Cat::Contact]),
        )
        .await
        .expect("on her behalf");

        for r in [given, by_agency] {
            client(&app)
                .revoke_representative(req(&me, pb::RevokeRepresentativeRequest { name: r.name }))
                .await
                .expect("revoked");
        }
        let after = get(&app, &jordan, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect_err("revoked");
        assert_error(&after, Code::PermissionDenied, "PERMISSION_DENIED", None);

        for (r, field) in [
            (
                representation(AMELIE, &[Cat::Contact], false),
                "representation.representative",
            ),
            (
                representation("citizens/nobody-at-all", &[Cat::Contact], false),
                "representation.representative",
            ),
            (
                representation(JORDAN, &[], false),
                "representation.categories",
            ),
            (
                pb::Representation {
                    kind: 0,
                    ..representation(JORDAN, &[Cat::Contact], false)
                },
                "representation.kind",
            ),
        ] {
            let bad = authorize(&app, &me, AMELIE, r).await.expect_err(field);
            assert_error(&bad, Code::InvalidArgument, "INVALID_ARGUMENT", Some(field));
        }
        let stranger = authorize(
            &app,
            &jordan,
            AMELIE,
            representation(JORDAN, &[Cat::Contact], true),
        )
        .await
        .expect_err("only she or an agency");
        assert_error(&stranger, Code::PermissionDenied, "PERMISSION_DENIED", None);
    }
}

#[tokio::test]
async fn concurrent_updates_with_one_etag_let_exactly_one_win_and_leave_other_writes_whole() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let me = amelie(&app);
        let read = get(&app, &me, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect("read");
        let updates = (0..12).map(|i| {
            let mut change = read.clone();
            change.contact.as_mut().expect("contact").email = format!("racer{i}@example.ca");
            update(&app, &me, change, &["contact.email"])
        });
        let creates = (0..12).map(|i| {
            create(
                &app,
                &As::Key(ESDC),
                new_citizen("Batch", &format!("Mate{i}"), ""),
                "",
            )
        });
        let (updated, created) = tokio::join!(
            single_window::store::conformance::futures_join_all(updates),
            single_window::store::conformance::futures_join_all(creates)
        );
        let won: Vec<_> = updated.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(
            won.len(),
            1,
            "{backend:?}: exactly one update with the etag wins"
        );
        for lost in updated.iter().filter_map(|r| r.as_ref().err()) {
            assert_error(lost, Code::Aborted, "ETAG_MISMATCH", None);
        }
        assert!(
            created.iter().all(Result::is_ok),
            "{backend:?}: the other callers' writes commit: {created:?}"
        );
        let after = get(&app, &me, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect("read");
        assert_eq!(after.etag, "\"v2\"");
        assert_eq!(
            Some(&after.contact),
            won[0].as_ref().map(|c| &c.contact).ok()
        );
    }
}

#[tokio::test]
async fn page_tokens_of_citizen_data_are_bound_to_the_caller() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let me = amelie(&app);
        for purpose in [Purpose::Prefill, Purpose::ServiceDelivery] {
            grant(
                &app,
                &me,
                AMELIE,
                consent("esdc-edsc", purpose, &[Cat::Contact]),
            )
            .await
            .expect("granted");
        }
        let list = |who: As, token: String| {
            let mut c = client(&app);
            async move {
                c.list_consents(req(
                    &who,
                    pb::ListConsentsRequest {
                        parent: AMELIE.to_owned(),
                        page_size: 1,
                        page_token: token,
                    },
                ))
                .await
                .map(|r| r.into_inner())
            }
        };
        let first = list(me.clone(), String::new()).await.expect("first page");
        assert_eq!(first.consents.len(), 1);
        assert!(!first.next_page_token.is_empty());
        let second = list(me.clone(), first.next_page_token.clone())
            .await
            .expect("the same caller continues");
        assert_eq!(second.consents.len(), 1);
        assert_ne!(second.consents[0].name, first.consents[0].name);
        for other in [As::Key(ESDC), jordan(&app)] {
            let refused = list(other, first.next_page_token.clone())
                .await
                .expect_err("another caller");
            assert_error(&refused, Code::InvalidArgument, "INVALID_PAGE_TOKEN", None);
        }
    }
}

#[tokio::test]
async fn nothing_is_released_or_written_when_the_access_event_cannot_be_written() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let me = amelie(&app);
        get(&app, &me, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect("a read works");
        crate::access_log::exec(
            &app,
            backend,
            "ALTER TABLE access_events RENAME TO access_events_gone",
        )
        .await;
        let read = get(&app, &me, AMELIE, Purpose::Unspecified, &[])
            .await
            .expect_err("no event, no data");
        assert!(
            matches!(read.code(), Code::Internal | Code::Unavailable),
            "{read:?}"
        );
        assert!(
            !read.message().contains("access_events"),
            "no driver text: {read:?}"
        );
        let made = create(
            &app,
            &As::Key(ESDC),
            new_citizen("Half", "Written", "130 692 544"),
            "",
        )
        .await
        .expect_err("no event, no record");
        assert!(matches!(made.code(), Code::Internal | Code::Unavailable));
        crate::access_log::exec(
            &app,
            backend,
            "ALTER TABLE access_events_gone RENAME TO access_events",
        )
        .await;
        // The failed creation left nothing behind: the same SIN can be used now.
        create(
            &app,
            &As::Key(ESDC),
            new_citizen("Half", "Written", "130 692 544"),
            "",
        )
        .await
        .expect("created whole");
    }
}

#[tokio::test]
async fn a_deceased_date_is_itself_a_change_notice_and_the_last_one() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let esdc = As::Key(ESDC);
        let sam = create(&app, &esdc, new_citizen("Sam", "Lee", ""), "")
            .await
            .expect("created");
        let mut c = consent(
            "esdc-edsc",
            Purpose::NotifyOfChanges,
            &[Cat::Identity, Cat::Contact],
        );
        c.channel = pb::Channel::InPerson as i32;
        grant(&app, &esdc, &sam.name, c)
            .await
            .expect("recorded at a counter");
        let mut m = consent(
            "esdc-edsc",
            Purpose::RecordMaintenance,
            &[Cat::Identity, Cat::Contact],
        );
        m.channel = pb::Channel::InPerson as i32;
        grant(&app, &esdc, &sam.name, m).await.expect("recorded");
        let mut died = sam.clone();
        died.identity.as_mut().expect("identity").deceased_date = "2026-11-30".to_owned();
        let after = update(&app, &esdc, died, &["identity.deceased_date"])
            .await
            .expect("recorded");
        let mut later = after.clone();
        later.contact.as_mut().expect("contact").email = "estate@example.ca".to_owned();
        update(&app, &esdc, later, &["contact.email"])
            .await
            .expect("updated");
        let notices = client(&app)
            .list_change_notices(req(&esdc, pb::ListChangeNoticesRequest::default()))
            .await
            .expect("listed")
            .into_inner();
        let kinds: Vec<i32> = notices
            .notices
            .iter()
            .filter(|n| n.citizen == sam.name)
            .map(|n| n.kind)
            .collect();
        assert_eq!(kinds, [pb::ChangeKind::Deceased as i32], "{backend:?}");
    }
}

#[tokio::test]
async fn a_citizen_claims_a_record_an_agency_created_once_with_its_code() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let esdc = As::Key(ESDC);
        let record = create(&app, &esdc, new_citizen("Claim", "Me", ""), "")
            .await
            .expect("created");
        let issued = client(&app)
            .issue_claim_code(req(
                &esdc,
                pb::IssueClaimCodeRequest {
                    name: record.name.clone(),
                },
            ))
            .await
            .expect("issued")
            .into_inner();
        assert_eq!(issued.code.len(), 23, "{}", issued.code);
        let claim = |who: As, code: String| {
            let mut c = client(&app);
            async move {
                c.claim_citizen(req(&who, pb::ClaimCitizenRequest { code }))
                    .await
                    .map(|r| r.into_inner())
            }
        };
        let newcomer = portal_for(&app, "claim.me");
        let wrong = claim(newcomer.clone(), "AAAAA-BBBBB-CCCCC-DDDDD".to_owned())
            .await
            .expect_err("a wrong code");
        assert_error(&wrong, Code::PermissionDenied, "PERMISSION_DENIED", None);
        let linked = claim(amelie(&app), issued.code.clone())
            .await
            .expect_err("a token linked already");
        assert_error(&linked, Code::AlreadyExists, "ALREADY_EXISTS", None);
        let mine = claim(newcomer.clone(), issued.code.to_lowercase())
            .await
            .expect("claimed");
        assert_eq!(mine.name, record.name);
        get(&app, &newcomer, &record.name, Purpose::Unspecified, &[])
            .await
            .expect("now hers");
        let again = claim(portal_for(&app, "someone.else"), issued.code.clone())
            .await
            .expect_err("used");
        assert_eq!(
            seen(&again),
            seen(&wrong),
            "a used code and a wrong code look the same"
        );
        let reissue = client(&app)
            .issue_claim_code(req(
                &esdc,
                pb::IssueClaimCodeRequest {
                    name: record.name.clone(),
                },
            ))
            .await
            .expect_err("already claimed");
        assert_error(
            &reissue,
            Code::FailedPrecondition,
            "FAILED_PRECONDITION",
            None,
        );
        let events = events(&app, &newcomer, &record.name, 0)
            .await
            .expect("her log");
        let actions: Vec<i32> = events.events.iter().map(|e| e.action).collect();
        assert!(actions.contains(&(pb::AccessAction::IssueClaimCode as i32)));
        assert!(actions.contains(&(pb::AccessAction::ClaimCitizen as i32)));
    }
}
