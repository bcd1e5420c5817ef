//! RouteNeed: the citizen's own words, a named service or a life event to ranked services with
//! reasons; context that changes the ranking; a citizen's record read under an eligibility consent
//! and logged; bad input named by field. Every case runs on both backends.

use single_window::{
    proto::v1::{
        self as pb, ConsentCategory as Cat, ConsentPurpose as Purpose, EligibilityStatus,
        HandToReason, ReasonKind, RouteNeedRequest, RouteNeedResponse, need,
    },
    routing::vectors::{self, VectorTable},
};
use tonic::{Code, Status};

use crate::{
    assert_error,
    citizens::{AMELIE, As, CIC, ESDC, amelie, consent, events, grant, req},
    helpers::{TestApp, TestDb, backends, serve_args},
};

fn text(need: &str) -> Option<pb::Need> {
    Some(pb::Need {
        need: Some(need::Need::Text(need.to_owned())),
    })
}

fn ask(need: &str, context: pb::RoutingContext) -> RouteNeedRequest {
    RouteNeedRequest {
        need: text(need),
        context: Some(context),
        max_candidates: 10,
        ..Default::default()
    }
}

async fn route(
    app: &TestApp,
    who: &As,
    request: RouteNeedRequest,
) -> Result<RouteNeedResponse, Status> {
    app.routing
        .clone()
        .route_need(req(who, request))
        .await
        .map(|r| r.into_inner())
}

fn services(response: &RouteNeedResponse) -> Vec<&str> {
    response
        .candidates
        .iter()
        .map(|c| c.service.as_str())
        .collect()
}

fn position(response: &RouteNeedResponse, service: &str) -> Option<usize> {
    services(response).iter().position(|s| *s == service)
}

fn candidate<'a>(response: &'a RouteNeedResponse, service: &str) -> &'a pb::RouteCandidate {
    response
        .candidates
        .iter()
        .find(|c| c.service == service)
        .unwrap_or_else(|| panic!("{service} not among {:?}", services(response)))
}

#[tokio::test]
async fn a_need_in_everyday_words_finds_the_service_its_owner_and_says_why() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let response = route(
            &app,
            &As::Public,
            ask("renew my passport", Default::default()),
        )
        .await
        .expect("routed");
        let first = &response.candidates[0];
        assert!(
            first.service == "services/SRV03049" || first.service == "services/1242",
            "{:?}",
            services(&response)
        );
        assert_eq!(response.language, pb::NeedLanguage::English as i32);
        assert!(first.score > 0.99 && first.score <= 1.0, "{}", first.score);
        assert!(!first.owner_agency.is_empty() && !first.hand_to_agency.is_empty());
        let matched = first
            .reasons
            .iter()
            .find(|r| r.kind == ReasonKind::MatchedWords as i32)
            .expect("matched words are a reason");
        assert!(
            matched
                .matches
                .iter()
                .any(|m| m.need_words.contains("passport")),
            "{matched:?}"
        );
        assert!(
            first
                .reasons
                .iter()
                .any(|r| r.kind == ReasonKind::Channel as i32)
        );
        assert!(
            first
                .channel_fit
                .as_ref()
                .is_some_and(|f| !f.offered.is_empty())
        );
        assert!(response.candidates.len() <= 10);
        for c in &response.candidates {
            assert!(c.reasons.iter().all(|r| {
                r.text
                    .as_ref()
                    .is_some_and(|t| !t.en.is_empty() && !t.fr.is_empty())
            }));
        }
    }
}

#[tokio::test]
async fn a_business_need_and_a_personal_need_rank_differently() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let need = "I need to file my income tax return";
        let personal = route(
            &app,
            &As::Public,
            ask(
                need,
                pb::RoutingContext {
                    client_kind: pb::ClientKind::Person as i32,
                    ..Default::default()
                },
            ),
        )
        .await
        .expect("routed");
        let business = route(
            &app,
            &As::Public,
            ask(
                need,
                pb::RoutingContext {
                    client_kind: pb::ClientKind::Business as i32,
                    ..Default::default()
                },
            ),
        )
        .await
        .expect("routed");
        let individual = "services/1097";
        let corporation = "services/1101";
        assert_eq!(personal.client_kind, pb::ClientKind::Person as i32);
        assert_eq!(business.client_kind, pb::ClientKind::Business as i32);
        let (p_ind, p_corp) = (
            position(&personal, individual),
            position(&personal, corporation),
        );
        let (b_ind, b_corp) = (
            position(&business, individual),
            position(&business, corporation),
        );
        assert!(
            p_ind < p_corp.or(Some(usize::MAX)),
            "person: {:?}",
            services(&personal)
        );
        assert!(
            b_corp.is_some() && b_corp < b_ind.or(Some(usize::MAX)),
            "business: {:?}",
            services(&business)
        );
        let audience = candidate(&business, individual);
        assert!(
            audience
                .reasons
                .iter()
                .any(|r| r.kind == ReasonKind::Audience as i32
                    && r.text
                        .as_ref()
                        .is_some_and(|t| t.en.contains("ranked lower"))),
            "{:?}",
            audience.reasons
        );
        let inferred = route(
            &app,
            &As::Public,
            ask(
                "file the income tax return of my corporation",
                Default::default(),
            ),
        )
        .await
        .expect("routed");
        assert_eq!(inferred.client_kind, pb::ClientKind::Business as i32);
    }
}

#[tokio::test]
async fn an_age_that_fails_eligibility_ranks_the_service_below_and_says_why() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let oas = "services/1001";
        let need = "old age security pension";
        let unknown = route(&app, &As::Public, ask(need, Default::default()))
            .await
            .expect("routed");
        assert_eq!(
            candidate(&unknown, oas).eligibility,
            EligibilityStatus::Unknown as i32
        );
        let young = route(
            &app,
            &As::Public,
            ask(
                need,
                pb::RoutingContext {
                    age: Some(40),
                    ..Default::default()
                },
            ),
        )
        .await
        .expect("routed");
        let failed = candidate(&young, oas);
        assert_eq!(failed.eligibility, EligibilityStatus::Failed as i32);
        let check = failed
            .eligibility_checks
            .iter()
            .find(|c| c.status == EligibilityStatus::Failed as i32)
            .expect("the failed check");
        assert!(
            check
                .explanation
                .as_ref()
                .is_some_and(|e| e.en.contains("40")),
            "{check:?}"
        );
        let at = position(&young, oas).expect("kept, not dropped");
        assert!(
            young.candidates[..at]
                .iter()
                .all(|c| c.eligibility != EligibilityStatus::Failed as i32),
            "failed candidates come last"
        );
        assert!(
            at > position(&unknown, oas).expect("ranked"),
            "a failed candidate drops: {:?} then {:?}",
            services(&unknown),
            services(&young)
        );
        let older = route(
            &app,
            &As::Public,
            ask(
                need,
                pb::RoutingContext {
                    date_of_birth: "1950-01-01".to_owned(),
                    ..Default::default()
                },
            ),
        )
        .await
        .expect("routed");
        assert_eq!(
            candidate(&older, oas).eligibility,
            EligibilityStatus::Met as i32
        );
    }
}

#[tokio::test]
async fn a_province_that_fails_eligibility_is_named_in_the_explanation() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let cpp = "services/7";
        let need = "Canada Pension Plan retirement pension";
        let quebec = route(
            &app,
            &As::Public,
            ask(
                need,
                pb::RoutingContext {
                    province: "qc".to_owned(),
                    ..Default::default()
                },
            ),
        )
        .await
        .expect("routed");
        let c = candidate(&quebec, cpp);
        assert_eq!(c.eligibility, EligibilityStatus::Failed as i32);
        assert!(
            c.eligibility_checks
                .iter()
                .any(|k| k.explanation.as_ref().is_some_and(|e| e.en.contains("QC")))
        );
        let ontario = route(
            &app,
            &As::Public,
            ask(
                need,
                pb::RoutingContext {
                    province: "ON".to_owned(),
                    ..Default::default()
                },
            ),
        )
        .await
        .expect("routed");
        assert_eq!(
            candidate(&ontario, cpp).eligibility,
            EligibilityStatus::Met as i32
        );
        assert_eq!(
            ontario.candidates[0].service,
            cpp,
            "{:?}",
            services(&ontario)
        );
    }
}

#[tokio::test]
async fn a_life_event_phrase_brings_the_services_of_that_event() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let response = route(
            &app,
            &As::Public,
            ask("my father passed away last week", Default::default()),
        )
        .await
        .expect("routed");
        let event = "lifeEvents/death-of-a-loved-one";
        let detected = response
            .life_events
            .iter()
            .find(|e| e.life_event == event)
            .expect("detected");
        assert!(!detected.evidence.is_empty());
        let in_event: Vec<_> = response
            .candidates
            .iter()
            .filter(|c| c.life_events.iter().any(|e| e == event))
            .collect();
        assert!(in_event.len() >= 3, "{:?}", services(&response));
        assert!(
            in_event[0]
                .reasons
                .iter()
                .any(|r| r.kind == ReasonKind::LifeEvent as i32)
        );
        let named = RouteNeedRequest {
            need: Some(pb::Need {
                need: Some(need::Need::LifeEvent(event.to_owned())),
            }),
            max_candidates: 20,
            ..Default::default()
        };
        let all = route(&app, &As::Public, named).await.expect("routed");
        assert!(all.candidates.len() >= 3);
        assert!(
            all.candidates
                .iter()
                .all(|c| c.life_events.iter().any(|e| e == event))
        );
    }
}

#[tokio::test]
async fn a_named_service_goes_to_the_partner_that_serves_the_citizens_situation() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let passport = |residence: pb::Residence, entry: &str| RouteNeedRequest {
            need: Some(pb::Need {
                need: Some(need::Need::Service("services/SRV03049".to_owned())),
            }),
            context: Some(pb::RoutingContext {
                residence: residence as i32,
                ..Default::default()
            }),
            entry_point: Some(pb::EntryPoint {
                agency: entry.to_owned(),
                channel: 0,
            }),
            ..Default::default()
        };
        let abroad = route(&app, &As::Public, passport(pb::Residence::Abroad, ""))
            .await
            .expect("routed");
        let c = &abroad.candidates[0];
        assert_eq!(c.owner_agency, "agencies/cic");
        assert_eq!(c.hand_to_agency, "agencies/dfatd-maecd");
        assert_eq!(c.hand_to_reason, HandToReason::DeliveryPartner as i32);
        assert!(
            c.reasons
                .iter()
                .any(|r| r.kind == ReasonKind::Delivery as i32)
        );
        assert!(c.reasons.iter().any(|r| r.kind == ReasonKind::Named as i32));
        let home = route(&app, &As::Public, passport(pb::Residence::InCanada, ""))
            .await
            .expect("routed");
        assert_eq!(home.candidates[0].hand_to_agency, "agencies/esdc-edsc");
        let unknown = route(&app, &As::Public, passport(pb::Residence::Unspecified, ""))
            .await
            .expect("routed");
        assert_eq!(
            unknown.candidates[0].hand_to_reason,
            HandToReason::Owner as i32
        );
        let at_service_canada = route(&app, &As::Key(ESDC), passport(pb::Residence::Abroad, ""))
            .await
            .expect("routed");
        assert_eq!(
            at_service_canada.candidates[0].hand_to_agency,
            "agencies/esdc-edsc"
        );
        assert_eq!(
            at_service_canada.candidates[0].hand_to_reason,
            HandToReason::EntryAgency as i32
        );
    }
}

#[tokio::test]
async fn a_citizens_context_is_read_under_an_eligibility_consent_and_logged() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let with_citizen = || RouteNeedRequest {
            need: text("Canada Pension Plan retirement pension"),
            citizen: AMELIE.to_owned(),
            max_candidates: 10,
            ..Default::default()
        };
        let refused = route(&app, &As::Key(ESDC), with_citizen())
            .await
            .expect_err("no consent");
        assert_error(&refused, Code::PermissionDenied, "PERMISSION_DENIED", None);
        let missing = route(
            &app,
            &As::Key(ESDC),
            RouteNeedRequest {
                citizen: "citizens/nobody".to_owned(),
                ..with_citizen()
            },
        )
        .await
        .expect_err("no such citizen");
        assert_eq!(missing.code(), refused.code());
        assert_eq!(
            missing.message(),
            refused.message(),
            "a denial says nothing of existence"
        );
        let anonymous = route(&app, &As::Public, with_citizen())
            .await
            .expect_err("anonymous");
        assert_error(
            &anonymous,
            Code::PermissionDenied,
            "PERMISSION_DENIED",
            None,
        );
        let other_purpose = consent(
            "esdc-edsc",
            Purpose::ServiceDelivery,
            &[Cat::Identity, Cat::Address],
        );
        grant(&app, &amelie(&app), AMELIE, other_purpose)
            .await
            .expect("granted");
        route(&app, &As::Key(ESDC), with_citizen())
            .await
            .expect_err("a consent for another purpose does not count");
        let eligibility = consent(
            "esdc-edsc",
            Purpose::EligibilityAssessment,
            &[Cat::Identity, Cat::Address],
        );
        grant(&app, &amelie(&app), AMELIE, eligibility)
            .await
            .expect("granted");
        let response = route(&app, &As::Key(ESDC), with_citizen())
            .await
            .expect("routed under consent");
        // Amélie lives in Quebec, which the Canada Pension Plan does not cover.
        assert_eq!(
            candidate(&response, "services/7").eligibility,
            EligibilityStatus::Failed as i32
        );
        route(&app, &As::Key(CIC), with_citizen())
            .await
            .expect_err("the consent is ESDC's only");
        let log = events(&app, &amelie(&app), AMELIE, 0)
            .await
            .expect("her log");
        let reads: Vec<_> = log
            .events
            .iter()
            .filter(|e| {
                e.purpose == Purpose::EligibilityAssessment as i32 && e.actor.contains("esdc-edsc")
            })
            .collect();
        assert!(
            reads.len() >= 2,
            "denied and allowed reads are logged: {:?}",
            log.events
        );
        let portal = route(&app, &amelie(&app), with_citizen())
            .await
            .expect("her own portal");
        assert_eq!(
            candidate(&portal, "services/7").eligibility,
            EligibilityStatus::Failed as i32
        );
    }
}

#[tokio::test]
async fn bad_needs_and_contexts_are_refused_naming_the_field() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let cases: Vec<(&str, RouteNeedRequest, Code, &str)> = vec![
            (
                "missing need",
                RouteNeedRequest::default(),
                Code::InvalidArgument,
                "need",
            ),
            (
                "empty",
                ask("", Default::default()),
                Code::InvalidArgument,
                "need.text",
            ),
            (
                "whitespace",
                ask(" \n\t ", Default::default()),
                Code::InvalidArgument,
                "need.text",
            ),
            (
                "over-length",
                ask(&"passport ".repeat(223), Default::default()),
                Code::InvalidArgument,
                "need.text",
            ),
            (
                "control characters",
                ask("passport\u{7}", Default::default()),
                Code::InvalidArgument,
                "need.text",
            ),
            (
                "unknown province",
                ask(
                    "passport",
                    pb::RoutingContext {
                        province: "ZZ".to_owned(),
                        ..Default::default()
                    },
                ),
                Code::InvalidArgument,
                "context.province",
            ),
            (
                "age out of range",
                ask(
                    "passport",
                    pb::RoutingContext {
                        age: Some(-3),
                        ..Default::default()
                    },
                ),
                Code::InvalidArgument,
                "context.age",
            ),
            (
                "future birth",
                ask(
                    "passport",
                    pb::RoutingContext {
                        date_of_birth: "2999-01-01".to_owned(),
                        ..Default::default()
                    },
                ),
                Code::InvalidArgument,
                "context.date_of_birth",
            ),
            (
                "bad date",
                ask(
                    "passport",
                    pb::RoutingContext {
                        date_of_birth: "01/02/1990".to_owned(),
                        ..Default::default()
                    },
                ),
                Code::InvalidArgument,
                "context.date_of_birth",
            ),
            (
                "repeated circumstance",
                ask(
                    "passport",
                    pb::RoutingContext {
                        circumstances: vec![1, 1],
                        ..Default::default()
                    },
                ),
                Code::InvalidArgument,
                "context.circumstances[1]",
            ),
            (
                "negative max",
                RouteNeedRequest {
                    max_candidates: -1,
                    ..ask("passport", Default::default())
                },
                Code::InvalidArgument,
                "max_candidates",
            ),
            (
                "bad service name",
                RouteNeedRequest {
                    need: Some(pb::Need {
                        need: Some(need::Need::Service("1003".to_owned())),
                    }),
                    ..Default::default()
                },
                Code::InvalidArgument,
                "need.service",
            ),
            (
                "unknown entry agency",
                RouteNeedRequest {
                    entry_point: Some(pb::EntryPoint {
                        agency: "agencies/nowhere".to_owned(),
                        channel: 0,
                    }),
                    ..ask("passport", Default::default())
                },
                Code::InvalidArgument,
                "entry_point.agency",
            ),
        ];
        for (case, request, code, field) in cases {
            let status = route(&app, &As::Public, request).await.expect_err(case);
            assert_eq!(status.code(), code, "{case}: {status:?}");
            assert_error(&status, code, "INVALID_ARGUMENT", Some(field));
        }
        let unknown_service = RouteNeedRequest {
            need: Some(pb::Need {
                need: Some(need::Need::Service("services/NOPE".to_owned())),
            }),
            ..Default::default()
        };
        let status = route(&app, &As::Public, unknown_service)
            .await
            .expect_err("unknown service");
        assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND", None);
        let unknown_event = RouteNeedRequest {
            need: Some(pb::Need {
                need: Some(need::Need::LifeEvent(
                    "lifeEvents/winning-the-lottery".to_owned(),
                )),
            }),
            ..Default::default()
        };
        let status = route(&app, &As::Public, unknown_event)
            .await
            .expect_err("unknown life event");
        assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND", None);
        let at_limit = ask(&"a".repeat(2_000), Default::default());
        route(&app, &As::Public, at_limit)
            .await
            .expect("2,000 characters are accepted");
        let mixed = route(
            &app,
            &As::Public,
            ask(
                "I need help with my demande de passeport pour mon fils",
                Default::default(),
            ),
        )
        .await
        .expect("a mixed-language need is routed");
        assert_eq!(mixed.language, pb::NeedLanguage::Mixed as i32);
        assert!(
            services(&mixed)
                .iter()
                .take(3)
                .any(|s| *s == "services/SRV03049" || *s == "services/1242"),
            "{:?}",
            services(&mixed)
        );
        let french = route(
            &app,
            &As::Public,
            ask("Je veux renouveler mon passeport", Default::default()),
        )
        .await
        .expect("a French need is routed");
        assert_eq!(french.language, pb::NeedLanguage::French as i32);
        assert!(
            services(&french)
                .iter()
                .take(3)
                .any(|s| *s == "services/SRV03049" || *s == "services/1242"),
            "{:?}",
            services(&french)
        );
    }
}

#[tokio::test]
async fn routing_vectors_from_another_encoder_are_refused_and_a_catalogue_without_vectors_still_routes()
 {
    for backend in backends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, identity: String| {
            let table = VectorTable {
                identity,
                dimensions: 384,
                vectors: Default::default(),
            };
            let path = dir.path().join(name);
            std::fs::write(&path, table.write()).expect("vector file");
            path
        };
        let db = TestDb::with_catalogue(backend).await;
        let mut args = serve_args(&db.url);
        args.routing_vectors = Some(write("other.bin", "another-encoder".to_owned()));
        let error = TestApp::refused_start(db, Some(args)).await;
        assert!(error.contains("another sentence encoder"), "{error}");

        let db = TestDb::with_catalogue(backend).await;
        let mut args = serve_args(&db.url);
        args.routing_vectors = Some(write("empty.bin", vectors::model_identity()));
        let app = TestApp::start(db, Some(args)).await;
        app.wait_until_serving().await;
        let response = route(
            &app,
            &As::Public,
            ask("renew my passport", Default::default()),
        )
        .await
        .expect("routed on the lexical signals");
        assert!(
            services(&response)
                .iter()
                .take(3)
                .any(|s| *s == "services/SRV03049" || *s == "services/1242"),
            "{:?}",
            services(&response)
        );
        assert!(response.candidates.iter().all(|c| {
            c.reasons
                .iter()
                .all(|r| r.kind != ReasonKind::SimilarMeaning as i32)
        }));
    }
}
