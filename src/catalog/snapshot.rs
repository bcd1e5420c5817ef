//! An immutable, in-memory view of one catalogue generation with its search index. Lookups and
//! search are served from it without touching the database.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use super::search::{Fields, SearchDocument, SearchError, SearchIndex};
use crate::{
    domain::catalog::{Agency, Catalog, Channel, ClientGroup, LifeEvent, Service, ServiceStandard},
    routing::{
        RoutingIndex, builtin_vectors,
        knowledge::{Knowledge, KnowledgeError},
        vectors::VectorTable,
    },
};

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Knowledge(#[from] Arc<KnowledgeError>),
}

/// Filters of a service list; values within one filter are ORed, filters are ANDed. Empty means
/// no restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceFilter {
    /// Owner or delivery partner.
    pub agencies: BTreeSet<String>,
    pub channels: BTreeSet<Channel>,
    pub client_groups: BTreeSet<ClientGroup>,
    pub life_events: BTreeSet<String>,
}

impl ServiceFilter {
    /// Whether `service` passes every filter.
    pub fn matches(&self, service: &Service) -> bool {
        let any = |set_empty: bool, hit: bool| set_empty || hit;
        any(
            self.agencies.is_empty(),
            self.agencies.contains(&service.agency)
                || service
                    .delivery_partners
                    .iter()
                    .any(|p| self.agencies.contains(p)),
        ) && any(
            self.channels.is_empty(),
            service.channels.iter().any(|c| self.channels.contains(c)),
        ) && any(
            self.client_groups.is_empty(),
            service
                .client_groups
                .iter()
                .any(|g| self.client_groups.contains(g)),
        ) && any(
            self.life_events.is_empty(),
            service
                .life_events
                .iter()
                .any(|e| self.life_events.contains(e)),
        )
    }
}

/// One catalogue generation, ready to serve.
#[derive(Debug)]
pub struct Snapshot {
    generation: i64,
    agencies: BTreeMap<String, Agency>,
    services: BTreeMap<String, Service>,
    life_events: BTreeMap<String, LifeEvent>,
    active_by_agency: BTreeMap<String, usize>,
    active: usize,
    search: SearchIndex,
    routing: RoutingIndex,
}

impl Snapshot {
    /// Builds the snapshot, its search index and its routing data from the knowledge and vectors
    /// built into the binary.
    pub fn build(generation: i64, catalog: Catalog) -> Result<Self, SnapshotError> {
        Self::build_with(
            generation,
            catalog,
            Knowledge::builtin()?,
            &builtin_vectors(),
        )
    }

    /// Builds the snapshot with the given routing knowledge and vectors.
    pub fn build_with(
        generation: i64,
        catalog: Catalog,
        knowledge: Arc<Knowledge>,
        vectors: &VectorTable,
    ) -> Result<Self, SnapshotError> {
        let agencies: BTreeMap<_, _> = catalog
            .agencies
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        let services: BTreeMap<_, _> = catalog
            .services
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let life_events: BTreeMap<_, _> = catalog
            .life_events
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        let search = SearchIndex::build(services.values().filter(|s| !s.retired).map(|service| {
            SearchDocument {
                service,
                agency: agencies.get(&service.agency),
                life_events: service
                    .life_events
                    .iter()
                    .filter_map(|id| life_events.get(id))
                    .collect(),
                knowledge: knowledge.service(&service.id),
            }
        }))?;
        let routing =
            RoutingIndex::build(services.values().filter(|s| !s.retired), knowledge, vectors);
        let mut active_by_agency = BTreeMap::new();
        for service in services.values().filter(|s| !s.retired) {
            *active_by_agency.entry(service.agency.clone()).or_insert(0) += 1;
        }
        let active = active_by_agency.values().sum();
        Ok(Self {
            generation,
            agencies,
            services,
            life_events,
            active_by_agency,
            active,
            search,
            routing,
        })
    }

    /// The catalogue generation this snapshot holds.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Number of active services.
    pub fn active_services(&self) -> usize {
        self.active
    }

    /// The agency with this id.
    pub fn agency(&self, id: &str) -> Option<&Agency> {
        self.agencies.get(id)
    }

    /// Every agency in order of id.
    pub fn agencies(&self) -> impl Iterator<Item = &Agency> {
        self.agencies.values()
    }

    /// Number of active services the agency owns.
    pub fn service_count(&self, agency_id: &str) -> usize {
        self.active_by_agency.get(agency_id).copied().unwrap_or(0)
    }

    /// The service with this id, active or retired.
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.get(id)
    }

    /// Active services passing `filter`, in order of id.
    pub fn services<'a>(
        &'a self,
        filter: &'a ServiceFilter,
    ) -> impl Iterator<Item = &'a Service> + 'a {
        self.services
            .values()
            .filter(move |s| !s.retired && filter.matches(s))
    }

    /// The standard (service id, standard id).
    pub fn standard(&self, service_id: &str, standard_id: &str) -> Option<&ServiceStandard> {
        self.services
            .get(service_id)?
            .standards
            .iter()
            .find(|s| s.id == standard_id)
    }

    /// Standards in order of (service id, standard id): of one service (active or retired), or of
    /// the active services of one agency, or of all active services.
    pub fn standards<'a>(
        &'a self,
        service_id: Option<&'a str>,
        agency_id: Option<&'a str>,
    ) -> impl Iterator<Item = &'a ServiceStandard> + 'a {
        self.services
            .values()
            .filter(move |s| match service_id {
                Some(id) => s.id == id,
                None => !s.retired && agency_id.is_none_or(|a| s.agency == a),
            })
            .flat_map(|s| s.standards.iter())
    }

    /// The life event with this id.
    pub fn life_event(&self, id: &str) -> Option<&LifeEvent> {
        self.life_events.get(id)
    }

    /// Every life event in order of id.
    pub fn life_events(&self) -> impl Iterator<Item = &LifeEvent> {
        self.life_events.values()
    }

    /// The routing data of this generation.
    pub fn routing(&self) -> &RoutingIndex {
        &self.routing
    }

    /// Active services matching the weighted texts over `fields`, best first; at most `limit`.
    pub fn search_fields(
        &self,
        texts: &[(&str, f32)],
        fields: Fields,
        limit: usize,
    ) -> Result<Vec<(&Service, f32)>, SearchError> {
        Ok(self
            .search
            .search_fields(texts, fields, limit)?
            .into_iter()
            .filter_map(|(id, score)| self.services.get(&id).map(|s| (s, score)))
            .filter(|(s, _)| !s.retired)
            .collect())
    }

    /// Active services matching `text` and `filter`, best first, with scores.
    pub fn search(
        &self,
        text: &str,
        filter: &ServiceFilter,
    ) -> Result<Vec<(&Service, f32)>, SearchError> {
        let hits = self.search.search(text, self.active.max(1))?;
        Ok(hits
            .into_iter()
            .filter_map(|(id, score)| self.services.get(&id).map(|s| (s, score)))
            .filter(|(s, _)| !s.retired && filter.matches(s))
            .collect())
    }
}
