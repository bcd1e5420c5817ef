//! The curated overlay (`data/overlay.json`): what the inventory lacks. Life events mapped to
//! services, delivery partners (agencies delivering a service on its owner's behalf; never a change
//! of owner) and keywords for agencies and services. Every id it names must exist in the source.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::import::ImportError;
use crate::domain::catalog::{Catalog, LifeEvent, LifeEventService, Text};

/// The curated overlay: what the source lacks.
#[derive(Debug, Deserialize)]
pub(super) struct Overlay {
    life_events: Vec<OverlayLifeEvent>,
    delivery_partners: Vec<OverlayPartner>,
    agency_keywords: Vec<OverlayKeywords<AgencyKey>>,
    service_keywords: Vec<OverlayKeywords<ServiceKey>>,
}

#[derive(Debug, Deserialize)]
struct OverlayLifeEvent {
    id: String,
    name: Text,
    description: Text,
    keywords: Vec<String>,
    services: Vec<OverlayLifeEventService>,
}

#[derive(Debug, Deserialize)]
struct OverlayLifeEventService {
    service: String,
    condition: Text,
}

#[derive(Debug, Deserialize)]
struct OverlayPartner {
    service: String,
    partner: String,
}

#[derive(Debug, Deserialize)]
struct AgencyKey {
    agency: String,
}

#[derive(Debug, Deserialize)]
struct ServiceKey {
    service: String,
}

#[derive(Debug, Deserialize)]
struct OverlayKeywords<K> {
    #[serde(flatten)]
    key: K,
    keywords: Vec<String>,
}

impl Overlay {
    /// Parses the overlay JSON.
    pub(super) fn parse(json: &[u8]) -> Result<Self, ImportError> {
        Ok(serde_json::from_slice(json)?)
    }

    /// Adds the overlay to `catalog`; an id the catalogue lacks is an error.
    pub(super) fn apply(self, catalog: &mut Catalog) -> Result<(), ImportError> {
        let service_index: BTreeMap<String, usize> = catalog
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let agency_index: BTreeMap<String, usize> = catalog
            .agencies
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        let service_at = |id: &str| {
            service_index
                .get(id)
                .copied()
                .ok_or_else(|| ImportError::Overlay(format!("unknown service `{id}`")))
        };
        let agency_at = |id: &str| {
            agency_index
                .get(id)
                .copied()
                .ok_or_else(|| ImportError::Overlay(format!("unknown agency `{id}`")))
        };
        for entry in self.agency_keywords {
            merge(
                &mut catalog.agencies[agency_at(&entry.key.agency)?].keywords,
                entry.keywords,
            );
        }
        for entry in self.service_keywords {
            merge(
                &mut catalog.services[service_at(&entry.key.service)?].keywords,
                entry.keywords,
            );
        }
        for partner in self.delivery_partners {
            agency_at(&partner.partner)?;
            let service = &mut catalog.services[service_at(&partner.service)?];
            if service.agency == partner.partner {
                return Err(ImportError::Overlay(format!(
                    "`{}` cannot be a delivery partner of its own service `{}`",
                    partner.partner, partner.service
                )));
            }
            merge(&mut service.delivery_partners, vec![partner.partner]);
        }
        let mut events = BTreeMap::new();
        for event in self.life_events {
            if !crate::domain::names::valid_id(&event.id) || events.contains_key(&event.id) {
                return Err(ImportError::Overlay(format!(
                    "life event id `{}` is invalid or repeated",
                    event.id
                )));
            }
            let mut services = Vec::new();
            for s in event.services {
                let service = &mut catalog.services[service_at(&s.service)?];
                merge(&mut service.life_events, vec![event.id.clone()]);
                services.push(LifeEventService {
                    service_id: s.service,
                    condition: s.condition,
                });
            }
            let life_event = LifeEvent {
                id: event.id.clone(),
                name: event.name,
                description: event.description,
                keywords: event.keywords,
                services,
            };
            events.insert(event.id, life_event);
        }
        catalog.life_events = events.into_values().collect();
        Ok(())
    }
}

/// Adds `extra` to `list`, keeping the first occurrence of each value.
fn merge(list: &mut Vec<String>, extra: Vec<String>) {
    for value in extra {
        if !list.contains(&value) {
            list.push(value);
        }
    }
}
