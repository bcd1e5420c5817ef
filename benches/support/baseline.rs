//! The baselines the benchmarks compare with, run against the same database with the same
//! durability: a single-row insert, one commit each.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use sqlx::{Connection as _, Executor as _};

fn pgbench() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|dirs| {
            dirs.filter_map(Result::ok)
                .map(|d| d.path().join("bin/pgbench"))
                .find(|p| p.exists())
        });
    found.unwrap_or_else(|| PathBuf::from("pgbench"))
}

/// pgbench with one single-row insert of `payload` per transaction at `clients` clients, for 8
/// seconds: transactions/s.
pub async fn pgbench_inserts(url: &str, clients: usize, payload: &str) -> f64 {
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    c.execute(
        "CREATE TABLE IF NOT EXISTS bench_insert (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)",
    )
    .await
    .expect("table");
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("insert.sql");
    std::fs::write(
        &script,
        format!("INSERT INTO bench_insert (payload) VALUES ('{payload}');\n"),
    )
    .expect("script");
    let out = std::process::Command::new(pgbench())
        .args(["-n", "-j", "2", "-T", "8", "-c"])
        .arg(clients.to_string())
        .arg("-f")
        .arg(&script)
        .arg(url)
        .output()
        .expect("run pgbench");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| {
            panic!(
                "pgbench said: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// A loop of single-row inserts of `payload` into a SQLite file beside `beside`, each its own
/// durable commit (WAL, synchronous=FULL, as the service), for 8 seconds: inserts/s.
pub async fn sqlite_inserts(beside: &Path, payload: &str) -> f64 {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(beside.join("baseline.db"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
    let mut c = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("connect");
    c.execute("CREATE TABLE bench_insert (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        .await
        .expect("table");
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_secs(8) {
        sqlx::query("INSERT INTO bench_insert (payload) VALUES ($1)")
            .bind(payload)
            .execute(&mut c)
            .await
            .expect("insert");
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}
