//! `singlewindow.v1.CatalogService`: lookups, lists and search over the catalogue snapshot.
//! Every call reads one snapshot, so a page never mixes two catalogue generations.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    convert,
    page_token::{Binding, PageTokens},
    request::{Violations, paginate},
};
use crate::{
    catalog::{Catalogue, ServiceFilter, Snapshot},
    domain::names::{self, AGENCIES, LIFE_EVENTS, SERVICES},
    error::AppError,
    proto::v1::{self as pb, catalog_service_server::CatalogService},
    store::Store,
};

/// Longest accepted search query, in characters.
const MAX_QUERY_CHARS: usize = 1000;

/// The catalogue service, answering from the snapshot in service.
#[derive(Debug, Clone)]
pub struct CatalogApi {
    catalogue: Arc<Catalogue>,
    tokens: Arc<PageTokens>,
    /// Where the forms linked to a service are read (`GetService`).
    store: Store,
}

impl CatalogApi {
    /// `standard` with its live performance, when measured.
    fn live_standard(&self, mut standard: pb::ServiceStandard) -> pb::ServiceStandard {
        if let Some(table) = self.catalogue.live() {
            let service = standard
                .service
                .strip_prefix("services/")
                .unwrap_or_default();
            let key = (service.to_owned(), standard.standard_id.clone());
            standard.live_performance = table.by_standard.get(&key).map(|p| pb::LivePerformance {
                completed: p.completed,
                met: p.met,
                performance: p.share_met(),
                declined: p.declined,
                decline_rate: p.decline_rate(),
                measure_time: Some(super::citizens::encode::timestamp(table.as_of)),
            });
        }
        standard
    }

    /// `service` with its standards' live performance.
    fn live_service(&self, mut service: pb::Service) -> pb::Service {
        service.standards = std::mem::take(&mut service.standards)
            .into_iter()
            .map(|s| self.live_standard(s))
            .collect();
        service
    }

    /// A service answering from `catalogue`, signing page tokens with `tokens`.
    pub fn new(catalogue: Arc<Catalogue>, tokens: Arc<PageTokens>, store: Store) -> Self {
        Self {
            catalogue,
            tokens,
            store,
        }
    }

    fn snapshot(&self) -> Result<Arc<Snapshot>, AppError> {
        self.catalogue.current().ok_or(AppError::Unavailable(
            "the catalogue is loading; retry shortly",
        ))
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn not_found(name: &str) -> AppError {
    AppError::NotFound {
        name: name.to_owned(),
    }
}

/// Decodes the filters of `ListServices` and `SearchServices`.
fn service_filter(
    v: &mut Violations,
    snapshot: &Snapshot,
    agencies: &[String],
    channels: &[i32],
    client_groups: &[i32],
    life_events: &[String],
) -> ServiceFilter {
    ServiceFilter {
        agencies: v.name_filter("agencies", agencies, AGENCIES, |id| {
            snapshot.agency(id).is_some()
        }),
        channels: v.enum_filter("channels", channels, convert::channel_filter),
        client_groups: v.enum_filter("client_groups", client_groups, convert::client_group_filter),
        life_events: v.name_filter("life_events", life_events, LIFE_EVENTS, |id| {
            snapshot.life_event(id).is_some()
        }),
    }
}

#[tonic::async_trait]
impl CatalogService for CatalogApi {
    async fn get_agency(&self, request: Request<pb::GetAgencyRequest>) -> Reply<pb::Agency> {
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let id = v.name("name", &req.name, AGENCIES);
        v.finish()?;
        let agency = snapshot.agency(&id).ok_or_else(|| not_found(&req.name))?;
        Ok(Response::new(convert::agency(
            agency,
            snapshot.service_count(&id),
        )))
    }

    async fn list_agencies(
        &self,
        request: Request<pb::ListAgenciesRequest>,
    ) -> Reply<pb::ListAgenciesResponse> {
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let size = v.page_size(req.page_size);
        v.finish()?;
        let all: Vec<_> = snapshot.agencies().collect();
        let binding =
            Binding::request("ListAgencies", &pb::ListAgenciesRequest::default()).finish();
        let (page, next_page_token, total) = paginate(
            all,
            |a| a.id.clone(),
            &self.tokens,
            &req.page_token,
            &binding,
            size,
        )?;
        Ok(Response::new(pb::ListAgenciesResponse {
            agencies: page
                .into_iter()
                .map(|a| convert::agency(a, snapshot.service_count(&a.id)))
                .collect(),
            next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn get_service(&self, request: Request<pb::GetServiceRequest>) -> Reply<pb::Service> {
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let id = v.name("name", &req.name, SERVICES);
        v.finish()?;
        let service = snapshot.service(&id).ok_or_else(|| not_found(&req.name))?;
        let mut service = self.live_service(convert::service(service));
        let forms = match self.catalogue.form_links() {
            Some(links) => links.get(&id).cloned().unwrap_or_default(),
            None => self
                .store
                .read(id, |tx, id| {
                    Box::pin(crate::store::form_sql::forms_of_service(tx, id))
                })
                .await
                .map_err(AppError::from)?,
        };
        service.forms = forms.iter().map(|f| format!("forms/{f}")).collect();
        Ok(Response::new(service))
    }

    async fn list_services(
        &self,
        request: Request<pb::ListServicesRequest>,
    ) -> Reply<pb::ListServicesResponse> {
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let size = v.page_size(req.page_size);
        let filter = service_filter(
            &mut v,
            &snapshot,
            &req.agencies,
            &req.channels,
            &req.client_groups,
            &req.life_events,
        );
        v.finish()?;
        let matching: Vec<_> = snapshot.services(&filter).collect();
        let binding = Binding::query("ListServices", &req).finish();
        let (page, next_page_token, total) = paginate(
            matching,
            |s| s.id.clone(),
            &self.tokens,
            &req.page_token,
            &binding,
            size,
        )?;
        Ok(Response::new(pb::ListServicesResponse {
            services: page
                .into_iter()
                .map(|s| self.live_service(convert::service(s)))
                .collect(),
            next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn search_services(
        &self,
        request: Request<pb::SearchServicesRequest>,
    ) -> Reply<pb::SearchServicesResponse> {
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let size = v.page_size(req.page_size);
        let query = req.query.trim();
        if query.is_empty() {
            v.add("query", "is required");
        } else if query.chars().count() > MAX_QUERY_CHARS {
            v.add(
                "query",
                format!("must be at most {MAX_QUERY_CHARS} characters"),
            );
        }
        let filter = service_filter(
            &mut v,
            &snapshot,
            &req.agencies,
            &[],
            &req.client_groups,
            &[],
        );
        v.finish()?;
        let hits = snapshot
            .search(query, &filter)
            .map_err(|e| AppError::Internal(e.into()))?;
        let ranked: Vec<(usize, _)> = hits.into_iter().enumerate().collect();
        // A ranking is only stable within one catalogue generation.
        let binding = Binding::query("SearchServices", &req)
            .and(&snapshot.generation().to_be_bytes())
            .finish();
        let (page, next_page_token, _) = paginate(
            ranked,
            |(rank, _)| *rank,
            &self.tokens,
            &req.page_token,
            &binding,
            size,
        )?;
        Ok(Response::new(pb::SearchServicesResponse {
            results: page
                .into_iter()
                .map(|(_, (service, score))| pb::SearchResult {
                    service: Some(self.live_service(convert::service(service))),
                    score,
                })
                .collect(),
            next_page_token,
        }))
    }

    async fn get_service_standard(
        &self,
        request: Request<pb::GetServiceStandardRequest>,
    ) -> Reply<pb::ServiceStandard> {
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let (service_id, standard_id) = if req.name.is_empty() {
            Err(AppError::invalid("name", "is required"))
        } else {
            names::parse_standard(&req.name).map_err(|e| AppError::invalid("name", e.to_string()))
        }?;
        let standard = snapshot
            .standard(&service_id, &standard_id)
            .ok_or_else(|| not_found(&req.name))?;
        Ok(Response::new(
            self.live_standard(convert::standard(standard)),
        ))
    }

    async fn list_service_standards(
        &self,
        request: Request<pb::ListServiceStandardsRequest>,
    ) -> Reply<pb::ListServiceStandardsResponse> {
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let size = v.page_size(req.page_size);
        let service = (!req.service.is_empty()).then(|| v.name("service", &req.service, SERVICES));
        let agency = (!req.agency.is_empty()).then(|| v.name("agency", &req.agency, AGENCIES));
        if service.is_some() && agency.is_some() {
            v.add("agency", "set either service or agency, not both");
        }
        v.finish()?;
        if let Some(id) = &service {
            snapshot
                .service(id)
                .ok_or_else(|| not_found(&req.service))?;
        }
        if let Some(id) = &agency {
            snapshot.agency(id).ok_or_else(|| not_found(&req.agency))?;
        }
        let matching: Vec<_> = snapshot
            .standards(service.as_deref(), agency.as_deref())
            .collect();
        let binding = Binding::query("ListServiceStandards", &req).finish();
        let (page, next_page_token, total) = paginate(
            matching,
            |s| (s.service_id.clone(), s.id.clone()),
            &self.tokens,
            &req.page_token,
            &binding,
            size,
        )?;
        Ok(Response::new(pb::ListServiceStandardsResponse {
            service_standards: page
                .into_iter()
                .map(|s| self.live_standard(convert::standard(s)))
                .collect(),
            next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }

    async fn get_life_event(
        &self,
        request: Request<pb::GetLifeEventRequest>,
    ) -> Reply<pb::LifeEvent> {
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let id = v.name("name", &req.name, LIFE_EVENTS);
        v.finish()?;
        let event = snapshot
            .life_event(&id)
            .ok_or_else(|| not_found(&req.name))?;
        Ok(Response::new(convert::life_event(event, &snapshot)))
    }

    async fn list_life_events(
        &self,
        request: Request<pb::ListLifeEventsRequest>,
    ) -> Reply<pb::ListLifeEventsResponse> {
        let req = request.into_inner();
        let snapshot = self.snapshot()?;
        let mut v = Violations::default();
        let size = v.page_size(req.page_size);
        v.finish()?;
        let all: Vec<_> = snapshot.life_events().collect();
        let binding =
            Binding::request("ListLifeEvents", &pb::ListLifeEventsRequest::default()).finish();
        let (page, next_page_token, total) = paginate(
            all,
            |e| e.id.clone(),
            &self.tokens,
            &req.page_token,
            &binding,
            size,
        )?;
        Ok(Response::new(pb::ListLifeEventsResponse {
            life_events: page
                .into_iter()
                .map(|e| convert::life_event(e, &snapshot))
                .collect(),
            next_page_token,
            total_size: i32::try_from(total).unwrap_or(i32::MAX),
        }))
    }
}
