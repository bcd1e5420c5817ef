//! `singlewindow.v1.RequestService`: requests opened at any door and the steps on their legs.
//! Each method decodes its request, plans what it can before the store (routing, the new
//! request), runs one unit of work of `requests` (its outbox and access events commit with it),
//! and encodes the answer.

pub(super) mod decode;
pub(super) mod encode;
mod words;

use std::{collections::BTreeSet, sync::Arc};

use prost::Message as _;
use tonic::{Request, Response, Status};

use super::{
    citizens::{caller, caller_context, decode as citizen_decode, decode_replay},
    page_token::{Binding, PageTokens},
    request::Violations,
    routing::{self as routing_api, RoutingApi},
};
use crate::{
    catalog::Snapshot,
    domain::{
        catalog::Channel,
        citizen::values::date_of,
        due::ClockStatus,
        handoff::Step,
        names::{AGENCIES, SERVICES},
        principal::Principal,
        time::Timestamp,
    },
    error::AppError,
    feeds::{
        Feed, Feeds, Item, check_retained,
        stream::{Events, subscribe},
    },
    proto::v1::{self as pb, request_service_server::RequestService},
    records::{Caller, Written},
    requests::{
        Context, Loaded, RequestsConfig, open, read,
        steps::{self, Change},
    },
    routing::{EntryPoint, Need, Query},
    secrets::Keyring,
    store::{
        Store,
        idempotency_sql::IdempotencyKey,
        request_sql::{Party as View, StoredNeed},
    },
    telemetry::metrics,
};
use decode::{MAX_NOTE_CHARS, MAX_TEXT_CHARS};
use encode::View as Encoding;

const SERVICE: &str = "/singlewindow.v1.RequestService/";
/// Most candidates of a text need's ranking stored with the request.
const STORED_CANDIDATES: usize = 10;

type Reply<T> = Result<Response<T>, Status>;

/// The request service.
#[derive(Debug, Clone)]
pub struct RequestApi {
    store: Store,
    routing: RoutingApi,
    keys: Arc<Keyring>,
    config: Arc<RequestsConfig>,
    tokens: Arc<PageTokens>,
    feeds: Feeds,
}

impl RequestApi {
    /// A service over `store`, routing with `routing`, sealing kept answers with `keys`,
    /// streaming assignments from `feeds`.
    pub fn new(
        store: Store,
        routing: RoutingApi,
        keys: Arc<Keyring>,
        (config, tokens): (Arc<RequestsConfig>, Arc<PageTokens>),
        feeds: Feeds,
    ) -> Self {
        Self {
            store,
            routing,
            keys,
            config,
            tokens,
            feeds,
        }
    }

    fn now(&self) -> Timestamp {
        self.store.clock().now()
    }

    fn context(&self, snapshot: Arc<Snapshot>) -> Context {
        Context {
            snapshot,
            config: self.config.clone(),
        }
    }

    fn respond(&self, snapshot: Arc<Snapshot>, now: Timestamp) -> steps::Respond {
        let config = self.config.clone();
        Arc::new(move |loaded: &Loaded| {
            let view = Encoding {
                snapshot: &snapshot,
                config: &config,
                now,
            };
            encode::request(view, loaded, None).encode_to_vec()
        })
    }

    /// Reads the request `name` (with its children for a journey) as `caller`, with the
    /// catalogue and the instant to encode it with.
    async fn read(
        &self,
        caller: Caller,
        name: &str,
        with_children: bool,
    ) -> Result<(read::Read, Arc<Snapshot>, Timestamp), Status> {
        let mut v = Violations::default();
        let id = decode::request_name(&mut v, "name", name);
        v.finish()?;
        let snapshot = self.routing.snapshot()?;
        let now = self.now();
        let input = read::Get {
            caller,
            keys: self.keys.clone(),
            id,
            now,
            with_children,
        };
        let read = answer(
            self.store
                .write_committed(input, |tx, input| Box::pin(read::get(tx, input)))
                .await,
        )?;
        Ok((read, snapshot, now))
    }

    /// Runs a step on a request or one of its legs.
    async fn apply<M: prost::Message>(
        &self,
        request: (Caller, &M),
        method: &str,
        target: (String, Option<i64>),
        version: i64,
        change: Change,
        request_id: Option<String>,
    ) -> Reply<pb::Request> {
        let (caller, message) = request;
        let snapshot = self.routing.snapshot()?;
        let now = self.now();
        let input = steps::Apply {
            idempotency: idempotency(&caller, method, request_id, message),
            caller,
            keys: self.keys.clone(),
            cx: self.context(snapshot.clone()),
            request_id: target.0,
            number: target.1,
            expected_version: version,
            change,
            now,
            respond: self.respond(snapshot, now),
        };
        let answered = answer(
            self.store
                .write_committed(input, |tx, input| Box::pin(steps::apply(tx, input)))
                .await,
        )?;
        self.feeds.assignments.written();
        let response: pb::Request = decode_replay(&answered.bytes)?;
        if !answered.replayed
            && let Some(number) = target.1
        {
            step_metrics(&response, number);
        }
        Ok(Response::new(response))
    }

    /// Decodes the name, etag and request id of a leg step, then runs it.
    async fn leg_step<M: prost::Message>(
        &self,
        caller: Caller,
        message: &M,
        (method, name, etag, request_id): (&str, &str, &str, &str),
        step: Step,
        text: (
            String,
            Option<crate::domain::request::DeclineReason>,
            Option<crate::domain::request::Outcome>,
        ),
        mut v: Violations,
    ) -> Reply<pb::Request> {
        let (id, number) = decode::handoff_name(&mut v, "name", name);
        let version = citizen_decode::etag(&mut v, "etag", etag);
        let request_id = citizen_decode::request_id(&mut v, request_id);
        v.finish()?;
        let change = Change::Leg {
            step,
            text: text.0,
            decline: text.1,
            outcome: text.2,
        };
        self.apply(
            (caller, message),
            method,
            (id, Some(number)),
            version,
            change,
            request_id,
        )
        .await
    }
}

/// The answer of a unit of work: the store's error, then the caller's.
fn answer<T>(
    outcome: Result<Result<T, AppError>, crate::store::StoreError>,
) -> Result<T, AppError> {
    outcome?
}

fn idempotency(
    caller: &Caller,
    method: &str,
    request_id: Option<String>,
    request: &impl prost::Message,
) -> Option<(IdempotencyKey, [u8; 32])> {
    super::citizens::keyed(SERVICE, caller, method, request_id, request)
}

/// The entry agency and channel: an agency's own (with a required channel); a portal's, any agency
/// of the catalogue or none, online unless it says otherwise.
fn entry(
    v: &mut Violations,
    e: Option<&pb::EntryPoint>,
    caller: &Caller,
    snapshot: &Snapshot,
) -> (Option<String>, Channel) {
    let given = e.cloned().unwrap_or_default();
    let channel = citizen_decode::channel(v, "entry_point.channel", given.channel);
    let named = (!given.agency.is_empty()).then(|| {
        let id = v.name("entry_point.agency", &given.agency, AGENCIES);
        if !id.is_empty() && snapshot.agency(&id).is_none() {
            v.add("entry_point.agency", "is not an agency of the catalogue");
        }
        id
    });
    match &caller.principal {
        Principal::Agency { agency, .. } => {
            if named.as_ref().is_some_and(|n| n != agency) {
                v.add(
                    "entry_point.agency",
                    format!("must be the calling agency (`{AGENCIES}/{agency}`) or empty"),
                );
            }
            if channel.is_none() && given.channel == 0 {
                v.add(
                    "entry_point.channel",
                    "is required for an agency: how the citizen reached you",
                );
            }
            (Some(agency.clone()), channel.unwrap_or(Channel::InPerson))
        }
        _ => (named, channel.unwrap_or(Channel::Online)),
    }
}

fn assignment_of(item: &Item) -> pb::AssignmentEvent {
    match item {
        Item::Assignment(e) => pb::AssignmentEvent {
            position: e.position.unwrap_or_default(),
            kind: if e.kind == "offered" {
                pb::AssignmentKind::Offered
            } else {
                pb::AssignmentKind::Changed
            }
            .into(),
            request: encode::request_name(&e.request_id),
            handoff: encode::handoff_name(&e.request_id, e.handoff_number),
            state: encode::state(e.state).into(),
            time: Some(super::citizens::encode::timestamp(e.at)),
        },
        Item::Notice(_) => pb::AssignmentEvent::default(),
    }
}

#[tonic::async_trait]
impl RequestService for RequestApi {
    type WatchAssignmentsStream = Events<pb::AssignmentEvent>;

    async fn watch_assignments(
        &self,
        request: Request<pb::WatchAssignmentsRequest>,
    ) -> Reply<Self::WatchAssignmentsStream> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let after = super::citizens::after_position(&mut v, req.after_position);
        v.finish()?;
        let agency = super::citizens::calling_agency(&caller)?;
        if let Some(after) = after {
            check_retained(&self.store, Feed::Assignments, after).await?;
        }
        Ok(Response::new(subscribe(
            &self.feeds.assignments,
            &agency,
            after,
            assignment_of,
        )?))
    }

    async fn open_request(&self, request: Request<pb::OpenRequestRequest>) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.routing.snapshot()?;
        let now = self.now();
        let today = date_of(now.unix_millis());
        let mut v = Violations::default();
        let citizen_id = v.name("citizen", &req.citizen, "citizens");
        let need = routing_api::need(&mut v, req.need.as_ref());
        let context = routing_api::context(&mut v, req.context.as_ref(), &today);
        let (entry_agency, channel) = entry(&mut v, req.entry_point.as_ref(), &caller, &snapshot);
        let note = decode::text(&mut v, "note", &req.note, MAX_NOTE_CHARS, false);
        let attachments = decode::attachments(&mut v, &req.attachments);
        let shared = if req.shared_categories.is_empty() {
            Default::default()
        } else {
            citizen_decode::categories(&mut v, "shared_categories", &req.shared_categories)
        };
        let request_id = citizen_decode::request_id(&mut v, &req.request_id);
        v.finish()?;
        let Some(need) = need else {
            return Err(
                AppError::Internal(anyhow::anyhow!("need decoded without a violation")).into(),
            );
        };
        let (stored, max_candidates) = match &need {
            Need::Text(t) => (StoredNeed::Text(t.clone()), STORED_CANDIDATES),
            Need::Service(s) => (StoredNeed::Service(s.clone()), 1),
            Need::LifeEvent(e) => (StoredNeed::LifeEvent(e.clone()), usize::MAX),
        };
        let residence = context.residence;
        let query = Query {
            need,
            context,
            entry: EntryPoint {
                agency: entry_agency.clone(),
                channel: Some(channel),
            },
            max_candidates,
        };
        let routed = self.routing.route(snapshot.clone(), query).await?;
        let ask = open::Ask {
            citizen_id,
            need: stored,
            entry_agency,
            channel,
            note,
            attachments,
            shared,
            residence,
        };
        let cx = self.context(snapshot.clone());
        let opening = open::plan(&cx, &caller, &ask, &routed.candidates, now)?;
        let view = Encoding {
            snapshot: &snapshot,
            config: &self.config,
            now,
        };
        let response = encode::request(view, &opening.request, None);
        let input = open::Open {
            idempotency: idempotency(&caller, "OpenRequest", request_id, &req),
            caller,
            keys: self.keys.clone(),
            opening,
            response: response.encode_to_vec(),
            now,
        };
        let written = answer(
            self.store
                .write_committed(input, |tx, input| Box::pin(open::open(tx, input)))
                .await,
        )?;
        self.feeds.assignments.written();
        match written {
            Written::New => {
                let entry = response.entry_point.as_ref();
                let channel = entry
                    .and_then(|e| pb::Channel::try_from(e.channel).ok())
                    .map_or("CHANNEL_UNSPECIFIED", |c| c.as_str_name());
                let agency = entry.map(|e| e.agency.as_str()).filter(|a| !a.is_empty());
                metrics::request_opened(channel, agency);
                Ok(Response::new(response))
            }
            Written::Replay(bytes) => Ok(Response::new(decode_replay(&bytes)?)),
        }
    }

    async fn get_request(&self, request: Request<pb::GetRequestRequest>) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let name = request.into_inner().name;
        let (read, snapshot, now) = self.read(caller, &name, false).await?;
        let view = Encoding {
            snapshot: &snapshot,
            config: &self.config,
            now,
        };
        Ok(Response::new(encode::request(
            view,
            &read.loaded,
            read.context.as_ref(),
        )))
    }

    async fn list_requests(
        &self,
        request: Request<pb::ListRequestsRequest>,
    ) -> Reply<pb::ListRequestsResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.routing.snapshot()?;
        let mut v = Violations::default();
        let view = match pb::RequestView::try_from(req.view) {
            Ok(pb::RequestView::Unspecified) => View::Queue,
            Ok(pb::RequestView::All) => View::All,
            Err(_) => {
                v.add("view", format!("{} is not a valid value", req.view));
                View::Queue
            }
        };
        let statuses = v.enum_filter("statuses", &req.statuses, decode::status);
        let services: BTreeSet<String> = v.name_filter("services", &req.services, SERVICES, |id| {
            snapshot.service(id).is_some()
        });
        let due_before = citizen_decode::timestamp(&mut v, "due_before", req.due_before.as_ref());
        let size = v.page_size(req.page_size);
        v.finish()?;
        let binding = Binding::query("ListRequests", &req)
            .and(&caller_context(&caller))
            .finish();
        let after: Option<String> = self.tokens.decode(&req.page_token, &binding)?;
        let now = self.now();
        let (filter_snapshot, config) = (snapshot.clone(), self.config.clone());
        let (at_risk, breached, attention) = (req.at_risk, req.breached, req.needs_attention);
        let filter: read::Filter = Arc::new(move |loaded: &Loaded| {
            let r = &loaded.request;
            let clock = encode::request_clock(
                Encoding {
                    snapshot: &filter_snapshot,
                    config: &config,
                    now,
                },
                loaded,
            )
            .reading;
            let service = loaded
                .handoffs
                .iter()
                .rev()
                .find(|h| h.primary)
                .map(|h| &h.service_id);
            (statuses.is_empty() || statuses.contains(&r.status))
                && (services.is_empty() || service.is_some_and(|s| services.contains(s)))
                && due_before.is_none_or(|before| clock.due.is_some_and(|d| d < before))
                && (!at_risk || matches!(clock.status, ClockStatus::AtRisk | ClockStatus::Breached))
                && (!breached || clock.status == ClockStatus::Breached)
                && (!attention || r.needs_attention)
        });
        let input = read::List {
            caller,
            view,
            filter,
            after,
            page_size: size,
            now,
        };
        let page = answer(
            self.store
                .write_committed(input, |tx, input| Box::pin(read::list(tx, input)))
                .await,
        )?;
        let next_page_token = match page.requests.last() {
            Some(last) if page.more => self.tokens.encode(&binding, &last.request.id)?,
            _ => String::new(),
        };
        let encoding = Encoding {
            snapshot: &snapshot,
            config: &self.config,
            now,
        };
        Ok(Response::new(pb::ListRequestsResponse {
            requests: page
                .requests
                .iter()
                .map(|l| encode::request(encoding, l, None))
                .collect(),
            next_page_token,
            total_size: i32::try_from(page.total).unwrap_or(i32::MAX),
        }))
    }

    async fn get_journey(&self, request: Request<pb::GetJourneyRequest>) -> Reply<pb::Journey> {
        let caller = caller(&request)?;
        let name = request.into_inner().name;
        let (read, snapshot, now) = self.read(caller, &name, true).await?;
        let view = Encoding {
            snapshot: &snapshot,
            config: &self.config,
            now,
        };
        Ok(Response::new(words::journey(view, &read)))
    }

    async fn accept_handoff(
        &self,
        request: Request<pb::AcceptHandoffRequest>,
    ) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let fields = (
            "AcceptHandoff",
            req.name.as_str(),
            req.etag.as_str(),
            req.request_id.as_str(),
        );
        self.leg_step(
            caller,
            &req,
            fields,
            Step::Accept,
            (String::new(), None, None),
            Violations::default(),
        )
        .await
    }

    async fn decline_handoff(
        &self,
        request: Request<pb::DeclineHandoffRequest>,
    ) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let reason = decode::decline_reason(&mut v, req.reason);
        let text = decode::text(&mut v, "text", &req.text, MAX_TEXT_CHARS, true);
        let fields = (
            "DeclineHandoff",
            req.name.as_str(),
            req.etag.as_str(),
            req.request_id.as_str(),
        );
        self.leg_step(caller, &req, fields, Step::Decline, (text, reason, None), v)
            .await
    }

    async fn start_work(&self, request: Request<pb::StartWorkRequest>) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let fields = (
            "StartWork",
            req.name.as_str(),
            req.etag.as_str(),
            req.request_id.as_str(),
        );
        self.leg_step(
            caller,
            &req,
            fields,
            Step::Start,
            (String::new(), None, None),
            Violations::default(),
        )
        .await
    }

    async fn wait_on_citizen(
        &self,
        request: Request<pb::WaitOnCitizenRequest>,
    ) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let reason = decode::text(&mut v, "reason", &req.reason, MAX_TEXT_CHARS, true);
        let fields = (
            "WaitOnCitizen",
            req.name.as_str(),
            req.etag.as_str(),
            req.request_id.as_str(),
        );
        self.leg_step(
            caller,
            &req,
            fields,
            Step::WaitOnCitizen,
            (reason, None, None),
            v,
        )
        .await
    }

    async fn resume_work(&self, request: Request<pb::ResumeWorkRequest>) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let fields = (
            "ResumeWork",
            req.name.as_str(),
            req.etag.as_str(),
            req.request_id.as_str(),
        );
        self.leg_step(
            caller,
            &req,
            fields,
            Step::Resume,
            (String::new(), None, None),
            Violations::default(),
        )
        .await
    }

    async fn refer_onward(&self, request: Request<pb::ReferOnwardRequest>) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.routing.snapshot()?;
        let mut v = Violations::default();
        let (id, number) = decode::handoff_name(&mut v, "name", &req.name);
        let version = citizen_decode::etag(&mut v, "etag", &req.etag);
        let service_id = v.name("service", &req.service, SERVICES);
        let service = snapshot.service(&service_id).filter(|s| !s.retired);
        if !service_id.is_empty() && service.is_none() {
            v.add("service", "is not an active service of the catalogue");
        }
        let agency = if req.agency.is_empty() {
            service.map(|s| s.agency.clone()).unwrap_or_default()
        } else {
            let id = v.name("agency", &req.agency, AGENCIES);
            if service.is_some_and(|s| s.agency != id && !s.delivery_partners.contains(&id)) {
                v.add(
                    "agency",
                    "must be the service's owner or one of its delivery partners",
                );
            }
            id
        };
        let note = decode::text(&mut v, "note", &req.note, MAX_NOTE_CHARS, true);
        let request_id = citizen_decode::request_id(&mut v, &req.request_id);
        v.finish()?;
        let change = Change::Onward {
            service: service_id,
            agency,
            note,
        };
        self.apply(
            (caller, &req),
            "ReferOnward",
            (id, Some(number)),
            version,
            change,
            request_id,
        )
        .await
    }

    async fn complete_handoff(
        &self,
        request: Request<pb::CompleteHandoffRequest>,
    ) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let outcome = decode::outcome(&mut v, req.outcome);
        let text = decode::text(&mut v, "text", &req.text, MAX_TEXT_CHARS, false);
        let fields = (
            "CompleteHandoff",
            req.name.as_str(),
            req.etag.as_str(),
            req.request_id.as_str(),
        );
        self.leg_step(
            caller,
            &req,
            fields,
            Step::Complete,
            (text, None, outcome),
            v,
        )
        .await
    }

    async fn withdraw_request(
        &self,
        request: Request<pb::WithdrawRequestRequest>,
    ) -> Reply<pb::Request> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = decode::request_name(&mut v, "name", &req.name);
        let version = citizen_decode::etag(&mut v, "etag", &req.etag);
        let reason = decode::text(&mut v, "reason", &req.reason, MAX_TEXT_CHARS, true);
        let request_id = citizen_decode::request_id(&mut v, &req.request_id);
        v.finish()?;
        self.apply(
            (caller, &req),
            "WithdrawRequest",
            (id, None),
            version,
            Change::Withdraw { reason },
            request_id,
        )
        .await
    }
}

/// The metrics of a step that left leg `number` of `request` as it is now.
fn step_metrics(request: &pb::Request, number: i64) {
    if !crate::telemetry::enabled() {
        return;
    }
    let suffix = format!("/handoffs/{number}");
    let Some(leg) = request.handoffs.iter().find(|h| h.name.ends_with(&suffix)) else {
        return;
    };
    let state = pb::HandoffState::try_from(leg.state).unwrap_or_default();
    metrics::handoff_step(&leg.to_agency, state.as_str_name());
    match state {
        pb::HandoffState::Declined => metrics::handoff_declined(
            &leg.from_agency,
            &leg.to_agency,
            pb::DeclineReason::try_from(leg.decline_reason)
                .unwrap_or_default()
                .as_str_name(),
        ),
        pb::HandoffState::Completed => metrics::handoff_completed(
            &leg.to_agency,
            pb::HandoffOutcome::try_from(leg.outcome)
                .unwrap_or_default()
                .as_str_name(),
        ),
        _ => {}
    }
}
