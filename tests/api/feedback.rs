//! Satisfaction per handoff: who may respond and when, one response per leg and respondent, the
//! segment taken only under consent, invitations, and reports with suppression on known data
//! (the recompute-from-a-total case included). Every case runs on both backends.

use single_window::proto::v1::{
    self as pb, ConsentCategory as Cat, ConsentPurpose as Purpose, ReportGrouping as G,
    Suppression, need,
};
use tonic::{Code, Status};

use crate::{
    assert_error,
    citizens::{AUDITOR, As, CIC, CRA, ESDC, JORDAN, amelie, consent, grant, jordan, req},
    helpers::{TestApp, TestDb, backends, serve_args},
};
use single_window::{
    auth::demo,
    clock::{Clock as _, ManualClock},
    domain::{feedback::Quarter, time::Timestamp},
    secrets::Secrets,
    store::Backend,
};
use sqlx::Connection as _;

/// The one number `sql` selects from the test database.
pub async fn count(app: &TestApp, backend: Backend, sql: &str) -> i64 {
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url)
                .await
                .expect("connect");
            sqlx::query_scalar(sql)
                .fetch_one(&mut c)
                .await
                .expect("count")
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.db.url)
                .await
                .expect("connect");
            sqlx::query_scalar(sql)
                .fetch_one(&mut c)
                .await
                .expect("count")
        }
    }
}

/// Employment Insurance, Canada Pension Plan and CPP Disability: ESDC delivers all three.
const EI: &str = "services/1003";
const CPP: &str = "services/7";
const CPPD: &str = "services/991";
const PASSPORT: &str = "services/SRV03049";

fn service(name: &str) -> Option<pb::Need> {
    Some(pb::Need {
        need: Some(need::Need::Service(name.to_owned())),
    })
}

/// A contact consent recorded at the counter by `agency`, valid from a minute before `at`.
async fn consent_from(
    app: &TestApp,
    key: &'static str,
    agency: &str,
    purpose: Purpose,
    at: Timestamp,
) {
    let mut c = consent(agency, purpose, &[Cat::Contact]);
    c.channel = pb::Channel::InPerson as i32;
    c.valid_from = Some(prost_types::Timestamp {
        seconds: at.unix_millis() / 1000 - 60,
        nanos: 0,
    });
    grant(app, &As::Key(key), JORDAN, c)
        .await
        .expect("consent recorded");
}

async fn consent_at_counter(
    app: &TestApp,
    key: &'static str,
    agency: &str,
    purpose: Purpose,
    cats: &[Cat],
) {
    let mut c = consent(agency, purpose, cats);
    c.channel = pb::Channel::InPerson as i32;
    grant(app, &As::Key(key), JORDAN, c)
        .await
        .expect("consent recorded");
}

/// A request for `service` opened by ESDC at its counter for Jordan.
async fn open_at_esdc(app: &TestApp, service_name: &str) -> pb::Request {
    open_at(app, ESDC, service_name, String::new()).await
}

async fn step_accept(app: &TestApp, who: &As, leg: &pb::Handoff) -> pb::Request {
    app.requests
        .clone()
        .accept_handoff(req(
            who,
            pb::AcceptHandoffRequest {
                name: leg.name.clone(),
                etag: leg.etag.clone(),
                request_id: String::new(),
            },
        ))
        .await
        .expect("accepted")
        .into_inner()
}

async fn step_complete(app: &TestApp, who: &As, leg: &pb::Handoff) -> pb::Request {
    app.requests
        .clone()
        .complete_handoff(req(
            who,
            pb::CompleteHandoffRequest {
                name: leg.name.clone(),
                etag: leg.etag.clone(),
                outcome: pb::HandoffOutcome::Delivered as i32,
                text: "Done.".to_owned(),
                request_id: String::new(),
            },
        ))
        .await
        .expect("completed")
        .into_inner()
}

/// The last leg of `request`, accepted then completed by `who`.
async fn serve_last(app: &TestApp, who: &As, request: &pb::Request) -> pb::Request {
    let leg = request.handoffs.last().expect("a leg").clone();
    let accepted = step_accept(app, who, &leg).await;
    let leg = accepted.handoffs.last().expect("a leg").clone();
    step_complete(app, who, &leg).await
}

fn scores(satisfaction: i32, trust: i32) -> pb::Scores {
    pb::Scores {
        satisfaction,
        trust,
        ..Default::default()
    }
}

async fn rate(
    app: &TestApp,
    who: &As,
    subject: &str,
    given: pb::Scores,
    request_id: &str,
) -> Result<pb::SurveyResponse, Status> {
    let survey_channel = match who {
        As::Key(_) => pb::Channel::Telephone as i32,
        _ => 0,
    };
    app.feedback
        .clone()
        .record_satisfaction(req(
            who,
            pb::RecordSatisfactionRequest {
                subject: subject.to_owned(),
                scores: Some(given),
                contacts: 2,
                survey_channel,
                comment: "Thank you.".to_owned(),
                segment: None,
                request_id: request_id.to_owned(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn invitations(app: &TestApp, who: &As, include_closed: bool) -> Vec<pb::SurveyInvitation> {
    app.feedback
        .clone()
        .list_survey_invitations(req(
            who,
            pb::ListSurveyInvitationsRequest {
                parent: JORDAN.to_owned(),
                include_closed,
                page_size: 0,
                page_token: String::new(),
            },
        ))
        .await
        .expect("listed")
        .into_inner()
        .invitations
}

async fn report(
    app: &TestApp,
    who: &As,
    grouping: G,
    agency: &str,
    unsuppressed: bool,
) -> Result<pb::SatisfactionReport, Status> {
    app.feedback
        .clone()
        .get_satisfaction_report(req(
            who,
            pb::GetSatisfactionReportRequest {
                grouping: grouping as i32,
                subject: 0,
                quarter: String::new(),
                agency: agency.to_owned(),
                unsuppressed,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn only_the_citizen_or_an_agency_on_the_phone_rates_an_ended_leg_and_only_once() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        consent_at_counter(&app, CRA, "cra-arc", Purpose::Referral, &[Cat::Contact]).await;
        let opened = app
            .requests
            .clone()
            .open_request(req(
                &As::Key(CRA),
                pb::OpenRequestRequest {
                    citizen: JORDAN.to_owned(),
                    need: service(PASSPORT),
                    context: Some(pb::RoutingContext {
                        residence: pb::Residence::InCanada as i32,
                        ..Default::default()
                    }),
                    entry_point: Some(pb::EntryPoint {
                        agency: String::new(),
                        channel: pb::Channel::InPerson as i32,
                    }),
                    shared_categories: vec![Cat::Contact as i32],
                    ..Default::default()
                },
            ))
            .await
            .expect("opened")
            .into_inner();
        let leg = opened.handoffs[0].name.clone();
        let open = rate(&app, &jordan(&app), &leg, scores(4, 4), "r-open")
            .await
            .expect_err("the leg is open");
        assert_error(&open, Code::FailedPrecondition, "FAILED_PRECONDITION", None);
        assert!(invitations(&app, &jordan(&app), true).await.is_empty());

        let done = serve_last(&app, &As::Key(ESDC), &opened).await;
        assert_eq!(done.status, pb::RequestStatus::Completed as i32);
        let invited = invitations(&app, &jordan(&app), false).await;
        let subjects: Vec<&str> = invited.iter().map(|i| i.subject.as_str()).collect();
        assert_eq!(
            subjects.len(),
            2,
            "the leg and the whole request: {subjects:?}"
        );
        assert!(subjects.contains(&leg.as_str()) && subjects.contains(&opened.name.as_str()));
        assert!(
            invited
                .iter()
                .all(|i| !i.responded && i.expire_time.is_some())
        );

        let out_of_range = rate(&app, &jordan(&app), &leg, scores(4, 6), "r-bad")
            .await
            .expect_err("6 is not a score");
        assert_error(
            &out_of_range,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("scores.trust"),
        );
        let missing = rate(&app, &jordan(&app), &leg, scores(0, 3), "r-bad2")
            .await
            .expect_err("satisfaction is required");
        assert_error(
            &missing,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("scores.satisfaction"),
        );
        let other = rate(&app, &amelie(&app), &leg, scores(5, 5), "r-amelie")
            .await
            .expect_err("not her leg");
        let nothing = rate(
            &app,
            &amelie(&app),
            "requests/nope/handoffs/1",
            scores(5, 5),
            "r-x",
        )
        .await
        .expect_err("no such leg");
        assert_error(&other, Code::PermissionDenied, "PERMISSION_DENIED", None);
        assert_eq!(
            (other.code(), other.message()),
            (nothing.code(), nothing.message()),
            "a denial says nothing of existence"
        );
        let stranger = rate(&app, &As::Key(CIC), &leg, scores(5, 5), "r-cic")
            .await
            .expect_err("CIC had no part in it");
        assert_eq!(stranger.code(), Code::PermissionDenied);
        let online_agency = app
            .feedback
            .clone()
            .record_satisfaction(req(
                &As::Key(ESDC),
                pb::RecordSatisfactionRequest {
                    subject: leg.clone(),
                    scores: Some(scores(5, 5)),
                    survey_channel: pb::Channel::Online as i32,
                    request_id: "r-esdc-online".to_owned(),
                    ..Default::default()
                },
            ))
            .await
            .expect_err("agencies record phone or in-person surveys");
        assert_error(
            &online_agency,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("survey_channel"),
        );

        let first = rate(&app, &jordan(&app), &leg, scores(5, 4), "r-1")
            .await
            .expect("she rates the leg");
        assert_eq!(first.subject, leg);
        assert_eq!(first.kind, pb::SubjectKind::Handoff as i32);
        assert_eq!(first.agency, "agencies/esdc-edsc");
        assert_eq!(first.from_agency, "agencies/cra-arc");
        assert_eq!(first.service, PASSPORT);
        assert_eq!(first.channel, pb::Channel::InPerson as i32);
        assert_eq!(first.team, "agencies/esdc-edsc/teams/ei-benefits");
        assert_eq!(first.survey_channel, pb::Channel::Online as i32);
        assert_eq!(first.quarter.len(), 6, "{}", first.quarter);
        assert_eq!(
            first.segment.clone().unwrap_or_default(),
            pb::Segment::default(),
            "no de-identified statistics consent: no segment"
        );
        let retry = rate(&app, &jordan(&app), &leg, scores(5, 4), "r-1")
            .await
            .expect("a retry answers the first response");
        assert_eq!(retry, first);
        let reused = rate(&app, &jordan(&app), &leg, scores(2, 2), "r-1")
            .await
            .expect_err("the same request_id for another response");
        assert_eq!(
            reused.code(),
            Code::AlreadyExists,
            "as every write answers it"
        );
        let second = rate(&app, &jordan(&app), &leg, scores(1, 1), "r-2")
            .await
            .expect_err("one response per leg and respondent");
        assert_error(&second, Code::AlreadyExists, "ALREADY_EXISTS", None);
        let by_phone = rate(&app, &As::Key(ESDC), &leg, scores(3, 3), "r-phone")
            .await
            .expect_err("the same citizen, on the phone");
        assert_eq!(by_phone.code(), Code::AlreadyExists);

        let whole = rate(&app, &As::Key(CRA), &opened.name, scores(2, 3), "r-whole")
            .await
            .expect("the entry agency records the end-to-end survey by phone");
        assert_eq!(whole.kind, pb::SubjectKind::Request as i32);
        assert_eq!(whole.survey_channel, pb::Channel::Telephone as i32);
        assert!(
            invitations(&app, &jordan(&app), false).await.is_empty(),
            "both answered"
        );
        let closed = invitations(&app, &jordan(&app), true).await;
        assert!(closed.len() == 2 && closed.iter().all(|i| i.responded));
        let agency_view = invitations(&app, &As::Key(CIC), true).await;
        assert!(agency_view.is_empty(), "CIC served none of them");
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn a_declined_leg_is_a_wrong_door_the_citizen_can_rate_and_a_segment_needs_consent() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        consent_at_counter(&app, CRA, "cra-arc", Purpose::Referral, &[Cat::Contact]).await;
        consent_at_counter(
            &app,
            ESDC,
            "esdc-edsc",
            Purpose::DeidentifiedStatistics,
            &[Cat::Preferences, Cat::Address],
        )
        .await;
        let opened = app
            .requests
            .clone()
            .open_request(req(
                &As::Key(CRA),
                pb::OpenRequestRequest {
                    citizen: JORDAN.to_owned(),
                    need: service(PASSPORT),
                    context: Some(pb::RoutingContext {
                        residence: pb::Residence::InCanada as i32,
                        ..Default::default()
                    }),
                    entry_point: Some(pb::EntryPoint {
                        agency: String::new(),
                        channel: pb::Channel::InPerson as i32,
                    }),
                    ..Default::default()
                },
            ))
            .await
            .expect("opened")
            .into_inner();
        let leg = opened.handoffs[0].clone();
        let declined = app
            .requests
            .clone()
            .decline_handoff(req(
                &As::Key(ESDC),
                pb::DeclineHandoffRequest {
                    name: leg.name.clone(),
                    etag: leg.etag.clone(),
                    reason: pb::DeclineReason::NotOurMandate as i32,
                    text: "Ask IRCC.".to_owned(),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("declined")
            .into_inner();
        assert_eq!(
            declined.status,
            pb::RequestStatus::Open as i32,
            "it moved on"
        );
        let rated = rate(&app, &jordan(&app), &leg.name, scores(1, 2), "wrong-door")
            .await
            .expect("a declined leg invites a survey");
        assert_eq!(rated.agency, "agencies/esdc-edsc");
        assert_eq!(rated.standard, pb::StandardResult::Unspecified as i32);
        let segment = rated.segment.expect("segment");
        assert_eq!(
            segment.language,
            pb::Language::English as i32,
            "preferences shared"
        );
        assert_eq!(segment.province, "ON", "address shared");
        assert_eq!(
            segment.age_band,
            pb::AgeBand::Unspecified as i32,
            "identity was not"
        );
        let onward = rate(&app, &jordan(&app), &opened.name, scores(3, 3), "whole")
            .await
            .expect_err("the request is still open");
        assert_error(
            &onward,
            Code::FailedPrecondition,
            "FAILED_PRECONDITION",
            None,
        );
        app.stop().await.expect("stopped");
    }
}

/// Satisfaction scores of the responses per service in the known data set.
const KNOWN: [(&str, &[i32]); 3] = [
    (EI, &[5, 4, 4, 2, 5]),
    (CPP, &[3, 1]),
    (CPPD, &[4, 4, 5, 3]),
];

/// The known data: ESDC serves and Jordan rates the legs of [`KNOWN`], plus one EI leg unrated.
async fn plant_known(app: &TestApp) {
    consent_at_counter(
        app,
        ESDC,
        "esdc-edsc",
        Purpose::ServiceDelivery,
        &[Cat::Contact],
    )
    .await;
    for (service_name, satisfactions) in KNOWN {
        for (i, satisfaction) in satisfactions.iter().enumerate() {
            let opened = open_at_esdc(app, service_name).await;
            let done = serve_last(app, &As::Key(ESDC), &opened).await;
            let leg = &done.handoffs[0].name;
            rate(
                app,
                &jordan(app),
                leg,
                scores(*satisfaction, 4),
                &format!("{service_name}-{i}"),
            )
            .await
            .expect("rated");
        }
    }
    // A leg that ended without a response still counts as ended and offered.
    let unrated = open_at_esdc(app, EI).await;
    serve_last(app, &As::Key(ESDC), &unrated).await;
}

#[tokio::test]
async fn reports_show_known_figures_and_suppress_small_groups_and_what_would_reveal_them() {
    for backend in backends() {
        let db = TestDb::with_catalogue(backend).await;
        let mut args = serve_args(&db.url);
        args.minimum_respondents = 3;
        let app = TestApp::start(db, Some(args)).await;
        app.wait_until_serving().await;
        plant_known(&app).await;

        let by_service = report(&app, &As::Key(ESDC), G::Service, "", false)
            .await
            .expect("report");
        assert_eq!(by_service.minimum_respondents, 3);
        let group = |r: &pb::SatisfactionReport, service: &str| {
            r.groups
                .iter()
                .find(|g| g.key.as_ref().is_some_and(|k| k.service == service))
                .cloned()
                .unwrap_or_else(|| panic!("no group for {service}: {:?}", r.groups))
        };
        let ei = group(&by_service, EI);
        assert_eq!(ei.suppression, Suppression::Unspecified as i32);
        assert_eq!((ei.ended, ei.surveys_offered, ei.responses), (6, 6, 5));
        let satisfaction = &ei.drivers[0];
        assert_eq!(satisfaction.driver, pb::Driver::Satisfaction as i32);
        assert_eq!(satisfaction.distribution, vec![0, 1, 0, 2, 2]);
        assert!(
            (satisfaction.mean - 4.0).abs() < 1e-9,
            "{}",
            satisfaction.mean
        );
        assert!((ei.share_satisfied - 0.8).abs() < 1e-9);
        assert!((ei.mean_contacts - 2.0).abs() < 1e-9);
        assert!((ei.response_rate - 5.0 / 6.0).abs() < 1e-9);
        let cpp = group(&by_service, CPP);
        assert_eq!(cpp.suppression, Suppression::TooFewRespondents as i32);
        assert_eq!(
            (cpp.responses, cpp.drivers.len()),
            (0, 0),
            "no figure of it is shown"
        );
        let cppd = group(&by_service, CPPD);
        assert_eq!(
            cppd.suppression,
            Suppression::Complementary as i32,
            "else ESDC's total minus EI and CPPD gives CPP"
        );
        let total = by_service.total.clone().expect("total");
        assert_eq!(total.suppression, Suppression::Unspecified as i32);
        assert_eq!(total.responses, 11);

        let by_agency = report(&app, &As::Key(ESDC), G::Agency, "", false)
            .await
            .expect("report");
        assert_eq!(by_agency.groups.len(), 1);
        assert_eq!(by_agency.groups[0].responses, 11);
        assert_eq!(
            by_agency.groups[0].responses - ei.responses,
            6,
            "what differencing the agency and the shown group gives: the two hidden groups together, at least the minimum"
        );

        let theirs = report(&app, &As::Key(CIC), G::Service, "", false)
            .await
            .expect("report");
        assert!(theirs.groups.is_empty(), "CIC sees only its own groups");
        let foreign = report(&app, &As::Key(CIC), G::Service, "agencies/esdc-edsc", false)
            .await
            .expect_err("an agency reads only its own");
        assert_eq!(foreign.code(), Code::PermissionDenied);
        let asks_raw = report(&app, &As::Key(ESDC), G::Service, "", true)
            .await
            .expect_err("only auditors read unsuppressed figures");
        assert_eq!(asks_raw.code(), Code::PermissionDenied);
        let citizen = report(&app, &jordan(&app), G::Service, "", false)
            .await
            .expect_err("not for portals");
        assert_eq!(citizen.code(), Code::PermissionDenied);
        let bad = report(&app, &As::Key(ESDC), G::Unspecified, "", false)
            .await
            .expect_err("a grouping is required");
        assert_error(
            &bad,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("grouping"),
        );

        let audited = report(
            &app,
            &As::Key(AUDITOR),
            G::Service,
            "agencies/esdc-edsc",
            true,
        )
        .await
        .expect("an auditor reads unsuppressed figures");
        assert!(audited.unsuppressed);
        let cpp = group(&audited, CPP);
        assert_eq!(
            (cpp.suppression, cpp.responses),
            (Suppression::Unspecified as i32, 2)
        );
        let logged = count(
            &app,
            backend,
            "SELECT COUNT(*) FROM service_audit WHERE action = 'read-unsuppressed-report' \
             AND outcome = 'allowed' AND actor LIKE 'auditors/%' AND target LIKE '%agency=esdc-edsc%'",
        )
        .await;
        assert_eq!(logged, 1, "the unsuppressed read is in the audit trail");
        let suppressed_for_auditor = report(&app, &As::Key(AUDITOR), G::Service, "", false)
            .await
            .expect("an auditor's suppressed read");
        assert_eq!(
            group(&suppressed_for_auditor, CPP).suppression,
            Suppression::TooFewRespondents as i32,
            "suppressed unless asked otherwise"
        );
        let quarter = &group(&by_service, EI).key.expect("key");
        assert!(quarter.quarter.is_empty(), "not grouped by quarter");
        app.stop().await.expect("stopped");
    }
}

/// Jordan's portal, with a token issued at `at` (the server's clock).
fn jordan_at(app: &TestApp, at: Timestamp) -> As {
    let secrets = Secrets::load(&app.db.keys_file).expect("the test key file");
    let key = secrets.demo_identity_provider_key.expect("a demo IdP key");
    As::Portal(demo::citizen_token(
        &key,
        "jordan.okafor",
        at.unix_millis() / 1000,
    ))
}

/// An EI leg served by ESDC and rated by Jordan with `given`.
async fn served_and_rated(app: &TestApp, who: &As, given: pb::Scores, id: String) {
    let opened = open_at_esdc(app, EI).await;
    let done = serve_last(app, &As::Key(ESDC), &opened).await;
    rate(app, who, &done.handoffs[0].name, given, &id)
        .await
        .expect("rated");
}

#[tokio::test]
async fn key_drivers_rank_first_the_driver_that_moves_satisfaction_and_scores_low() {
    for backend in backends() {
        let db = TestDb::with_catalogue(backend).await;
        let mut args = serve_args(&db.url);
        args.minimum_respondents = 5;
        let app = TestApp::start(db, Some(args)).await;
        app.wait_until_serving().await;
        consent_at_counter(
            &app,
            ESDC,
            "esdc-edsc",
            Purpose::ServiceDelivery,
            &[Cat::Contact],
        )
        .await;
        // Ease follows satisfaction and scores lowest; employees score high whatever happens;
        // timeliness is noise.
        let satisfaction = [1, 2, 2, 3, 3, 4, 4, 5, 5, 1, 2, 3];
        let ease = [1, 2, 1, 2, 3, 3, 3, 4, 3, 1, 1, 2];
        let employees = [5, 4, 5, 5, 4, 5, 5, 4, 5, 5, 4, 5];
        let efficiency = [3, 1, 5, 2, 4, 3, 1, 5, 2, 4, 3, 3];
        for i in 0..satisfaction.len() {
            let given = pb::Scores {
                satisfaction: satisfaction[i],
                trust: 4,
                ease: ease[i],
                employees: employees[i],
                efficiency: efficiency[i],
                ..Default::default()
            };
            served_and_rated(&app, &jordan(&app), given, format!("kd-{i}")).await;
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut token = String::new();
        let mut pages = 0;
        loop {
            let page = app
                .feedback
                .clone()
                .list_survey_invitations(req(
                    &jordan(&app),
                    pb::ListSurveyInvitationsRequest {
                        parent: JORDAN.to_owned(),
                        include_closed: true,
                        page_size: 5,
                        page_token: token.clone(),
                    },
                ))
                .await
                .expect("a page")
                .into_inner();
            assert!(page.invitations.len() <= 5);
            for i in &page.invitations {
                assert!(seen.insert(i.name.clone()), "no invitation twice");
            }
            pages += 1;
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(
            (seen.len(), pages),
            (24, 5),
            "12 legs and their 12 requests, 5 a page"
        );
        let drivers = app
            .feedback
            .clone()
            .get_key_drivers(req(&As::Key(ESDC), pb::GetKeyDriversRequest::default()))
            .await
            .expect("key drivers")
            .into_inner();
        assert!(!drivers.suppressed);
        assert_eq!(drivers.responses, 12);
        assert!(drivers.method.contains("Pearson"));
        let first = &drivers.drivers[0];
        assert_eq!(
            first.driver,
            pb::Driver::Ease as i32,
            "{:?}",
            drivers.drivers
        );
        assert_eq!(first.priority, pb::DriverPriority::FixFirst as i32);
        assert!(first.correlation_with_satisfaction > 0.9);
        let employees = drivers
            .drivers
            .iter()
            .find(|d| d.driver == pb::Driver::Employees as i32)
            .expect("employees");
        assert!(employees.mean > 4.5 && employees.correlation_with_satisfaction < 0.5);
        let unscored = drivers
            .drivers
            .iter()
            .find(|d| d.driver == pb::Driver::Value as i32)
            .expect("value");
        assert_eq!(
            (unscored.answered, unscored.priority),
            (0, pb::DriverPriority::Unspecified as i32),
            "nobody scored value: not ranked"
        );
        let few = app
            .feedback
            .clone()
            .get_key_drivers(req(
                &As::Key(ESDC),
                pb::GetKeyDriversRequest {
                    service: CPP.to_owned(),
                    ..Default::default()
                },
            ))
            .await
            .expect("key drivers")
            .into_inner();
        assert!(few.suppressed && few.drivers.is_empty(), "no CPP responses");
        let foreign = app
            .feedback
            .clone()
            .get_key_drivers(req(
                &As::Key(CIC),
                pb::GetKeyDriversRequest {
                    agency: "agencies/esdc-edsc".to_owned(),
                    ..Default::default()
                },
            ))
            .await
            .expect_err("not its agency");
        assert_eq!(foreign.code(), Code::PermissionDenied);
        app.stop().await.expect("stopped");
    }
}

async fn warnings_of(app: &TestApp, who: &As) -> Vec<pb::EarlyWarning> {
    app.feedback
        .clone()
        .list_early_warnings(req(who, pb::ListEarlyWarningsRequest::default()))
        .await
        .expect("listed")
        .into_inner()
        .warnings
}

/// Waits (bounded) until `who` sees a warning `found` accepts.
async fn wait_for_warning(
    app: &TestApp,
    who: &As,
    found: impl Fn(&pb::EarlyWarning) -> bool,
) -> pb::EarlyWarning {
    for _ in 0..200 {
        if let Some(w) = warnings_of(app, who).await.into_iter().find(&found) {
            return w;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no such warning: {:?}", warnings_of(app, who).await);
}

#[tokio::test]
async fn a_planted_drop_and_a_wrong_door_pair_raise_warnings_that_noise_does_not() {
    for backend in backends() {
        let db = TestDb::with_catalogue(backend).await;
        let mut args = serve_args(&db.url);
        args.warnings.warning_interval = std::time::Duration::from_millis(100);
        args.warnings.warning_min_responses = 10;
        args.warnings.warning_min_legs = 3;
        // 2026-08-15T15:00Z, in 2026Q3.
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_786_806_000_000));
        let app = TestApp::start_clocked(db, Some(args), Some(clock.clone())).await;
        app.wait_until_serving().await;
        consent_from(
            &app,
            ESDC,
            "esdc-edsc",
            Purpose::ServiceDelivery,
            clock.now(),
        )
        .await;
        consent_from(&app, CRA, "cra-arc", Purpose::Referral, clock.now()).await;
        let before = [5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4];
        let ease_before = [4, 5, 4, 4, 5, 4, 5, 4, 4, 5, 4, 4];
        for i in 0..before.len() {
            let given = pb::Scores {
                satisfaction: before[i],
                trust: 4,
                ease: ease_before[i],
                ..Default::default()
            };
            let who = jordan_at(&app, clock.now());
            served_and_rated(&app, &who, given, format!("q3-{i}")).await;
        }
        // 2026-11-16T15:00Z, in 2026Q4.
        clock.set(Timestamp::from_unix_millis(1_794_841_200_000));
        let after = [2, 1, 2, 3, 2, 1, 2, 3, 2, 2, 1, 2];
        let ease_after = [4, 4, 5, 4, 4, 5, 4, 4, 5, 4, 4, 4];
        for i in 0..after.len() {
            let given = pb::Scores {
                satisfaction: after[i],
                trust: 4,
                ease: ease_after[i],
                ..Default::default()
            };
            let who = jordan_at(&app, clock.now());
            served_and_rated(&app, &who, given, format!("q4-{i}")).await;
        }
        for i in 0..3 {
            let opened = open_at(&app, CRA, EI, format!("wrong-door-{i}")).await;
            decline_first(&app, &opened).await;
        }
        let esdc = As::Key(ESDC);
        let drop = wait_for_warning(&app, &esdc, |w| {
            // The job runs while the responses arrive: wait for the figures over all of them.
            w.kind == pb::WarningKind::ScoreDrop as i32
                && w.driver == pb::Driver::Satisfaction as i32
                && w.service.is_empty()
                && w.current_count == 12
        })
        .await;
        assert_eq!(drop.agency, "agencies/esdc-edsc");
        assert_eq!(drop.period, "2026Q4");
        assert_eq!((drop.current_count, drop.baseline_count), (12, 12));
        assert!((drop.baseline_value - 4.5).abs() < 1e-9 && drop.current_value < 2.1);
        assert!(drop.p_value < 0.05);
        assert_eq!(drop.state, pb::WarningState::Open as i32);
        assert!(
            drop.summary
                .as_ref()
                .is_some_and(|s| s.en.contains("fell from 4.50"))
        );
        let pair = wait_for_warning(&app, &esdc, |w| {
            w.kind == pb::WarningKind::DeclineRate as i32 && w.current_count == 3
        })
        .await;
        assert_eq!(pair.from_agency, "agencies/cra-arc");
        assert!((pair.current_value - 1.0).abs() < 1e-9);
        let all = warnings_of(&app, &esdc).await;
        assert!(
            !all.iter()
                .any(|w| w.kind == pb::WarningKind::ScoreDrop as i32
                    && (w.driver == pb::Driver::Trust as i32
                        || w.driver == pb::Driver::Ease as i32)),
            "a steady trust and a noisy ease raise nothing: {all:?}"
        );
        let from_side = warnings_of(&app, &As::Key(CRA)).await;
        assert!(
            from_side.iter().any(|w| w.name == pair.name)
                && !from_side.iter().any(|w| w.name == drop.name),
            "the from-agency sees the pair's warning only"
        );
        let hidden = app
            .feedback
            .clone()
            .get_early_warning(req(
                &As::Key(CIC),
                pb::GetEarlyWarningRequest {
                    name: drop.name.clone(),
                },
            ))
            .await
            .expect_err("not CIC's");
        let none = app
            .feedback
            .clone()
            .get_early_warning(req(
                &As::Key(CIC),
                pb::GetEarlyWarningRequest {
                    name: "earlyWarnings/nope".to_owned(),
                },
            ))
            .await
            .expect_err("no such warning");
        assert_eq!(
            (hidden.code(), hidden.message()),
            (none.code(), none.message())
        );
        let ack = |who: &'static str, etag: String, action: &str| {
            let app = &app;
            let action = action.to_owned();
            let name = drop.name.clone();
            async move {
                app.feedback
                    .clone()
                    .acknowledge_early_warning(req(
                        &As::Key(who),
                        pb::AcknowledgeEarlyWarningRequest {
                            name,
                            etag,
                            action,
                            request_id: String::new(),
                        },
                    ))
                    .await
                    .map(|r| r.into_inner())
            }
        };
        let by_cra = ack(CRA, drop.etag.clone(), "Not ours.")
            .await
            .expect_err("only the owner");
        assert_eq!(by_cra.code(), Code::PermissionDenied);
        let empty = ack(ESDC, drop.etag.clone(), "")
            .await
            .expect_err("an action is required");
        assert_error(
            &empty,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("action"),
        );
        let done = ack(
            ESDC,
            drop.etag.clone(),
            "Added evening call-back slots for EI claimants.",
        )
        .await
        .expect("acknowledged");
        assert_eq!(done.state, pb::WarningState::Acknowledged as i32);
        assert_eq!(done.acknowledged_by, "agencies/esdc-edsc/teams/ei-benefits");
        let stale = ack(ESDC, drop.etag.clone(), "Again.")
            .await
            .expect_err("stale etag");
        assert_error(&stale, Code::Aborted, "ETAG_MISMATCH", None);
        app.stop().await.expect("stopped");
    }
}

/// A request for `service` opened for Jordan at the counter of the agency `key` authenticates.
async fn open_at(app: &TestApp, key: &'static str, service_name: &str, id: String) -> pb::Request {
    app.requests
        .clone()
        .open_request(req(
            &As::Key(key),
            pb::OpenRequestRequest {
                citizen: JORDAN.to_owned(),
                need: service(service_name),
                entry_point: Some(pb::EntryPoint {
                    agency: String::new(),
                    channel: pb::Channel::InPerson as i32,
                }),
                request_id: id,
                ..Default::default()
            },
        ))
        .await
        .expect("opened")
        .into_inner()
}

async fn decline_first(app: &TestApp, request: &pb::Request) {
    let leg = &request.handoffs[0];
    app.requests
        .clone()
        .decline_handoff(req(
            &As::Key(ESDC),
            pb::DeclineHandoffRequest {
                name: leg.name.clone(),
                etag: leg.etag.clone(),
                reason: pb::DeclineReason::NotOurMandate as i32,
                text: "Not ours.".to_owned(),
                request_id: String::new(),
            },
        ))
        .await
        .expect("declined");
}

#[tokio::test]
async fn the_public_report_shows_wrong_door_rates_between_agencies_and_withholds_small_pairs() {
    for backend in backends() {
        let db = TestDb::with_catalogue(backend).await;
        let mut args = serve_args(&db.url);
        args.minimum_respondents = 3;
        let app = TestApp::start(db, Some(args)).await;
        app.wait_until_serving().await;
        consent_at_counter(&app, CRA, "cra-arc", Purpose::Referral, &[Cat::Contact]).await;
        consent_at_counter(&app, CIC, "cic", Purpose::Referral, &[Cat::Contact]).await;
        consent_at_counter(
            &app,
            ESDC,
            "esdc-edsc",
            Purpose::ServiceDelivery,
            &[Cat::Contact],
        )
        .await;
        // CRA sends three EI requests to ESDC, which declines two and completes one; CIC sends
        // one, completed (too few to show); ESDC's own counter delivers one itself (no handoff
        // between agencies).
        for i in 0..3 {
            let opened = open_at(&app, CRA, EI, format!("cra-{i}")).await;
            if i < 2 {
                decline_first(&app, &opened).await;
            } else {
                serve_last(&app, &As::Key(ESDC), &opened).await;
            }
        }
        let from_cic = open_at(&app, CIC, EI, "cic-0".to_owned()).await;
        serve_last(&app, &As::Key(ESDC), &from_cic).await;
        let direct = open_at(&app, ESDC, EI, "esdc-0".to_owned()).await;
        serve_last(&app, &As::Key(ESDC), &direct).await;

        let zone = jiff::tz::TimeZone::get("America/Toronto").expect("zone");
        let quarter = Quarter::of(single_window::clock::SystemClock.now(), &zone).to_string();
        let public = |agency: &str| {
            let (app, quarter, agency) = (&app, quarter.clone(), agency.to_owned());
            async move {
                app.feedback
                    .clone()
                    .get_public_report(req(
                        &As::Public,
                        pb::GetPublicReportRequest {
                            quarter,
                            fiscal: false,
                            agency,
                        },
                    ))
                    .await
                    .expect("the public reads it")
                    .into_inner()
            }
        };
        let report = public("").await;
        let pair = |from: &str| {
            report
                .wrong_doors
                .iter()
                .find(|w| w.from_agency == from && w.to_agency == "agencies/esdc-edsc")
                .cloned()
                .unwrap_or_else(|| panic!("no pair from {from}: {:?}", report.wrong_doors))
        };
        let cra = pair("agencies/cra-arc");
        assert_eq!(cra.suppression, Suppression::Unspecified as i32);
        assert_eq!((cra.answered, cra.declined), (3, 2));
        assert!((cra.decline_rate - 2.0 / 3.0).abs() < 1e-9);
        let cic = pair("agencies/cic");
        assert_eq!(cic.suppression, Suppression::TooFewRespondents as i32);
        assert_eq!(
            (cic.answered, cic.declined, cic.decline_rate),
            (0, 0, 0.0),
            "a withheld pair shows no figure"
        );
        assert!(
            report
                .wrong_doors
                .iter()
                .all(|w| w.from_agency != w.to_agency),
            "legs an agency delivers itself are not between agencies: {:?}",
            report.wrong_doors
        );
        let only_cic = public("agencies/cic").await;
        assert_eq!(
            only_cic
                .wrong_doors
                .iter()
                .map(|w| w.from_agency.as_str())
                .collect::<Vec<_>>(),
            ["agencies/cic"]
        );
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn the_public_report_and_its_export_agree_and_channels_show_where_citizens_came_from() {
    for backend in backends() {
        let db = TestDb::with_catalogue(backend).await;
        let mut args = serve_args(&db.url);
        args.minimum_respondents = 3;
        let database = {
            let mut d = args.database.clone();
            d.keys_file = Some(db.keys_file.clone());
            d
        };
        let app = TestApp::start(db, Some(args)).await;
        app.wait_until_serving().await;
        plant_known(&app).await;
        let now = single_window::clock::SystemClock.now();
        let zone = jiff::tz::TimeZone::get("America/Toronto").expect("zone");
        let quarter = Quarter::of(now, &zone);
        let public = |quarter: String, fiscal: bool| {
            let app = &app;
            async move {
                app.feedback
                    .clone()
                    .get_public_report(req(
                        &As::Public,
                        pb::GetPublicReportRequest {
                            quarter,
                            fiscal,
                            agency: String::new(),
                        },
                    ))
                    .await
                    .map(|r| r.into_inner())
            }
        };
        let report = public(quarter.to_string(), false)
            .await
            .expect("the public reads it");
        assert_eq!(report.quarter, quarter.to_string());
        let (fy, fq) = quarter.fiscal();
        assert_eq!(
            report.fiscal_quarter,
            format!("{fy}-{:02} Q{fq}", (i32::from(fy) + 1) % 100)
        );
        let row = |service: &str| {
            report
                .rows
                .iter()
                .find(|r| r.service == service)
                .cloned()
                .unwrap_or_else(|| panic!("no row for {service}"))
        };
        let ei = row(EI);
        assert_eq!(ei.channel, pb::Channel::InPerson as i32);
        assert_eq!(
            (ei.customers, ei.surveys_offered, ei.respondents),
            (6, 6, 5)
        );
        assert!((ei.drivers[0].mean - 4.0).abs() < 1e-9);
        assert!(
            ei.display_name
                .is_some_and(|n| n.en.contains("Employment Insurance"))
        );
        assert_eq!(row(CPP).suppression, Suppression::TooFewRespondents as i32);
        assert_eq!(row(CPPD).suppression, Suppression::Complementary as i32);
        let fiscal = public(format!("{fy}Q{fq}"), true)
            .await
            .expect("a fiscal quarter");
        assert_eq!(
            fiscal, report,
            "the fiscal quarter names the same calendar quarter"
        );
        let missing = public(String::new(), false)
            .await
            .expect_err("a quarter is required");
        assert_error(
            &missing,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("quarter"),
        );

        let out = tempfile::tempdir().expect("temp dir");
        single_window::commands::report(single_window::config::ReportCommand::Export {
            quarter: quarter.to_string(),
            fiscal: false,
            agency: None,
            out: out.path().to_owned(),
            minimum_respondents: 3,
            time_zone: "America/Toronto".to_owned(),
            database,
        })
        .await
        .expect("exported");
        let csv_path = out.path().join(format!("cx-{quarter}.csv"));
        let mut reader = csv::Reader::from_path(&csv_path).expect("the CSV");
        let header = reader.headers().expect("header").clone();
        let col = |name: &str| header.iter().position(|h| h == name).expect(name);
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(
            records.len(),
            report.rows.len(),
            "one CSV row per report row"
        );
        for (record, row) in records.iter().zip(&report.rows) {
            assert_eq!(
                format!("services/{}", &record[col("service_id")]),
                row.service
            );
            let suppressed = row.suppression != Suppression::Unspecified as i32;
            assert_eq!(&record[col("suppressed")], suppressed.to_string());
            let respondents = if suppressed {
                String::new()
            } else {
                row.respondents.to_string()
            };
            assert_eq!(record[col("respondents")], respondents);
        }
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join(format!("cx-{quarter}.json"))).expect("json"),
        )
        .expect("valid JSON");
        assert_eq!(
            json["rows"].as_array().map(Vec::len),
            Some(report.rows.len())
        );

        let channels = app
            .feedback
            .clone()
            .get_channel_report(req(
                &As::Key(ESDC),
                pb::GetChannelReportRequest {
                    agency: String::new(),
                    service: EI.to_owned(),
                },
            ))
            .await
            .expect("channels")
            .into_inner();
        let ei = &channels.services[0];
        assert_eq!(ei.service, EI);
        let latest = ei.quarters.last().expect("a quarter");
        assert_eq!(latest.quarter, quarter.to_string());
        assert_eq!(latest.requests, 6);
        assert_eq!(latest.channels[0].channel, pb::Channel::InPerson as i32);
        assert!((latest.channels[0].share - 1.0).abs() < 1e-9);
        assert!(
            ei.published.is_some(),
            "the catalogue's published volumes beside them"
        );
        let rated = ei
            .satisfaction
            .iter()
            .find(|s| s.agency == "agencies/esdc-edsc")
            .expect("satisfaction through the counter");
        assert_eq!(
            (rated.channel, rated.responses),
            (pb::Channel::InPerson as i32, 5)
        );
        let unscoped = app
            .feedback
            .clone()
            .get_channel_report(req(&As::Public, pb::GetChannelReportRequest::default()))
            .await
            .expect_err("the public names an agency or a service");
        assert_error(
            &unscoped,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("agency"),
        );
        app.stop().await.expect("stopped");
    }
}
