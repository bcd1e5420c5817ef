//! Forms benchmark: the real server on loopback, with baselines run in the same run.
//!
//! 1. `ValidateAnswers` on a 200-field form with conditions (every fifth field shown only when a
//!    yes/no field before it is yes; patterns, ranges, choices and dates checked), 160 answers,
//!    p50/p99 against a gRPC echo of the same request: a `FormService` whose `ValidateAnswers`
//!    returns the answers it was sent, behind the same codec, call stack (authentication, method
//!    policies, limits) and gRPC-Web layer, on tonic's transport.
//! 2. Durable `SubmitForm` (an agency submitting the shipped direct-deposit form for citizens who
//!    gave it a service delivery consent: the version's state and link checked, the consent read,
//!    the submission and its answers written with the SIN and bank account sealed, and the access
//!    event, in one transaction) at 16 and 64 callers, against a single-row insert with one commit
//!    each (pgbench on PostgreSQL; a one-commit-per-insert loop on SQLite).
//!
//! Run: `cargo bench --bench forms` (SQLite), or with `BENCH_DATABASE_URL=postgres://...` naming
//! a PostgreSQL server with durable settings on which the bench may create a database.

#[path = "support/agencies.rs"]
#[allow(dead_code)] // the population the other benches use
mod agencies;
#[path = "support/baseline.rs"]
mod baseline;
#[path = "support/harness.rs"]
mod harness;
#[path = "support/process.rs"]
#[allow(dead_code)]
mod process;

use agencies::deposit_answers;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use harness::{PgDatabase, drive, summary, wait_until_serving};
use single_window::{
    auth::Authenticator,
    config::ServeArgs,
    grpc::calls::{CallSettings, CallStackLayer, Quotas, policy::Policies},
    proto::{
        FILE_DESCRIPTOR_SET,
        v1::{
            self as pb, FieldType as T,
            answer::Value,
            citizen_service_client::CitizenServiceClient,
            form_service_client::FormServiceClient,
            form_service_server::{FormService, FormServiceServer},
        },
    },
    secrets::KeyFile,
    startup::Application,
    store::{PoolSettings, SchemaStore as _, Store},
};
use tokio_stream::StreamExt as _;
use tonic::{Request, Response, Status, transport::Channel};

const ESDC: &str = "demo-esdc-edsc-ei-benefits-0c6f2b81";
const CITIZENS: usize = 200;
const VALIDATIONS: usize = 2_000;
const SUBMISSIONS: usize = 3_000;
/// What the baseline inserts: about a submission's size.
const PAYLOAD: &str = "a direct deposit submission: names, a sealed SIN and a sealed bank account";

fn with_key<T>(key: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("metadata"),
    );
    request
}

fn text(s: &str) -> Option<pb::LocalizedText> {
    Some(pb::LocalizedText {
        en: s.to_owned(),
        fr: format!("{s} (fr)"),
    })
}

/// 200 fields in 40 blocks of 5: a yes/no, a text with a pattern, an integer with a range, a
/// choice, and a date shown only when the yes/no is yes.
fn wide_form() -> pb::Form {
    let mut fields = Vec::new();
    for b in 0..40 {
        let key = |k: &str| format!("{k}_{b}");
        let field = |k: &str, kind: T| pb::FormField {
            key: key(k),
            r#type: kind as i32,
            label: text(k),
            required: true,
            ..Default::default()
        };
        let mut code = field("code", T::ShortText);
        code.constraints = Some(pb::FieldConstraints {
            max_length: Some(20),
            pattern: "[A-Z]{2}-[0-9]{4}".to_owned(),
            ..Default::default()
        });
        let mut count = field("count", T::Integer);
        count.constraints = Some(pb::FieldConstraints {
            minimum: "0".to_owned(),
            maximum: "1000".to_owned(),
            ..Default::default()
        });
        let mut pick = field("pick", T::SingleChoice);
        pick.choices = ["a", "b", "c", "d"]
            .iter()
            .map(|v| pb::FieldChoice {
                value: (*v).to_owned(),
                label: text(v),
            })
            .collect();
        let mut when = field("when", T::Date);
        when.constraints = Some(pb::FieldConstraints {
            earliest: "2000-01-01".to_owned(),
            latest: "today".to_owned(),
            ..Default::default()
        });
        when.show_when = Some(pb::Condition {
            combine: pb::Combine::All as i32,
            clauses: vec![pb::Clause {
                field: key("flag"),
                operator: pb::ClauseOperator::Equals as i32,
                values: vec!["true".to_owned()],
            }],
        });
        fields.extend([field("flag", T::Boolean), code, count, pick, when]);
    }
    pb::Form {
        title: text("Wide form"),
        fields,
        services: vec!["services/1003".to_owned()],
        ..Default::default()
    }
}

/// Answers for every shown field (the date only in even blocks): 180 answers.
fn wide_answers() -> Vec<pb::Answer> {
    let mut out = Vec::new();
    for b in 0..40 {
        let answer = |k: &str, value: Value| pb::Answer {
            field: format!("{k}_{b}"),
            value: Some(value),
            source: None,
        };
        let shown = b % 2 == 0;
        out.push(answer("flag", Value::Boolean(shown)));
        out.push(answer("code", Value::Text(format!("AB-{:04}", b * 7))));
        out.push(answer("count", Value::Integer(b * 10)));
        out.push(answer(
            "pick",
            Value::Choices(pb::ChoiceAnswer {
                values: vec!["c".to_owned()],
            }),
        ));
        if shown {
            out.push(answer("when", Value::Text("2024-06-30".to_owned())));
        }
    }
    out
}

/// The echo baseline: `ValidateAnswers` answers the answers it was sent.
#[derive(Debug, Default)]
struct Echo;

#[tonic::async_trait]
impl FormService for Echo {
    async fn validate_answers(
        &self,
        request: Request<pb::ValidateAnswersRequest>,
    ) -> Result<Response<pb::ValidateAnswersResponse>, Status> {
        Ok(Response::new(pb::ValidateAnswersResponse {
            answers: request.into_inner().answers,
        }))
    }
    async fn create_form(
        &self,
        _: Request<pb::CreateFormRequest>,
    ) -> Result<Response<pb::Form>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn get_form(&self, _: Request<pb::GetFormRequest>) -> Result<Response<pb::Form>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn list_forms(
        &self,
        _: Request<pb::ListFormsRequest>,
    ) -> Result<Response<pb::ListFormsResponse>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn update_form(
        &self,
        _: Request<pb::UpdateFormRequest>,
    ) -> Result<Response<pb::Form>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn publish_form_version(
        &self,
        _: Request<pb::PublishFormVersionRequest>,
    ) -> Result<Response<pb::Form>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn retire_form_version(
        &self,
        _: Request<pb::RetireFormVersionRequest>,
    ) -> Result<Response<pb::Form>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn adopt_form(
        &self,
        _: Request<pb::AdoptFormRequest>,
    ) -> Result<Response<pb::Form>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn prefill_form(
        &self,
        _: Request<pb::PrefillFormRequest>,
    ) -> Result<Response<pb::PrefillFormResponse>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn submit_form(
        &self,
        _: Request<pb::SubmitFormRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn get_submission(
        &self,
        _: Request<pb::GetSubmissionRequest>,
    ) -> Result<Response<pb::Submission>, Status> {
        Err(Status::unimplemented("echo only"))
    }
    async fn list_submissions(
        &self,
        _: Request<pb::ListSubmissionsRequest>,
    ) -> Result<Response<pb::ListSubmissionsResponse>, Status> {
        Err(Status::unimplemented("echo only"))
    }
}

/// Serves the echo behind the service's codec, call stack and gRPC-Web layer; its address.
async fn echo_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stack = CallStackLayer::new(CallSettings {
        policies: Policies::build(&[FILE_DESCRIPTOR_SET], 4 << 20, Duration::from_secs(30)),
        authenticator: Authenticator::demo(),
        max_concurrent_calls: 1_024,
        quotas: Quotas::default(),
    });
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(tonic_web::GrpcWebLayer::new())
            .layer(stack)
            .add_service(FormServiceServer::new(Echo))
            .serve_with_incoming(
                tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
                    // As the service's own transport does: no Nagle delay on small answers.
                    accepted.and_then(|stream| stream.set_nodelay(true).map(|()| stream))
                }),
            )
            .await
            .expect("echo server");
    });
    addr
}

/// p50/p99 of `n` sequential calls of `call`, microseconds.
async fn sequential<F, Fut>(n: usize, call: F) -> (f64, f64)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    let started = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        call().await;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (p50, p99, _) = summary(samples, started.elapsed());
    (p50, p99)
}

async fn validate_vs_echo(channel: Channel, echo: Channel) {
    let mut forms = FormServiceClient::new(channel.clone());
    let draft = forms
        .create_form(with_key(
            ESDC,
            pb::CreateFormRequest {
                form_id: "bench-wide".to_owned(),
                form: Some(wide_form()),
                request_id: String::new(),
            },
        ))
        .await
        .expect("CreateForm")
        .into_inner();
    let form = forms
        .publish_form_version(with_key(
            ESDC,
            pb::PublishFormVersionRequest {
                name: draft.name.clone(),
                etag: draft.etag.clone(),
            },
        ))
        .await
        .expect("publish")
        .into_inner();
    let request = pb::ValidateAnswersRequest {
        name: form.name.clone(),
        answers: wide_answers(),
    };
    let bytes = prost::Message::encoded_len(&request);
    let checked = forms
        .validate_answers(with_key(ESDC, request.clone()))
        .await
        .expect("valid answers")
        .into_inner();
    assert_eq!(checked.answers.len(), request.answers.len());
    println!(
        "ValidateAnswers: 200 fields, {} answers, a {bytes}-byte request; {VALIDATIONS} sequential calls each, alternating",
        request.answers.len()
    );
    for round in 1..=3 {
        let real = sequential(VALIDATIONS, || {
            let (mut c, r) = (FormServiceClient::new(channel.clone()), request.clone());
            async move {
                c.validate_answers(with_key(ESDC, r))
                    .await
                    .expect("validated");
            }
        })
        .await;
        let base = sequential(VALIDATIONS, || {
            let (mut c, r) = (FormServiceClient::new(echo.clone()), request.clone());
            async move {
                c.validate_answers(with_key(ESDC, r)).await.expect("echoed");
            }
        })
        .await;
        println!(
            "  round {round}: ValidateAnswers p50 {:.0} us, p99 {:.0} us; echo p50 {:.0} us, p99 {:.0} us; ratio p50 {:.2}x, p99 {:.2}x (target 1.5x)",
            real.0,
            real.1,
            base.0,
            base.1,
            real.0 / base.0,
            real.1 / base.1
        );
    }
}

/// Citizens created by ESDC, each with a service delivery consent to it.
async fn citizens(channels: Arc<Vec<Channel>>) -> Arc<Vec<String>> {
    let names = Arc::new(Mutex::new(vec![String::new(); CITIZENS]));
    let (c, n) = (channels.clone(), names.clone());
    drive(32, CITIZENS, move |i| {
        let mut people = CitizenServiceClient::new(c[i % c.len()].clone());
        let names = n.clone();
        async move {
            let created = people
                .create_citizen(with_key(
                    ESDC,
                    pb::CreateCitizenRequest {
                        citizen: Some(pb::Citizen {
                            identity: Some(pb::Identity {
                                given_name: format!("Bench{i}"),
                                family_name: "Depositor".to_owned(),
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
    Arc::new(names.lock().expect("names").clone())
}

async fn submit_throughput(
    channels: Arc<Vec<Channel>>,
    names: Arc<Vec<String>>,
    callers: usize,
) -> (f64, f64, f64) {
    drive(callers, SUBMISSIONS, move |i| {
        let mut forms = FormServiceClient::new(channels[i % channels.len()].clone());
        let citizen = names[i % names.len()].clone();
        async move {
            forms
                .submit_form(with_key(
                    ESDC,
                    pb::SubmitFormRequest {
                        form_version: "forms/direct-deposit/versions/1".to_owned(),
                        citizen,
                        service: "services/1003".to_owned(),
                        channel: pb::Channel::InPerson as i32,
                        answers: deposit_answers(),
                        request_id: format!("bench-{callers}-{i}"),
                        ..Default::default()
                    },
                ))
                .await
                .expect("SubmitForm");
        }
    })
    .await
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
    wait_until_serving(addr, "singlewindow.v1.FormService").await;
    let backend = if pg.is_some() { "PostgreSQL" } else { "SQLite" };
    println!("forms benchmark on {backend}");
    let connect = |addr: std::net::SocketAddr| {
        Channel::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_lazy()
    };
    let echo = echo_server().await;
    validate_vs_echo(connect(addr), connect(echo)).await;

    let channels: Arc<Vec<Channel>> = Arc::new((0..8).map(|_| connect(addr)).collect());
    let names = citizens(channels.clone()).await;
    // SQLite's baseline is one writer whatever the callers: measured once.
    let sqlite_base = match &pg {
        Some(_) => 0.0,
        None => baseline::sqlite_inserts(dir.path(), PAYLOAD).await,
    };
    for callers in [16, 64] {
        let (p50, p99, rate) = submit_throughput(channels.clone(), names.clone(), callers).await;
        let base = match &pg {
            Some(db) => baseline::pgbench_inserts(&db.url, callers, PAYLOAD).await,
            None => sqlite_base,
        };
        println!(
            "SubmitForm at {callers} callers: {rate:.0} per s (p50 {:.1} ms, p99 {:.1} ms); one-commit insert baseline {base:.0} per s; ratio {:.2}x (target: {})",
            p50 / 1e3,
            p99 / 1e3,
            rate / base,
            if pg.is_some() { "0.5x" } else { "3x" }
        );
    }
    server.abort();
    if let Some(db) = pg {
        db.drop_it().await;
    }
}
