//! Feedback benchmark: the real server on loopback, with baselines run in the same run against the
//! same database with the same durability.
//!
//! 1. Durable `RecordSatisfaction` (an agency's phone survey: the subject read, the consent for the
//!    segment checked, the response, the invitation marked and the access event, in one
//!    transaction) on ended legs made through the API, at 16 and 64 callers, against a single-row
//!    insert with one commit each (pgbench on PostgreSQL; a one-commit-per-insert loop on SQLite).
//! 2. `GetSatisfactionReport` grouped by agency and quarter over 1,000,000 responses (and
//!    1,000,000 ended legs: the report counts both), for an auditor (the whole table) and for one
//!    agency (its part), against a plain SQL `GROUP BY agency, quarter` over the same responses
//!    (count and two means), and against the report's own two aggregate queries run bare.
//!    The million rows are generated in SQL (a load through the API would take hours here); they
//!    have the shape the service writes.
//!
//! Run: `cargo bench --bench feedback` (SQLite), or with `BENCH_DATABASE_URL=postgres://...`
//! naming a PostgreSQL server with durable settings on which the bench may create a database.

#[path = "support/baseline.rs"]
mod baseline;
#[path = "support/harness.rs"]
mod harness;

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use harness::{PgDatabase, drive, wait_until_serving};
use single_window::{
    config::ServeArgs,
    proto::v1::{
        self as pb, citizen_service_client::CitizenServiceClient,
        feedback_service_client::FeedbackServiceClient,
        request_service_client::RequestServiceClient,
    },
    secrets::KeyFile,
    startup::Application,
    store::{PoolSettings, SchemaStore as _, Store},
};
use sqlx::{Connection as _, Executor as _};
use tonic::{Request, transport::Channel};

const ESDC: &str = "demo-esdc-edsc-ei-benefits-0c6f2b81";
const AUDITOR: &str = "demo-auditor-b1f7390d";
const CITIZENS: usize = 200;
const LEGS: usize = 4_000;
const RESPONSES: i64 = 1_000_000;
const READS: usize = 7;
/// What the baseline inserts.
const PAYLOAD: &str = "a survey response of some length";

fn with_key<T>(key: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("metadata"),
    );
    request
}

/// p50 and p99 of `samples` (seconds).
fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    (samples[n / 2], samples[(n * 99 / 100).min(n - 1)])
}

/// The fixture: `RESPONSES` responses and as many ended legs over 40 agencies (10 services each),
/// 3 channels and 8 quarters (320 agency-quarter groups), generated in SQL.
async fn fixture(url: &str, request_id: &str, citizen_id: &str) {
    let rows = |from: &str| {
        format!(
            "SELECT 'b' || n AS id, 'ag' || (n % 40) AS agency, '' AS team, '' AS officer, \
             's' || (n % 400) AS service_id, \
             CASE (n / 7) % 3 WHEN 0 THEN 'ONL' WHEN 1 THEN 'TEL' ELSE 'PERSON' END AS channel, \
             'ag' || ((n / 3) % 40) AS from_agency, \
             CASE WHEN n % 5 = 0 THEN 'missed' ELSE 'met' END AS standard, \
             (2025 + (n / 40) % 2) || 'Q' || (1 + (n / 80) % 4) AS quarter, n FROM {from}"
        )
    };
    let responses = |prefix: &str, from: &str, key: &str| {
        format!(
            "{prefix} INSERT INTO survey_responses (id, respondent_key, kind, agency, team, officer, \
             service_id, channel, from_agency, standard, quarter, age_band, province, language, \
             accessibility, client_group, survey_channel, contacts, satisfaction, trust, \
             effectiveness, ease, efficiency, transparency, employees, value, recorded_on_unix_ms) \
             SELECT id, {key}, 'handoff', agency, team, officer, service_id, channel, from_agency, \
             standard, quarter, '', '', '', '', '', 'ONL', n % 4, 1 + (n * 7) % 5, 1 + (n * 3) % 5, \
             (n * 11) % 6, (n * 13) % 6, 1 + (n * 17) % 5, (n * 19) % 6, 1 + (n * 23) % 5, \
             (n * 29) % 6, 0 FROM ({}) AS r",
            rows(from)
        )
    };
    let subjects = |prefix: &str, from: &str| {
        format!(
            "{prefix} INSERT INTO survey_subjects (id, citizen_id, request_id, handoff_number, kind, \
             ended_as, invited, agency, team, officer, service_id, channel, from_agency, \
             entry_agency, standard, quarter, ended_at_unix_ms, expires_at_unix_ms, responded) \
             SELECT id, '{citizen_id}', '{request_id}', 100000 + n, 'handoff', 'completed', TRUE, \
             agency, team, officer, service_id, channel, from_agency, '', standard, quarter, 0, 0, \
             TRUE FROM ({}) AS r",
            rows(from)
        )
    };
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        let prefix = format!(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {RESPONSES})"
        );
        c.execute("BEGIN").await.expect("begin");
        c.execute(sqlx::AssertSqlSafe(responses(
            &prefix,
            "c",
            "CAST('k' || id AS BLOB)",
        )))
        .await
        .expect("responses");
        c.execute(sqlx::AssertSqlSafe(subjects(&prefix, "c")))
            .await
            .expect("subjects");
        c.execute("COMMIT").await.expect("commit");
        c.execute("ANALYZE").await.expect("analyze");
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        let series = format!("generate_series(1, {RESPONSES}) AS g(n)");
        c.execute(sqlx::AssertSqlSafe(responses(
            "",
            &series,
            "convert_to('k' || id, 'UTF8')",
        )))
        .await
        .expect("responses");
        c.execute(sqlx::AssertSqlSafe(subjects("", &series)))
            .await
            .expect("subjects");
        c.execute("ANALYZE").await.expect("analyze");
    }
}

/// Runs `sql` `READS` times on a fresh connection: each run's seconds.
async fn time_sql(url: &str, sql: &str) -> Vec<f64> {
    let mut out = Vec::new();
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        for _ in 0..READS {
            let t = Instant::now();
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut c)
                .await
                .expect("query");
            assert!(!rows.is_empty());
            out.push(t.elapsed().as_secs_f64());
        }
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        for _ in 0..READS {
            let t = Instant::now();
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .fetch_all(&mut c)
                .await
                .expect("query");
            assert!(!rows.is_empty());
            out.push(t.elapsed().as_secs_f64());
        }
    }
    out
}

/// The report's own two aggregate queries, as the store runs them, for the whole table.
fn report_sql() -> [String; 2] {
    let mut sums = Vec::new();
    for d in [
        "satisfaction",
        "trust",
        "effectiveness",
        "ease",
        "efficiency",
        "transparency",
        "employees",
        "value",
    ] {
        for s in 1..=5 {
            sums.push(format!(
                "CAST(SUM(CASE WHEN {d} = {s} THEN 1 ELSE 0 END) AS BIGINT)"
            ));
        }
    }
    [
        format!(
            "SELECT agency, quarter, COUNT(*), CAST(SUM(contacts) AS BIGINT), \
             CAST(SUM(CASE WHEN contacts > 0 THEN 1 ELSE 0 END) AS BIGINT), {} \
             FROM survey_responses WHERE kind = 'handoff' GROUP BY agency, quarter",
            sums.join(", ")
        ),
        "SELECT agency, quarter, COUNT(*), CAST(SUM(CASE WHEN invited THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN standard <> '' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN standard = 'met' THEN 1 ELSE 0 END) AS BIGINT) \
         FROM survey_subjects WHERE kind = 'handoff' GROUP BY agency, quarter"
            .to_owned(),
    ]
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
    wait_until_serving(addr, "singlewindow.v1.FeedbackService").await;
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    println!("feedback benchmark on {backend}");
    let channels: Vec<Channel> = (0..8)
        .map(|_| {
            Channel::from_shared(format!("http://{addr}"))
                .expect("endpoint")
                .connect_lazy()
        })
        .collect();
    let channels = Arc::new(channels);

    // Citizens with a service-delivery consent to ESDC, and ended legs to rate.
    let names = Arc::new(Mutex::new(vec![String::new(); CITIZENS]));
    {
        let (channels, names) = (channels.clone(), names.clone());
        drive(32, CITIZENS, move |i| {
            let mut people = CitizenServiceClient::new(channels[i % channels.len()].clone());
            let names = names.clone();
            async move {
                let created = people
                    .create_citizen(with_key(
                        ESDC,
                        pb::CreateCitizenRequest {
                            citizen: Some(pb::Citizen {
                                identity: Some(pb::Identity {
                                    given_name: format!("Bench{i}"),
                                    family_name: "Respondent".to_owned(),
                                    date_of_birth: "1975-05-05".to_owned(),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                    ))
                    .await
                    .expect("CreateCitizen")
                    .into_inner();
                people
                    .grant_consent(with_key(
                        ESDC,
                        pb::GrantConsentRequest {
                            parent: created.name.clone(),
                            consent: Some(pb::Consent {
                                grantee: "agencies/esdc-edsc".to_owned(),
                                purpose: pb::ConsentPurpose::ServiceDelivery as i32,
                                categories: vec![pb::ConsentCategory::Contact as i32],
                                channel: pb::Channel::InPerson as i32,
                                ..Default::default()
                            }),
                            request_id: String::new(),
                        },
                    ))
                    .await
                    .expect("GrantConsent");
                names.lock().expect("names")[i] = created.name;
            }
        })
        .await;
    }
    let names: Arc<Vec<String>> = Arc::new(names.lock().expect("names").clone());
    let legs = Arc::new(Mutex::new(vec![String::new(); LEGS]));
    let started = Instant::now();
    {
        let (channels, names, legs) = (channels.clone(), names.clone(), legs.clone());
        drive(64, LEGS, move |i| {
            let mut requests = RequestServiceClient::new(channels[i % channels.len()].clone());
            let (names, legs) = (names.clone(), legs.clone());
            async move {
                let opened = requests
                    .open_request(with_key(
                        ESDC,
                        pb::OpenRequestRequest {
                            citizen: names[i % names.len()].clone(),
                            need: Some(pb::Need {
                                need: Some(pb::need::Need::Service("services/1003".to_owned())),
                            }),
                            entry_point: Some(pb::EntryPoint {
                                agency: String::new(),
                                channel: pb::Channel::InPerson as i32,
                            }),
                            ..Default::default()
                        },
                    ))
                    .await
                    .expect("OpenRequest")
                    .into_inner();
                let leg = opened.handoffs[0].clone();
                let accepted = requests
                    .accept_handoff(with_key(
                        ESDC,
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
                    .complete_handoff(with_key(
                        ESDC,
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
                legs.lock().expect("legs")[i] = leg.name;
            }
        })
        .await;
    }
    println!(
        "setup: {CITIZENS} citizens, {LEGS} legs opened, accepted and completed in {:.1?}",
        started.elapsed()
    );
    let legs: Arc<Vec<String>> = Arc::new(legs.lock().expect("legs").clone());
    let mut rows = Vec::new();
    for (callers, range) in [(16, 0..LEGS / 2), (64, LEGS / 2..LEGS)] {
        let (channels, legs) = (channels.clone(), legs.clone());
        let start = range.start;
        let figures = drive(callers, range.len(), move |i| {
            let mut feedback = FeedbackServiceClient::new(channels[i % channels.len()].clone());
            let subject = legs[start + i].clone();
            async move {
                feedback
                    .record_satisfaction(with_key(
                        ESDC,
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
                            request_id: format!("bench-rate-{start}-{i}"),
                        },
                    ))
                    .await
                    .expect("RecordSatisfaction");
            }
        })
        .await;
        rows.push((callers, figures));
    }
    println!("\n| RecordSatisfaction | p50 | p99 | calls/s |\n|---|---|---|---|");
    for (callers, (p50, p99, rate)) in &rows {
        println!(
            "| {callers} callers | {:.2} ms | {:.2} ms | {rate:.0} |",
            p50 / 1000.0,
            p99 / 1000.0
        );
    }
    println!("\nbaseline (same database, same durability, one commit per single-row insert):");
    match &pg {
        Some(db) => {
            for (callers, (_, _, rate)) in &rows {
                let tps = baseline::pgbench_inserts(&db.url, *callers, PAYLOAD).await;
                println!(
                    "| pgbench insert, {callers} clients | {tps:.0} tx/s | RecordSatisfaction / baseline {:.2} |",
                    rate / tps
                );
            }
        }
        None => {
            let base = baseline::sqlite_inserts(dir.path(), PAYLOAD).await;
            println!("| SQLite one-commit-per-insert loop | {base:.0} inserts/s |");
            for (callers, (_, _, rate)) in &rows {
                println!(
                    "|   RecordSatisfaction, {callers} callers / baseline | {:.2} |",
                    rate / base
                );
            }
        }
    }

    // The report over a million responses.
    let (request_id, citizen_id) = {
        let leg = &legs[0];
        let request = leg.split("/handoffs/").next().expect("request");
        (
            request.trim_start_matches("requests/").to_owned(),
            names[0].trim_start_matches("citizens/").to_owned(),
        )
    };
    let t = Instant::now();
    fixture(&url, &request_id, &citizen_id).await;
    println!(
        "\nfixture: {RESPONSES} responses and {RESPONSES} ended legs generated in {:.1?}",
        t.elapsed()
    );
    let feedback = FeedbackServiceClient::new(channels[0].clone());
    let report = |key: &'static str, agency: &'static str| {
        let mut feedback = feedback.clone();
        async move {
            let mut samples = Vec::new();
            let mut groups = 0;
            for _ in 0..READS {
                let t = Instant::now();
                let answer = feedback
                    .get_satisfaction_report(with_key(
                        key,
                        pb::GetSatisfactionReportRequest {
                            grouping: pb::ReportGrouping::AgencyQuarter as i32,
                            agency: agency.to_owned(),
                            ..Default::default()
                        },
                    ))
                    .await
                    .expect("GetSatisfactionReport")
                    .into_inner();
                samples.push(t.elapsed().as_secs_f64());
                groups = answer.groups.len();
            }
            (percentiles(samples), groups)
        }
    };
    let ((all_p50, all_p99), all_groups) = report(AUDITOR, "").await;
    let ((one_p50, one_p99), one_groups) = report(AUDITOR, "agencies/ag7").await;
    let plain = "SELECT agency, quarter, COUNT(*), AVG(satisfaction), AVG(trust) \
                 FROM survey_responses WHERE kind = 'handoff' GROUP BY agency, quarter";
    let (plain_p50, plain_p99) = percentiles(time_sql(&url, plain).await);
    let [responses_sql, subjects_sql] = report_sql();
    let bare: Vec<f64> = time_sql(&url, &responses_sql)
        .await
        .into_iter()
        .zip(time_sql(&url, &subjects_sql).await)
        .map(|(a, b)| a + b)
        .collect();
    let (bare_p50, bare_p99) = percentiles(bare);
    println!(
        "\n| GetSatisfactionReport by agency and quarter, {READS} runs each | p50 | p99 | p50 / plain GROUP BY |\n|---|---|---|---|"
    );
    for (what, p50, p99) in [
        (
            format!("auditor, whole table ({all_groups} groups)"),
            all_p50,
            all_p99,
        ),
        (
            format!("one agency's part, 1/40 of the rows ({one_groups} groups)"),
            one_p50,
            one_p99,
        ),
        (
            "baseline: plain SQL GROUP BY agency, quarter (count, two means)".to_owned(),
            plain_p50,
            plain_p99,
        ),
        (
            "the report's two aggregate queries, run bare".to_owned(),
            bare_p50,
            bare_p99,
        ),
    ] {
        println!(
            "| {what} | {:.0} ms | {:.0} ms | {:.2} |",
            p50 * 1000.0,
            p99 * 1000.0,
            p50 / plain_p50
        );
    }
    server.abort();
    let _ = server.await;
    if let Some(db) = pg {
        db.drop_it().await;
    }
}
