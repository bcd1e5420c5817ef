//! Common forms as units of work: definitions and their versions ([`definitions`]), prefill from
//! the shared record ([`prefill`]), and submissions with their write-backs ([`submissions`]).
//! Prefill and write-back go through the record's consent rules and land in the citizen's access
//! log in the same transaction.

pub mod definitions;
pub mod prefill;
pub mod seed;
pub mod submissions;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::{
    domain::{
        form::{FormVersion, check::Compiled},
        principal::Principal,
        time::Timestamp,
    },
    error::AppError,
    secrets::Keyring,
};

/// What the forms capability needs: the keys that seal answers and kept responses, and the time
/// zone "today" is in for date limits.
#[derive(Debug, Clone)]
pub struct FormsConfig {
    pub keys: Arc<Keyring>,
    /// Resolved once: the configured zone (UTC when the bundled database does not know it).
    zone: jiff::tz::TimeZone,
}

impl FormsConfig {
    /// The settings with the zone named `time_zone`.
    pub fn new(keys: Arc<Keyring>, time_zone: &str) -> Self {
        let zone = crate::domain::due::time_zone(time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        Self { keys, zone }
    }

    /// Today's date in the configured zone at `now`.
    pub fn today(&self, now: Timestamp) -> jiff::civil::Date {
        jiff::Timestamp::from_millisecond(now.unix_millis())
            .unwrap_or_default()
            .to_zoned_datetime(self.zone.clone())
            .date()
    }
}

/// Whether `principal` may create, edit, publish and retire the forms of `owner`: the owning
/// agency and catalogue administrators.
pub fn manages(principal: &Principal, owner: &str) -> bool {
    match principal {
        Principal::Agency { agency, .. } => agency == owner,
        Principal::Administrator { .. } => true,
        Principal::Portal { .. } | Principal::Auditor { .. } | Principal::Public => false,
    }
}

/// Most compiled versions kept.
const CACHE_ENTRIES: usize = 256;

/// Compiled published versions (which never change), so that answers are checked without
/// compiling a definition's patterns again.
#[derive(Debug, Default)]
pub struct CompiledCache(Mutex<HashMap<(String, i64), Arc<Compiled>>>);

impl CompiledCache {
    /// The compiled form of `version`; `None` when its definition does not pass the checks (a
    /// stored version always does).
    pub fn get(&self, version: &FormVersion) -> Option<Arc<Compiled>> {
        let key = (version.form_id.clone(), version.number);
        let cacheable = version.state != crate::domain::form::VersionState::Draft;
        if cacheable && let Some(found) = self.lock().get(&key) {
            return Some(found.clone());
        }
        let compiled =
            Arc::new(crate::domain::form::check::check(&version.definition, "form").ok()?);
        if cacheable {
            let mut map = self.lock();
            if map.len() >= CACHE_ENTRIES {
                map.clear();
            }
            map.insert(key, compiled.clone());
        }
        Some(compiled)
    }

    /// The compiled published or retired version `(form_id, number)`, if it is cached.
    pub fn peek(&self, form_id: &str, number: i64) -> Option<Arc<Compiled>> {
        self.lock().get(&(form_id.to_owned(), number)).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i64), Arc<Compiled>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The form version `name` names is not one the caller may see.
pub fn not_found(name: &str) -> AppError {
    AppError::NotFound {
        name: name.to_owned(),
    }
}
