//! `kill -9` of the server during sustained OpenRequest and step traffic, on each backend: after
//! each restart every acknowledged write is there, nothing unacknowledged is half there (a retry
//! of a call whose answer was lost returns the one request it made, or makes it), no request is
//! duplicated, and the agency's stream resumes from its last position with no gap and no repeat.
//!
//! `FAULT_CYCLES` kills per backend (3 by default, as in CI; the full run is
//! `FAULT_CYCLES=20 cargo test --test api faults:: -- --nocapture`).

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use single_window::proto::v1::{
    self as pb, ConsentCategory as Cat, ConsentPurpose as Purpose,
    citizen_service_client::CitizenServiceClient, request_service_client::RequestServiceClient,
};
use tonic::{Code, transport::Channel};

use crate::{
    access_log::cli,
    binary::Binary,
    citizens::{As, CRA, ESDC, JORDAN, consent, req},
    helpers::{Backend, TestDb, backends},
};

fn start(db: &TestDb) -> Binary {
    Binary::serve(db, |command| {
        command.args(["--log-sequence-interval", "100ms"]);
    })
}

pub(crate) async fn clients(
    addr: SocketAddr,
) -> (RequestServiceClient<Channel>, CitizenServiceClient<Channel>) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_lazy();
    (
        RequestServiceClient::new(channel.clone()),
        CitizenServiceClient::new(channel),
    )
}

pub(crate) fn ask(request_id: &str) -> pb::OpenRequestRequest {
    pb::OpenRequestRequest {
        citizen: JORDAN.to_owned(),
        need: Some(pb::Need {
            need: Some(pb::need::Need::Service("services/1003".to_owned())),
        }),
        entry_point: Some(pb::EntryPoint {
            agency: String::new(),
            channel: pb::Channel::InPerson as i32,
        }),
        request_id: request_id.to_owned(),
        ..Default::default()
    }
}

/// Jordan's consent to CRA's referrals, which the requests of [`ask`] need.
pub(crate) async fn grant_referral(citizens: &mut CitizenServiceClient<Channel>) {
    let mut c = consent("cra-arc", Purpose::Referral, &[Cat::Contact]);
    c.channel = pb::Channel::InPerson as i32;
    let grant = pb::GrantConsentRequest {
        parent: JORDAN.to_owned(),
        consent: Some(c),
        request_id: String::new(),
    };
    citizens
        .grant_consent(req(&As::Key(CRA), grant))
        .await
        .expect("consent");
}

/// What the clients learnt: request ids acknowledged (with the request's name), ids whose
/// outcome is unknown, and legs whose acceptance was acknowledged.
#[derive(Default)]
pub(crate) struct Ledger {
    pub(crate) acknowledged: BTreeMap<String, String>,
    pub(crate) unknown: BTreeSet<String>,
    accepted: BTreeSet<String>,
    /// Calls whose answer the kill cut off, in all.
    cut_off: usize,
    /// Requests already checked after a restart.
    verified: BTreeSet<String>,
}

/// Opens requests and accepts some of them until the server dies or `until`.
async fn traffic(
    addr: SocketAddr,
    ledger: Arc<Mutex<Ledger>>,
    worker: usize,
    cycle: usize,
    until: Instant,
) {
    let (mut requests, _) = clients(addr).await;
    for n in 0.. {
        if Instant::now() >= until {
            return;
        }
        let id = format!("fault-{cycle}-{worker}-{n}");
        match requests.open_request(req(&As::Key(CRA), ask(&id))).await {
            Ok(answer) => {
                let request = answer.into_inner();
                ledger
                    .lock()
                    .unwrap()
                    .acknowledged
                    .insert(id.clone(), request.name.clone());
                if n % 2 == 0 {
                    let leg = &request.handoffs[0];
                    let step = pb::AcceptHandoffRequest {
                        name: leg.name.clone(),
                        etag: leg.etag.clone(),
                        request_id: format!("{id}-accept"),
                    };
                    match requests.accept_handoff(req(&As::Key(ESDC), step)).await {
                        Ok(_) => {
                            ledger.lock().unwrap().accepted.insert(request.name);
                        }
                        Err(_) => {
                            ledger.lock().unwrap().cut_off += 1;
                            return;
                        }
                    }
                }
            }
            Err(status) => {
                assert!(
                    matches!(
                        status.code(),
                        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal
                    ),
                    "a failure other than the kill: {status:?}"
                );
                let mut l = ledger.lock().unwrap();
                l.unknown.insert(id);
                l.cut_off += 1;
                return;
            }
        }
    }
}

/// Reads ESDC's stream after `after` until it stops (the kill), recording positions.
async fn watch(addr: SocketAddr, after: Option<i64>, seen: Arc<Mutex<Vec<i64>>>) {
    let (mut requests, _) = clients(addr).await;
    let Ok(stream) = requests
        .watch_assignments(req(
            &As::Key(ESDC),
            pb::WatchAssignmentsRequest {
                after_position: after,
            },
        ))
        .await
    else {
        return;
    };
    let mut stream = stream.into_inner();
    while let Ok(Some(event)) = stream.message().await {
        seen.lock().unwrap().push(event.position);
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_and_streams_resume_without_a_gap() {
    let cycles: usize = std::env::var("FAULT_CYCLES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(3);
    for backend in backends() {
        let db = TestDb::with_catalogue(backend).await;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let seen = Arc::new(Mutex::new(Vec::<i64>::new()));
        let started = Instant::now();
        let forever = started + Duration::from_secs(3600);
        let kept_dir = tempfile::tempdir().expect("temp dir");
        let kept = kept_dir.path().join("kept-checkpoint");
        for cycle in 0..cycles {
            let mut server = start(&db);
            let (mut requests, mut citizens) = clients(server.addr).await;
            if cycle == 0 {
                grant_referral(&mut citizens).await;
            }
            verify(&mut requests, &ledger).await;
            let after = Some(seen.lock().unwrap().last().copied().unwrap_or(0));
            let watcher = tokio::spawn(watch(server.addr, after, seen.clone()));
            let workers: Vec<_> = (0..4)
                .map(|w| tokio::spawn(traffic(server.addr, ledger.clone(), w, cycle, forever)))
                .collect();
            // Kill at a varying instant, mid-traffic.
            let run_for = Duration::from_millis(300 + (cycle as u64 * 137) % 700);
            tokio::time::sleep(run_for).await;
            server.child.kill().expect("SIGKILL");
            let _ = server.child.wait();
            for w in workers {
                w.await.expect("a worker");
            }
            let _ = watcher.await;
            if cycle == 0 {
                let export = audit_export(&db, kept_dir.path()).await;
                std::fs::write(&kept, export.checkpoint).expect("keep the checkpoint");
            }
        }
        // A last start: verify, then read the whole stream from the start.
        let mut server = start(&db);
        let (mut requests, _) = clients(server.addr).await;
        verify(&mut requests, &ledger).await;
        // The access log proves every event after the kills, and extends the checkpoint kept
        // after the first cycle.
        let verified = audit_verify(&db, &kept).await;
        let (all, accepted) = every_position(&mut requests).await;
        let resumed = seen.lock().unwrap().clone();
        assert_eq!(
            &all[..resumed.len()],
            &resumed[..],
            "the resumed streams saw exactly the first events, in order, once"
        );
        let expected: Vec<i64> = (1..=all.len() as i64).collect();
        assert_eq!(all, expected, "positions without a gap");
        let ledger = ledger.lock().unwrap();
        println!(
            "{backend:?}: {cycles} kills in {:.1}s; {} requests, {} acceptances acknowledged ({accepted} committed), {} calls cut off by a kill, {} events streamed across restarts; access log: {verified}",
            started.elapsed().as_secs_f64(),
            ledger.acknowledged.len(),
            ledger.accepted.len(),
            ledger.cut_off,
            resumed.len()
        );
        server.child.kill().expect("SIGKILL");
        let _ = server.child.wait();
    }
}

/// Jordan's access events exported from the stopped server's database into `dir`.
async fn audit_export(db: &TestDb, dir: &std::path::Path) -> single_window::audit::export::Export {
    let file = dir.join("export.json");
    let out = cli(vec![
        "audit".into(),
        "export".into(),
        "--citizen".into(),
        JORDAN.into(),
        "--database-url".into(),
        db.url.clone(),
        "--keys-file".into(),
        db.keys_file.display().to_string(),
        "--out".into(),
        file.display().to_string(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("an export")
}

/// Exports Jordan's events and verifies them offline against `kept`: what `audit verify` says.
async fn audit_verify(db: &TestDb, kept: &std::path::Path) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let export = audit_export(db, dir.path()).await;
    assert!(
        !export.events.is_empty(),
        "the requests' access events are logged"
    );
    let out = cli(vec![
        "audit".into(),
        "verify".into(),
        "--verifier-key".into(),
        export.verifier_key.clone(),
        "--kept-checkpoint".into(),
        kept.display().to_string(),
        dir.path().join("export.json").display().to_string(),
    ])
    .await;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success() && said.starts_with("verified: "),
        "the access log verifies after the kills: {said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

/// After a restart: every acknowledged request is there whole, with its acknowledged
/// acceptance; retrying each call whose answer was lost returns one request; the total is
/// exactly the distinct request ids (no duplicates).
pub(crate) async fn verify(
    requests: &mut RequestServiceClient<Channel>,
    ledger: &Arc<Mutex<Ledger>>,
) {
    let (acknowledged, unknown, accepted) = {
        let l = ledger.lock().unwrap();
        let fresh: BTreeMap<String, String> = l
            .acknowledged
            .iter()
            .filter(|(_, name)| !l.verified.contains(*name))
            .map(|(id, name)| (id.clone(), name.clone()))
            .collect();
        (fresh, l.unknown.clone(), l.accepted.clone())
    };
    for (id, name) in &acknowledged {
        let request = requests
            .get_request(req(
                &As::Key(CRA),
                pb::GetRequestRequest { name: name.clone() },
            ))
            .await
            .unwrap_or_else(|s| panic!("acknowledged {id} ({name}) is lost: {s:?}"))
            .into_inner();
        assert_eq!(request.handoffs.len(), 1, "{name} is whole");
        assert!(!request.ranking.is_empty() && !request.handoffs[0].steps.is_empty());
        if accepted.contains(name) {
            assert_eq!(
                request.handoffs[0].state,
                pb::HandoffState::Accepted as i32,
                "{name}'s acceptance is lost"
            );
        }
        let again = requests
            .open_request(req(&As::Key(CRA), ask(id)))
            .await
            .expect("replayed")
            .into_inner();
        assert_eq!(&again.name, name, "a retry returns the same request");
        ledger.lock().unwrap().verified.insert(name.clone());
    }
    for id in &unknown {
        let answer = requests
            .open_request(req(&As::Key(CRA), ask(id)))
            .await
            .expect("retried")
            .into_inner();
        ledger
            .lock()
            .unwrap()
            .acknowledged
            .insert(id.clone(), answer.name);
    }
    ledger.lock().unwrap().unknown.clear();
    let distinct = ledger.lock().unwrap().acknowledged.len();
    let all = requests
        .list_requests(req(
            &As::Key(CRA),
            pb::ListRequestsRequest {
                view: pb::RequestView::All as i32,
                page_size: 1,
                ..Default::default()
            },
        ))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(
        all.total_size as usize, distinct,
        "one request per request_id, nothing half there"
    );
}

/// Every position ESDC's stream holds, read from the start (one offer per request and one change
/// per acceptance, counted from the store: an acceptance whose answer was lost counts too), and the
/// acceptances committed.
async fn every_position(requests: &mut RequestServiceClient<Channel>) -> (Vec<i64>, usize) {
    let (total, accepted) = events_sent(requests).await;
    let mut stream = requests
        .watch_assignments(req(
            &As::Key(ESDC),
            pb::WatchAssignmentsRequest {
                after_position: Some(0),
            },
        ))
        .await
        .expect("watching")
        .into_inner();
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while all.len() < total + accepted {
        let event = tokio::time::timeout(deadline - Instant::now(), stream.message())
            .await
            .expect("every event in time")
            .expect("ok")
            .expect("more");
        all.push(event.position);
    }
    (all, accepted)
}

/// The requests in the store and the acceptances among them.
async fn events_sent(requests: &mut RequestServiceClient<Channel>) -> (usize, usize) {
    let (mut total, mut accepted, mut token) = (0, 0, String::new());
    loop {
        let page = requests
            .list_requests(req(
                &As::Key(CRA),
                pb::ListRequestsRequest {
                    view: pb::RequestView::All as i32,
                    page_size: 500,
                    page_token: token.clone(),
                    ..Default::default()
                },
            ))
            .await
            .expect("listed")
            .into_inner();
        total += page.requests.len();
        accepted += page
            .requests
            .iter()
            .filter(|r| r.handoffs[0].state == pb::HandoffState::Accepted as i32)
            .count();
        if page.next_page_token.is_empty() {
            return (total, accepted);
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn a_killed_replica_hands_its_subscribers_and_retries_to_the_other_without_a_gap() {
    if !backends().contains(&Backend::Postgres) {
        return; // backends() said why (and fails under CI)
    }
    let db = TestDb::with_catalogue(Backend::Postgres).await;
    let mut first = start(&db);
    let second = start(&db.alias());
    let (_, mut citizens) = clients(first.addr).await;
    grant_referral(&mut citizens).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let seen = Arc::new(Mutex::new(Vec::<i64>::new()));
    let watcher = tokio::spawn(watch(first.addr, Some(0), seen.clone()));
    let forever = Instant::now() + Duration::from_secs(3600);
    let workers: Vec<_> = (0..4)
        .map(|w| tokio::spawn(traffic(first.addr, ledger.clone(), w, 0, forever)))
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    first.child.kill().expect("SIGKILL");
    let _ = first.child.wait();
    for w in workers {
        w.await.expect("a worker");
    }
    let _ = watcher.await;
    let before = seen.lock().unwrap().len();
    let cut_off = ledger.lock().unwrap().cut_off;

    // The subscriber goes on at the other replica after its last position; the clients retry there.
    let after = Some(seen.lock().unwrap().last().copied().unwrap_or(0));
    let watcher = tokio::spawn(watch(second.addr, after, seen.clone()));
    let (mut requests, _) = clients(second.addr).await;
    verify(&mut requests, &ledger).await;
    let until = Instant::now() + Duration::from_millis(800);
    let workers: Vec<_> = (0..4)
        .map(|w| tokio::spawn(traffic(second.addr, ledger.clone(), w, 1, until)))
        .collect();
    for w in workers {
        w.await.expect("a worker");
    }
    verify(&mut requests, &ledger).await;

    let (all, accepted) = every_position(&mut requests).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().len() < all.len() {
        assert!(
            Instant::now() < deadline,
            "the resumed subscriber got every event in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
    let resumed = seen.lock().unwrap().clone();
    assert_eq!(
        resumed, all,
        "the subscriber saw every event once, in order, across replicas"
    );
    let expected: Vec<i64> = (1..=all.len() as i64).collect();
    assert_eq!(all, expected, "positions without a gap");
    let ledger = ledger.lock().unwrap();
    println!(
        "two replicas: {} requests, {} acceptances acknowledged ({accepted} committed), {cut_off} calls cut off by the kill and retried on the other, {before} events before the kill and {} after",
        ledger.acknowledged.len(),
        ledger.accepted.len(),
        resumed.len() - before
    );
}
