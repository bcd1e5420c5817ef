//! The benchmark of the whole service against baselines run in the same run, the load generator
//! (this process) sharing the machine with the server in both phases of every comparison:
//!
//! - lookups (GetService, ListServiceStandards) at 16 concurrent calls on one connection and at 50
//!   connections x 20 calls, against B-hello: this bench re-run as a bare tonic server (same
//!   crates, same runtime) answering the same methods with the very messages the service
//!   returned, so the replies are as large; B-hello runs before and after the service and the
//!   baseline is their mean. Targets: throughput >= 0.8x, p99 <= 1.5x;
//! - SearchServices against B-search: the same search and the encoding of its answer in this
//!   process over the same catalogue (latency of one call at a time);
//! - OpenRequest (a durable write: the request, its ranking, leg, first step, outbox event, access
//!   event and kept answer in one transaction) at 16 callers against B-insert: a single-row
//!   insert with one commit each at the same concurrency and durability (pgbench on
//!   PostgreSQL, a one-commit-per-insert loop on SQLite);
//! - the records', satisfaction's and forms' writes against B-insert: CreateCitizen, GetCitizen
//!   under consent (which appends an access event), RecordSatisfaction on ended legs, SubmitForm;
//! - RouteNeed at 2 callers, and at a paced 50 a second against the sum of its parts' p99
//!   (encoding one need in process, B-search, one B-hello call); target <= 2x;
//! - commit to receipt: openings at 500 a second over the agencies, from OpenRequest's answer to
//!   the offer on the agency's stream; target p99 <= 50 ms;
//! - memory: idle, and for 10,000 WatchAssignments streams over 100 connections against
//!   B-stream: the bare server holding as many gRPC health `Watch` streams the same way;
//! - a mixed run with those streams held and read: callers in the proportions 80/10/10 (16
//!   lookups, 2 writers, 2 routers) at once, each class against its solo figure at the same
//!   number of callers; targets: lookup p99 <= 2x its solo p99, writes/s >= 0.8x solo;
//! - a soak at lookup load: resident memory at the end <= 1.2x its size after the first minute.
//!
//! Every lookup is measured twice: with tonic clients in this process, and with h2load (Debian
//! `nghttp2-client`, when installed), whose clients cost far less, so that more of the machine
//! goes to the servers being compared.
//!
//! Run: `cargo bench --bench prove` (short: 3 s per figure, 90 s soak, about 4 minutes), or
//! `cargo bench --bench prove -- --full` (10 s per figure, 10 minute soak, about 17 minutes), on
//! SQLite; with `BENCH_DATABASE_URL=postgres://...` naming a PostgreSQL server with durable
//! settings on which the bench may create a database, on PostgreSQL.

#[path = "support/agencies.rs"]
mod agencies;
#[path = "support/baseline.rs"]
mod baseline;
#[path = "support/harness.rs"]
#[allow(dead_code)] // the drivers this bench does not use
mod harness;
#[path = "support/process.rs"]
#[allow(dead_code)]
mod process;

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    path::Path,
    pin::Pin,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use prost::Message as _;
use single_window::{
    catalog::{Snapshot, import},
    proto::v1::{
        self as pb, catalog_service_client::CatalogServiceClient,
        citizen_service_client::CitizenServiceClient,
        feedback_service_client::FeedbackServiceClient, form_service_client::FormServiceClient,
        request_service_client::RequestServiceClient, routing_service_client::RoutingServiceClient,
    },
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use agencies::{Population, as_principal};
use process::{channels, rss_kib, spawn, wait_serving};

const SERVICE: &str = "services/1003";
const CITIZENS: usize = 200;
const PAYLOAD: &str = "a request of some length";
const STREAMS: usize = 10_000;
const STREAM_CONNECTIONS: usize = 100;
const NEEDS: &[&str] = &[
    "I lost my job last week and need money while I look for work",
    "how do I renew my passport before my trip in March",
    "my mother died and I am the executor of her estate",
    "I want to start a small business and hire two people",
];

struct Mode {
    window: Duration,
    soak: Duration,
}

/// p50, p99 (microseconds) and calls/s of `callers` callers calling `call(caller)` over
/// `window`.
async fn drive<F, Fut>(callers: usize, window: Duration, call: F) -> (f64, f64, f64)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let until = started + window;
    let tasks: Vec<_> = (0..callers)
        .map(|caller| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    call(caller).await;
                    latencies.push(t.elapsed().as_secs_f64() * 1e6);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a caller"));
    }
    harness::summary(all, started.elapsed())
}

/// A lookup shape: callers and the connections they share.
#[derive(Clone, Copy)]
enum Shape {
    One,
    Sixteen,
    FiftyByTwenty,
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::One => "1 call at a time",
            Shape::Sixteen => "16 calls, 1 connection",
            Shape::FiftyByTwenty => "50 connections x 20 calls",
        }
    }
    fn callers_and_connections(self) -> (usize, usize) {
        match self {
            Shape::One => (1, 1),
            Shape::Sixteen => (16, 1),
            Shape::FiftyByTwenty => (1000, 50),
        }
    }
}

#[derive(Clone, Copy)]
enum Lookup {
    GetService,
    ListStandards,
}

async fn lookup(addr: SocketAddr, what: Lookup, shape: Shape, window: Duration) -> (f64, f64, f64) {
    let (callers, connections) = shape.callers_and_connections();
    let chans = Arc::new(channels(addr, connections));
    // Warm the connections.
    for c in chans.iter() {
        let _ = HealthClient::new(c.clone())
            .check(HealthCheckRequest::default())
            .await;
    }
    let call = move |caller: usize| {
        let mut client = CatalogServiceClient::new(chans[caller % chans.len()].clone());
        async move {
            match what {
                Lookup::GetService => {
                    client
                        .get_service(pb::GetServiceRequest {
                            name: SERVICE.to_owned(),
                        })
                        .await
                        .expect("GetService");
                }
                Lookup::ListStandards => {
                    client
                        .list_service_standards(standards_request())
                        .await
                        .expect("ListServiceStandards");
                }
            }
        }
    };
    // A second untimed, so that neither server is measured cold.
    drive(callers, Duration::from_secs(1), call.clone()).await;
    drive(callers, window, call).await
}

/// The same lookup driven by h2load (nghttp2's load generator, far lighter than a tonic client:
/// more of the two cores go to the server), when it is installed: p50, p99 (microseconds) and
/// calls/s from its per-request log.
fn h2load(
    addr: SocketAddr,
    path: &str,
    request: &[u8],
    shape: Shape,
    window: Duration,
    dir: &Path,
) -> Option<(f64, f64, f64)> {
    let (callers, connections) = shape.callers_and_connections();
    let body = dir.join("h2load-body");
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(request.len()).ok()?.to_be_bytes());
    framed.extend_from_slice(request);
    std::fs::write(&body, framed).ok()?;
    let log = dir.join("h2load-log");
    let run = |seconds: u64| {
        Command::new("h2load")
            .args(["-c", &connections.to_string()])
            .args(["-m", &(callers / connections).to_string()])
            .args(["-D", &seconds.to_string()])
            .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
            .arg("-d")
            .arg(&body)
            .arg(format!("--log-file={}", log.display()))
            .arg(format!("http://{addr}{path}"))
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    run(1)?; // warm
    run(window.as_secs().max(1))?;
    let text = std::fs::read_to_string(&log).ok()?;
    let mut latencies = Vec::new();
    let (mut first, mut last) = (u64::MAX, 0u64);
    for line in text.lines() {
        let mut cols = line.split('\t');
        let start: u64 = cols.next()?.parse().ok()?;
        let status = cols.next()?;
        let took: u64 = cols.next()?.parse().ok()?;
        assert_eq!(status, "200", "h2load: {line}");
        first = first.min(start);
        last = last.max(start + took);
        latencies.push(took as f64);
    }
    let elapsed = Duration::from_micros(last.saturating_sub(first).max(1));
    Some(harness::summary(latencies, elapsed))
}

fn standards_request() -> pb::ListServiceStandardsRequest {
    pb::ListServiceStandardsRequest {
        service: SERVICE.to_owned(),
        page_size: 10,
        ..Default::default()
    }
}

// ---- B-hello and B-stream: the bare server -------------------------------------------------

/// Answers GetService and ListServiceStandards with the messages in `BENCH_REPLIES` (the ones the
/// service returned), and gRPC health (its `Watch` holds a stream open).
#[derive(Clone)]
struct Bare {
    service: Arc<pb::Service>,
    standards: Arc<pb::ListServiceStandardsResponse>,
}

struct Reply<T>(Arc<T>);

impl<Q: Send + 'static, T: Clone + Send + Sync + 'static> tonic::server::UnaryService<Q>
    for Reply<T>
{
    type Response = T;
    type Future = std::future::Ready<Result<tonic::Response<T>, tonic::Status>>;
    fn call(&mut self, _: tonic::Request<Q>) -> Self::Future {
        std::future::ready(Ok(tonic::Response::new((*self.0).clone())))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Bare {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            Ok(match request.uri().path() {
                "/singlewindow.v1.CatalogService/GetService" => {
                    tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                        pb::Service,
                        pb::GetServiceRequest,
                    >::default())
                    .unary(Reply(this.service), request)
                    .await
                }
                "/singlewindow.v1.CatalogService/ListServiceStandards" => {
                    tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                        pb::ListServiceStandardsResponse,
                        pb::ListServiceStandardsRequest,
                    >::default())
                    .unary(Reply(this.standards), request)
                    .await
                }
                _ => tonic::Status::unimplemented("").into_http(),
            })
        })
    }
}

impl tonic::server::NamedService for Bare {
    const NAME: &'static str = "singlewindow.v1.CatalogService";
}

async fn bare_server(replies: &Path) {
    let service = pb::Service::decode(&std::fs::read(replies.join("service")).expect("reply")[..])
        .expect("a Service");
    let standards = pb::ListServiceStandardsResponse::decode(
        &std::fs::read(replies.join("standards")).expect("reply")[..],
    )
    .expect("standards");
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    // As the service's transport: no Nagle delay on small answers.
    let incoming = tonic::transport::server::TcpIncoming::bind(([127, 0, 0, 1], 0).into())
        .expect("bind")
        .with_nodelay(Some(true));
    println!("listening address={}", incoming.local_addr().expect("addr"));
    tonic::transport::Server::builder()
        .add_service(health)
        .add_service(Bare {
            service: Arc::new(service),
            standards: Arc::new(standards),
        })
        .serve_with_incoming(incoming)
        .await
        .expect("serve");
}

// ---- the report ----------------------------------------------------------------------------

struct Row {
    what: String,
    figure: String,
    baseline: String,
    ratio: f64,
    /// The target and whether the ratio meets it (`None`: a figure with no target).
    target: Option<(String, bool)>,
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

fn calls(figures: (f64, f64, f64)) -> String {
    format!(
        "{:.0}/s, p50 {}, p99 {}",
        figures.2,
        ms(figures.0),
        ms(figures.1)
    )
}

fn at_least(ratio: f64, target: f64) -> Option<(String, bool)> {
    Some((format!(">= {target}"), ratio >= target))
}

fn at_most(ratio: f64, target: f64) -> Option<(String, bool)> {
    Some((format!("<= {target}"), ratio <= target))
}

fn print_rows(rows: &[Row]) {
    println!();
    println!("| what | single-window | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    for r in rows {
        let target = match &r.target {
            Some((t, true)) => format!("{t}: met"),
            Some((t, false)) => format!("{t}: **missed**"),
            None => String::new(),
        };
        println!(
            "| {} | {} | {} | {:.2} | {target} |",
            r.what, r.figure, r.baseline, r.ratio
        );
    }
}

// ---- main ----------------------------------------------------------------------------------

#[tokio::main]
async fn main() {
    if let Some(replies) = std::env::var_os("BENCH_REPLIES") {
        bare_server(Path::new(&replies)).await;
        return;
    }
    let full = std::env::args().any(|a| a == "--full");
    let mode = if full {
        Mode {
            window: Duration::from_secs(10),
            soak: Duration::from_secs(600),
        }
    } else {
        Mode {
            window: Duration::from_secs(3),
            soak: Duration::from_secs(90),
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = match std::env::var("BENCH_DATABASE_URL") {
        Ok(server) => Some(harness::PgDatabase::create(&server).await),
        Err(_) => None,
    };
    let url = pg.as_ref().map_or_else(
        || format!("sqlite://{}", dir.path().join("bench.db").display()),
        |db| db.url.clone(),
    );
    let binary = env!("CARGO_BIN_EXE_single-window");
    let keys = dir.path().join("keys.json");
    single_window::secrets::KeyFile::generate("bench-1")
        .write(&keys)
        .expect("keys");
    if pg.is_some() {
        let out = Command::new(binary)
            .args(["migrate", "--database-url", &url])
            .output()
            .expect("migrate");
        assert!(out.status.success(), "{out:?}");
    }
    let population = Population::new(100, dir.path());
    let mut command = Command::new(binary);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--database-url", &url, "--database-max-connections", "16"])
        .arg("--keys-file")
        .arg(&keys)
        .arg("--principals-file")
        .arg(&population.principals_file);
    let (mut server, addr) = spawn(command);
    wait_serving(addr, "singlewindow.v1.RequestService").await;
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    println!(
        "single-window {} on {backend}, {} mode ({:?} per figure, {:?} soak)",
        env!("CARGO_PKG_VERSION"),
        if full { "full" } else { "short" },
        mode.window,
        mode.soak
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_kib = rss_kib(server.id());

    // The replies the bare server will send.
    let channel = channels(addr, 1).remove(0);
    let mut catalogue = CatalogServiceClient::new(channel.clone());
    let service = catalogue
        .get_service(pb::GetServiceRequest {
            name: SERVICE.to_owned(),
        })
        .await
        .expect("GetService")
        .into_inner();
    let standards = catalogue
        .list_service_standards(standards_request())
        .await
        .expect("ListServiceStandards")
        .into_inner();
    std::fs::write(dir.path().join("service"), service.encode_to_vec()).expect("write");
    std::fs::write(dir.path().join("standards"), standards.encode_to_vec()).expect("write");
    let mut bare = Command::new(std::env::current_exe().expect("this bench"));
    bare.env("BENCH_REPLIES", dir.path());
    let (mut bare, bare_addr) = spawn(bare);
    wait_serving(bare_addr, "").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let bare_idle_kib = rss_kib(bare.id());

    let mut rows = vec![Row {
        what: "idle resident memory".to_owned(),
        figure: format!("{:.1} MiB", idle_kib as f64 / 1024.0),
        baseline: format!("bare tonic {:.1} MiB", bare_idle_kib as f64 / 1024.0),
        ratio: idle_kib as f64 / bare_idle_kib as f64,
        target: None,
    }];

    // Lookups against B-hello (before and after).
    let mut solo_lookup_p99 = 0.0;
    for (what, name, size) in [
        (Lookup::GetService, "GetService", service.encoded_len()),
        (
            Lookup::ListStandards,
            "ListServiceStandards",
            standards.encoded_len(),
        ),
    ] {
        for shape in [Shape::Sixteen, Shape::FiftyByTwenty] {
            let before = lookup(bare_addr, what, shape, mode.window).await;
            let ours = lookup(addr, what, shape, mode.window).await;
            let after = lookup(bare_addr, what, shape, mode.window).await;
            let hello = (
                (before.0 + after.0) / 2.0,
                (before.1 + after.1) / 2.0,
                (before.2 + after.2) / 2.0,
            );
            if matches!((what, shape), (Lookup::GetService, Shape::Sixteen)) {
                solo_lookup_p99 = ours.1;
            }
            let label = format!("{name} ({size} B reply), {}", shape.label());
            rows.push(Row {
                what: format!("{label}: throughput"),
                figure: calls(ours),
                baseline: format!("B-hello {}", calls(hello)),
                ratio: ours.2 / hello.2,
                target: at_least(ours.2 / hello.2, 0.8),
            });
            rows.push(Row {
                what: format!("{label}: p99"),
                figure: ms(ours.1),
                baseline: format!("B-hello {}", ms(hello.1)),
                ratio: ours.1 / hello.1,
                target: at_most(ours.1 / hello.1, 1.5),
            });
            println!("{label}: {} against {}", calls(ours), calls(hello));
            let (path, request) = match what {
                Lookup::GetService => (
                    "/singlewindow.v1.CatalogService/GetService",
                    pb::GetServiceRequest {
                        name: SERVICE.to_owned(),
                    }
                    .encode_to_vec(),
                ),
                Lookup::ListStandards => (
                    "/singlewindow.v1.CatalogService/ListServiceStandards",
                    standards_request().encode_to_vec(),
                ),
            };
            let light = |at| h2load(at, path, &request, shape, mode.window, dir.path());
            if let (Some(before), Some(ours), Some(after)) =
                (light(bare_addr), light(addr), light(bare_addr))
            {
                let hello = (
                    (before.0 + after.0) / 2.0,
                    (before.1 + after.1) / 2.0,
                    (before.2 + after.2) / 2.0,
                );
                rows.push(Row {
                    what: format!("{label}, h2load: throughput"),
                    figure: calls(ours),
                    baseline: format!("B-hello {}", calls(hello)),
                    ratio: ours.2 / hello.2,
                    target: at_least(ours.2 / hello.2, 0.8),
                });
                rows.push(Row {
                    what: format!("{label}, h2load: p99"),
                    figure: ms(ours.1),
                    baseline: format!("B-hello {}", ms(hello.1)),
                    ratio: ours.1 / hello.1,
                    target: at_most(ours.1 / hello.1, 1.5),
                });
                println!("{label}, h2load: {} against {}", calls(ours), calls(hello));
            }
        }
    }

    // SearchServices against B-search, one call at a time.
    let query = NEEDS[0];
    let search = {
        let chans = Arc::new(vec![channel.clone()]);
        drive(1, mode.window, move |_| {
            let mut client = CatalogServiceClient::new(chans[0].clone());
            async move {
                client
                    .search_services(pb::SearchServicesRequest {
                        query: query.to_owned(),
                        page_size: 10,
                        ..Default::default()
                    })
                    .await
                    .expect("search");
            }
        })
        .await
    };
    let answer = catalogue
        .search_services(pb::SearchServicesRequest {
            query: query.to_owned(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("search")
        .into_inner();
    let (catalog, _) = import::build(import::BUILTIN).expect("the built-in catalogue");
    let snapshot = Snapshot::build(1, catalog).expect("snapshot");
    let b_search = {
        let started = Instant::now();
        let mut latencies = Vec::new();
        while started.elapsed() < mode.window {
            let t = Instant::now();
            let hits = snapshot.search(query, &Default::default()).expect("search");
            std::hint::black_box(hits.iter().take(10).count());
            std::hint::black_box(answer.encode_to_vec());
            latencies.push(t.elapsed().as_secs_f64() * 1e6);
        }
        harness::summary(latencies, started.elapsed())
    };
    rows.push(Row {
        what: "SearchServices, 10 results, one call at a time: p50".to_owned(),
        figure: calls(search),
        baseline: format!("B-search in process {}", calls(b_search)),
        ratio: search.0 / b_search.0,
        target: None,
    });

    // Writes against B-insert: the opener opens requests for its citizens naming the other
    // agencies' services (each goes to its owner's stream).
    let citizens = Arc::new(population.citizens(addr, CITIZENS).await);
    let services = Arc::new(population.services.clone());
    let opener = population.opener.clone();
    let writes = |callers: usize, window: Duration, tag: &'static str| {
        let chans = Arc::new(channels(addr, 1));
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (citizens, services, opener) = (citizens.clone(), services.clone(), opener.clone());
        drive(callers, window, move |_| {
            let mut client = RequestServiceClient::new(chans[0].clone());
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let ask = open_ask(
                &citizens[n % citizens.len()],
                &services[n % services.len()],
                format!("{tag}-{n}"),
            );
            let opener = opener.clone();
            async move {
                client
                    .open_request(as_principal(&opener, ask))
                    .await
                    .expect("OpenRequest");
            }
        })
    };
    let solo_writes = writes(16, mode.window, "solo").await;
    let insert = match &pg {
        Some(db) => baseline::pgbench_inserts(&db.url, 16, PAYLOAD).await,
        None => baseline::sqlite_inserts(dir.path(), PAYLOAD).await,
    };
    let (insert_name, write_target) = match &pg {
        Some(_) => ("pgbench single-row insert, 16 clients", 0.5),
        None => ("one-commit-per-insert loop", 3.0),
    };
    rows.push(Row {
        what: "OpenRequest (durable), 16 callers".to_owned(),
        figure: calls(solo_writes),
        baseline: format!("B-insert {insert_name} {insert:.0}/s"),
        ratio: solo_writes.2 / insert,
        target: at_least(solo_writes.2 / insert, write_target),
    });

    // The records' writes: CreateCitizen (the sealed record and its kept answer) and GetCitizen
    // under consent (the consent check, the read and its access event), both at 16 callers.
    let created = {
        let chans = Arc::new(channels(addr, 1));
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let opener = opener.clone();
        drive(16, mode.window, move |_| {
            let mut client = CitizenServiceClient::new(chans[0].clone());
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let opener = opener.clone();
            async move {
                client
                    .create_citizen(as_principal(
                        &opener,
                        pb::CreateCitizenRequest {
                            citizen: Some(pb::Citizen {
                                identity: Some(pb::Identity {
                                    given_name: format!("Soak{n}"),
                                    family_name: "Citizen".into(),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            }),
                            request_id: format!("create-{n}"),
                        },
                    ))
                    .await
                    .expect("CreateCitizen");
            }
        })
        .await
    };
    let read = {
        let chans = Arc::new(channels(addr, 1));
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (citizens, opener) = (citizens.clone(), opener.clone());
        drive(16, mode.window, move |_| {
            let mut client = CitizenServiceClient::new(chans[0].clone());
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let (name, opener) = (citizens[n % citizens.len()].clone(), opener.clone());
            async move {
                client
                    .get_citizen(as_principal(
                        &opener,
                        pb::GetCitizenRequest {
                            name,
                            purpose: pb::ConsentPurpose::ServiceDelivery as i32,
                            ..Default::default()
                        },
                    ))
                    .await
                    .expect("GetCitizen");
            }
        })
        .await
    };
    // The forms' write: SubmitForm of the built-in direct-deposit form (answers checked against
    // the definition, identifiers sealed, the submission, its access event and kept answer).
    let submitted = {
        let chans = Arc::new(channels(addr, 1));
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (citizens, opener) = (citizens.clone(), opener.clone());
        drive(16, mode.window, move |_| {
            let mut client = FormServiceClient::new(chans[0].clone());
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let (citizen, opener) = (citizens[n % citizens.len()].clone(), opener.clone());
            async move {
                client
                    .submit_form(as_principal(
                        &opener,
                        pb::SubmitFormRequest {
                            form_version: "forms/direct-deposit/versions/1".to_owned(),
                            citizen,
                            service: SERVICE.to_owned(),
                            channel: pb::Channel::InPerson as i32,
                            answers: agencies::deposit_answers(),
                            request_id: format!("submit-{n}"),
                            ..Default::default()
                        },
                    ))
                    .await
                    .expect("SubmitForm");
            }
        })
        .await
    };
    // The satisfaction issue's write: RecordSatisfaction by the delivering agency on the phone
    // (the subject read, the consent checked, the response, the invitation marked and the access
    // event), once per leg, over legs opened, accepted and completed through the API first.
    let legs = ended_legs(addr, &citizens, &opener, if full { 12_000 } else { 4_000 }).await;
    let rated = {
        let chans = Arc::new(channels(addr, 1));
        let (legs, opener) = (Arc::new(legs), opener.clone());
        harness::drive(16, legs.len(), move |i| {
            let mut client = FeedbackServiceClient::new(chans[0].clone());
            let (subject, opener) = (legs[i].clone(), opener.clone());
            async move {
                client
                    .record_satisfaction(as_principal(
                        &opener,
                        pb::RecordSatisfactionRequest {
                            subject,
                            scores: Some(pb::Scores {
                                satisfaction: 1 + (i % 5) as i32,
                                trust: 4,
                                ease: 3,
                                ..Default::default()
                            }),
                            contacts: 1,
                            survey_channel: pb::Channel::Telephone as i32,
                            comment: "Helpful on the phone.".to_owned(),
                            segment: None,
                            request_id: format!("rate-{i}"),
                        },
                    ))
                    .await
                    .expect("RecordSatisfaction");
            }
        })
        .await
    };
    for (what, figures) in [
        ("RecordSatisfaction (durable), 16 callers", rated),
        ("CreateCitizen (durable), 16 callers", created),
        ("SubmitForm (durable), 16 callers", submitted),
        (
            "GetCitizen under consent (with its access event), 16 callers",
            read,
        ),
    ] {
        rows.push(Row {
            what: what.to_owned(),
            figure: calls(figures),
            baseline: format!("B-insert {insert_name} {insert:.0}/s"),
            ratio: figures.2 / insert,
            target: at_least(figures.2 / insert, if pg.is_some() { 0.5 } else { 3.0 }),
        });
    }

    // RouteNeed.
    let routes = |callers: usize, window: Duration| {
        let chans = Arc::new(channels(addr, 1));
        drive(callers, window, move |caller| {
            let mut client = RoutingServiceClient::new(chans[0].clone());
            async move {
                client
                    .route_need(pb::RouteNeedRequest {
                        need: Some(pb::Need {
                            need: Some(pb::need::Need::Text(
                                NEEDS[caller % NEEDS.len()].to_owned(),
                            )),
                        }),
                        max_candidates: 5,
                        ..Default::default()
                    })
                    .await
                    .expect("RouteNeed");
            }
        })
    };
    let solo_routes = routes(2, mode.window).await;
    // RouteNeed at a paced 50 a second against the sum of its parts' p99: encoding one need in
    // this process, the search (B-search) and one gRPC call (B-hello, one at a time).
    let encoders = single_window::routing::encoder::Encoders::load(1);
    let mut encodings = Vec::new();
    let started = Instant::now();
    while started.elapsed() < mode.window {
        let t = Instant::now();
        std::hint::black_box(encoders.encode_blocking(NEEDS[encodings.len() % NEEDS.len()]));
        encodings.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let encode = harness::summary(encodings, started.elapsed());
    let echo = lookup(bare_addr, Lookup::GetService, Shape::One, mode.window).await;
    let paced = {
        let chans = channels(addr, 1);
        let started = Instant::now();
        let mut calls = Vec::new();
        for i in 0..(50 * mode.window.as_secs() as usize) {
            tokio::time::sleep_until((started + Duration::from_millis(i as u64 * 20)).into()).await;
            let mut client = RoutingServiceClient::new(chans[0].clone());
            calls.push(tokio::spawn(async move {
                let t = Instant::now();
                client
                    .route_need(pb::RouteNeedRequest {
                        need: Some(pb::Need {
                            need: Some(pb::need::Need::Text(NEEDS[i % NEEDS.len()].to_owned())),
                        }),
                        max_candidates: 5,
                        ..Default::default()
                    })
                    .await
                    .expect("RouteNeed");
                t.elapsed().as_secs_f64() * 1e6
            }));
        }
        let mut latencies = Vec::new();
        for c in calls {
            latencies.push(c.await.expect("a call"));
        }
        harness::summary(latencies, started.elapsed())
    };
    let parts = encode.1 + b_search.1 + echo.1;
    rows.push(Row {
        what: "RouteNeed at 50/s: p99".to_owned(),
        figure: calls(paced),
        baseline: format!(
            "sum of the parts' p99 {} (encoding {}, B-search {}, B-hello {})",
            ms(parts),
            ms(encode.1),
            ms(b_search.1),
            ms(echo.1)
        ),
        ratio: paced.1 / parts,
        target: at_most(paced.1 / parts, 2.0),
    });
    rows.push(Row {
        what: "RouteNeed, 2 callers".to_owned(),
        figure: calls(solo_routes),
        baseline: format!("B-search {}", ms(b_search.0)),
        ratio: solo_routes.0 / b_search.0,
        target: None,
    });

    // Streams against B-stream.
    let before = rss_kib(server.id());
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let receipts = Receipts::default();
    let held = open_streams(
        addr,
        &population.agencies,
        received.clone(),
        receipts.clone(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_streams = rss_kib(server.id());
    let bare_before = rss_kib(bare.id());
    let bare_held = open_bare_streams(bare_addr).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bare_with = rss_kib(bare.id());
    drop(bare_held);
    let ours = (with_streams - before) as f64 / 1024.0;
    let theirs = (bare_with - bare_before) as f64 / 1024.0;
    rows.push(Row {
        what: format!("memory for {STREAMS} streams over {STREAM_CONNECTIONS} connections"),
        figure: format!("+{ours:.1} MiB"),
        baseline: format!("B-stream +{theirs:.1} MiB"),
        ratio: ours / theirs,
        target: at_most(ours / theirs, 1.3),
    });

    // Commit to receipt: openings at 500 a second spread over the agencies, from the moment
    // OpenRequest answers (committed) to the moment the agency's stream delivers the offer.
    let committed = Receipts::default();
    let rate_calls = 500 * mode.window.as_secs() as usize;
    let started = Instant::now();
    let chans = channels(addr, 8);
    let mut openings = Vec::with_capacity(rate_calls);
    for i in 0..rate_calls {
        tokio::time::sleep_until((started + Duration::from_millis(i as u64 * 2)).into()).await;
        let mut client = RequestServiceClient::new(chans[i % chans.len()].clone());
        let ask = open_ask(
            &citizens[i % citizens.len()],
            &services[i % services.len()],
            format!("rate-{i}"),
        );
        let (opener, committed) = (opener.clone(), committed.clone());
        openings.push(tokio::spawn(async move {
            let opened = client
                .open_request(as_principal(&opener, ask))
                .await
                .expect("opened")
                .into_inner();
            committed
                .lock()
                .expect("committed")
                .insert(opened.name, Instant::now());
        }));
    }
    for o in openings {
        o.await.expect("an opening");
    }
    let offered = rate_calls as f64 / started.elapsed().as_secs_f64();
    let wait_until = Instant::now() + Duration::from_secs(30);
    let delays = loop {
        let committed = committed.lock().expect("committed").clone();
        let receipts = receipts.lock().expect("receipts").clone();
        let delays: Vec<f64> = committed
            .iter()
            .filter_map(|(name, at)| {
                receipts
                    .get(name)
                    .map(|r| r.saturating_duration_since(*at).as_secs_f64() * 1e6)
            })
            .collect();
        if delays.len() == committed.len() || Instant::now() > wait_until {
            break delays;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let got = delays.len();
    let (p50, p99, _) = harness::summary(delays, Duration::from_secs(1));
    rows.push(Row {
        what: format!("commit to receipt, {rate_calls} offers at {offered:.0}/s over the agencies' streams: p99 ({got} of {rate_calls} received)"),
        figure: format!("p50 {}, p99 {}", ms(p50), ms(p99)),
        baseline: "50 ms".to_owned(),
        ratio: p99 / 50_000.0,
        target: at_most(p99 / 50_000.0, 1.0),
    });

    // The mixed run, with the streams held and read: callers in the proportions 80/10/10 (16
    // lookups, 2 writers, 2 routers), each class against its own solo figure at the same number
    // of callers.
    let solo_writes_2 = writes(2, mode.window, "solo-2").await;
    let lookups = lookup(addr, Lookup::GetService, Shape::Sixteen, mode.window);
    let mixed_writes = writes(2, mode.window, "mixed");
    let mixed_routes = routes(2, mode.window);
    let (mixed_lookups, mixed_writes, mixed_routes) =
        tokio::join!(lookups, mixed_writes, mixed_routes);
    let total = mixed_lookups.2 + mixed_writes.2 + mixed_routes.2;
    println!(
        "mixed: {:.0}% lookups, {:.0}% writes, {:.0}% routing",
        100.0 * mixed_lookups.2 / total,
        100.0 * mixed_writes.2 / total,
        100.0 * mixed_routes.2 / total
    );
    rows.push(Row {
        what: format!(
            "mixed, 16/2/2 callers ({:.0}/{:.0}/{:.0} % of calls lookups/writes/routing, {STREAMS} streams read): GetService p99",
            100.0 * mixed_lookups.2 / total,
            100.0 * mixed_writes.2 / total,
            100.0 * mixed_routes.2 / total
        ),
        figure: calls(mixed_lookups),
        baseline: format!("solo p99 {}", ms(solo_lookup_p99)),
        ratio: mixed_lookups.1 / solo_lookup_p99,
        target: at_most(mixed_lookups.1 / solo_lookup_p99, 2.0),
    });
    rows.push(Row {
        what: "mixed: OpenRequest throughput, 2 writers".to_owned(),
        figure: calls(mixed_writes),
        baseline: format!("solo {}", calls(solo_writes_2)),
        ratio: mixed_writes.2 / solo_writes_2.2,
        target: at_least(mixed_writes.2 / solo_writes_2.2, 0.8),
    });
    rows.push(Row {
        what: "mixed: RouteNeed".to_owned(),
        figure: calls(mixed_routes),
        baseline: format!("solo {}", calls(solo_routes)),
        ratio: mixed_routes.1 / solo_routes.1,
        target: None,
    });
    for reader in held {
        reader.abort();
    }
    println!(
        "the streams received {} events",
        received.load(Ordering::Relaxed)
    );

    // The soak at lookup load.
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (running, pid) = (running.clone(), server.id());
        tokio::spawn(async move {
            let started = Instant::now();
            let mut samples = Vec::new();
            while running.load(Ordering::Relaxed) {
                samples.push((started.elapsed(), rss_kib(pid)));
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            samples
        })
    };
    let soak = lookup(addr, Lookup::GetService, Shape::Sixteen, mode.soak).await;
    running.store(false, Ordering::Relaxed);
    let samples = sampler.await.expect("sampler");
    let after_minute = samples
        .iter()
        .find(|(at, _)| *at >= Duration::from_secs(60))
        .map_or(0, |(_, kib)| *kib);
    let end = samples.last().map_or(0, |(_, kib)| *kib);
    let peak = samples.iter().map(|(_, kib)| *kib).max().unwrap_or(0);
    rows.push(Row {
        what: format!(
            "soak: GetService at 16 calls for {:?}, resident memory at the end (peak {:.1} MiB)",
            mode.soak,
            peak as f64 / 1024.0
        ),
        figure: format!("{:.1} MiB; {}", end as f64 / 1024.0, calls(soak)),
        baseline: format!(
            "after the first minute {:.1} MiB",
            after_minute as f64 / 1024.0
        ),
        ratio: end as f64 / after_minute as f64,
        target: at_most(end as f64 / after_minute as f64, 1.2),
    });

    print_rows(&rows);
    let missed = rows
        .iter()
        .filter(|r| matches!(r.target, Some((_, false))))
        .count();
    println!(
        "\n{} targets, {missed} missed",
        rows.iter().filter(|r| r.target.is_some()).count()
    );
    for child in [&mut server, &mut bare] {
        let _ = child.kill();
        let _ = child.wait();
    }
    if let Some(db) = pg {
        db.drop_it().await;
    }
}

/// `n` legs of the opener's own service (`services/1003`), opened, accepted and completed.
async fn ended_legs(
    addr: SocketAddr,
    citizens: &Arc<Vec<String>>,
    opener: &str,
    n: usize,
) -> Vec<String> {
    let chans = Arc::new(channels(addr, 4));
    let legs = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let (citizens, opener, kept) = (citizens.clone(), opener.to_owned(), legs.clone());
    harness::drive(32, n, move |i| {
        let mut requests = RequestServiceClient::new(chans[i % chans.len()].clone());
        let (citizen, opener, kept) = (
            citizens[i % citizens.len()].clone(),
            opener.clone(),
            kept.clone(),
        );
        async move {
            let opened = requests
                .open_request(as_principal(
                    &opener,
                    open_ask(&citizen, "1003", format!("leg-{i}")),
                ))
                .await
                .expect("OpenRequest")
                .into_inner();
            let leg = opened.handoffs[0].clone();
            let accepted = requests
                .accept_handoff(as_principal(
                    &opener,
                    pb::AcceptHandoffRequest {
                        name: leg.name.clone(),
                        etag: leg.etag.clone(),
                        request_id: String::new(),
                    },
                ))
                .await
                .expect("AcceptHandoff")
                .into_inner();
            requests
                .complete_handoff(as_principal(
                    &opener,
                    pb::CompleteHandoffRequest {
                        name: leg.name.clone(),
                        etag: accepted.handoffs[0].etag.clone(),
                        outcome: pb::HandoffOutcome::Delivered as i32,
                        text: "Done.".to_owned(),
                        request_id: String::new(),
                    },
                ))
                .await
                .expect("CompleteHandoff");
            kept.lock().expect("legs").push(leg.name);
        }
    })
    .await;
    legs.lock().expect("legs").clone()
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

/// Opens `STREAMS` streams spread over the agencies and `STREAM_CONNECTIONS` connections, each
/// read by a task of its own (counting the events in `received`) until it is aborted.
async fn open_streams(
    addr: SocketAddr,
    agencies: &[String],
    received: Arc<std::sync::atomic::AtomicUsize>,
    receipts: Receipts,
) -> Vec<tokio::task::JoinHandle<()>> {
    let chans = channels(addr, STREAM_CONNECTIONS);
    let mut calls = Vec::new();
    for i in 0..STREAMS {
        let mut client = RequestServiceClient::new(chans[i % STREAM_CONNECTIONS].clone());
        let agency = format!("agencies/{}", agencies[i % agencies.len()]);
        calls.push(tokio::spawn(async move {
            client
                .watch_assignments(as_principal(
                    &agency,
                    pb::WatchAssignmentsRequest {
                        after_position: None,
                    },
                ))
                .await
                .expect("watching")
                .into_inner()
        }));
    }
    let mut readers = Vec::new();
    for (i, c) in calls.into_iter().enumerate() {
        let mut stream = c.await.expect("task");
        let received = received.clone();
        // The first stream of each agency notes when each of its offers arrived.
        let receipts = (i < agencies.len()).then(|| receipts.clone());
        readers.push(tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                received.fetch_add(1, Ordering::Relaxed);
                if let Some(receipts) = &receipts {
                    receipts
                        .lock()
                        .expect("receipts")
                        .entry(event.request)
                        .or_insert_with(Instant::now);
                }
            }
        }));
    }
    readers
}

/// When each request's offer reached its agency's first stream.
type Receipts = Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>>;

async fn open_bare_streams(
    addr: SocketAddr,
) -> Vec<tonic::Streaming<tonic_health::pb::HealthCheckResponse>> {
    let chans = channels(addr, STREAM_CONNECTIONS);
    let mut calls = Vec::new();
    for i in 0..STREAMS {
        let mut client = HealthClient::new(chans[i % STREAM_CONNECTIONS].clone());
        calls.push(tokio::spawn(async move {
            let mut s = client
                .watch(HealthCheckRequest::default())
                .await
                .expect("watching")
                .into_inner();
            s.message().await.expect("first status");
            s
        }));
    }
    let mut streams = Vec::new();
    for c in calls {
        streams.push(c.await.expect("task"));
    }
    streams
}
