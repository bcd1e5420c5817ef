//! Catalogue benchmark: the real server on loopback over a SQLite file holding the built-in
//! catalogue. Each RPC is compared with the gRPC health check run in the same process (the cost of
//! the transport alone), so figures are ratios that survive a noisy machine. Also reports the time
//! and resident memory to build the catalogue snapshot and its search index.
//!
//! Run: `cargo bench --bench catalog`

use std::{future::Future, time::Instant};

use single_window::{
    catalog::{Snapshot, import},
    config::ServeArgs,
    proto::v1::{
        GetServiceRequest, ListServicesRequest, SearchServicesRequest,
        catalog_service_client::CatalogServiceClient,
    },
    startup::Application,
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const CALLS: usize = 3000;
const CONCURRENCY: usize = 16;

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Median and 99th percentile of `CALLS` sequential calls, in microseconds, and calls per second
/// with `CONCURRENCY` callers.
async fn measure<F, Fut>(call: F) -> (f64, f64, f64)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    for _ in 0..200 {
        call().await;
    }
    let mut latencies = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        call().await;
        latencies.push(t.elapsed().as_secs_f64() * 1e6);
    }
    latencies.sort_by(f64::total_cmp);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                for _ in 0..CALLS / CONCURRENCY {
                    call().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let throughput = (CALLS / CONCURRENCY * CONCURRENCY) as f64 / started.elapsed().as_secs_f64();
    (
        latencies[CALLS / 2],
        latencies[CALLS * 99 / 100],
        throughput,
    )
}

#[tokio::main]
async fn main() {
    // With BENCH_LOGS set, the server logs as `serve` does (JSON at info, and OTLP export when the
    // OTEL_* variables ask): the per-call span is then live, as in production.
    if std::env::var_os("BENCH_LOGS").is_some() {
        std::mem::forget(single_window::telemetry::init(
            single_window::config::LogFormat::Json,
        ));
    }
    let before = resident_kib();
    let t = Instant::now();
    let (catalog, _) = import::build(import::BUILTIN).expect("catalogue");
    let parse = t.elapsed();
    let t = Instant::now();
    let snapshot = Snapshot::build(1, catalog).expect("snapshot");
    let index = t.elapsed();
    let after = resident_kib();
    println!(
        "catalogue: parse {parse:.1?}, snapshot and search index {index:.1?}, resident memory +{} MiB",
        (after.saturating_sub(before)) / 1024
    );
    drop(snapshot);

    let dir = tempfile::tempdir().expect("temp dir");
    let args = ServeArgs::defaults_for(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ));
    let app = Application::build(args).await.expect("bind");
    let url = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Endpoint::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let health = HealthClient::new(channel.clone());
    let catalog = CatalogServiceClient::new(channel);
    loop {
        let probe = catalog
            .clone()
            .get_service(GetServiceRequest {
                name: "services/1003".into(),
            })
            .await;
        if probe.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    println!(
        "{CALLS} sequential calls (p50, p99) and {CONCURRENCY} concurrent callers (calls/s); ratio = p50 / health p50"
    );
    let h = health.clone();
    let baseline = measure(move || {
        let mut h = h.clone();
        async move {
            h.check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("check");
        }
    })
    .await;
    report("health Check (baseline)", baseline, baseline.0);
    let c = catalog.clone();
    let get = measure(move || {
        let mut c = c.clone();
        async move {
            c.get_service(GetServiceRequest {
                name: "services/1003".into(),
            })
            .await
            .expect("get");
        }
    })
    .await;
    report("GetService services/1003", get, baseline.0);
    let c = catalog.clone();
    let list = measure(move || {
        let mut c = c.clone();
        async move {
            c.list_services(ListServicesRequest {
                page_size: 50,
                ..Default::default()
            })
            .await
            .expect("list");
        }
    })
    .await;
    report("ListServices page of 50", list, baseline.0);
    let c = catalog.clone();
    let search = measure(move || {
        let mut c = c.clone();
        async move {
            let request = SearchServicesRequest {
                query: "I lost my job and need money".into(),
                page_size: 10,
                ..Default::default()
            };
            c.search_services(request).await.expect("search");
        }
    })
    .await;
    report("SearchServices 10 results", search, baseline.0);
    let _ = stop.send(());
    server.await.expect("join").expect("server");
}

fn report(name: &str, (p50, p99, throughput): (f64, f64, f64), baseline_p50: f64) {
    println!(
        "{name:<28} p50 {p50:>8.0} us  p99 {p99:>8.0} us  {throughput:>8.0} calls/s  ratio {:>5.1}",
        p50 / baseline_p50
    );
}
