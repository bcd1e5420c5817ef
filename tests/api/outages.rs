//! What the binary does when what it depends on fails under load: PostgreSQL stopped and started
//! again, the disk holding a SQLite database filling up, the connection pool exhausted while
//! clients cancel calls in the middle of their transactions. Each test prints its figures.
//!
//! The PostgreSQL outage runs on a server of its own (initdb in a temporary directory, as the
//! `postgres` user when run as root), so stopping it disturbs no other test; the full disk is a
//! small tmpfs mounted for the test (root only). Without PostgreSQL's server binaries, or without
//! root for the mount, the test says so and passes, unless `CI` is set.

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use single_window::proto::v1::{
    GetServiceRequest, ListServicesRequest, catalog_service_client::CatalogServiceClient,
    request_service_client::RequestServiceClient,
};
use sqlx::{Connection as _, PgConnection};
use tonic::{Code, transport::Channel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{
    binary::Binary,
    citizens::{As, CRA, req},
    faults::{Ledger, ask, clients, grant_referral, verify},
    helpers::{Backend, TestDb, backends},
};

/// Skips a test that cannot run here, or fails it under CI.
fn unavailable_here(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {what}: the fault tests must run in CI"
    );
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "note: {what}; skipped");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn run(command: &mut Command) {
    let out = command.output().expect("run a command");
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PostgreSQL server of the test's own, on a free port, which the test stops and starts; stopped
/// at once when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    /// `None` (with a notice) where PostgreSQL's server binaries are not installed.
    fn create() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                let mut found: Vec<PathBuf> = versions
                    .filter_map(Result::ok)
                    .map(|v| v.path().join("bin"))
                    .filter(|b| b.join("initdb").exists())
                    .collect();
                found.sort();
                found.pop()
            });
        let Some(bin) = bin else {
            unavailable_here("PostgreSQL's server binaries are not installed");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        if is_root() {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cluster = Self { dir, bin, port };
        run(cluster.command("initdb").args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]));
        cluster.start();
        Some(cluster)
    }

    /// `program` of the server's binaries, as `postgres` when run as root, on this data directory.
    fn command(&self, program: &str) -> Command {
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        };
        command.arg("-D").arg(self.dir.path().join("data"));
        command
    }

    /// Starts the server and waits until it accepts connections.
    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        run(self
            .command("pg_ctl")
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-o", &options, "start"]));
    }

    /// Stops the server (`fast`: sessions are ended, their transactions rolled back).
    fn stop(&self) {
        run(self.command("pg_ctl").args(["-w", "-m", "fast", "stop"]));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-w", "-m", "immediate", "stop"])
            .output();
    }
}

/// One call of the load: when it started, how long it took, and its code (`Ok` when it succeeded).
#[derive(Clone, Copy)]
struct Call {
    at: Instant,
    took: Duration,
    code: Code,
}

/// Opens requests until `running` turns false, recording every call and, in `ledger`, what each
/// request id came to. Failures must be `allowed`; after one, the worker pauses 20 ms.
async fn load(
    addr: SocketAddr,
    (worker, allowed): (usize, &'static [Code]),
    ledger: Arc<Mutex<Ledger>>,
    calls: Arc<Mutex<Vec<Call>>>,
    running: Arc<AtomicBool>,
) {
    let (mut requests, _) = clients(addr).await;
    let mut n = 0;
    while running.load(Ordering::Relaxed) {
        n += 1;
        let id = format!("outage-{worker}-{n}");
        let at = Instant::now();
        let answer = requests.open_request(req(&As::Key(CRA), ask(&id))).await;
        let took = at.elapsed();
        let code = match answer {
            Ok(request) => {
                let name = request.into_inner().name;
                ledger.lock().unwrap().acknowledged.insert(id, name);
                Code::Ok
            }
            Err(status) => {
                assert!(
                    allowed.contains(&status.code()),
                    "a failure other than {allowed:?}: {status:?}"
                );
                ledger.lock().unwrap().unknown.insert(id);
                tokio::time::sleep(Duration::from_millis(20)).await;
                status.code()
            }
        };
        calls.lock().unwrap().push(Call { at, took, code });
    }
}

async fn health(channel: &Channel, service: &str) -> Option<ServingStatus> {
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()
        .and_then(|r| ServingStatus::try_from(r.into_inner().status).ok())
}

fn channel(addr: SocketAddr) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_lazy()
}

fn percentile(mut values: Vec<Duration>, p: usize) -> Duration {
    values.sort();
    values
        .get((values.len() * p / 100).min(values.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

/// Connections of the database at `url` other than this one left inside a transaction.
async fn open_transactions(url: &str) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_activity")
}

/// Waits (at most 10 s) for the connections left in a transaction to be none: a cancelled call's
/// rollback reaches the database when its connection goes back to the pool.
async fn no_open_transactions(url: &str) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = open_transactions(url).await;
        if open == 0 || Instant::now() > deadline {
            return open;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_outage_fails_calls_fast_reports_not_serving_and_recovers_by_itself() {
    let Some(cluster) = Cluster::create() else {
        return;
    };
    let db = TestDb::with_catalogue_at(cluster.url()).await;
    // A long acquire timeout: calls that waited for a connection instead of failing fast would
    // take 10 s each.
    let server = Binary::serve(&db, |command| {
        command.args(["--database-acquire-timeout", "10s"]);
    });
    let (_, mut citizens) = clients(server.addr).await;
    grant_referral(&mut citizens).await;

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let calls = Arc::new(Mutex::new(Vec::<Call>::new()));
    let running = Arc::new(AtomicBool::new(true));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            tokio::spawn(load(
                server.addr,
                (w, &[Code::Unavailable]),
                ledger.clone(),
                calls.clone(),
                running.clone(),
            ))
        })
        .collect();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let poller = {
        let (samples, running, channel) = (samples.clone(), running.clone(), channel(server.addr));
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let at = Instant::now();
                let whole = health(&channel, "").await;
                let catalogue = health(&channel, "singlewindow.v1.CatalogService").await;
                samples.lock().unwrap().push((at, whole, catalogue));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopping = Instant::now();
    tokio::task::block_in_place(|| cluster.stop());
    let stopped = Instant::now();
    // The catalogue's lists and searches are answered from memory throughout.
    let mut catalogue = CatalogServiceClient::new(channel(server.addr));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let lookup = catalogue
        .list_services(ListServicesRequest {
            page_size: 5,
            ..Default::default()
        })
        .await;
    assert!(lookup.is_ok(), "a lookup during the outage: {lookup:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restarting = Instant::now();
    tokio::task::block_in_place(|| cluster.start());
    let back = Instant::now();

    // Recovery: the first write that succeeds, and health SERVING again.
    let deadline = back + Duration::from_secs(15);
    let (first_ok, serving_again) = loop {
        let first_ok = calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.at >= back && c.code == Code::Ok)
            .map(|c| c.at + c.took)
            .min();
        let serving = samples
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, whole, _)| *at >= back && *whole == Some(ServingStatus::Serving))
            .map(|(at, _, _)| *at)
            .min();
        if let (Some(ok), Some(serving)) = (first_ok, serving) {
            break (ok, serving);
        }
        assert!(Instant::now() < deadline, "no recovery within 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.store(false, Ordering::Relaxed);
    for w in workers {
        w.await.expect("a worker");
    }
    poller.await.expect("the poller");

    let calls = calls.lock().unwrap().clone();
    let samples = samples.lock().unwrap().clone();
    // Once the server has noticed (a second after the stop), until the restart.
    let outage = |at: Instant| at >= stopped + Duration::from_secs(1) && at < restarting;
    let during: Vec<&Call> = calls.iter().filter(|c| outage(c.at)).collect();
    assert!(!during.is_empty(), "calls were made during the outage");
    assert!(
        during.iter().all(|c| c.code == Code::Unavailable),
        "every call during the outage failed with UNAVAILABLE"
    );
    let took: Vec<Duration> = during.iter().map(|c| c.took).collect();
    let slowest = took.iter().max().copied().unwrap_or_default();
    assert!(
        slowest < Duration::from_secs(2),
        "calls during the outage fail at once rather than waiting for a connection (10 s): the slowest took {slowest:?}"
    );
    let in_outage: Vec<_> = samples.iter().filter(|(at, ..)| outage(*at)).collect();
    assert!(
        !in_outage.is_empty()
            && in_outage
                .iter()
                .all(|(_, whole, _)| *whole == Some(ServingStatus::NotServing)),
        "health NOT_SERVING throughout the outage"
    );
    assert!(
        samples
            .iter()
            .all(|(_, _, catalogue)| *catalogue == Some(ServingStatus::Serving)),
        "the catalogue SERVING throughout"
    );
    let recovered = first_ok.max(serving_again) - back;
    assert!(
        recovered <= Duration::from_secs(5),
        "recovered {recovered:?} after the database returned (promise: 5 s)"
    );
    let failed_after = calls
        .iter()
        .filter(|c| c.at >= serving_again && c.code != Code::Ok)
        .count();
    assert_eq!(
        failed_after, 0,
        "no call fails once the server is SERVING again (connections from before the outage are not reused)"
    );
    let open = no_open_transactions(&cluster.url()).await;
    assert_eq!(open, 0, "no connection left in an open transaction");
    let (mut requests, _) = clients(server.addr).await;
    verify(&mut requests, &ledger).await;
    let first_failure = calls
        .iter()
        .filter(|c| c.at >= stopping && c.code != Code::Ok)
        .map(|c| c.at + c.took)
        .min()
        .map_or(0.0, |t| (t - stopping).as_secs_f64() * 1e3);
    println!(
        "PostgreSQL outage of {:.1} s: {} calls, {} during it, all UNAVAILABLE (p50 {:?}, p99 {:?}, slowest {slowest:?}); first failure {first_failure:.0} ms after the stop began; health NOT_SERVING in {} of {} samples during it, the catalogue SERVING in all; after the database returned: first write {:?}, SERVING {:?}, {failed_after} failures; {open} connections in a transaction; {} request ids, each one request after retries",
        (restarting - stopping).as_secs_f64(),
        calls.len(),
        during.len(),
        percentile(took.clone(), 50),
        percentile(took, 99),
        in_outage.len(),
        in_outage.len(),
        first_ok.saturating_duration_since(back),
        serving_again.saturating_duration_since(back),
        ledger.lock().unwrap().acknowledged.len(),
    );
}

/// A tmpfs of `size` mounted on a temporary directory for the test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        if !is_root() {
            unavailable_here("mounting a small filesystem needs root");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path()));
        Some(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file of zeros until the filesystem is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.write_all(&chunk[..512]);
        while file.write_all(&chunk[..1]).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}

/// The database's own integrity check, on a connection of its own.
async fn sqlite_integrity(path: &Path) -> String {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .expect("open the database");
    sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .expect("integrity check")
}

#[tokio::test]
async fn a_full_disk_refuses_sqlite_writes_clearly_corrupts_nothing_and_recovers_when_space_returns()
 {
    let Some(disk) = SmallDisk::mount("64m") else {
        return;
    };
    let file = disk.path().join("single-window.db");
    let db = TestDb::with_catalogue_at(format!("sqlite://{}", file.display())).await;
    let mut server = Binary::serve(&db, |_| {});
    let (mut requests, mut citizens) = clients(server.addr).await;
    grant_referral(&mut citizens).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let open = |requests: &mut RequestServiceClient<Channel>, id: String| {
        let mut requests = requests.clone();
        let ledger = ledger.clone();
        async move {
            let answer = requests.open_request(req(&As::Key(CRA), ask(&id))).await;
            match answer {
                Ok(r) => {
                    ledger
                        .lock()
                        .unwrap()
                        .acknowledged
                        .insert(id, r.into_inner().name);
                    Ok(())
                }
                Err(status) => {
                    ledger.lock().unwrap().unknown.insert(id);
                    Err(status)
                }
            }
        }
    };
    for n in 0..50 {
        open(&mut requests, format!("before-{n}"))
            .await
            .expect("writes before the disk fills");
    }
    let filler = disk.fill();

    // Writes go on until the database needs a page the disk does not have.
    let (mut accepted_full, mut refused) = (0, Vec::new());
    for n in 0..20_000 {
        match open(&mut requests, format!("full-{n}")).await {
            Ok(()) if refused.is_empty() => accepted_full += 1,
            Ok(()) => {}
            Err(status) => refused.push(status),
        }
        if refused.len() == 20 {
            break;
        }
    }
    assert!(
        !refused.is_empty(),
        "the disk filled and writes were refused"
    );

    for status in &refused {
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "a full disk is RESOURCE_EXHAUSTED: {status:?}"
        );
        let info = tonic_types::StatusExt::get_details_error_info(status).expect("ErrorInfo");
        assert_eq!(info.reason, "STORAGE_FULL");
        assert!(
            !status.message().contains("sqlite") && !status.message().contains("SQLITE"),
            "no driver message: {}",
            status.message()
        );
    }
    // Reads that write nothing go on (reading a citizen's request writes its access event, and
    // is refused like any write).
    let mut catalogue = CatalogServiceClient::new(channel(server.addr));
    catalogue
        .get_service(GetServiceRequest {
            name: "services/1003".to_owned(),
        })
        .await
        .expect("a service and its forms are read while the disk is full");

    // Space returns: the next write succeeds.
    std::fs::remove_file(&filler).expect("free the space");
    open(&mut requests, "after-0".to_owned())
        .await
        .expect("a write once space returns");
    for n in 1..50 {
        open(&mut requests, format!("after-{n}"))
            .await
            .expect("writes once space returns");
    }
    verify(&mut requests, &ledger).await;

    // Killed, the database is whole, and a new server finds every acknowledged write.
    server.child.kill().expect("SIGKILL");
    let _ = server.child.wait();
    let integrity = sqlite_integrity(&file).await;
    assert_eq!(integrity, "ok");
    let server = Binary::serve(&db, |_| {});
    let (mut requests, _) = clients(server.addr).await;
    verify(&mut requests, &ledger).await;
    println!(
        "full disk (64 MiB tmpfs): {accepted_full} writes accepted after the filler (WAL space already held), then {} refused with RESOURCE_EXHAUSTED STORAGE_FULL; reads answered; after freeing the space 50 writes of 50 succeeded; integrity_check {integrity} after kill -9; {} request ids, each one request after retries",
        refused.len(),
        ledger.lock().unwrap().acknowledged.len()
    );
}

#[tokio::test]
async fn an_exhausted_pool_and_calls_cancelled_mid_transaction_leak_nothing() {
    for backend in backends() {
        let db = TestDb::with_catalogue(backend).await;
        let server = Binary::serve(&db, |command| {
            command.args([
                "--database-max-connections",
                "2",
                "--database-acquire-timeout",
                "200ms",
            ]);
        });
        let (requests, mut citizens) = clients(server.addr).await;
        grant_referral(&mut citizens).await;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let counts = Arc::new(Mutex::new(
            std::collections::BTreeMap::<String, usize>::new(),
        ));
        let started = Instant::now();
        let tasks: Vec<_> = (0..48)
            .map(|w| {
                let (mut requests, ledger, counts) =
                    (requests.clone(), ledger.clone(), counts.clone());
                tokio::spawn(async move {
                    for n in 0..15 {
                        let id = format!("pool-{w}-{n}");
                        let wait = Duration::from_millis(1 + ((w * 7 + n * 13) % 40) as u64);
                        let mut call = req(&As::Key(CRA), ask(&id));
                        // A third with a deadline the server enforces, a third cancelled by the
                        // client (the stream reset mid-call), a third left to finish.
                        let outcome = match (w + n) % 3 {
                            0 => {
                                // The deadline header alone (tonic's client enforces it too,
                                // ending the call CANCELLED at the same moment).
                                let timeout = format!("{}m", wait.as_millis())
                                    .parse()
                                    .expect("a header value");
                                call.metadata_mut().insert("grpc-timeout", timeout);
                                requests.open_request(call).await.map_err(|s| s.code())
                            }
                            1 => tokio::time::timeout(wait, requests.open_request(call))
                                .await
                                .map_err(|_| Code::Cancelled)
                                .and_then(|r| r.map_err(|s| s.code())),
                            _ => requests.open_request(call).await.map_err(|s| s.code()),
                        };
                        let label = match outcome {
                            Ok(answer) => {
                                ledger
                                    .lock()
                                    .unwrap()
                                    .acknowledged
                                    .insert(id, answer.into_inner().name);
                                "ok".to_owned()
                            }
                            Err(code) => {
                                assert!(
                                    matches!(
                                        code,
                                        Code::DeadlineExceeded
                                            | Code::Cancelled
                                            | Code::Unavailable
                                    ),
                                    "{backend:?}: a failure other than a deadline, a cancellation or a busy pool: {code:?}"
                                );
                                ledger.lock().unwrap().unknown.insert(id);
                                format!("{code:?}")
                            }
                        };
                        *counts.lock().unwrap().entry(label).or_default() += 1;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a caller");
        }
        let elapsed = started.elapsed();
        // No deadlock: a plain call still succeeds.
        let mut requests = requests.clone();
        let after = tokio::time::timeout(
            Duration::from_secs(30),
            requests.open_request(req(&As::Key(CRA), ask("pool-after"))),
        )
        .await
        .expect("the server answers after the storm")
        .expect("a call after the storm");
        ledger
            .lock()
            .unwrap()
            .acknowledged
            .insert("pool-after".to_owned(), after.into_inner().name);
        let open = match backend {
            Backend::Postgres => no_open_transactions(&db.url).await,
            Backend::Sqlite => 0,
        };
        assert_eq!(open, 0, "no connection left in a transaction");
        // Every call cut short made its whole request or none: retried, each gives exactly one.
        verify(&mut requests, &ledger).await;
        println!(
            "{backend:?}: 720 calls over 2 connections in {:.1}s: {:?}; {open} connections left in a transaction; every request whole, none twice",
            elapsed.as_secs_f64(),
            counts.lock().unwrap()
        );
    }
}
