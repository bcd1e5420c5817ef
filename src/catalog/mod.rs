//! The catalogue as the server holds it: built from the source files, stored, and served from an
//! in-memory [`Snapshot`] that is swapped atomically when the stored generation changes.

pub mod eval;
pub mod import;
mod overlay;
pub mod search;
pub mod snapshot;
mod text;

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context as _;
use arc_swap::ArcSwapOption;

pub use snapshot::{ServiceFilter, Snapshot};

use crate::{
    routing::{builtin_vectors, knowledge::Knowledge, vectors::VectorTable},
    store::CatalogStore,
};

/// The live performance of standards, as last measured from the legs of requests.
#[derive(Debug, Clone)]
pub struct LiveTable {
    /// When it was measured.
    pub as_of: crate::domain::time::Timestamp,
    /// By (service id, standard id); standards no leg has run against are absent.
    pub by_standard: HashMap<(String, String), crate::domain::due::Performance>,
}

/// The common forms linked to each service (by service id, form ids in order), as last read.
pub type FormLinks = HashMap<String, Vec<String>>;

/// The snapshot currently served; empty until the first load.
#[derive(Debug, Default)]
pub struct Catalogue {
    current: ArcSwapOption<Snapshot>,
    live: ArcSwapOption<LiveTable>,
    forms: ArcSwapOption<FormLinks>,
    /// The routing vectors snapshots are built with; `None`: those built into the binary.
    vectors: Option<Arc<VectorTable>>,
}

impl Catalogue {
    /// A catalogue whose snapshots route with `vectors` instead of the built-in ones (for a
    /// catalogue imported from other files, with vectors made by `catalog vectors`).
    pub fn with_vectors(vectors: Arc<VectorTable>) -> Self {
        Self {
            current: ArcSwapOption::empty(),
            live: ArcSwapOption::empty(),
            forms: ArcSwapOption::empty(),
            vectors: Some(vectors),
        }
    }

    /// The snapshot in service, if one is loaded.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.load_full()
    }

    /// The live performance last measured, if it was.
    pub fn live(&self) -> Option<Arc<LiveTable>> {
        self.live.load_full()
    }

    /// The forms linked to each service, if they were read: a lookup answers from them without
    /// the database.
    pub fn form_links(&self) -> Option<Arc<FormLinks>> {
        self.forms.load_full()
    }

    /// Reads the forms linked to every service (after a form's links change on this replica, and
    /// with each measure: links changed through other replicas show within the interval).
    pub async fn reload_form_links(
        &self,
        store: &crate::store::Store,
    ) -> crate::store::StoreResult<()> {
        let rows = store
            .read((), |tx, ()| Box::pin(crate::store::form_sql::all_links(tx)))
            .await?;
        let mut links = FormLinks::new();
        for (service, form) in rows {
            links.entry(service).or_default().push(form);
        }
        self.forms.store(Some(Arc::new(links)));
        Ok(())
    }

    /// Measures the live performance of every standard from the stored legs, and reads the
    /// forms' links again.
    pub async fn measure(&self, store: &crate::store::Store) -> crate::store::StoreResult<()> {
        self.reload_form_links(store).await?;
        let rows = store
            .read((), |tx, ()| {
                Box::pin(crate::store::request_sql::standard_performance(tx))
            })
            .await?;
        let table = LiveTable {
            as_of: store.clock().now(),
            by_standard: rows
                .into_iter()
                .map(|(service, standard, p)| ((service, standard), p))
                .collect(),
        };
        self.live.store(Some(Arc::new(table)));
        Ok(())
    }

    /// Measures the live performance every `interval` until `stop`.
    pub async fn measure_every(
        &self,
        store: &crate::store::Store,
        interval: Duration,
        stop: impl Future<Output = ()>,
    ) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = ticks.tick() => {
                    if let Err(error) = self.measure(store).await {
                        tracing::warn!(error = %error, "measuring the standards' live performance failed; retrying");
                    }
                }
            }
        }
    }

    /// Loads the stored catalogue when its generation differs from the one served (or none is
    /// served), builds its snapshot and index off the async threads, and swaps it in. Returns
    /// whether a new snapshot was swapped in.
    pub async fn refresh<S: CatalogStore>(&self, store: &S) -> anyhow::Result<bool> {
        let stored = store
            .catalog_generation()
            .await
            .context("reading the catalogue generation")?;
        if self.current().is_some_and(|s| s.generation() == stored) {
            return Ok(false);
        }
        let (generation, catalog) = store
            .load_catalog()
            .await
            .context("loading the catalogue")?;
        let vectors = self.vectors.clone().unwrap_or_else(builtin_vectors);
        let knowledge = Knowledge::builtin()?;
        let snapshot = tokio::task::spawn_blocking(move || {
            Snapshot::build_with(generation, catalog, knowledge, &vectors)
        })
        .await
        .context("building the catalogue snapshot")??;
        tracing::info!(
            generation,
            services = snapshot.active_services(),
            agencies = snapshot.agencies().count(),
            routing_vectors = snapshot.routing().vector_count(),
            texts_without_vectors = snapshot.routing().missing_vectors,
            "catalogue snapshot loaded"
        );
        if snapshot.routing().missing_vectors > 0 {
            tracing::warn!(
                texts = snapshot.routing().missing_vectors,
                "some services have changed since the routing vectors were made and route without the semantic signal; run `single-window catalog vectors` and rebuild"
            );
        }
        self.current.store(Some(Arc::new(snapshot)));
        Ok(true)
    }

    /// Polls the stored generation every `interval` and swaps in new snapshots, until `stop`
    /// resolves. Failures are logged and retried at the next tick; the old snapshot keeps serving.
    pub async fn watch<S: CatalogStore>(
        &self,
        store: &S,
        interval: Duration,
        stop: impl Future<Output = ()>,
    ) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = ticks.tick() => {
                    if let Err(error) = self.refresh(store).await {
                        tracing::warn!(error = format!("{error:#}"), "catalogue refresh failed; still serving the previous snapshot");
                    }
                }
            }
        }
    }
}
