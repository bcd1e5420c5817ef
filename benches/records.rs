//! Citizen-record benchmark: the real server on loopback, 10,000 citizens created through
//! `CreateCitizen`, then `GetCitizen` under consent (the consent check and the access event
//! appended in the same transaction) spread over them, at 16 and 64 concurrent callers. The
//! baseline runs in the same run against the same database with the same durability: a raw
//! single-row insert, one commit each (pgbench for PostgreSQL; a one-commit-per-insert loop for
//! SQLite). Figures are ratios to it: the machine is noisy.
//!
//! Run: `cargo bench --bench records` (SQLite), or with `BENCH_DATABASE_URL=postgres://...` naming
//! a PostgreSQL server with durable settings (fsync and synchronous_commit on) on which the bench
//! may create a database; `pgbench` must be on the PATH or in /usr/lib/postgresql/*/bin.

#[path = "support/baseline.rs"]
mod baseline;
#[path = "support/harness.rs"]
mod harness;

use harness::{PgDatabase, drive, wait_until_serving};

/// What the baseline inserts.
const PAYLOAD: &str = "bench citizen payload of some length";

use std::sync::Arc;

use single_window::{
    config::ServeArgs,
    proto::v1::{self as pb, citizen_service_client::CitizenServiceClient},
    secrets::KeyFile,
    startup::Application,
    store::{PoolSettings, SchemaStore as _, Store},
};
use tonic::{Request, transport::Channel};

const CITIZENS: usize = 10_000;
const READS: usize = 12_000;
const ESDC: &str = "demo-esdc-edsc-ei-benefits-0c6f2b81";

fn authorized<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {ESDC}").parse().expect("metadata"),
    );
    request
}

fn citizen(i: usize) -> pb::Citizen {
    pb::Citizen {
        identity: Some(pb::Identity {
            given_name: format!("Bench{i}"),
            family_name: "Citizen".to_owned(),
            date_of_birth: "1980-01-01".to_owned(),
            ..Default::default()
        }),
        contact: Some(pb::Contact {
            email: format!("bench{i}@example.ca"),
            phone: "613-555-0100".to_owned(),
        }),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = match std::env::var("BENCH_DATABASE_URL") {
        Ok(server) => Some(PgDatabase::create(&server).await),
        Err(_) => None,
    };
    let url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let keys = dir.path().join("keys.json");
    KeyFile::generate("bench-1").write(&keys).expect("key file");
    if pg.is_some() {
        let store = Store::connect(&url, &PoolSettings::default())
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store.close().await;
    }
    let mut args = ServeArgs::defaults_for(&url);
    args.database.keys_file = Some(keys);
    args.database.database_max_connections = 16;
    let app = Application::build(args).await.expect("bind");
    let addr = app.local_addr();
    let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
    wait_until_serving(addr, "singlewindow.v1.CitizenService").await;
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    println!("records benchmark on {backend}, {CITIZENS} citizens");

    // Several connections, as many clients would use.
    let clients: Vec<CitizenServiceClient<Channel>> = (0..8)
        .map(|_| {
            CitizenServiceClient::new(
                Channel::from_shared(format!("http://{addr}"))
                    .expect("endpoint")
                    .connect_lazy(),
            )
        })
        .collect();
    let clients = Arc::new(clients);
    let names = Arc::new(std::sync::Mutex::new(vec![String::new(); CITIZENS]));

    let mut rows = Vec::new();
    for (callers, range) in [(16, 0..CITIZENS / 2), (64, CITIZENS / 2..CITIZENS)] {
        let (clients, names) = (clients.clone(), names.clone());
        let start = range.start;
        let figures = drive(callers, range.len(), move |i| {
            let mut client = clients[i % clients.len()].clone();
            let names = names.clone();
            async move {
                let i = start + i;
                let request = pb::CreateCitizenRequest {
                    citizen: Some(citizen(i)),
                    request_id: format!("bench-create-{i}"),
                };
                let created = client
                    .create_citizen(authorized(request))
                    .await
                    .expect("CreateCitizen")
                    .into_inner();
                names.lock().expect("names")[i] = created.name;
            }
        })
        .await;
        rows.push((format!("CreateCitizen, {callers} callers"), figures));
    }

    // Each citizen gives ESDC, at a counter, consent to its identity and contact for delivery.
    let names: Arc<Vec<String>> = Arc::new(names.lock().expect("names").clone());
    {
        let (clients, names) = (clients.clone(), names.clone());
        drive(64, CITIZENS, move |i| {
            let mut client = clients[i % clients.len()].clone();
            let parent = names[i].clone();
            async move {
                let request = pb::GrantConsentRequest {
                    parent,
                    consent: Some(pb::Consent {
                        grantee: "agencies/esdc-edsc".to_owned(),
                        purpose: pb::ConsentPurpose::ServiceDelivery as i32,
                        categories: vec![
                            pb::ConsentCategory::Identity as i32,
                            pb::ConsentCategory::Contact as i32,
                        ],
                        channel: pb::Channel::InPerson as i32,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                };
                client
                    .grant_consent(authorized(request))
                    .await
                    .expect("GrantConsent");
            }
        })
        .await;
    }
    for callers in [16, 64] {
        let (clients, names) = (clients.clone(), names.clone());
        let figures = drive(callers, READS, move |i| {
            let mut client = clients[i % clients.len()].clone();
            // Spread over every citizen, in an order unrelated to creation.
            let name = names[(i * 7919) % names.len()].clone();
            async move {
                let request = pb::GetCitizenRequest {
                    name,
                    purpose: pb::ConsentPurpose::ServiceDelivery as i32,
                    read_mask: None,
                };
                let citizen = client
                    .get_citizen(authorized(request))
                    .await
                    .expect("GetCitizen")
                    .into_inner();
                assert_eq!(citizen.categories.len(), 2);
            }
        })
        .await;
        rows.push((
            format!("GetCitizen under consent, {callers} callers"),
            figures,
        ));
    }
    server.abort();
    let _ = server.await;

    println!("\n| what | p50 | p99 | calls/s |\n|---|---|---|---|");
    for (what, (p50, p99, rate)) in &rows {
        println!(
            "| {what} | {:.2} ms | {:.2} ms | {rate:.0} |",
            p50 / 1000.0,
            p99 / 1000.0
        );
    }
    println!("\nbaseline (same database, same durability, one commit per single-row insert):");
    match &pg {
        Some(db) => {
            for clients in [16, 64] {
                let tps = baseline::pgbench_inserts(&db.url, clients, PAYLOAD).await;
                println!("| pgbench insert, {clients} clients | {tps:.0} tx/s |");
                for (what, (_, _, rate)) in &rows {
                    if what.ends_with(&format!(" {clients} callers")) {
                        println!("|   {what} / baseline | {:.2} |", rate / tps);
                    }
                }
            }
        }
        None => {
            let rate = baseline::sqlite_inserts(dir.path(), PAYLOAD).await;
            println!("| SQLite one-commit-per-insert loop | {rate:.0} inserts/s |");
            for (what, (_, _, r)) in &rows {
                println!("|   {what} / baseline | {:.2} |", r / rate);
            }
        }
    }
    if let Some(db) = pg {
        db.drop_it().await;
    }
}
