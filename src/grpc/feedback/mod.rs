//! `singlewindow.v1.FeedbackService`: survey responses on ended legs and requests, the citizens'
//! invitations, and satisfaction reports. Each method decodes its request, runs one unit of work
//! of `feedback`, and encodes the answer.

mod decode;
mod encode;
pub mod export;

use std::{collections::BTreeSet, sync::Arc};

use prost::Message as _;
use tonic::{Request, Response, Status};

use super::{
    citizens::{caller, caller_context, decode as citizen_decode, decode_replay, keyed},
    page_token::{Binding, PageTokens},
    request::Violations,
    requests::decode::text,
};
use crate::{
    catalog::{Catalogue, Snapshot, snapshot::ServiceFilter},
    domain::{
        names::{AGENCIES, SERVICES},
        principal::Principal,
        time::Timestamp,
    },
    error::AppError,
    feedback::{
        FeedbackConfig, channels, drivers, invitations, public,
        record::{self, Answers},
        report, warnings,
    },
    proto::v1::{self as pb, feedback_service_server::FeedbackService},
    records::Caller,
    secrets::Keyring,
    store::Store,
};

const SERVICE: &str = "/singlewindow.v1.FeedbackService/";

type Reply<T> = Result<Response<T>, Status>;

/// The feedback service.
#[derive(Debug, Clone)]
pub struct FeedbackApi {
    store: Store,
    catalogue: Arc<Catalogue>,
    keys: Arc<Keyring>,
    config: Arc<FeedbackConfig>,
    tokens: Arc<PageTokens>,
}

impl FeedbackApi {
    /// A service over `store`, sealing comments and kept answers with `keys`.
    pub fn new(
        (store, catalogue): (Store, Arc<Catalogue>),
        keys: Arc<Keyring>,
        config: Arc<FeedbackConfig>,
        tokens: Arc<PageTokens>,
    ) -> Self {
        Self {
            store,
            catalogue,
            keys,
            config,
            tokens,
        }
    }

    fn now(&self) -> Timestamp {
        self.store.clock().now()
    }

    /// Cuts `page` (read with one row more than `size`) to `size`, and the token of the next page
    /// (empty on the last), resuming after the last row's `cursor`.
    fn cut<T>(
        &self,
        page: &mut Vec<T>,
        size: usize,
        binding: &Binding,
        cursor: impl Fn(&T) -> (i64, String),
    ) -> Result<String, AppError> {
        let more = page.len() > size;
        page.truncate(size);
        match page.last() {
            Some(last) if more => self.tokens.encode(binding, &cursor(last)),
            _ => Ok(String::new()),
        }
    }

    fn snapshot(&self) -> Result<Arc<Snapshot>, AppError> {
        self.catalogue.current().ok_or(AppError::Unavailable(
            "the catalogue is loading; retry shortly",
        ))
    }
}

/// The public report of `quarter` (calendar, or fiscal with `fiscal`) read from `store`, as
/// `GetPublicReport` answers it: for `report export`.
pub async fn public_report(
    store: &Store,
    snapshot: Option<&Snapshot>,
    (quarter, fiscal): (&str, bool),
    agency: Option<String>,
    (minimum, time_zone): (i64, String),
) -> anyhow::Result<pb::PublicReport> {
    let parsed = crate::domain::feedback::Quarter::parse(quarter)
        .and_then(|q| decode::calendar_quarter(q, fiscal))
        .ok_or_else(|| anyhow::anyhow!("--quarter `{quarter}` is not a quarter such as 2026Q3"))?;
    let input = public::Get {
        caller: Caller {
            principal: Principal::Public,
            citizen: None,
            request_id: "report-export".to_owned(),
        },
        quarter: parsed,
        agency,
        minimum,
        time_zone,
        now: store.clock().now(),
    };
    let read = store
        .read(input, |tx, input| Box::pin(public::get(tx, input)))
        .await?;
    Ok(encode::public_report(&read, parsed, snapshot, minimum))
}

/// A page of warnings to read.
struct Listing {
    agency: Option<String>,
    states: Vec<&'static str>,
    kinds: Vec<&'static str>,
    after: Option<(i64, String)>,
    limit: i64,
}

/// The agency whose figures the caller may read: an agency only its own (`named` must be it or
/// empty); an auditor the one it names, or every agency.
fn scope_of(caller: &Caller, named: Option<String>) -> Result<Option<String>, AppError> {
    match &caller.principal {
        Principal::Agency { agency, .. } => {
            if named.as_ref().is_some_and(|n| n != agency) {
                return Err(AppError::PermissionDenied);
            }
            Ok(Some(agency.clone()))
        }
        Principal::Auditor { .. } => Ok(named),
        _ => Err(AppError::PermissionDenied),
    }
}

fn drivers_work<'t>(
    tx: &'t mut crate::store::Tx,
    input: &'t drivers::Get,
) -> crate::store::BoxFuture<'t, crate::store::StoreResult<drivers::KeyDrivers>> {
    Box::pin(drivers::get(tx, input))
}

fn report_work<'t>(
    tx: &'t mut crate::store::Tx,
    input: &'t report::Get,
) -> crate::store::BoxFuture<'t, crate::store::StoreResult<report::Report>> {
    Box::pin(report::get(tx, input))
}

/// The answer of a unit of work: the store's error, then the caller's.
fn answer<T>(
    outcome: Result<Result<T, AppError>, crate::store::StoreError>,
) -> Result<T, AppError> {
    outcome?
}

#[tonic::async_trait]
impl FeedbackService for FeedbackApi {
    async fn record_satisfaction(
        &self,
        request: Request<pb::RecordSatisfactionRequest>,
    ) -> Reply<pb::SurveyResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let agency = matches!(caller.principal, Principal::Agency { .. });
        let mut v = Violations::default();
        let (request_id, number, _) = decode::subject(&mut v, "subject", &req.subject);
        let scores = decode::scores(&mut v, req.scores.as_ref());
        let contacts = decode::contacts(&mut v, req.contacts);
        let survey_channel = decode::survey_channel(&mut v, req.survey_channel, agency);
        let comment = text(
            &mut v,
            "comment",
            &req.comment,
            decode::MAX_COMMENT_CHARS,
            false,
        );
        let segment = decode::segment(&mut v, req.segment.as_ref());
        let idempotent = citizen_decode::request_id(&mut v, &req.request_id);
        if req.request_id.is_empty() {
            v.add(
                "request_id",
                "is required: a retry with the same id answers the first response",
            );
        }
        v.finish()?;
        let now = self.now();
        let subject = encode::subject_name(&request_id, number);
        let (named, given_comment) = (subject.clone(), comment.clone());
        let input = record::Record {
            idempotency: keyed(SERVICE, &caller, "RecordSatisfaction", idempotent, &req),
            caller,
            keys: self.keys.clone(),
            request_id,
            number,
            subject,
            answers: Answers {
                scores,
                contacts,
                survey_channel,
                comment,
                segment,
            },
            now,
            respond: Arc::new(move |r, at| {
                encode::response(r, &named, &given_comment, at).encode_to_vec()
            }),
        };
        let answered = answer(
            self.store
                .write_committed(input, |tx, input| Box::pin(record::record(tx, input)))
                .await,
        )?;
        if !answered.replayed {
            crate::telemetry::metrics::satisfaction_recorded(
                pb::Channel::try_from(req.survey_channel)
                    .unwrap_or_default()
                    .as_str_name(),
            );
        }
        Ok(Response::new(decode_replay(&answered.bytes)?))
    }

    async fn list_survey_invitations(
        &self,
        request: Request<pb::ListSurveyInvitationsRequest>,
    ) -> Reply<pb::ListSurveyInvitationsResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let citizen_id = v.name("parent", &req.parent, "citizens");
        let size = v.page_size(req.page_size);
        v.finish()?;
        let binding = Binding::query("ListSurveyInvitations", &req)
            .and(&caller_context(&caller))
            .finish();
        let after: Option<(i64, String)> = self.tokens.decode(&req.page_token, &binding)?;
        let input = invitations::List {
            caller,
            citizen_id,
            include_closed: req.include_closed,
            now: self.now(),
            after,
            limit: i64::try_from(size).unwrap_or(500),
        };
        let mut page = answer(
            self.store
                .write_committed(input, |tx, input| Box::pin(invitations::list(tx, input)))
                .await,
        )?;
        let next_page_token = self.cut(&mut page, size, &binding, |s| {
            (s.ended.unix_millis(), s.id.clone())
        })?;
        Ok(Response::new(pb::ListSurveyInvitationsResponse {
            invitations: page.iter().map(encode::invitation).collect(),
            next_page_token,
        }))
    }

    async fn get_satisfaction_report(
        &self,
        request: Request<pb::GetSatisfactionReportRequest>,
    ) -> Reply<pb::SatisfactionReport> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let grouping = decode::grouping(&mut v, req.grouping);
        let kind = decode::subject_kind(&mut v, req.subject);
        let quarter = decode::quarter(&mut v, "quarter", &req.quarter);
        let named = (!req.agency.is_empty()).then(|| v.name("agency", &req.agency, AGENCIES));
        v.finish()?;
        let agency = scope_of(&caller, named)?;
        if req.unsuppressed && !matches!(caller.principal, Principal::Auditor { .. }) {
            return Err(AppError::PermissionDenied.into());
        }
        let input = report::Get {
            caller,
            grouping,
            kind,
            quarter,
            agency,
            unsuppressed: req.unsuppressed,
            minimum: self.config.minimum_respondents,
            now: self.now(),
        };
        let read = if req.unsuppressed {
            self.store.write_committed(input, report_work).await
        } else {
            self.store.read(input, report_work).await
        };
        let read = read.map_err(AppError::from)?;
        Ok(Response::new(encode::report(
            &read,
            (grouping, kind, quarter.map(|q| q.to_string())),
            self.config.minimum_respondents,
            req.unsuppressed,
        )))
    }

    async fn get_key_drivers(
        &self,
        request: Request<pb::GetKeyDriversRequest>,
    ) -> Reply<pb::KeyDrivers> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let named = (!req.agency.is_empty()).then(|| v.name("agency", &req.agency, AGENCIES));
        let service = (!req.service.is_empty()).then(|| v.name("service", &req.service, SERVICES));
        let quarter = decode::quarter(&mut v, "quarter", &req.quarter);
        let kind = decode::subject_kind(&mut v, req.subject);
        v.finish()?;
        let agency = scope_of(&caller, named)?;
        let input = drivers::Get {
            kind,
            agency: agency.clone(),
            service_id: service.clone(),
            quarter,
            minimum: self.config.minimum_respondents,
        };
        let read = self
            .store
            .read(input, drivers_work)
            .await
            .map_err(AppError::from)?;
        let quarter = quarter.map(|q| q.to_string()).unwrap_or_default();
        Ok(Response::new(encode::key_drivers(
            &read,
            (
                agency.as_deref().unwrap_or(""),
                service.as_deref().unwrap_or(""),
                &quarter,
                kind,
            ),
        )))
    }

    async fn list_early_warnings(
        &self,
        request: Request<pb::ListEarlyWarningsRequest>,
    ) -> Reply<pb::ListEarlyWarningsResponse> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let states = v.enum_filter("states", &req.states, decode::warning_state);
        let kinds = v.enum_filter("kinds", &req.kinds, decode::warning_kind);
        let named = (!req.agency.is_empty()).then(|| v.name("agency", &req.agency, AGENCIES));
        let size = v.page_size(req.page_size);
        v.finish()?;
        let agency = scope_of(&caller, named)?;
        let binding = Binding::query("ListEarlyWarnings", &req)
            .and(&caller_context(&caller))
            .finish();
        let after: Option<(i64, String)> = self.tokens.decode(&req.page_token, &binding)?;
        let query = Listing {
            agency,
            states: states.iter().map(|s| s.code()).collect(),
            kinds: kinds.iter().map(|k| k.code()).collect(),
            after,
            limit: i64::try_from(size).unwrap_or(500) + 1,
        };
        let mut page = self
            .store
            .read(query, |tx, q| {
                Box::pin(async move {
                    let query = crate::store::warning_sql::ListQuery {
                        agency: q.agency.as_deref(),
                        states: q.states.clone(),
                        kinds: q.kinds.clone(),
                        after: q.after.clone(),
                        limit: q.limit,
                    };
                    crate::store::warning_sql::list(tx, &query).await
                })
            })
            .await
            .map_err(AppError::from)?;
        let next_page_token = self.cut(&mut page, size, &binding, |w| {
            (w.raised.unix_millis(), w.id.clone())
        })?;
        Ok(Response::new(pb::ListEarlyWarningsResponse {
            warnings: page.iter().map(encode::warning).collect(),
            next_page_token,
        }))
    }

    async fn get_early_warning(
        &self,
        request: Request<pb::GetEarlyWarningRequest>,
    ) -> Reply<pb::EarlyWarning> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = decode::warning_name(&mut v, "name", &req.name);
        v.finish()?;
        let agency = scope_of(&caller, None)?;
        let found = self
            .store
            .read(id, |tx, id| {
                Box::pin(crate::store::warning_sql::get(tx, id))
            })
            .await
            .map_err(AppError::from)?;
        match found {
            Some(w) if warnings::visible_to(&w, agency.as_deref()) => {
                Ok(Response::new(encode::warning(&w)))
            }
            _ => Err(AppError::PermissionDenied.into()),
        }
    }

    async fn acknowledge_early_warning(
        &self,
        request: Request<pb::AcknowledgeEarlyWarningRequest>,
    ) -> Reply<pb::EarlyWarning> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        let id = decode::warning_name(&mut v, "name", &req.name);
        let version = citizen_decode::etag(&mut v, "etag", &req.etag);
        let action = text(
            &mut v,
            "action",
            &req.action,
            decode::MAX_COMMENT_CHARS,
            true,
        );
        let idempotent = citizen_decode::request_id(&mut v, &req.request_id);
        v.finish()?;
        let agency = super::citizens::calling_agency(&caller)?;
        let input = warnings::Acknowledge {
            idempotency: keyed(
                SERVICE,
                &caller,
                "AcknowledgeEarlyWarning",
                idempotent,
                &req,
            ),
            caller,
            agency,
            keys: self.keys.clone(),
            id,
            expected_version: version,
            action,
            now: self.now(),
            respond: Arc::new(|w| encode::warning(w).encode_to_vec()),
        };
        let bytes = answer(
            self.store
                .write_committed(input, |tx, input| {
                    Box::pin(warnings::acknowledge(tx, input))
                })
                .await,
        )?;
        Ok(Response::new(decode_replay(&bytes)?))
    }

    async fn get_channel_report(
        &self,
        request: Request<pb::GetChannelReportRequest>,
    ) -> Reply<pb::ChannelReport> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let named = (!req.agency.is_empty()).then(|| v.name("agency", &req.agency, AGENCIES));
        let service = (!req.service.is_empty()).then(|| v.name("service", &req.service, SERVICES));
        if named.as_ref().is_some_and(|a| snapshot.agency(a).is_none()) {
            v.add("agency", "is not an agency of the catalogue");
        }
        if service
            .as_ref()
            .is_some_and(|s| snapshot.service(s).is_none())
        {
            v.add("service", "is not a service of the catalogue");
        }
        let agency = match (&caller.principal, named) {
            (_, Some(named)) => Some(named),
            (Principal::Agency { agency, .. }, None) => Some(agency.clone()),
            (_, None) => None,
        };
        if agency.is_none() && service.is_none() {
            v.add(
                "agency",
                "is required (or a service): name the agency whose services to report",
            );
        }
        v.finish()?;
        let services: BTreeSet<String> = match &service {
            Some(id) => BTreeSet::from([id.clone()]),
            None => {
                let filter = ServiceFilter {
                    agencies: agency.iter().cloned().collect(),
                    ..ServiceFilter::default()
                };
                snapshot
                    .services(&filter)
                    .filter(|s| agency.as_ref().is_some_and(|a| s.agency == *a))
                    .map(|s| s.id.clone())
                    .collect()
            }
        };
        let agencies: BTreeSet<String> = services
            .iter()
            .filter_map(|id| snapshot.service(id))
            .flat_map(|s| {
                std::iter::once(s.agency.clone()).chain(s.delivery_partners.iter().cloned())
            })
            .collect();
        let input = channels::Get {
            caller,
            services,
            service,
            agencies,
            minimum: self.config.minimum_respondents,
            time_zone: self.config.time_zone.clone(),
            now: self.now(),
        };
        let read = self
            .store
            .read(input, |tx, input| Box::pin(channels::get(tx, input)))
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(pb::ChannelReport {
            services: read
                .iter()
                .map(|(id, c)| encode::service_channels(id, &snapshot, c))
                .collect(),
        }))
    }

    async fn get_public_report(
        &self,
        request: Request<pb::GetPublicReportRequest>,
    ) -> Reply<pb::PublicReport> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let quarter = decode::quarter(&mut v, "quarter", &req.quarter);
        if req.quarter.is_empty() {
            v.add("quarter", "is required: a quarter such as `2026Q3`");
        }
        let agency = (!req.agency.is_empty()).then(|| v.name("agency", &req.agency, AGENCIES));
        v.finish()?;
        let Some(quarter) = quarter.and_then(|q| decode::calendar_quarter(q, req.fiscal)) else {
            return Err(AppError::invalid("quarter", "is out of range").into());
        };
        let input = public::Get {
            caller,
            quarter,
            agency,
            minimum: self.config.minimum_respondents,
            time_zone: self.config.time_zone.clone(),
            now: self.now(),
        };
        let read = self
            .store
            .read(input, |tx, input| Box::pin(public::get(tx, input)))
            .await
            .map_err(AppError::from)?;
        Ok(Response::new(encode::public_report(
            &read,
            quarter,
            Some(&snapshot),
            self.config.minimum_respondents,
        )))
    }
}
