//! What the service benchmarks share: a PostgreSQL database per run, waiting for the in-process
//! server, and a driver of concurrent calls that measures them.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{Connection as _, Executor as _};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// p50 and p99 of `latencies` (microseconds) and calls per second over `elapsed`.
pub fn summary(mut latencies: Vec<f64>, elapsed: Duration) -> (f64, f64, f64) {
    latencies.sort_by(f64::total_cmp);
    let n = latencies.len();
    (
        latencies[n / 2],
        latencies[(n * 99 / 100).min(n - 1)],
        n as f64 / elapsed.as_secs_f64(),
    )
}

/// Runs `total` calls of `call(i)` over `callers` concurrent tasks.
pub async fn drive<F, Fut>(callers: usize, total: usize, call: F) -> (f64, f64, f64)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (call, next) = (call.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return latencies;
                    }
                    let t = Instant::now();
                    call(i).await;
                    latencies.push(t.elapsed().as_secs_f64() * 1e6);
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    summary(all, started.elapsed())
}

/// The PostgreSQL database of this run: created on the bench server, dropped at the end.
pub struct PgDatabase {
    server: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create(server: &str) -> Self {
        let name = format!("sw_bench_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(server).await.expect("connect");
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .await
            .expect("drop");
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create");
        let (base, _) = server.rsplit_once('/').expect("a database URL");
        Self {
            server: server.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }

    pub async fn drop_it(self) {
        let mut admin = sqlx::PgConnection::connect(&self.server)
            .await
            .expect("connect");
        let _ = admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .await;
    }
}

/// Waits until the server at `addr` says `service` is SERVING.
pub async fn wait_until_serving(addr: SocketAddr, service: &str) {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_lazy();
    let mut health = HealthClient::new(channel);
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .map(|r| r.into_inner().status);
        if matches!(status, Ok(1)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
