//! Live streams over durable positions: an agency's assignments and change notices pushed as they
//! commit, resumed from a position with nothing lost or repeated, across two server processes on
//! one PostgreSQL, a subscriber too slow for its buffer cut off with its position, and streams
//! ended by shutdown with theirs. Every case runs on both backends (the replica case on
//! PostgreSQL, where replicas exist).

use std::time::Duration;

use single_window::proto::v1::{
    self as pb, AssignmentKind, ConsentCategory as Cat, ConsentPurpose as Purpose, HandoffState,
    request_service_client::RequestServiceClient,
};
use tonic::{Code, Status, Streaming, transport::Channel};
use tonic_types::StatusExt as _;

use crate::{
    assert_error,
    citizens::{As, CRA, ESDC, JORDAN, amelie, consent, grant, req},
    helpers::{Backend, TestApp, backends, serve_args},
};

async fn counter_consent(app: &TestApp) {
    let mut c = consent("cra-arc", Purpose::Referral, &[Cat::Contact]);
    c.channel = pb::Channel::InPerson as i32;
    grant(app, &As::Key(CRA), JORDAN, c).await.expect("consent");
}

/// CRA opens a request for EI for Jordan: a leg offered to ESDC.
async fn open_for_esdc(client: &mut RequestServiceClient<Channel>) -> pb::Request {
    let ask = pb::OpenRequestRequest {
        citizen: JORDAN.to_owned(),
        need: Some(pb::Need {
            need: Some(pb::need::Need::Service("services/1003".to_owned())),
        }),
        entry_point: Some(pb::EntryPoint {
            agency: String::new(),
            channel: pb::Channel::InPerson as i32,
        }),
        ..Default::default()
    };
    client
        .open_request(req(&As::Key(CRA), ask))
        .await
        .expect("opened")
        .into_inner()
}

async fn watch(
    client: &mut RequestServiceClient<Channel>,
    key: &'static str,
    after: Option<i64>,
) -> Streaming<pb::AssignmentEvent> {
    client
        .watch_assignments(req(
            &As::Key(key),
            pb::WatchAssignmentsRequest {
                after_position: after,
            },
        ))
        .await
        .expect("watching")
        .into_inner()
}

async fn next(stream: &mut Streaming<pb::AssignmentEvent>) -> Result<pb::AssignmentEvent, Status> {
    tokio::time::timeout(Duration::from_secs(20), stream.message())
        .await
        .expect("an event in time")
        .map(|m| m.expect("the stream goes on"))
}

fn resume_position(status: &Status) -> i64 {
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    info.metadata["resume_after_position"]
        .parse()
        .expect("a position")
}

#[tokio::test]
async fn an_agency_is_pushed_its_offers_and_resumes_after_a_position_with_nothing_lost() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        counter_consent(&app).await;
        let mut client = app.requests.clone();
        let mut live = watch(&mut client, ESDC, None).await;
        let first = open_for_esdc(&mut client).await;
        let second = open_for_esdc(&mut client).await;
        let a = next(&mut live).await.expect("first");
        let b = next(&mut live).await.expect("second");
        assert_eq!(
            (a.kind, a.request.as_str(), a.state),
            (
                AssignmentKind::Offered as i32,
                first.name.as_str(),
                HandoffState::Offered as i32
            )
        );
        assert_eq!(b.request, second.name);
        assert!(a.position < b.position);
        drop(live);

        // While nobody watches: a third request, and ESDC accepts the first.
        let third = open_for_esdc(&mut client).await;
        let leg = &first.handoffs[0];
        client
            .accept_handoff(req(
                &As::Key(ESDC),
                pb::AcceptHandoffRequest {
                    name: leg.name.clone(),
                    etag: leg.etag.clone(),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("accepted");
        let mut resumed = watch(&mut client, ESDC, Some(b.position)).await;
        let c = next(&mut resumed).await.expect("missed offer");
        let d = next(&mut resumed).await.expect("missed change");
        assert_eq!(
            (c.request.as_str(), c.kind),
            (third.name.as_str(), AssignmentKind::Offered as i32)
        );
        assert_eq!(
            (d.request.as_str(), d.kind, d.state),
            (
                first.name.as_str(),
                AssignmentKind::Changed as i32,
                HandoffState::Accepted as i32
            )
        );
        let fourth = open_for_esdc(&mut client).await;
        let e = next(&mut resumed).await.expect("live again");
        assert_eq!(e.request, fourth.name, "no repeats, no gaps");
        assert!(e.position > d.position && d.position > c.position && c.position > b.position);

        let from_start = watch(&mut client, ESDC, Some(0)).await;
        let mut from_start = from_start;
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(next(&mut from_start).await.expect("replayed").position);
        }
        assert_eq!(
            seen,
            [a.position, b.position, c.position, d.position, e.position]
        );

        let bad = client
            .watch_assignments(req(
                &As::Key(ESDC),
                pb::WatchAssignmentsRequest {
                    after_position: Some(-1),
                },
            ))
            .await
            .expect_err("negative");
        assert_error(
            &bad,
            Code::InvalidArgument,
            "INVALID_ARGUMENT",
            Some("after_position"),
        );
        let portal = client
            .watch_assignments(req(
                &amelie(&app),
                pb::WatchAssignmentsRequest {
                    after_position: None,
                },
            ))
            .await
            .expect_err("agencies only");
        assert_eq!(portal.code(), Code::PermissionDenied);
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_is_cut_off_with_its_position_and_resumes_from_it() {
    for backend in backends() {
        let db = crate::helpers::TestDb::with_catalogue(backend).await;
        let mut args = serve_args(&db.url);
        args.stream_buffer = 2;
        let app = TestApp::start(db, Some(args)).await;
        app.wait_until_serving().await;
        counter_consent(&app).await;
        // A client whose HTTP/2 window holds about one event, so events pile up on the server.
        let slow_channel = tonic::transport::Endpoint::from_shared(format!("http://{}", app.addr))
            .expect("endpoint")
            .initial_stream_window_size(Some(64))
            .initial_connection_window_size(Some(64))
            .connect()
            .await
            .expect("connected");
        let mut slow_client = RequestServiceClient::new(slow_channel);
        let mut slow = watch(&mut slow_client, ESDC, None).await;
        let mut client = app.requests.clone();
        let mut opened = Vec::new();
        for _ in 0..12 {
            opened.push(open_for_esdc(&mut client).await.name);
        }
        let mut delivered = Vec::new();
        let cut = loop {
            match next(&mut slow).await {
                Ok(event) => delivered.push(event),
                Err(status) => break status,
            }
        };
        assert_error(&cut, Code::ResourceExhausted, "STREAM_BEHIND", None);
        assert!(
            delivered.len() < opened.len(),
            "it was cut off before the end"
        );
        let position = resume_position(&cut);
        assert_eq!(position, delivered.last().map_or(position, |e| e.position));
        let mut resumed = watch(&mut client, ESDC, Some(position)).await;
        for _ in delivered.len()..opened.len() {
            delivered.push(next(&mut resumed).await.expect("the rest"));
        }
        let names: Vec<&str> = delivered.iter().map(|e| e.request.as_str()).collect();
        assert_eq!(names, opened, "every offer exactly once, in order");
        app.stop().await.expect("stopped");
    }
}

#[tokio::test]
async fn a_handoff_written_through_one_replica_reaches_a_subscriber_on_another() {
    if !backends().contains(&Backend::Postgres) {
        println!("skipped: replicas share a PostgreSQL (set TEST_DATABASE_URL)");
        return;
    }
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = TestApp::start(a.db.alias(), Some(serve_args(&a.db.url))).await;
    b.wait_until_serving().await;
    counter_consent(&a).await;
    let mut on_b = watch(&mut b.requests.clone(), ESDC, None).await;
    let opened = open_for_esdc(&mut a.requests.clone()).await;
    let event = next(&mut on_b).await.expect("pushed across replicas");
    assert_eq!(event.request, opened.name);
    b.stop().await.expect("stopped");
    a.stop().await.expect("stopped");
}

#[tokio::test]
async fn shutdown_ends_streams_with_a_position_to_resume_from() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        counter_consent(&app).await;
        let mut client = app.requests.clone();
        let mut stream = watch(&mut client, ESDC, None).await;
        let opened = open_for_esdc(&mut client).await;
        let event = next(&mut stream).await.expect("event");
        assert_eq!(event.request, opened.name);
        let mut notices = app
            .citizens
            .clone()
            .watch_change_notices(req(
                &As::Key(CRA),
                pb::WatchChangeNoticesRequest {
                    after_position: None,
                },
            ))
            .await
            .expect("watching notices")
            .into_inner();
        let stopping = tokio::spawn(app.stop());
        let ended = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .expect("ended in time")
            .expect_err("ended by the server");
        assert_error(&ended, Code::Unavailable, "STREAM_ENDED", None);
        assert_eq!(resume_position(&ended), event.position);
        let notices_ended = tokio::time::timeout(Duration::from_secs(20), notices.message())
            .await
            .expect("ended in time")
            .expect_err("ended by the server");
        assert_error(&notices_ended, Code::Unavailable, "STREAM_ENDED", None);
        stopping.await.expect("joined").expect("stopped");
    }
}

#[tokio::test]
async fn change_notices_are_pushed_to_the_agencies_that_asked() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let me = amelie(&app);
        grant(
            &app,
            &me,
            crate::citizens::AMELIE,
            consent("cra-arc", Purpose::NotifyOfChanges, &[Cat::Contact]),
        )
        .await
        .expect("granted");
        let mut stream = app
            .citizens
            .clone()
            .watch_change_notices(req(
                &As::Key(CRA),
                pb::WatchChangeNoticesRequest {
                    after_position: None,
                },
            ))
            .await
            .expect("watching")
            .into_inner();
        let read = crate::citizens::get(
            &app,
            &me,
            crate::citizens::AMELIE,
            Purpose::Unspecified,
            &[],
        )
        .await
        .expect("read");
        let mut change = read.clone();
        change.contact.as_mut().expect("contact").email = "pushed@example.ca".to_owned();
        crate::citizens::update(&app, &me, change, &["contact"])
            .await
            .expect("updated");
        let notice = tokio::time::timeout(Duration::from_secs(20), stream.message())
            .await
            .expect("in time")
            .expect("ok")
            .expect("a notice");
        assert_eq!(notice.kind, pb::ChangeKind::Contact as i32);
        assert_eq!(notice.citizen, crate::citizens::AMELIE);
        app.stop().await.expect("stopped");
    }
}
