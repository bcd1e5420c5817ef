//! `demo simulate`: realistic citizens, requests, handoffs (wrong doors and declines included) and
//! feedback over the real catalogue, spread over past quarters, so that reports, key drivers and
//! early warnings have something true to show on the embedded default.
//!
//! It writes through the service itself: it starts the server in-process on loopback with a manual
//! clock, and calls its RPCs as citizens' portals and as agencies (with API keys it makes up for
//! every agency of the catalogue, accepted only by that in-process server), moving the clock from
//! event to event in time order. At the end of each simulated quarter it runs the early warnings
//! job and has the agencies acknowledge some of them with an action, as they would.

pub mod model;

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::{Context as _, bail};
use tonic::{Request, transport::Channel};

use crate::{
    auth::demo,
    catalog::Snapshot,
    clock::{Clock as _, ManualClock, SystemClock},
    config::{DatabaseArgs, ServeArgs},
    domain::{due, feedback::Quarter, principal::Principal, time::Timestamp},
    feedback::warnings,
    proto::v1::{
        self as pb, citizen_service_client::CitizenServiceClient,
        feedback_service_client::FeedbackServiceClient, need,
        request_service_client::RequestServiceClient,
    },
    startup::Application,
    store::{CatalogStore as _, Lock, Store},
};
use model::{Experience, Rng};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The agencies whose services citizens ask for.
const AGENCIES: [&str; 5] = ["esdc-edsc", "cra-arc", "cic", "vac-acc", "hc-sc"];
/// The agency whose satisfaction slips in the latest quarter.
const SLIPPING: &str = "cra-arc";
/// The planted wrong door: legs CRA's counter hands ESDC are often declined.
const WRONG_DOOR: (&str, &str) = ("cra-arc", "esdc-edsc");
/// The teams each agency acts through.
const TEAMS: [&str; 2] = ["front-desk", "case-review"];
/// The passport service: IRCC owns it, Service Canada delivers it in Canada.
const PASSPORT: &str = "SRV03049";
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub citizens: usize,
    pub requests: usize,
    pub quarters: u32,
    pub database: DatabaseArgs,
}

/// What the simulation wrote.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub citizens: usize,
    pub requests: usize,
    pub legs_completed: usize,
    pub legs_declined: usize,
    pub responses: usize,
    pub warnings_raised: usize,
    pub warnings_acknowledged: usize,
    pub first_quarter: String,
    pub last_quarter: String,
}

impl Summary {
    fn add(&mut self, other: &Summary) {
        self.citizens += other.citizens;
        self.requests += other.requests;
        self.legs_completed += other.legs_completed;
        self.legs_declined += other.legs_declined;
        self.responses += other.responses;
        self.warnings_raised += other.warnings_raised;
        self.warnings_acknowledged += other.warnings_acknowledged;
    }
}

enum Event {
    Citizen(usize),
    Open(Plan),
    Answer {
        request: String,
        number: i64,
    },
    Finish {
        request: String,
        number: i64,
    },
    Rate {
        subject: String,
        citizen: usize,
        phone: Option<String>,
        experience: Experience,
    },
}

/// Events by time, in the order they were scheduled within one instant.
#[derive(Default)]
struct Agenda {
    queue: BinaryHeap<Reverse<(i64, u64)>>,
    events: Vec<Option<Event>>,
}

impl Agenda {
    fn schedule(&mut self, at: i64, event: Event) {
        self.queue.push(Reverse((at, self.events.len() as u64)));
        self.events.push(Some(event));
    }

    fn next_time(&self) -> Option<i64> {
        self.queue.peek().map(|Reverse((at, _))| *at)
    }

    /// Every event before `until`, with its id.
    fn take_until(&mut self, until: i64) -> Vec<(u64, Event)> {
        let mut batch = Vec::new();
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at >= until {
                break;
            }
            self.queue.pop();
            if let Some(event) = self.events[id as usize].take() {
                batch.push((id, event));
            }
        }
        batch
    }
}

struct Plan {
    citizen: usize,
    service: String,
    /// The agency whose counter it was opened at; `None`: the citizen's portal.
    counter: Option<String>,
}

/// What every event's worker shares.
struct Shared {
    clock: Arc<ManualClock>,
    idp: ed25519_dalek::SigningKey,
    seed: u64,
    keys: std::collections::BTreeMap<String, String>,
    requests: RequestServiceClient<Channel>,
    people: CitizenServiceClient<Channel>,
    feedback: FeedbackServiceClient<Channel>,
    last_quarter: Quarter,
    /// Each citizen's name once created.
    citizens: Mutex<Vec<Option<String>>>,
    /// The citizen of each request.
    of_request: Mutex<std::collections::BTreeMap<String, usize>>,
}

/// Runs one event: its own random source, the events it schedules, what it wrote.
struct Worker {
    shared: Arc<Shared>,
    rng: Rng,
    out: Vec<(i64, Event)>,
    summary: Summary,
}

fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = format!("Bearer {key}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

impl Worker {
    fn now(&self) -> Timestamp {
        self.shared.clock.now()
    }

    fn schedule(&mut self, at: i64, event: Event) {
        self.out.push((at, event));
    }

    async fn run(&mut self, event: Event) -> anyhow::Result<()> {
        match event {
            Event::Citizen(i) => self.citizen(i).await,
            Event::Open(plan) => self.open(&plan).await,
            Event::Answer { request, number } => self.answer(&request, number).await,
            Event::Finish { request, number } => self.finish(&request, number).await,
            Event::Rate {
                subject,
                citizen,
                phone,
                experience,
            } => self.rate(subject, citizen, phone, experience).await,
        }
    }

    fn agency_key(&mut self, agency: &str) -> String {
        let team = *self.rng.pick(&TEAMS);
        self.shared
            .keys
            .get(&format!("{agency}/{team}"))
            .cloned()
            .unwrap_or_default()
    }

    fn portal<T>(&self, message: T, citizen: usize) -> Request<T> {
        let token = demo::citizen_token(
            &self.shared.idp,
            &format!("sim-{}-{citizen}", self.shared.seed),
            self.now().unix_millis() / 1000,
        );
        let portal = demo::CREDENTIALS
            .iter()
            .find(|c| c.principal.starts_with("portals/"))
            .map_or("", |c| c.token);
        let mut request = with_key(message, portal);
        if let Ok(value) = token.parse() {
            request.metadata_mut().insert("x-citizen-token", value);
        }
        request
    }

    fn valid_from(&self) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp {
            seconds: self.now().unix_millis() / 1000 - 60,
            nanos: 0,
        })
    }

    async fn citizen(&mut self, i: usize) -> anyhow::Result<()> {
        let year = jiff::Timestamp::from_millisecond(self.now().unix_millis()).map_or(2026, |t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::UTC).year().into()
        });
        let record = model::citizen(&mut self.rng, year);
        let created = self
            .shared
            .people
            .clone()
            .create_citizen(self.portal(
                pb::CreateCitizenRequest {
                    citizen: Some(record),
                    request_id: String::new(),
                },
                i,
            ))
            .await
            .context("CreateCitizen")?
            .into_inner();
        for agency in AGENCIES {
            if !self.rng.chance(0.5) {
                continue;
            }
            let consent = pb::Consent {
                grantee: format!("agencies/{agency}"),
                purpose: pb::ConsentPurpose::DeidentifiedStatistics as i32,
                categories: vec![
                    pb::ConsentCategory::Identity as i32,
                    pb::ConsentCategory::Address as i32,
                    pb::ConsentCategory::Preferences as i32,
                    pb::ConsentCategory::Accessibility as i32,
                    pb::ConsentCategory::Circumstances as i32,
                ],
                valid_from: self.valid_from(),
                channel: pb::Channel::Online as i32,
                ..Default::default()
            };
            self.shared
                .people
                .clone()
                .grant_consent(self.portal(
                    pb::GrantConsentRequest {
                        parent: created.name.clone(),
                        consent: Some(consent),
                        request_id: String::new(),
                    },
                    i,
                ))
                .await
                .context("GrantConsent")?;
        }
        if let Ok(mut names) = self.shared.citizens.lock() {
            names[i] = Some(created.name);
        }
        self.summary.citizens += 1;
        Ok(())
    }

    async fn open(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let named = self
            .shared
            .citizens
            .lock()
            .ok()
            .and_then(|names| names[plan.citizen].clone());
        let Some(citizen) = named else {
            return Ok(());
        };
        let need = Some(pb::Need {
            need: Some(need::Need::Service(format!("services/{}", plan.service))),
        });
        let opened = match &plan.counter {
            Some(agency) => {
                let consent = pb::Consent {
                    grantee: format!("agencies/{agency}"),
                    purpose: pb::ConsentPurpose::Referral as i32,
                    categories: vec![pb::ConsentCategory::Contact as i32],
                    valid_from: self.valid_from(),
                    channel: pb::Channel::Online as i32,
                    ..Default::default()
                };
                self.shared
                    .people
                    .clone()
                    .grant_consent(self.portal(
                        pb::GrantConsentRequest {
                            parent: citizen.clone(),
                            consent: Some(consent),
                            request_id: String::new(),
                        },
                        plan.citizen,
                    ))
                    .await
                    .context("GrantConsent")?;
                let channel = if self.rng.chance(0.6) {
                    pb::Channel::InPerson
                } else {
                    pb::Channel::Telephone
                };
                let key = self.agency_key(agency);
                self.shared
                    .requests
                    .clone()
                    .open_request(with_key(
                        pb::OpenRequestRequest {
                            citizen,
                            need,
                            context: Some(pb::RoutingContext {
                                residence: pb::Residence::InCanada as i32,
                                ..Default::default()
                            }),
                            entry_point: Some(pb::EntryPoint {
                                agency: String::new(),
                                channel: channel as i32,
                            }),
                            shared_categories: vec![pb::ConsentCategory::Contact as i32],
                            ..Default::default()
                        },
                        &key,
                    ))
                    .await
            }
            None => {
                self.shared
                    .requests
                    .clone()
                    .open_request(self.portal(
                        pb::OpenRequestRequest {
                            citizen,
                            need,
                            context: Some(pb::RoutingContext {
                                residence: pb::Residence::InCanada as i32,
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        plan.citizen,
                    ))
                    .await
            }
        }
        .context("OpenRequest")?
        .into_inner();
        self.summary.requests += 1;
        if let Ok(mut map) = self.shared.of_request.lock() {
            map.insert(opened.name.clone(), plan.citizen);
        }
        self.next_leg(&opened);
        Ok(())
    }

    /// Schedules the answer to the request's newest offered leg.
    fn next_leg(&mut self, request: &pb::Request) {
        if let Some(leg) = request
            .handoffs
            .iter()
            .rev()
            .find(|h| h.state == pb::HandoffState::Offered as i32)
        {
            let at = self.now().unix_millis() + (self.rng.between(1.0, 30.0) * HOUR as f64) as i64;
            let number = leg_number(&leg.name);
            self.schedule(
                at,
                Event::Answer {
                    request: request.name.clone(),
                    number,
                },
            );
        }
    }

    async fn read(&mut self, request: &str) -> anyhow::Result<pb::Request> {
        let citizen = self.citizen_of(request);
        Ok(self
            .shared
            .requests
            .clone()
            .get_request(self.portal(
                pb::GetRequestRequest {
                    name: request.to_owned(),
                },
                citizen,
            ))
            .await
            .context("GetRequest")?
            .into_inner())
    }

    async fn answer(&mut self, request: &str, number: i64) -> anyhow::Result<()> {
        let read = self.read(request).await?;
        let Some(leg) = read
            .handoffs
            .iter()
            .find(|h| leg_number(&h.name) == number)
            .cloned()
        else {
            return Ok(());
        };
        if leg.state != pb::HandoffState::Offered as i32 {
            return Ok(());
        }
        let to = id_of(&leg.to_agency).to_owned();
        let from = id_of(&leg.from_agency).to_owned();
        let escalation = leg.reason == pb::HandoffReason::Escalation as i32;
        let mut decline = 0.06;
        if (from.as_str(), to.as_str()) == WRONG_DOOR {
            decline += 0.45;
        }
        let key = self.agency_key(&to);
        if !escalation && self.rng.chance(decline) {
            let after = self
                .shared
                .requests
                .clone()
                .decline_handoff(with_key(
                    pb::DeclineHandoffRequest {
                        name: leg.name.clone(),
                        etag: leg.etag.clone(),
                        reason: pb::DeclineReason::NotOurMandate as i32,
                        text: "This is not delivered here; we passed it on.".to_owned(),
                        request_id: String::new(),
                    },
                    &key,
                ))
                .await
                .context("DeclineHandoff")?
                .into_inner();
            self.summary.legs_declined += 1;
            self.ended(&leg.name, &to, true, false);
            self.next_leg(&after);
            return Ok(());
        }
        let accepted = self
            .shared
            .requests
            .clone()
            .accept_handoff(with_key(
                pb::AcceptHandoffRequest {
                    name: leg.name.clone(),
                    etag: leg.etag.clone(),
                    request_id: String::new(),
                },
                &key,
            ))
            .await
            .context("AcceptHandoff")?
            .into_inner();
        let clock = accepted
            .handoffs
            .iter()
            .find(|h| h.name == leg.name)
            .and_then(|h| h.clock.clone())
            .unwrap_or_default();
        let limit = match (clock.due_time, clock.start_time) {
            (Some(due), Some(started)) => (due.seconds - started.seconds).max(3600) * 1000,
            _ => (self.rng.between(2.0, 25.0) * DAY as f64) as i64,
        };
        // Most legs meet their standard; the slipping agency's latest quarter runs late.
        let late = self.experience(&to, false, false).slipping;
        let spread = if late { (0.5, 1.6) } else { (0.2, 1.04) };
        let took = (limit as f64 * self.rng.between(spread.0, spread.1)) as i64;
        let at = self.now().unix_millis() + took.max(60_000);
        self.schedule(
            at,
            Event::Finish {
                request: request.to_owned(),
                number,
            },
        );
        Ok(())
    }

    async fn finish(&mut self, request: &str, number: i64) -> anyhow::Result<()> {
        let read = self.read(request).await?;
        let Some(leg) = read
            .handoffs
            .iter()
            .find(|h| leg_number(&h.name) == number)
            .cloned()
        else {
            return Ok(());
        };
        let to = id_of(&leg.to_agency).to_owned();
        let key = self.agency_key(&to);
        let done = self
            .shared
            .requests
            .clone()
            .complete_handoff(with_key(
                pb::CompleteHandoffRequest {
                    name: leg.name.clone(),
                    etag: leg.etag.clone(),
                    outcome: pb::HandoffOutcome::Delivered as i32,
                    text: "Your request is complete.".to_owned(),
                    request_id: String::new(),
                },
                &key,
            ))
            .await
            .context("CompleteHandoff")?
            .into_inner();
        self.summary.legs_completed += 1;
        let missed = done
            .handoffs
            .iter()
            .find(|h| h.name == leg.name)
            .and_then(|h| h.clock.as_ref())
            .is_some_and(|c| c.status == pb::ClockStatus::Missed as i32);
        self.ended(&leg.name, &to, false, missed);
        if done.status == pb::RequestStatus::Completed as i32 && self.rng.chance(0.35) {
            let experience = self.experience(id_of(&done.owner_agency), false, missed);
            self.rate_later(request, None, experience);
        }
        Ok(())
    }

    fn citizen_of(&self, request: &str) -> usize {
        self.shared
            .of_request
            .lock()
            .ok()
            .and_then(|map| map.get(request).copied())
            .unwrap_or_default()
    }

    fn experience(&mut self, agency: &str, declined: bool, missed: bool) -> Experience {
        // Each agency's own level, 3.4 to 4.3, the same in every run.
        let level = 3.4 + (agency.bytes().map(u64::from).sum::<u64>() % 10) as f64 / 10.0;
        let zone = due::time_zone(due::DEFAULT_TIME_ZONE).unwrap_or(jiff::tz::TimeZone::UTC);
        let slipping =
            agency == SLIPPING && Quarter::of(self.now(), &zone) == self.shared.last_quarter;
        Experience {
            level,
            declined,
            missed,
            slipping,
        }
    }

    /// A leg ended: most citizens are invited and some answer online; agencies run a few phone
    /// surveys.
    fn ended(&mut self, leg: &str, agency: &str, declined: bool, missed: bool) {
        let phone = if self.rng.chance(0.1) {
            Some(agency.to_owned())
        } else if self.rng.chance(0.6) {
            None
        } else {
            return;
        };
        let experience = self.experience(agency, declined, missed);
        self.rate_later(leg, phone, experience);
    }

    /// Schedules a response on `subject` one to 72 hours from now, online or by `phone`.
    fn rate_later(&mut self, subject: &str, phone: Option<String>, experience: Experience) {
        let request = subject.split("/handoffs/").next().unwrap_or_default();
        let citizen = self.citizen_of(request);
        let at = self.now().unix_millis() + (self.rng.between(1.0, 72.0) * HOUR as f64) as i64;
        self.schedule(
            at,
            Event::Rate {
                subject: subject.to_owned(),
                citizen,
                phone,
                experience,
            },
        );
    }

    async fn rate(
        &mut self,
        subject: String,
        citizen: usize,
        phone: Option<String>,
        experience: Experience,
    ) -> anyhow::Result<()> {
        let (scores, contacts) = model::scores(&mut self.rng, experience);
        let message = pb::RecordSatisfactionRequest {
            subject,
            scores: Some(scores),
            contacts,
            survey_channel: if phone.is_some() {
                pb::Channel::Telephone as i32
            } else {
                0
            },
            comment: String::new(),
            segment: None,
            request_id: format!("sim-{}-{}", self.shared.seed, self.rng.next_u64()),
        };
        let request = match &phone {
            Some(agency) => {
                let key = self.agency_key(agency);
                with_key(message, &key)
            }
            None => self.portal(message, citizen),
        };
        match self
            .shared
            .feedback
            .clone()
            .record_satisfaction(request)
            .await
        {
            Ok(_) => self.summary.responses += 1,
            Err(status) if status.code() == tonic::Code::AlreadyExists => {}
            Err(status) => return Err(status).context("RecordSatisfaction"),
        }
        Ok(())
    }

    /// Runs the warnings job at `at`, then has each agency acknowledge the warnings it owns that
    /// are still open, with an action.
    async fn warnings(
        &mut self,
        store: &Store,
        snapshot: &Arc<Snapshot>,
        at: Timestamp,
        acknowledge: bool,
    ) -> anyhow::Result<()> {
        self.shared.clock.set(at);
        let input = warnings::Evaluate {
            snapshot: snapshot.clone(),
            settings: Default::default(),
            config: Arc::new(crate::requests::RequestsConfig::default()),
            now: at,
        };
        let changed = store
            .write_locked(Lock::EarlyWarnings, input, |tx, input| {
                Box::pin(warnings::evaluate(tx, input))
            })
            .await?;
        self.summary.warnings_raised += changed;
        if !acknowledge {
            return Ok(());
        }
        for agency in AGENCIES {
            let key = self.agency_key(agency);
            let open = self
                .shared
                .feedback
                .clone()
                .list_early_warnings(with_key(
                    pb::ListEarlyWarningsRequest {
                        states: vec![pb::WarningState::Open as i32],
                        ..Default::default()
                    },
                    &key,
                ))
                .await
                .context("ListEarlyWarnings")?
                .into_inner();
            for w in open
                .warnings
                .iter()
                .filter(|w| w.agency == format!("agencies/{agency}"))
            {
                let action = match pb::WarningKind::try_from(w.kind) {
                    Ok(pb::WarningKind::ScoreDrop) => {
                        "Added evening call-backs and a plain-language checklist for the steps citizens found hard."
                    }
                    Ok(pb::WarningKind::DeclineRate) => {
                        "Agreed a referral checklist with the sending agency so requests reach the right program first."
                    }
                    Ok(pb::WarningKind::StandardBelowTarget) => {
                        "Moved two officers to the backlog and now report weekly against the standard."
                    }
                    _ => "Reviewed the queue with the team leads.",
                };
                self.shared
                    .feedback
                    .clone()
                    .acknowledge_early_warning(with_key(
                        pb::AcknowledgeEarlyWarningRequest {
                            name: w.name.clone(),
                            etag: w.etag.clone(),
                            action: action.to_owned(),
                            request_id: String::new(),
                        },
                        &key,
                    ))
                    .await
                    .context("AcknowledgeEarlyWarning")?;
                self.summary.warnings_acknowledged += 1;
            }
        }
        Ok(())
    }
}

fn id_of(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, id)| id)
}

fn leg_number(name: &str) -> i64 {
    id_of(name).parse().unwrap_or_default()
}

/// The services citizens ask for: up to three of each agency's active services with a timeliness
/// standard (by id), and the passport service.
fn services(snapshot: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for agency in AGENCIES {
        let filter = crate::catalog::snapshot::ServiceFilter {
            agencies: [agency.to_owned()].into_iter().collect(),
            ..Default::default()
        };
        let mut ids: Vec<&crate::domain::catalog::Service> = snapshot
            .services(&filter)
            .filter(|s| s.agency == agency && due::standard_for(s, None).is_some())
            .collect();
        ids.sort_by(|a, b| a.id.cmp(&b.id));
        out.extend(ids.iter().take(3).map(|s| s.id.clone()));
    }
    if snapshot.service(PASSPORT).is_some() {
        out.push(PASSPORT.to_owned());
    }
    out
}

/// Runs the simulation (see the module).
pub async fn run(options: Options) -> anyhow::Result<Summary> {
    if options.quarters == 0 || options.citizens == 0 {
        bail!("--quarters and --citizens must be at least 1");
    }
    let secrets = options.database.secrets()?;
    let idp = secrets.demo_identity_provider_key.clone().context(
        "the key file has no demo identity provider key: simulate on the embedded default",
    )?;
    let mut args = ServeArgs::defaults_for(&options.database.database_url);
    args.database = options.database.clone();
    args.warnings.warning_interval = Duration::from_secs(3600);
    let zone = due::time_zone(&args.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let real_now = SystemClock.now();
    let last = Quarter::of(real_now, &zone);
    let mut first = last;
    for _ in 1..options.quarters {
        first = first.previous();
    }
    let start = first.start(&zone).unix_millis() + DAY;
    let clock = ManualClock::new(Timestamp::from_unix_millis(start));
    let mut rng = Rng::new(options.seed);

    let store = Store::connect(&args.database.database_url, &args.database.pool_settings()).await?;
    if store.backend() == crate::store::Backend::Sqlite {
        crate::store::SchemaStore::migrate(&store).await?;
    }
    let (generation, mut catalog) = store.load_catalog().await?;
    if generation == 0 {
        let (built, _) = crate::catalog::import::build(crate::catalog::import::BUILTIN)?;
        store
            .import_catalog(&built, crate::store::ImportMode::IfEmpty)
            .await?;
        catalog = store.load_catalog().await?.1;
    }
    let agencies: Vec<String> = catalog.agencies.iter().map(|a| a.id.clone()).collect();
    let snapshot = Arc::new(Snapshot::build(generation.max(1), catalog)?);
    let wanted = services(&snapshot);
    if wanted.is_empty() {
        bail!("the catalogue has none of the simulated agencies' services");
    }
    let mut keys = std::collections::BTreeMap::new();
    let mut principals = Vec::new();
    for agency in &agencies {
        for team in TEAMS {
            let key = format!("sim-{:016x}-{agency}-{team}", rng.next_u64());
            principals.push((
                key.clone(),
                Principal::Agency {
                    agency: agency.clone(),
                    team: Some(team.to_owned()),
                    officer: Some(format!("officer-{}", 1 + rng.below(6))),
                },
            ));
            keys.insert(format!("{agency}/{team}"), key);
        }
    }
    let application = Application::build(args)
        .await?
        .with_clock(clock.clone())
        .with_extra_keys(principals);
    let addr = application.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?.connect_lazy();
    let mut health = HealthClient::new(channel.clone());
    let mut serving = false;
    for _ in 0..600 {
        let status = health
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status);
        if status.is_ok_and(|s| s == ServingStatus::Serving as i32) {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !serving {
        bail!("the in-process server did not start serving");
    }
    let shared = Arc::new(Shared {
        clock: clock.clone(),
        idp,
        seed: options.seed,
        keys,
        requests: RequestServiceClient::new(channel.clone()),
        people: CitizenServiceClient::new(channel.clone()),
        feedback: FeedbackServiceClient::new(channel),
        last_quarter: last,
        citizens: Mutex::new(vec![None; options.citizens]),
        of_request: Mutex::new(Default::default()),
    });
    let owners: std::collections::BTreeMap<String, String> = wanted
        .iter()
        .filter_map(|id| snapshot.service(id).map(|s| (id.clone(), s.agency.clone())))
        .collect();
    let mut summary = Summary {
        first_quarter: first.to_string(),
        last_quarter: last.to_string(),
        ..Summary::default()
    };
    let mut agenda = Agenda::default();
    for i in 0..options.citizens {
        let at = start + rng.below(2 * DAY as usize) as i64;
        agenda.schedule(at, Event::Citizen(i));
    }
    let end = real_now.unix_millis() - 2 * HOUR;
    for _ in 0..options.requests {
        // Demand by agency (ESDC's benefits the most asked for), then a service of it.
        let agency = match rng.unit() {
            x if x < 0.35 => AGENCIES[0],
            x if x < 0.60 => AGENCIES[1],
            x if x < 0.75 => AGENCIES[2],
            x if x < 0.85 => AGENCIES[3],
            _ => AGENCIES[4],
        };
        let of_agency: Vec<&String> = wanted
            .iter()
            .filter(|id| owners.get(*id).is_some_and(|o| o == agency))
            .collect();
        let service = if of_agency.is_empty() {
            rng.pick(&wanted).clone()
        } else {
            (*rng.pick(&of_agency)).clone()
        };
        let owner = owners.get(&service).cloned().unwrap_or_default();
        // Often the citizen walks into another agency's office first: a wrong door. Many who
        // need an ESDC benefit go to CRA.
        let counter = if rng.chance(0.45) {
            Some(match rng.unit() {
                x if x < 0.4 => owner.clone(),
                x if x < 0.9 && owner == WRONG_DOOR.1 => WRONG_DOOR.0.to_owned(),
                _ => (*rng.pick(&AGENCIES)).to_owned(),
            })
        } else {
            None
        };
        let plan = Plan {
            citizen: rng.below(options.citizens),
            service,
            counter,
        };
        let at = start + 3 * DAY + rng.below((end - start - 3 * DAY).max(DAY) as usize) as i64;
        agenda.schedule(at, Event::Open(plan));
    }
    let mut shell = Worker {
        shared: shared.clone(),
        rng: Rng::new(rng.next_u64()),
        out: Vec::new(),
        summary: Summary::default(),
    };
    let mut current = first;
    // Events within one window run together, at the window's first instant: legs of different
    // requests do not wait on each other, as in a real office.
    const WINDOW: i64 = 2 * HOUR;
    while let Some(at) = agenda.next_time() {
        if at > end {
            break;
        }
        let quarter = Quarter::of(Timestamp::from_unix_millis(at), &zone);
        while quarter > current {
            let boundary = current.next().start(&zone).unix_millis() - 60_000;
            shell
                .warnings(
                    &store,
                    &snapshot,
                    Timestamp::from_unix_millis(boundary),
                    true,
                )
                .await?;
            current = current.next();
        }
        clock.set(Timestamp::from_unix_millis(
            at.max(clock.now().unix_millis()),
        ));
        let batch = agenda.take_until((at + WINDOW).min(end + 1));
        let runs = batch.into_iter().map(|(id, event)| {
            let mut worker = Worker {
                shared: shared.clone(),
                rng: Rng::new(options.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                out: Vec::new(),
                summary: Summary::default(),
            };
            async move { worker.run(event).await.map(|()| worker) }
        });
        for worker in futures_util::future::join_all(runs).await {
            let worker = worker?;
            summary.add(&worker.summary);
            for (at, event) in worker.out {
                agenda.schedule(at, event);
            }
        }
    }
    shell.warnings(&store, &snapshot, real_now, false).await?;
    summary.add(&shell.summary);
    clock.set(real_now);
    let _ = stop.send(());
    server.await??;
    store.close().await;
    Ok(summary)
}
