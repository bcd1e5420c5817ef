//! Routing benchmark: RouteNeed through the real server over a 5,000-service catalogue (the
//! built-in one plus generated services of realistic length, each with its vectors), against the
//! in-process cost of its parts measured in the same run: encoding one need, one catalogue search,
//! one gRPC echo (the health check). Also: GetService's p99 alone and during a burst of RouteNeed
//! (the encoder runs off the async workers with bounded permits), and the rebuild of the search
//! index and routing data after an import, with GetService's p99 while it runs.
//!
//! Run: `cargo bench --bench routing`

use std::time::{Duration, Instant};

use single_window::{
    catalog::{Snapshot, import},
    config::ServeArgs,
    domain::catalog::Catalog,
    proto::v1::{
        self as pb, GetServiceRequest, catalog_service_client::CatalogServiceClient,
        routing_service_client::RoutingServiceClient,
    },
    routing::{
        self, Need, Query, Weights, builtin_vectors,
        encoder::Encoders,
        knowledge::Knowledge,
        vectors::{self, Quantized, VectorTable},
    },
    startup::Application,
    store::{CatalogStore as _, ImportMode, PoolSettings, SchemaStore as _, Store},
};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const SERVICES: usize = 5_000;
const RATE: u64 = 50;
const SECONDS: u64 = 20;

/// Needs written for this benchmark, in the voices routing serves.
const NEEDS: &[&str] = &[
    "I lost my job last week and need money while I look for work",
    "how do I renew my passport before my trip in March",
    "my mother died and I am the executor of her estate, what do I need to tell the government",
    "I want to start a small bakery, do I need a business number",
    "where do I apply for the old age pension, I turn 65 next spring",
    "we are expecting our first baby in June, what benefits can we get",
    "my student loan payments are too high, can I get help repaying",
    "someone called pretending to be from the tax agency and asked for gift cards",
    "I want to import used cars from the United States to sell",
    "I am a veteran with a back injury from my service, is there compensation",
    "comment faire une demande d'assurance-emploi après une mise à pied",
    "I need a work permit to stay in Canada after my studies",
    "how do I get a fishing licence for the coast",
    "my flight was cancelled and the airline will not pay me back",
    "I want to register my drone for commercial use",
    "apply for the disability tax credit for my son",
    "I need a copy of my immigration record from the 1970s",
    "report a food product that made my family sick",
    "my small business needs funding to export to Europe",
    "where can I check if a product I bought was recalled",
];

fn percentile(sorted: &[f64], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

fn summary(mut latencies: Vec<f64>) -> (f64, f64) {
    latencies.sort_by(f64::total_cmp);
    (percentile(&latencies, 50), percentile(&latencies, 99))
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The built-in catalogue grown to `SERVICES` active services: each generated service takes one
/// real service's program and agency, joins two real names and carries a real description, so
/// its texts have the length and vocabulary of the real ones.
fn grown_catalogue() -> Catalog {
    let (mut catalog, _) = import::build(import::BUILTIN).expect("the built-in catalogue");
    let real: Vec<_> = catalog
        .services
        .iter()
        .filter(|s| !s.retired)
        .cloned()
        .collect();
    let n = real.len();
    for i in 0..SERVICES.saturating_sub(n) {
        let mut service = real[i % n].clone();
        let other = &real[(i * 7 + 3) % n];
        let third = &real[(i * 13 + 5) % n];
        service.id = format!("GEN{i:05}");
        service.name.en = format!("{} for {}", service.name.en, other.name.en);
        service.name.fr = format!("{} pour {}", service.name.fr, other.name.fr);
        service.description = third.description.clone();
        service.life_events.clear();
        service.delivery_partners.clear();
        for standard in &mut service.standards {
            standard.service_id = service.id.clone();
        }
        catalog.services.push(service);
    }
    catalog
}

/// The built-in vectors plus those of the generated services, encoded now.
fn grown_vectors(catalog: &Catalog, encoders: &Encoders) -> VectorTable {
    let knowledge = Knowledge::builtin().expect("knowledge");
    let builtin = builtin_vectors();
    let mut table = VectorTable {
        identity: builtin.identity.clone(),
        dimensions: builtin.dimensions,
        vectors: builtin.vectors.clone(),
    };
    let todo: Vec<String> = catalog
        .services
        .iter()
        .flat_map(|s| vectors::texts(s, knowledge.service(&s.id)))
        .filter(|t| !table.vectors.contains_key(&vectors::key(t)))
        .collect();
    let t = Instant::now();
    let encoded = encoders.encode_all(&todo).expect("encoded");
    println!(
        "setup: encoded {} generated service texts in {:.1?} ({:.1} ms each)",
        todo.len(),
        t.elapsed(),
        t.elapsed().as_secs_f64() * 1e3 / todo.len().max(1) as f64
    );
    for (text, vector) in todo.iter().zip(encoded) {
        table
            .vectors
            .insert(vectors::key(text), Quantized::of(&vector));
    }
    table
}

fn route_request(i: usize) -> pb::RouteNeedRequest {
    pb::RouteNeedRequest {
        need: Some(pb::Need {
            need: Some(pb::need::Need::Text(NEEDS[i % NEEDS.len()].to_owned())),
        }),
        max_candidates: 5,
        ..Default::default()
    }
}

/// `calls` sequential GetService calls: p50 and p99 in microseconds.
async fn get_service_latencies(
    catalog: &CatalogServiceClient<Channel>,
    calls: usize,
) -> (f64, f64) {
    let mut latencies = Vec::with_capacity(calls);
    for i in 0..calls {
        let mut c = catalog.clone();
        let t = Instant::now();
        c.get_service(GetServiceRequest {
            name: if i % 2 == 0 {
                "services/1003".into()
            } else {
                "services/GEN00042".into()
            },
        })
        .await
        .expect("get");
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
    }
    summary(latencies)
}

#[tokio::main]
async fn main() {
    let encoders = Encoders::load(1);
    let catalog = grown_catalogue();
    let table = grown_vectors(&catalog, &encoders);
    let knowledge = Knowledge::builtin().expect("knowledge");

    // Parts, in process.
    let before = resident_kib();
    let t = Instant::now();
    let snapshot =
        Snapshot::build_with(1, catalog.clone(), knowledge.clone(), &table).expect("snapshot");
    let rebuild = t.elapsed();
    println!(
        "rebuild: snapshot, search index and routing data for {} services ({} vectors) in {rebuild:.1?}, resident +{} MiB",
        snapshot.active_services(),
        snapshot.routing().vector_count(),
        resident_kib().saturating_sub(before) / 1024
    );
    let mut encode = Vec::new();
    let mut search = Vec::new();
    for i in 0..400 {
        let need = NEEDS[i % NEEDS.len()];
        let t = Instant::now();
        std::hint::black_box(encoders.encode_blocking(need));
        encode.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        std::hint::black_box(
            snapshot
                .search(need, &Default::default())
                .expect("search")
                .len(),
        );
        search.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (encode_p50, encode_p99) = summary(encode);
    let (search_p50, search_p99) = summary(search);
    // For diagnosis: routing in process once the need is encoded (three searches, the vector
    // scan, the fusion and the reasons).
    let encoded: Vec<Vec<f32>> = NEEDS
        .iter()
        .map(|n| encoders.encode_blocking(n).expect("encoded"))
        .collect();
    let mut ranking = Vec::new();
    for i in 0..400 {
        let query = Query {
            need: Need::Text(NEEDS[i % NEEDS.len()].to_owned()),
            context: Default::default(),
            entry: Default::default(),
            max_candidates: 5,
        };
        let t = Instant::now();
        std::hint::black_box(
            routing::route(
                &snapshot,
                &query,
                Some(&encoded[i % NEEDS.len()]),
                &Weights::default(),
            )
            .expect("routed"),
        );
        ranking.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (rank_p50, rank_p99) = summary(ranking);
    drop(snapshot);

    // The server over the grown catalogue.
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url, &PoolSettings::default())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    store
        .import_catalog(&catalog, ImportMode::Replace)
        .await
        .expect("import");
    let vectors_file = dir.path().join("vectors.bin");
    std::fs::write(&vectors_file, table.write()).expect("vectors file");
    let mut args = ServeArgs::defaults_for(&url);
    args.routing_vectors = Some(vectors_file);
    args.catalog_poll_interval = Duration::from_millis(200);
    let app = Application::build(args).await.expect("bind");
    let endpoint = format!("http://{}", app.local_addr());
    let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
    let channel = Channel::from_shared(endpoint).expect("url").connect_lazy();
    let health = HealthClient::new(channel.clone());
    let catalog_client = CatalogServiceClient::new(channel.clone());
    let routing = RoutingServiceClient::new(channel.clone());
    loop {
        let ready = catalog_client
            .clone()
            .get_service(GetServiceRequest {
                name: "services/GEN00042".into(),
            })
            .await;
        if ready.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut echo = Vec::new();
    for _ in 0..2000 {
        let mut h = health.clone();
        let t = Instant::now();
        h.check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("check");
        echo.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (echo_p50, echo_p99) = summary(echo);
    for i in 0..40 {
        routing
            .clone()
            .route_need(route_request(i))
            .await
            .expect("warm up");
    }

    // RouteNeed at a steady rate.
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
    let mut calls = Vec::new();
    for i in 0..(RATE * SECONDS) as usize {
        ticks.tick().await;
        let mut r = routing.clone();
        calls.push(tokio::spawn(async move {
            let t = Instant::now();
            r.route_need(route_request(i)).await.expect("routed");
            t.elapsed().as_secs_f64() * 1e6
        }));
    }
    let mut latencies = Vec::new();
    for call in calls {
        latencies.push(call.await.expect("task"));
    }
    let (route_p50, route_p99) = summary(latencies);

    // GetService alone, then during bursts of RouteNeed.
    let alone = get_service_latencies(&catalog_client, 2000).await;
    let burst = {
        let routing = routing.clone();
        tokio::spawn(async move {
            for wave in 0..6 {
                let calls: Vec<_> = (0..100)
                    .map(|i| {
                        let mut r = routing.clone();
                        tokio::spawn(async move {
                            r.route_need(route_request(wave * 100 + i)).await.is_ok()
                        })
                    })
                    .collect();
                for call in calls {
                    call.await.expect("task");
                }
            }
        })
    };
    let during = get_service_latencies(&catalog_client, 2000).await;
    let burst_done = burst.is_finished();
    burst.await.expect("burst");

    // A new import: the server rebuilds index and routing data off the async threads and swaps.
    let mut changed = catalog.clone();
    changed.services[0].name.en.push_str(" (renamed)");
    store
        .import_catalog(&changed, ImportMode::Replace)
        .await
        .expect("import");
    let renamed = format!("services/{}", changed.services[0].id);
    let t = Instant::now();
    let mut latencies = Vec::new();
    let swapped = loop {
        let mut c = catalog_client.clone();
        let started = Instant::now();
        let service = c
            .get_service(GetServiceRequest {
                name: renamed.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
        if service
            .display_name
            .as_ref()
            .is_some_and(|n| n.en.ends_with("(renamed)"))
        {
            break t.elapsed();
        }
    };
    let during_rebuild = summary(latencies);
    let measured_for = swapped;

    let parts = encode_p99 + search_p99 + echo_p99;
    println!(
        "parts (in process, p50 / p99): encode one need {encode_p50:.0} / {encode_p99:.0} us, one search {search_p50:.0} / {search_p99:.0} us, gRPC echo {echo_p50:.0} / {echo_p99:.0} us"
    );
    println!(
        "routing in process once encoded (for diagnosis), p50 / p99: {rank_p50:.0} / {rank_p99:.0} us"
    );
    println!(
        "RouteNeed at {RATE}/s for {SECONDS}s over {SERVICES} services: p50 {route_p50:.0} us, p99 {route_p99:.0} us = {:.2}x the sum of the parts' p99 ({parts:.0} us; target <= 2)",
        route_p99 / parts
    );
    println!(
        "GetService p50 / p99 alone {:.0} / {:.0} us; during RouteNeed bursts of 100 {:.0} / {:.0} us = {:.2}x p99 (target <= 2){}",
        alone.0,
        alone.1,
        during.0,
        during.1,
        during.1 / alone.1,
        if burst_done {
            " (the bursts ended before the measurement did)"
        } else {
            ""
        }
    );
    println!(
        "GetService p50 / p99 from the import until the new snapshot served ({measured_for:.1?}, including the poll; in-process rebuild {rebuild:.1?}): {:.0} / {:.0} us = {:.2}x p99 alone",
        during_rebuild.0,
        during_rebuild.1,
        during_rebuild.1 / alone.1
    );
    server.abort();
}
