//! Requests opened at any door and handed off between agencies: the wrong door with only the
//! consented context, a direct request, declines that re-route and escalate, a life event's
//! children, onward referrals, withdrawal, clocks that pause, etags, idempotent opening under
//! concurrent retries, and bad input named by field. Every case runs on both backends.

use single_window::proto::v1::{
    self as pb, ConsentCategory as Cat, ConsentPurpose as Purpose, HandoffReason, HandoffState,
    RequestStatus, need,
};
use tonic::{Code, Status};

use crate::{
    assert_error,
    citizens::{AMELIE, As, CIC, CRA, ESDC, JORDAN, amelie, consent, grant, jordan, req},
    helpers::{TestApp, backends, serve_args},
};

/// The passport service: IRCC (`cic`) owns it; in Canada, Service Canada (`esdc-edsc`) delivers it.
const PASSPORT: &str = "services/SRV03049";
/// Employment Insurance, delivered by ESDC.
const EI: &str = "services/1003";

fn service(name: &str) -> Option<pb::Need> {
    Some(pb::Need {
        need: Some(need::Need::Service(name.to_owned())),
    })
}

fn text(words: &str) -> Option<pb::Need> {
    Some(pb::Need {
        need: Some(need::Need::Text(words.to_owned())),
    })
}

fn at_counter() -> Option<pb::EntryPoint> {
    Some(pb::EntryPoint {
        agency: String::new(),
        channel: pb::Channel::InPerson as i32,
    })
}

fn in_canada() -> Option<pb::RoutingContext> {
    Some(pb::RoutingContext {
        residence: pb::Residence::InCanada as i32,
        ..Default::default()
    })
}

/// A consent recorded at the counter by `agency` for itself.
async fn consent_at_counter(
    app: &TestApp,
    key: &'static str,
    agency: &str,
    citizen: &str,
    purpose: Purpose,
    cats: &[Cat],
) {
    let mut c = consent(agency, purpose, cats);
    c.channel = pb::Channel::InPerson as i32;
    grant(app, &As::Key(key), citizen, c)
        .await
        .expect("consent recorded");
}

async fn open(
    app: &TestApp,
    who: &As,
    request: pb::OpenRequestRequest,
) -> Result<pb::Request, Status> {
    app.requests
        .clone()
        .open_request(req(who, request))
        .await
        .map(|r| r.into_inner())
}

async fn get(app: &TestApp, who: &As, name: &str) -> Result<pb::Request, Status> {
    let request = pb::GetRequestRequest {
        name: name.to_owned(),
    };
    app.requests
        .clone()
        .get_request(req(who, request))
        .await
        .map(|r| r.into_inner())
}

fn last(request: &pb::Request) -> &pb::Handoff {
    request.handoffs.last().expect("a leg")
}

async fn accept(app: &TestApp, who: &As, leg: &pb::Handoff) -> Result<pb::Request, Status> {
    let request = pb::AcceptHandoffRequest {
        name: leg.name.clone(),
        etag: leg.etag.clone(),
        request_id: String::new(),
    };
    app.requests
        .clone()
        .accept_handoff(req(who, request))
        .await
        .map(|r| r.into_inner())
}

async fn decline(app: &TestApp, who: &As, leg: &pb::Handoff) -> Result<pb::Request, Status> {
    let request = pb::DeclineHandoffRequest {
        name: leg.name.clone(),
        etag: leg.etag.clone(),
        reason: pb::DeclineReason::NotOurMandate as i32,
        text: "We do not deliver this here.".to_owned(),
        request_id: String::new(),
    };
    app.requests
        .clone()
        .decline_handoff(req(who, request))
        .await
        .map(|r| r.into_inner())
}

/// Jordan's request for a passport, opened by CRA at its counter with a referral consent for
/// contact details.
async fn passport_at_cra(app: &TestApp) -> pb::Request {
    consent_at_counter(
        app,
        CRA,
        "cra-arc",
        JORDAN,
        Purpose::Referral,
        &[Cat::Contact],
    )
    .await;
    open(
        app,
        &As::Key(CRA),
        pb::OpenRequestRequest {
            citizen: JORDAN.to_owned(),
            need: service(PASSPORT),
            context: in_canada(),
            entry_point: at_counter(),
            note: "Needs a passport for travel next month.".to_owned(),
            shared_categories: vec![Cat::Contact as i32],
            ..Default::default()
        },
    )
    .await
    .expect("opened")
}

#[tokio::test]
async fn a_wrong_door_request_reaches_the_delivering_agency_with_only_the_consented_context() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let opened = passport_at_cra(&app).await;
        assert_eq!(opened.status, RequestStatus::Open as i32);
        assert_eq!(opened.handoffs.len(), 1);
        let leg = last(&opened);
        assert_eq!(leg.from_agency, "agencies/cra-arc");
        assert_eq!(
            leg.to_agency, "agencies/esdc-edsc",
            "Service Canada delivers passports in Canada"
        );
        assert_eq!(leg.reason, HandoffReason::DeliveryPartner as i32);
        assert_eq!(leg.state, HandoffState::Offered as i32);
        assert_eq!(opened.owner_agency, "agencies/esdc-edsc");
        assert_eq!(opened.shared_categories, vec![Cat::Contact as i32]);
        let stored: Vec<_> = opened
            .ranking
            .iter()
            .map(|r| (r.service.as_str(), r.agency.as_str()))
            .collect();
        assert_eq!(
            stored,
            [(PASSPORT, "agencies/esdc-edsc"), (PASSPORT, "agencies/cic")]
        );

        let seen = get(&app, &As::Key(ESDC), &opened.name)
            .await
            .expect("the receiver reads it");
        assert_eq!(seen.context_categories, vec![Cat::Contact as i32]);
        let context = seen.context.expect("the consented context");
        assert!(
            context.contact.is_some_and(|c| !c.email.is_empty()),
            "contact travels"
        );
        assert!(
            context.identity.is_none() && context.addresses.is_empty(),
            "nothing else does"
        );
        assert_eq!(seen.note, "Needs a passport for travel next month.");

        let opener = get(&app, &As::Key(CRA), &opened.name)
            .await
            .expect("the entry agency reads it");
        assert!(
            opener.context.is_none(),
            "the entry agency receives no context through the request"
        );
        let stranger = get(&app, &As::Key(CIC), &opened.name)
            .await
            .expect_err("not a party yet");
        let missing = get(&app, &As::Key(CIC), "requests/nope")
            .await
            .expect_err("no such request");
        assert_error(&stranger, Code::PermissionDenied, "PERMISSION_DENIED", None);
        assert_eq!(
            (stranger.code(), stranger.message(), stranger.details()),
            (missing.code(), missing.message(), missing.details()),
            "a denial says nothing of existence"
        );
        let own = get(&app, &jordan(&app), &opened.name)
            .await
            .expect("the citizen reads her request");
        assert!(own.context.is_none());
        let other = get(&app, &amelie(&app), &opened.name)
            .await
            .expect_err("another citizen");
        assert_eq!(other.code(), Code::PermissionDenied);
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn opening_needs_a_consent_and_shares_only_what_the_referral_consent_covers() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let ask = |citizen: &str, shared: Vec<i32>| pb::OpenRequestRequest {
            citizen: citizen.to_owned(),
            need: service(EI),
            entry_point: at_counter(),
            shared_categories: shared,
            ..Default::default()
        };
        let without = open(&app, &As::Key(CIC), ask(JORDAN, vec![]))
            .await
            .expect_err("no consent");
        let nobody = open(&app, &As::Key(CIC), ask("citizens/nobody", vec![]))
            .await
            .expect_err("no citizen");
        assert_error(&without, Code::PermissionDenied, "PERMISSION_DENIED", None);
        assert_eq!(
            (without.code(), without.message()),
            (nobody.code(), nobody.message())
        );

        consent_at_counter(&app, CIC, "cic", JORDAN, Purpose::Referral, &[Cat::Contact]).await;
        let beyond = open(
            &app,
            &As::Key(CIC),
            ask(JORDAN, vec![Cat::Contact as i32, Cat::Address as i32]),
        )
        .await
        .expect_err("address is not covered");
        assert_error(
            &beyond,
            Code::FailedPrecondition,
            "FAILED_PRECONDITION",
            None,
        );
        let opened = open(&app, &As::Key(CIC), ask(JORDAN, vec![Cat::Contact as i32]))
            .await
            .expect("covered");
        assert_eq!(last(&opened).to_agency, "agencies/esdc-edsc");
        assert_eq!(
            last(&opened).reason,
            HandoffReason::Referral as i32,
            "a named service is a referral"
        );

        let own = open(
            &app,
            &jordan(&app),
            pb::OpenRequestRequest {
                citizen: JORDAN.to_owned(),
                need: service(EI),
                shared_categories: vec![Cat::Identity as i32],
                ..Default::default()
            },
        )
        .await
        .expect("a citizen opens her own request through her portal");
        assert_eq!(
            own.entry_point.as_ref().expect("entry").channel,
            pb::Channel::Online as i32
        );
        assert_eq!(last(&own).from_agency, "", "from the citizen herself");
        let for_other = open(
            &app,
            &amelie(&app),
            pb::OpenRequestRequest {
                citizen: JORDAN.to_owned(),
                need: service(EI),
                ..Default::default()
            },
        )
        .await
        .expect_err("not her record");
        assert_eq!(for_other.code(), Code::PermissionDenied);
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn a_direct_request_runs_its_leg_to_completion_with_its_clock_paused_while_waiting() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        consent_at_counter(
            &app,
            ESDC,
            "esdc-edsc",
            JORDAN,
            Purpose::ServiceDelivery,
            &[Cat::Contact],
        )
        .await;
        let esdc = As::Key(ESDC);
        let opened = open(
            &app,
            &esdc,
            pb::OpenRequestRequest {
                citizen: JORDAN.to_owned(),
                need: service(EI),
                entry_point: at_counter(),
                ..Default::default()
            },
        )
        .await
        .expect("opened");
        let leg = last(&opened);
        assert_eq!(leg.reason, HandoffReason::Direct as i32);
        assert_eq!(leg.to_agency, "agencies/esdc-edsc");
        let clock = leg.clock.as_ref().expect("a clock");
        assert!(
            clock.standard.starts_with("services/1003/standards/"),
            "EI publishes a standard: {clock:?}"
        );
        assert!(clock.due_time.is_some() && clock.time_zone == "America/Toronto");

        let accepted = accept(&app, &esdc, leg).await.expect("accepted");
        let stale = accept(&app, &esdc, leg)
            .await
            .expect_err("the etag changed");
        assert_error(&stale, Code::Aborted, "ETAG_MISMATCH", None);
        let leg = last(&accepted).clone();
        let illegal = accept(&app, &esdc, &leg)
            .await
            .expect_err("already accepted");
        assert_error(
            &illegal,
            Code::FailedPrecondition,
            "FAILED_PRECONDITION",
            None,
        );
        assert!(
            illegal.message().contains("accepted"),
            "names the state: {}",
            illegal.message()
        );
        let not_receiver = accept(&app, &As::Key(CRA), &leg)
            .await
            .expect_err("not the receiver");
        assert_eq!(not_receiver.code(), Code::PermissionDenied);

        let mut requests = app.requests.clone();
        let waiting = requests
            .wait_on_citizen(req(
                &esdc,
                pb::WaitOnCitizenRequest {
                    name: leg.name.clone(),
                    etag: leg.etag.clone(),
                    reason: "Please send your record of employment.".to_owned(),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("waiting")
            .into_inner();
        let leg = last(&waiting).clone();
        assert_eq!(leg.state, HandoffState::WaitingOnCitizen as i32);
        let pause = &leg.clock.as_ref().expect("clock").pauses;
        assert_eq!(pause.len(), 1);
        assert!(pause[0].end_time.is_none() && pause[0].reason.contains("record of employment"));
        let resumed = requests
            .resume_work(req(
                &esdc,
                pb::ResumeWorkRequest {
                    name: leg.name.clone(),
                    etag: leg.etag.clone(),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("resumed")
            .into_inner();
        let leg = last(&resumed).clone();
        assert_eq!(leg.state, HandoffState::InProgress as i32);
        let completed = requests
            .complete_handoff(req(
                &esdc,
                pb::CompleteHandoffRequest {
                    name: leg.name.clone(),
                    etag: leg.etag.clone(),
                    outcome: pb::HandoffOutcome::Delivered as i32,
                    text: "Your claim is approved.".to_owned(),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("completed")
            .into_inner();
        assert_eq!(completed.status, RequestStatus::Completed as i32);
        assert!(completed.end_time.is_some());
        let leg = last(&completed);
        assert_eq!(leg.outcome, pb::HandoffOutcome::Delivered as i32);
        let clock = leg.clock.as_ref().expect("clock");
        assert_eq!(clock.status, pb::ClockStatus::Met as i32);
        assert!(
            clock.pauses[0].end_time.is_some(),
            "the pause ended with the resume"
        );
        let states: Vec<i32> = leg.steps.iter().map(|s| s.state).collect();
        assert_eq!(
            states,
            [
                HandoffState::Offered,
                HandoffState::Accepted,
                HandoffState::WaitingOnCitizen,
                HandoffState::InProgress,
                HandoffState::Completed
            ]
            .map(|s| s as i32)
        );
        assert!(
            leg.steps
                .iter()
                .skip(1)
                .all(|s| s.actor.starts_with("agencies/esdc-edsc"))
        );

        let journey = requests
            .get_journey(req(
                &jordan(&app),
                pb::GetJourneyRequest {
                    name: opened.name.clone(),
                },
            ))
            .await
            .expect("journey")
            .into_inner();
        assert_eq!(journey.legs.len(), 1);
        let words: Vec<String> = journey.legs[0]
            .events
            .iter()
            .map(|e| e.text.clone().expect("text").en)
            .collect();
        assert!(words[2].contains("record of employment"), "{words:?}");
        assert!(words[4].contains("approved"), "{words:?}");
        let summary = journey.legs[0].summary.clone().expect("summary");
        assert!(
            summary.en.contains("Standard") && summary.en.contains("Done within"),
            "{summary:?}"
        );
        assert!(!summary.fr.is_empty());
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn declines_follow_the_stored_ranking_and_the_last_one_escalates_to_the_entry_agency() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let opened = passport_at_cra(&app).await;
        let moved = decline(&app, &As::Key(ESDC), last(&opened))
            .await
            .expect("declined");
        assert_eq!(moved.handoffs.len(), 2);
        assert_eq!(moved.handoffs[0].state, HandoffState::Declined as i32);
        assert_eq!(
            moved.handoffs[0].decline_reason,
            pb::DeclineReason::NotOurMandate as i32
        );
        let next = last(&moved);
        assert_eq!(
            (next.to_agency.as_str(), next.reason),
            ("agencies/cic", HandoffReason::WrongDoor as i32)
        );
        assert_eq!(next.from_agency, "agencies/esdc-edsc");
        assert_eq!(moved.owner_agency, "agencies/cic");
        assert!(moved.ranking.iter().all(|r| r.offered));
        let cic_sees = get(&app, &As::Key(CIC), &opened.name)
            .await
            .expect("now a party");
        assert_eq!(cic_sees.context_categories, vec![Cat::Contact as i32]);
        let esdc_after = get(&app, &As::Key(ESDC), &opened.name)
            .await
            .expect("still a party");
        assert!(
            esdc_after.context.is_none(),
            "a declining agency no longer receives the context"
        );

        let escalated = decline(&app, &As::Key(CIC), next).await.expect("declined");
        let back = last(&escalated);
        assert_eq!(back.reason, HandoffReason::Escalation as i32);
        assert_eq!(back.to_agency, "agencies/cra-arc");
        assert!(back.needs_attention && escalated.needs_attention);
        assert_eq!(escalated.status, RequestStatus::Open as i32, "never closed");
        assert_eq!(escalated.owner_agency, "agencies/cra-arc");
        let refused = decline(&app, &As::Key(CRA), back)
            .await
            .expect_err("an escalation stays");
        assert_error(
            &refused,
            Code::FailedPrecondition,
            "FAILED_PRECONDITION",
            None,
        );

        let queue = app
            .requests
            .clone()
            .list_requests(req(
                &As::Key(CRA),
                pb::ListRequestsRequest {
                    needs_attention: true,
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        assert_eq!(
            queue
                .requests
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            [opened.name.as_str()]
        );
        let esdc_queue = app
            .requests
            .clone()
            .list_requests(req(&As::Key(ESDC), pb::ListRequestsRequest::default()))
            .await
            .expect("listed")
            .into_inner();
        assert!(
            esdc_queue.requests.is_empty(),
            "nothing open is offered to ESDC"
        );
        let esdc_all = app
            .requests
            .clone()
            .list_requests(req(
                &As::Key(ESDC),
                pb::ListRequestsRequest {
                    view: pb::RequestView::All as i32,
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        assert_eq!(esdc_all.total_size, 1, "it was party to it");
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn a_life_event_opens_one_child_request_per_service_whose_conditions_can_hold() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let portal = amelie(&app);
        let opened = open(
            &app,
            &portal,
            pb::OpenRequestRequest {
                citizen: AMELIE.to_owned(),
                need: Some(pb::Need {
                    need: Some(need::Need::LifeEvent("lifeEvents/retiring".to_owned())),
                }),
                context: Some(pb::RoutingContext {
                    province: "QC".to_owned(),
                    age: Some(40),
                    residence: pb::Residence::InCanada as i32,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .expect("opened");
        assert!(
            opened.handoffs.is_empty(),
            "the parent's legs are its children's"
        );
        let skipped: Vec<&str> = opened
            .not_opened
            .iter()
            .map(|n| n.service.as_str())
            .collect();
        assert!(
            skipped.contains(&"services/7") && skipped.contains(&"services/1001"),
            "{skipped:?}"
        );
        assert!(
            opened
                .not_opened
                .iter()
                .all(|n| n.reason.as_ref().is_some_and(|r| !r.en.is_empty()))
        );
        assert!(opened.children.len() >= 2, "{:?}", opened.children);
        let mut agencies = std::collections::BTreeSet::new();
        for name in &opened.children {
            let child = get(&app, &portal, name).await.expect("a child");
            assert_eq!(child.parent, opened.name);
            assert_eq!(child.handoffs.len(), 1);
            assert_eq!(last(&child).reason, HandoffReason::LifeEvent as i32);
            assert!(!skipped.contains(&child.service.as_str()));
            agencies.insert(last(&child).to_agency.clone());
        }
        assert!(agencies.len() >= 2, "one case, many agencies: {agencies:?}");

        let withdrawn = app
            .requests
            .clone()
            .withdraw_request(req(
                &portal,
                pb::WithdrawRequestRequest {
                    name: opened.name.clone(),
                    etag: opened.etag.clone(),
                    reason: "I am not retiring after all.".to_owned(),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("withdrawn")
            .into_inner();
        assert_eq!(withdrawn.status, RequestStatus::Withdrawn as i32);
        for name in &opened.children {
            let child = get(&app, &portal, name).await.expect("a child");
            assert_eq!(child.status, RequestStatus::Withdrawn as i32);
            assert_eq!(last(&child).state, HandoffState::Withdrawn as i32);
        }
        let journey = app
            .requests
            .clone()
            .get_journey(req(
                &portal,
                pb::GetJourneyRequest {
                    name: opened.name.clone(),
                },
            ))
            .await
            .expect("journey")
            .into_inner();
        assert_eq!(journey.legs.len(), opened.children.len());
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn an_accepted_leg_refers_part_of_the_work_onward_without_moving_the_ownership() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let opened = passport_at_cra(&app).await;
        let accepted = accept(&app, &As::Key(ESDC), last(&opened))
            .await
            .expect("accepted");
        let leg = last(&accepted).clone();
        let onward = app
            .requests
            .clone()
            .refer_onward(req(
                &As::Key(ESDC),
                pb::ReferOnwardRequest {
                    name: leg.name.clone(),
                    etag: leg.etag.clone(),
                    service: EI.to_owned(),
                    agency: String::new(),
                    note: "Also lost their job: please assess EI.".to_owned(),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("referred")
            .into_inner();
        let new = last(&onward);
        assert!(!new.primary);
        assert_eq!(new.referred_from, leg.name);
        assert_eq!(new.reason, HandoffReason::Referral as i32);
        assert_eq!(onward.owner_agency, "agencies/esdc-edsc");
        let offered = decline(&app, &As::Key(ESDC), &onward.handoffs[0])
            .await
            .expect_err("accepted legs are not declined");
        assert_eq!(offered.code(), Code::FailedPrecondition);
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn concurrent_retries_of_one_opening_create_one_request() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        consent_at_counter(
            &app,
            CRA,
            "cra-arc",
            JORDAN,
            Purpose::Referral,
            &[Cat::Contact],
        )
        .await;
        let ask = pb::OpenRequestRequest {
            citizen: JORDAN.to_owned(),
            need: text("I need to renew my passport"),
            context: in_canada(),
            entry_point: at_counter(),
            request_id: "0c0ffee0-0000-4000-8000-000000000001".to_owned(),
            ..Default::default()
        };
        let calls = (0..8).map(|_| open(&app, &As::Key(CRA), ask.clone()));
        let answers = single_window::store::conformance::futures_join_all(calls).await;
        let names: std::collections::BTreeSet<String> = answers
            .into_iter()
            .map(|a| a.expect("opened").name)
            .collect();
        assert_eq!(names.len(), 1, "one request: {names:?}");
        let all = app
            .requests
            .clone()
            .list_requests(req(
                &As::Key(CRA),
                pb::ListRequestsRequest {
                    view: pb::RequestView::All as i32,
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        assert_eq!(all.total_size, 1);
        let mut other = ask.clone();
        other.note = "something else".to_owned();
        let reused = open(&app, &As::Key(CRA), other)
            .await
            .expect_err("reused id");
        assert_error(&reused, Code::AlreadyExists, "ALREADY_EXISTS", None);
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn concurrent_steps_with_one_etag_let_exactly_one_win() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let opened = passport_at_cra(&app).await;
        let leg = last(&opened).clone();
        let calls = (0..4).map(|_| accept(&app, &As::Key(ESDC), &leg));
        let answers = single_window::store::conformance::futures_join_all(calls).await;
        let won = answers.iter().filter(|a| a.is_ok()).count();
        assert_eq!(won, 1, "{answers:?}");
        for lost in answers.iter().filter_map(|a| a.as_ref().err()) {
            assert_eq!(lost.code(), Code::Aborted, "{lost:?}");
        }
        let now = get(&app, &As::Key(ESDC), &opened.name).await.expect("read");
        assert_eq!(now.handoffs[0].steps.len(), 2, "one acceptance recorded");
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn a_wait_past_the_limit_ends_the_leg_as_abandoned_and_at_risk_clocks_are_listed() {
    for backend in backends() {
        let db = crate::helpers::TestDb::with_catalogue(backend).await;
        let mut args = serve_args(&db.url);
        args.citizen_wait_limit = std::time::Duration::from_millis(300);
        args.log_sequence_interval = std::time::Duration::from_millis(100);
        args.at_risk_share = 1e-12;
        let app = TestApp::start(db, Some(args)).await;
        app.wait_until_serving().await;
        let opened = passport_at_cra(&app).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // Any elapsed millisecond is past a share this small.
            let at_risk = app
                .requests
                .clone()
                .list_requests(req(
                    &As::Key(ESDC),
                    pb::ListRequestsRequest {
                        at_risk: true,
                        ..Default::default()
                    },
                ))
                .await
                .expect("listed")
                .into_inner();
            if at_risk.requests.len() == 1 {
                let clock = at_risk.requests[0].clock.clone().expect("clock");
                assert_eq!(clock.status, pb::ClockStatus::AtRisk as i32);
                break;
            }
            assert!(std::time::Instant::now() < deadline, "never at risk");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let breached = app
            .requests
            .clone()
            .list_requests(req(
                &As::Key(ESDC),
                pb::ListRequestsRequest {
                    breached: true,
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        assert!(breached.requests.is_empty(), "not past its due time");

        let accepted = accept(&app, &As::Key(ESDC), last(&opened))
            .await
            .expect("accepted");
        let leg = last(&accepted).clone();
        app.requests
            .clone()
            .wait_on_citizen(req(
                &As::Key(ESDC),
                pb::WaitOnCitizenRequest {
                    name: leg.name.clone(),
                    etag: leg.etag.clone(),
                    reason: "Send a photo.".to_owned(),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("waiting");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let ended = loop {
            let now = get(&app, &As::Key(ESDC), &opened.name).await.expect("read");
            if last(&now).state == HandoffState::Abandoned as i32 {
                break now;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never abandoned: {now:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert_eq!(ended.status, RequestStatus::Abandoned as i32);
        let step = last(&ended).steps.last().expect("a step");
        assert_eq!(step.actor, "single-window");
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn every_bad_field_of_a_request_is_named() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let good = pb::OpenRequestRequest {
        citizen: JORDAN.to_owned(),
        need: service(EI),
        entry_point: at_counter(),
        ..Default::default()
    };
    let file = |name: &str, media: &str, size: usize| pb::Attachment {
        filename: name.to_owned(),
        media_type: media.to_owned(),
        content: vec![b'x'; size],
        sha256: String::new(),
    };
    let cases: Vec<(&str, pb::OpenRequestRequest)> = vec![
        (
            "citizen",
            pb::OpenRequestRequest {
                citizen: String::new(),
                ..good.clone()
            },
        ),
        (
            "citizen",
            pb::OpenRequestRequest {
                citizen: "people/1".to_owned(),
                ..good.clone()
            },
        ),
        (
            "need",
            pb::OpenRequestRequest {
                need: None,
                ..good.clone()
            },
        ),
        (
            "need.text",
            pb::OpenRequestRequest {
                need: text("  "),
                ..good.clone()
            },
        ),
        (
            "need.service",
            pb::OpenRequestRequest {
                need: service("svc/1"),
                ..good.clone()
            },
        ),
        (
            "entry_point.agency",
            pb::OpenRequestRequest {
                entry_point: Some(pb::EntryPoint {
                    agency: "agencies/cic".to_owned(),
                    channel: 3,
                }),
                ..good.clone()
            },
        ),
        (
            "entry_point.channel",
            pb::OpenRequestRequest {
                entry_point: None,
                ..good.clone()
            },
        ),
        (
            "entry_point.channel",
            pb::OpenRequestRequest {
                entry_point: Some(pb::EntryPoint {
                    agency: String::new(),
                    channel: 99,
                }),
                ..good.clone()
            },
        ),
        (
            "context.province",
            pb::OpenRequestRequest {
                context: Some(pb::RoutingContext {
                    province: "XX".to_owned(),
                    ..Default::default()
                }),
                ..good.clone()
            },
        ),
        (
            "note",
            pb::OpenRequestRequest {
                note: "n".repeat(4001),
                ..good.clone()
            },
        ),
        (
            "note",
            pb::OpenRequestRequest {
                note: "bell\u{7}".to_owned(),
                ..good.clone()
            },
        ),
        (
            "attachments",
            pb::OpenRequestRequest {
                attachments: (0..11)
                    .map(|_| file("a.pdf", "application/pdf", 1))
                    .collect(),
                ..good.clone()
            },
        ),
        (
            "attachments[0].filename",
            pb::OpenRequestRequest {
                attachments: vec![file("../a.pdf", "application/pdf", 1)],
                ..good.clone()
            },
        ),
        (
            "attachments[0].filename",
            pb::OpenRequestRequest {
                attachments: vec![file("", "application/pdf", 1)],
                ..good.clone()
            },
        ),
        (
            "attachments[0].media_type",
            pb::OpenRequestRequest {
                attachments: vec![file("a.pdf", "pdf", 1)],
                ..good.clone()
            },
        ),
        (
            "attachments[0].content",
            pb::OpenRequestRequest {
                attachments: vec![file("a.pdf", "application/pdf", 64 * 1024 + 1)],
                ..good.clone()
            },
        ),
        (
            "attachments[0].content",
            pb::OpenRequestRequest {
                attachments: vec![file("a.pdf", "application/pdf", 0)],
                ..good.clone()
            },
        ),
        (
            "shared_categories[0]",
            pb::OpenRequestRequest {
                shared_categories: vec![42],
                ..good.clone()
            },
        ),
        (
            "request_id",
            pb::OpenRequestRequest {
                request_id: "x".repeat(65),
                ..good.clone()
            },
        ),
    ];
    for (field, request) in cases {
        let status = open(&app, &As::Key(CRA), request).await.expect_err(field);
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some(field),
        );
    }
    let mut requests = app.requests.clone();
    let who = As::Key(ESDC);
    let decline = |name: &str, etag: &str, reason: i32, text: &str| pb::DeclineHandoffRequest {
        name: name.to_owned(),
        etag: etag.to_owned(),
        reason,
        text: text.to_owned(),
        request_id: String::new(),
    };
    let leg = "requests/r1/handoffs/1";
    for (field, request) in [
        ("name", decline("", "\"v1\"", 1, "t")),
        (
            "name",
            decline("requests/r1/handoffs/zero", "\"v1\"", 1, "t"),
        ),
        ("etag", decline(leg, "", 1, "t")),
        ("etag", decline(leg, "v-1", 1, "t")),
        ("reason", decline(leg, "\"v1\"", 0, "t")),
        ("reason", decline(leg, "\"v1\"", 77, "t")),
        ("text", decline(leg, "\"v1\"", 1, "")),
        ("text", decline(leg, "\"v1\"", 1, &"t".repeat(2001))),
    ] {
        let status = requests
            .decline_handoff(req(&who, request))
            .await
            .expect_err(field);
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some(field),
        );
    }
    let wait = requests
        .wait_on_citizen(req(
            &who,
            pb::WaitOnCitizenRequest {
                name: leg.to_owned(),
                etag: "\"v1\"".to_owned(),
                reason: String::new(),
                request_id: String::new(),
            },
        ))
        .await
        .expect_err("a reason is required");
    assert_error(
        &wait,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
        Some("reason"),
    );
    let complete = requests
        .complete_handoff(req(
            &who,
            pb::CompleteHandoffRequest {
                name: leg.to_owned(),
                etag: "\"v1\"".to_owned(),
                outcome: 0,
                text: String::new(),
                request_id: String::new(),
            },
        ))
        .await
        .expect_err("an outcome is required");
    assert_error(
        &complete,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
        Some("outcome"),
    );
    for (field, request) in [
        (
            "service",
            pb::ReferOnwardRequest {
                name: leg.to_owned(),
                etag: "\"v1\"".to_owned(),
                service: "services/none".to_owned(),
                note: "n".to_owned(),
                ..Default::default()
            },
        ),
        (
            "agency",
            pb::ReferOnwardRequest {
                name: leg.to_owned(),
                etag: "\"v1\"".to_owned(),
                service: EI.to_owned(),
                agency: "agencies/cic".to_owned(),
                note: "n".to_owned(),
                ..Default::default()
            },
        ),
        (
            "note",
            pb::ReferOnwardRequest {
                name: leg.to_owned(),
                etag: "\"v1\"".to_owned(),
                service: EI.to_owned(),
                ..Default::default()
            },
        ),
    ] {
        let status = requests
            .refer_onward(req(&who, request))
            .await
            .expect_err(field);
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some(field),
        );
    }
    let withdraw = requests
        .withdraw_request(req(
            &who,
            pb::WithdrawRequestRequest {
                name: "requests/".to_owned(),
                etag: String::new(),
                reason: String::new(),
                request_id: String::new(),
            },
        ))
        .await
        .expect_err("bad");
    for field in ["name", "etag", "reason"] {
        assert_error(
            &withdraw,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some(field),
        );
    }
    for (field, request) in [
        (
            "page_size",
            pb::ListRequestsRequest {
                page_size: -1,
                ..Default::default()
            },
        ),
        (
            "statuses[0]",
            pb::ListRequestsRequest {
                statuses: vec![0],
                ..Default::default()
            },
        ),
        (
            "services[0]",
            pb::ListRequestsRequest {
                services: vec!["services/none".to_owned()],
                ..Default::default()
            },
        ),
        (
            "view",
            pb::ListRequestsRequest {
                view: 9,
                ..Default::default()
            },
        ),
        (
            "page_token",
            pb::ListRequestsRequest {
                page_token: "garbage".to_owned(),
                ..Default::default()
            },
        ),
    ] {
        let status = requests
            .list_requests(req(&who, request))
            .await
            .expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    }
    for name in ["", "nope", "requests/"] {
        let status = requests
            .get_request(req(
                &who,
                pb::GetRequestRequest {
                    name: name.to_owned(),
                },
            ))
            .await
            .expect_err("bad name");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("name"),
        );
    }
    for (field, request) in [
        (
            "name",
            pb::AcceptHandoffRequest {
                name: "requests/r1".to_owned(),
                etag: "\"v1\"".to_owned(),
                request_id: String::new(),
            },
        ),
        (
            "etag",
            pb::AcceptHandoffRequest {
                name: leg.to_owned(),
                etag: "7".to_owned(),
                request_id: String::new(),
            },
        ),
        (
            "request_id",
            pb::AcceptHandoffRequest {
                name: leg.to_owned(),
                etag: "\"v1\"".to_owned(),
                request_id: "\u{1}".to_owned(),
            },
        ),
    ] {
        let status = requests
            .accept_handoff(req(&who, request))
            .await
            .expect_err(field);
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some(field),
        );
    }
    let journey = requests
        .get_journey(req(
            &who,
            pb::GetJourneyRequest {
                name: "nope".to_owned(),
            },
        ))
        .await
        .expect_err("bad name");
    assert_error(
        &journey,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
        Some("name"),
    );
    let anonymous = open(&app, &As::Public, good.clone())
        .await
        .expect_err("anonymous");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    app.stop().await.expect("stopped");
}

#[tokio::test]
async fn a_queue_pages_in_name_order_without_repeats_and_filters_by_status_and_service() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        consent_at_counter(
            &app,
            CRA,
            "cra-arc",
            JORDAN,
            Purpose::Referral,
            &[Cat::Contact],
        )
        .await;
        let mut opened = Vec::new();
        for _ in 0..3 {
            let ask = pb::OpenRequestRequest {
                citizen: JORDAN.to_owned(),
                need: service(EI),
                entry_point: at_counter(),
                ..Default::default()
            };
            opened.push(open(&app, &As::Key(CRA), ask).await.expect("opened").name);
        }
        let list = |page_token: String, extra: pb::ListRequestsRequest| {
            let mut client = app.requests.clone();
            async move {
                client
                    .list_requests(req(
                        &As::Key(ESDC),
                        pb::ListRequestsRequest {
                            page_size: 2,
                            page_token,
                            ..extra
                        },
                    ))
                    .await
                    .expect("listed")
                    .into_inner()
            }
        };
        let first = list(String::new(), Default::default()).await;
        assert_eq!(first.total_size, 3);
        assert!(!first.next_page_token.is_empty());
        let second = list(first.next_page_token.clone(), Default::default()).await;
        assert!(second.next_page_token.is_empty());
        let names: Vec<String> = first
            .requests
            .iter()
            .chain(&second.requests)
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(
            names, opened,
            "every request once, in the order they were opened"
        );
        let other_service = list(
            String::new(),
            pb::ListRequestsRequest {
                services: vec![PASSPORT.to_owned()],
                ..Default::default()
            },
        )
        .await;
        assert_eq!(other_service.total_size, 0);
        let completed = list(
            String::new(),
            pb::ListRequestsRequest {
                statuses: vec![RequestStatus::Completed as i32],
                ..Default::default()
            },
        )
        .await;
        assert_eq!(completed.total_size, 0);
        let mine = app
            .requests
            .clone()
            .list_requests(req(&jordan(&app), pb::ListRequestsRequest::default()))
            .await
            .expect("her requests")
            .into_inner();
        assert_eq!(mine.total_size, 3, "a portal lists its citizen's requests");
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn a_representative_opens_requests_sharing_only_what_their_scope_covers() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        // Amélie lets Jordan act for her on her contact details.
        crate::citizens::authorize(
            &app,
            &amelie(&app),
            AMELIE,
            crate::citizens::representation(JORDAN, &[Cat::Contact], false),
        )
        .await
        .expect("authorized");
        let ask = |shared: Vec<i32>| pb::OpenRequestRequest {
            citizen: AMELIE.to_owned(),
            need: service(EI),
            shared_categories: shared,
            ..Default::default()
        };
        let within = open(&app, &jordan(&app), ask(vec![Cat::Contact as i32]))
            .await
            .expect("within the scope");
        assert_eq!(within.shared_categories, vec![Cat::Contact as i32]);
        let beyond = open(&app, &jordan(&app), ask(vec![Cat::Identifiers as i32]))
            .await
            .expect_err("beyond the scope");
        assert_error(&beyond, Code::PermissionDenied, "PERMISSION_DENIED", None);
        app.stop().await.expect("stopped");
    }
}
