//! The contract every storage backend must meet, as executable checks. The API tests run it on a
//! fresh SQLite file and a fresh PostgreSQL database.

use std::future::Future;

use super::{CatalogStore, ImportMode, SchemaStatus, SchemaStore};
use crate::domain::{
    catalog::{
        Agency, Catalog, Count, Jurisdiction, LifeEvent, LifeEventService, Service,
        ServiceStandard, Text,
    },
    threshold::{DurationUnit, Threshold},
};

/// Runs every check, each on a store from `fresh` (empty, unmigrated).
pub async fn run_all<S, F, Fut>(fresh: F)
where
    S: CatalogStore + SchemaStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    migrate_is_idempotent_and_reports_current(&fresh().await).await;
    catalogue_round_trips_and_bumps_generation_once(&fresh().await).await;
    import_if_empty_never_replaces(&fresh().await).await;
    missing_services_are_retired_not_deleted(&fresh().await).await;
    concurrent_imports_serialise(&fresh().await).await;
    a_cancelled_import_leaves_the_store_consistent(&fresh().await).await;
}

fn text(en: &str) -> Text {
    Text {
        en: en.to_owned(),
        fr: format!("{en} (fr)"),
    }
}

fn agency(id: &str) -> Agency {
    Agency {
        id: id.to_owned(),
        name: text(id),
        jurisdiction: Jurisdiction::Federal,
        region: "CA".to_owned(),
        keywords: vec![id.to_uppercase()],
    }
}

fn service(id: &str, agency: &str, standards: &[&str]) -> Service {
    Service {
        id: id.to_owned(),
        name: text(&format!("Service {id}")),
        description: text("A service"),
        agency: agency.to_owned(),
        delivery_partners: Vec::new(),
        retired: false,
        fiscal_year: "2023-2024".to_owned(),
        programs: Vec::new(),
        service_types: Vec::new(),
        client_groups: Vec::new(),
        channels: Vec::new(),
        feedback_channels: Vec::new(),
        online_steps: Default::default(),
        volumes: Default::default(),
        has_fee: false,
        uses_automated_decisions: false,
        uses_sin: false,
        uri: Text::default(),
        keywords: vec!["word".to_owned()],
        life_events: Vec::new(),
        standards: standards
            .iter()
            .map(|s| ServiceStandard {
                id: (*s).to_owned(),
                service_id: id.to_owned(),
                text: text("Within 10 business days"),
                kind: crate::domain::catalog::StandardKind::Timeliness,
                channel: None,
                channel_comments: Text::default(),
                thresholds: vec![Threshold {
                    value: 10.0,
                    unit: DurationUnit::BusinessDays,
                }],
                target: Some(0.9),
                volume_meeting_target: Count::Reported(5),
                total_volume: Count::NoData,
                performance: Some(1.2),
                target_met: Default::default(),
                comments: Text::default(),
                standard_uri: Text::default(),
                performance_uri: Text::default(),
            })
            .collect(),
    }
}

/// A small catalogue: two agencies, three services (a standard id repeated across two), one event.
pub fn sample_catalog() -> Catalog {
    Catalog {
        agencies: vec![agency("a-one"), agency("b-two")],
        services: vec![
            service("1", "a-one", &["10", "11"]),
            service("2", "b-two", &["10"]),
            service("SRV3", "b-two", &[]),
        ],
        life_events: vec![LifeEvent {
            id: "moving".to_owned(),
            name: text("Moving"),
            description: text("Moving home"),
            keywords: vec!["move".to_owned()],
            services: vec![LifeEventService {
                service_id: "1".to_owned(),
                condition: text("Always"),
            }],
        }],
    }
}

async fn migrate_is_idempotent_and_reports_current<S: SchemaStore>(store: &S) {
    assert_eq!(
        store.schema_status().await.expect("status"),
        SchemaStatus::Empty
    );
    store.migrate().await.expect("first migrate");
    store.migrate().await.expect("second migrate is a no-op");
    assert_eq!(
        store.schema_status().await.expect("status"),
        SchemaStatus::Current
    );
}

async fn catalogue_round_trips_and_bumps_generation_once<S: CatalogStore + SchemaStore>(store: &S) {
    store.migrate().await.expect("migrate");
    assert_eq!(store.catalog_generation().await.expect("generation"), 0);
    let (generation, empty) = store.load_catalog().await.expect("load empty");
    assert_eq!((generation, empty), (0, Catalog::default()));
    let catalog = sample_catalog();
    let first = store
        .import_catalog(&catalog, ImportMode::Replace)
        .await
        .expect("import");
    assert!(first.changed);
    assert_eq!(first.generation, 1);
    let (generation, loaded) = store.load_catalog().await.expect("load");
    assert_eq!(generation, 1);
    assert_eq!(loaded, catalog, "what is stored is what was imported");
    let again = store
        .import_catalog(&catalog, ImportMode::Replace)
        .await
        .expect("re-import");
    assert!(!again.changed, "an identical import changes nothing");
    assert_eq!(store.catalog_generation().await.expect("generation"), 1);
}

async fn import_if_empty_never_replaces<S: CatalogStore + SchemaStore>(store: &S) {
    store.migrate().await.expect("migrate");
    let catalog = sample_catalog();
    assert!(
        store
            .import_catalog(&catalog, ImportMode::IfEmpty)
            .await
            .expect("first")
            .changed
    );
    let mut other = sample_catalog();
    other.services.pop();
    let outcome = store
        .import_catalog(&other, ImportMode::IfEmpty)
        .await
        .expect("second");
    assert!(!outcome.changed);
    assert_eq!(store.load_catalog().await.expect("load").1, catalog);
}

async fn missing_services_are_retired_not_deleted<S: CatalogStore + SchemaStore>(store: &S) {
    store.migrate().await.expect("migrate");
    store
        .import_catalog(&sample_catalog(), ImportMode::Replace)
        .await
        .expect("import");
    let mut newer = sample_catalog();
    newer.services.retain(|s| s.id != "2");
    newer.services[0].standards.retain(|s| s.id != "11");
    let outcome = store
        .import_catalog(&newer, ImportMode::Replace)
        .await
        .expect("newer import");
    assert!(outcome.changed);
    assert_eq!(outcome.retired_services, 1);
    assert_eq!(outcome.generation, 2);
    let (_, loaded) = store.load_catalog().await.expect("load");
    let retired = loaded
        .services
        .iter()
        .find(|s| s.id == "2")
        .expect("a retired service is kept");
    assert!(retired.retired);
    assert_eq!(retired.standards.len(), 1, "it keeps its standards");
    let active = loaded
        .services
        .iter()
        .find(|s| s.id == "1")
        .expect("active");
    assert!(!active.retired);
    assert_eq!(
        active.standards.len(),
        1,
        "a standard missing from an active service is not listed"
    );
    // Re-importing the original brings the service back.
    store
        .import_catalog(&sample_catalog(), ImportMode::Replace)
        .await
        .expect("restore");
    assert_eq!(
        store.load_catalog().await.expect("load").1,
        sample_catalog()
    );
}

async fn concurrent_imports_serialise<S: CatalogStore + SchemaStore>(store: &S) {
    store.migrate().await.expect("migrate");
    let catalog = sample_catalog();
    let (a, b) = tokio::join!(
        store.import_catalog(&catalog, ImportMode::IfEmpty),
        store.import_catalog(&catalog, ImportMode::IfEmpty)
    );
    let (a, b) = (a.expect("first import"), b.expect("second import"));
    assert_eq!(
        u8::from(a.changed) + u8::from(b.changed),
        1,
        "exactly one import wrote"
    );
    assert_eq!(store.catalog_generation().await.expect("generation"), 1);
}

async fn a_cancelled_import_leaves_the_store_consistent<S: CatalogStore + SchemaStore>(store: &S) {
    store.migrate().await.expect("migrate");
    store
        .import_catalog(&sample_catalog(), ImportMode::Replace)
        .await
        .expect("import");
    let mut newer = sample_catalog();
    newer.services.pop();
    // Cancel the import at each await point in turn: whatever it had written must roll back, and
    // the connection it held must come back to the pool usable (not stuck in a transaction).
    for polls in 1..12 {
        let mut import = Box::pin(store.import_catalog(&newer, ImportMode::Replace));
        let mut finished = false;
        for _ in 0..polls {
            if futures_poll_once(import.as_mut()).await {
                finished = true;
                break;
            }
        }
        if finished {
            break;
        }
        drop(import); // cancels the import here
        let (generation, loaded) = store
            .load_catalog()
            .await
            .expect("load after a cancelled import");
        // All or nothing: a cancel that raced the commit may have committed, never half of it.
        let mut expected = newer.clone();
        expected.services.push(Service {
            retired: true,
            ..sample_catalog().services.pop().expect("a service")
        });
        expected
            .services
            .last_mut()
            .expect("a service")
            .standards
            .clear();
        match generation {
            1 => assert_eq!(loaded, sample_catalog(), "a cancelled import wrote nothing"),
            2 => assert_eq!(loaded, expected, "a completed import wrote everything"),
            other => panic!("unexpected generation {other}"),
        }
    }
    let outcome = store
        .import_catalog(&newer, ImportMode::Replace)
        .await
        .expect("a later import");
    assert!(outcome.changed || store.catalog_generation().await.expect("generation") == 2);
}

/// Polls `future` once; whether it completed.
async fn futures_poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> bool {
    let mut future = Some(future);
    std::future::poll_fn(|cx| {
        let polled = future
            .as_mut()
            .map(|f| f.as_mut().poll(cx).is_ready())
            .unwrap_or(true);
        future = None;
        std::task::Poll::Ready(polled)
    })
    .await
}
