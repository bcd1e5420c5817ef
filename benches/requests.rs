//! Requests benchmark, against the release binary started as its own process (so its memory can
//! be read), with baselines run in the same run:
//!
//! 1. Streams: 10,000 `WatchAssignments` streams over 100 connections for every agency that owns a
//!    service (up to 100; the built-in catalogue has 78 besides the opener). The
//!    server's memory increase for them, against a bare tonic server (this bench re-run as one)
//!    holding as many server-streaming calls (gRPC health `Watch`) the same way; then
//!    commit-to-receipt latency at 500 assignments/s spread over the agencies: from the moment
//!    `OpenRequest` returns (committed) to the moment the agency's stream delivers the offer.
//! 2. Durable `OpenRequest` naming its service (no routing cost), with its leg, outbox and
//!    access-log writes, at 16 and 64 callers, against a single-row insert with one commit each
//!    on the same database (pgbench on PostgreSQL; a one-commit-per-insert loop on SQLite).
//!
//! Run: `cargo bench --bench requests` (SQLite), or with `BENCH_DATABASE_URL=postgres://...`
//! naming a PostgreSQL server with durable settings on which the bench may create a database.

#[path = "support/agencies.rs"]
#[allow(dead_code)] // the forms' answers
mod agencies;
#[path = "support/baseline.rs"]
mod baseline;
#[path = "support/process.rs"]
mod process;

use agencies::{Population, as_principal};

use process::{channels, percentile, rss_kib, spawn, wait_serving};

/// What the baseline inserts.
const PAYLOAD: &str = "a request of some length";

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use single_window::proto::v1::{self as pb, request_service_client::RequestServiceClient};
use sqlx::{Connection as _, Executor as _};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const AGENCIES: usize = 100;
const STREAMS: usize = 10_000;
const CONNECTIONS: usize = 100;
const RATE: u64 = 500;
const RATE_SECONDS: u64 = 10;
const OPENS: usize = 4_000;
const CITIZENS: usize = 200;

/// The bare baseline: a tonic server with only gRPC health, whose `Watch` holds a stream open.
async fn bare_server() {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("listening address={}", listener.local_addr().expect("addr"));
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .expect("serve");
}

/// Opens `STREAMS` streams spread over the agencies and `CONNECTIONS` connections.
async fn open_streams(
    addr: SocketAddr,
    agencies: &[String],
) -> Vec<tonic::Streaming<pb::AssignmentEvent>> {
    let chans = channels(addr, CONNECTIONS);
    let mut calls = Vec::new();
    for i in 0..STREAMS {
        let mut client = RequestServiceClient::new(chans[i % CONNECTIONS].clone());
        let agency = agencies[i % agencies.len()].clone();
        calls.push(tokio::spawn(async move {
            client
                .watch_assignments(as_principal(
                    &format!("agencies/{agency}"),
                    pb::WatchAssignmentsRequest {
                        after_position: None,
                    },
                ))
                .await
                .expect("watching")
                .into_inner()
        }));
    }
    let mut streams = Vec::new();
    for c in calls {
        streams.push(c.await.expect("task"));
    }
    streams
}

async fn open_bare_streams(
    addr: SocketAddr,
) -> Vec<tonic::Streaming<tonic_health::pb::HealthCheckResponse>> {
    let chans = channels(addr, CONNECTIONS);
    let mut calls = Vec::new();
    for i in 0..STREAMS {
        let mut client = HealthClient::new(chans[i % CONNECTIONS].clone());
        calls.push(tokio::spawn(async move {
            client
                .watch(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .expect("watching")
                .into_inner()
        }));
    }
    let mut streams = Vec::new();
    for c in calls {
        let mut s = c.await.expect("task");
        s.message().await.expect("first status");
        streams.push(s);
    }
    streams
}

fn open_ask(citizen: &str, service: &str, request_id: String) -> pb::OpenRequestRequest {
    pb::OpenRequestRequest {
        citizen: citizen.to_owned(),
        need: Some(pb::Need {
            need: Some(pb::need::Need::Service(format!("services/{service}"))),
        }),
        entry_point: Some(pb::EntryPoint {
            agency: String::new(),
            channel: pb::Channel::InPerson as i32,
        }),
        request_id,
        ..Default::default()
    }
}

#[tokio::main]
async fn main() {
    if std::env::var("BENCH_ROLE").as_deref() == Ok("bare") {
        bare_server().await;
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let pg_server = std::env::var("BENCH_DATABASE_URL").ok();
    let url = match &pg_server {
        Some(server) => {
            let mut admin = sqlx::PgConnection::connect(server).await.expect("connect");
            let name = format!("sw_bench_req_{}", std::process::id());
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .expect("create");
            let (base, _) = server.rsplit_once('/').expect("URL");
            format!("{base}/{name}")
        }
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    if pg_server.is_some() {
        let store = single_window::store::Store::connect(&url, &Default::default())
            .await
            .expect("connect");
        single_window::store::SchemaStore::migrate(&store)
            .await
            .expect("migrate");
        store.close().await;
    }

    // 100 agencies that own an active service, each watched; one more opens the requests.
    let population = Population::new(AGENCIES, dir.path());
    let (agencies, services, principals_file) = (
        population.agencies.clone(),
        population.services.clone(),
        population.principals_file.clone(),
    );
    let keys = dir.path().join("keys.json");
    single_window::secrets::KeyFile::generate("bench-1")
        .write(&keys)
        .expect("keys");

    let mut server = Command::new(env!("CARGO_BIN_EXE_single-window"));
    server
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--database-url",
            &url,
        ])
        .arg("--keys-file")
        .arg(&keys)
        .arg("--principals-file")
        .arg(&principals_file)
        .args(["--database-max-connections", "16"]);
    let (mut server, addr) = spawn(server);
    wait_serving(addr, "singlewindow.v1.RequestService").await;
    let backend = if pg_server.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!("requests benchmark on {backend}");

    // Citizens, each with a service-delivery consent to the opener, given at its counter.
    let opener_name = population.opener.clone();
    let citizens = population.citizens(addr, CITIZENS).await;
    let chans = channels(addr, 8);
    let citizens = Arc::new(citizens);

    // 1. Streams: memory against a bare tonic server, then commit-to-receipt.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(server.id());
    let mut streams = open_streams(addr, &agencies).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(server.id());
    let mut bare_cmd = Command::new(std::env::current_exe().expect("this bench"));
    bare_cmd.env("BENCH_ROLE", "bare");
    let (mut bare, bare_addr) = spawn(bare_cmd);
    wait_serving(bare_addr, "").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bare_before = rss_kib(bare.id());
    let bare_streams = open_bare_streams(bare_addr).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bare_after = rss_kib(bare.id());
    drop(bare_streams);
    let _ = bare.kill();
    let _ = bare.wait();
    let ours = after.saturating_sub(before) as f64 / 1024.0;
    let theirs = bare_after.saturating_sub(bare_before) as f64 / 1024.0;
    println!(
        "\n| {} streams over {CONNECTIONS} connections | memory increase |",
        STREAMS
    );
    println!("|---|---|");
    println!(
        "| single-window WatchAssignments | {ours:.1} MiB ({:.2} KiB a stream) |",
        ours * 1024.0 / (STREAMS) as f64
    );
    println!("| bare tonic server, health Watch | {theirs:.1} MiB |");
    println!("| ratio | {:.2} |", ours / theirs);

    // One reader per agency measures; the other streams are drained so none falls behind.
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let received = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for (i, mut stream) in streams.drain(..).enumerate() {
        let measuring = i < agencies.len();
        let (sent, latencies, received) = (sent.clone(), latencies.clone(), received.clone());
        readers.push(tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                if measuring {
                    let now = Instant::now();
                    let at = loop {
                        if let Some(t) = sent.lock().expect("sent").get(&event.request) {
                            break *t;
                        }
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    };
                    latencies
                        .lock()
                        .expect("latencies")
                        .push(now.saturating_duration_since(at).as_secs_f64() * 1e3);
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let total = (RATE * RATE_SECONDS) as usize;
    let started = Instant::now();
    let mut calls = Vec::new();
    for i in 0..total {
        let due = started + Duration::from_micros(i as u64 * 1_000_000 / RATE);
        tokio::time::sleep_until(due.into()).await;
        let mut client = RequestServiceClient::new(chans[i % chans.len()].clone());
        let ask = open_ask(
            &citizens[i % CITIZENS],
            &services[i % services.len()],
            format!("rate-{i}"),
        );
        let (sent, opener_name) = (sent.clone(), opener_name.clone());
        calls.push(tokio::spawn(async move {
            let opened = client
                .open_request(as_principal(&opener_name, ask))
                .await
                .expect("opened")
                .into_inner();
            sent.lock()
                .expect("sent")
                .insert(opened.name, Instant::now());
        }));
    }
    for c in calls {
        c.await.expect("call");
    }
    let offered_rate = total as f64 / started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let l = latencies.lock().expect("latencies").clone();
    println!(
        "\n| {total} offers at {offered_rate:.0}/s over {} agencies | p50 | p99 | max |",
        agencies.len()
    );
    println!("|---|---|---|---|");
    println!(
        "| commit (OpenRequest answered) to receipt on the agency's stream | {:.1} ms | {:.1} ms | {:.1} ms |",
        percentile(l.clone(), 50),
        percentile(l.clone(), 99),
        percentile(l.clone(), 100)
    );
    println!("| received | {} of {total} |", l.len());
    for r in readers {
        r.abort();
    }

    // 2. OpenRequest throughput against one commit per insert.
    let mut rows = Vec::new();
    for callers in [16, 64] {
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let (next, chans, citizens, services, opener_name) = (
                    next.clone(),
                    chans.clone(),
                    citizens.clone(),
                    services.clone(),
                    opener_name.clone(),
                );
                tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= OPENS {
                            return latencies;
                        }
                        let mut client = RequestServiceClient::new(chans[i % chans.len()].clone());
                        let ask = open_ask(
                            &citizens[i % CITIZENS],
                            &services[i % services.len()],
                            format!("open-{callers}-{i}"),
                        );
                        let t = Instant::now();
                        client
                            .open_request(as_principal(&opener_name, ask))
                            .await
                            .expect("opened");
                        latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("task"));
        }
        let rate = all.len() as f64 / started.elapsed().as_secs_f64();
        rows.push((
            callers,
            percentile(all.clone(), 50),
            percentile(all, 99),
            rate,
        ));
    }
    let _ = server.kill();
    let _ = server.wait();
    println!("\n| OpenRequest naming its service | p50 | p99 | calls/s | baseline | ratio |");
    println!("|---|---|---|---|---|---|");
    let sqlite_baseline = match &pg_server {
        None => Some(baseline::sqlite_inserts(dir.path(), PAYLOAD).await),
        Some(_) => None,
    };
    for (callers, p50, p99, rate) in rows {
        let (baseline, what) = match sqlite_baseline {
            Some(b) => (b, "one commit per insert"),
            None => (
                baseline::pgbench_inserts(&url, callers, PAYLOAD).await,
                "pgbench insert",
            ),
        };
        println!(
            "| {callers} callers | {p50:.1} ms | {p99:.1} ms | {rate:.0} | {what}: {baseline:.0}/s | {:.2} |",
            rate / baseline
        );
    }
    if let Some(server) = pg_server {
        let mut admin = sqlx::PgConnection::connect(&server).await.expect("connect");
        let name = url.rsplit('/').next().unwrap_or_default().to_owned();
        let _ = admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await;
    }
}
