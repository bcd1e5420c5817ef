//! The contract every storage backend must meet, as executable checks, one public function each
//! (listed in [`CHECKS`]). The API tests run each as its own test, on a fresh SQLite file and a
//! fresh PostgreSQL database.

use super::{CatalogStore, ImportMode, SchemaStatus, SchemaStore, Store};
use crate::domain::{
    catalog::{
        Agency, Catalog, Count, Jurisdiction, LifeEvent, LifeEventService, Service,
        ServiceStandard, Text,
    },
    threshold::{DurationUnit, Threshold},
};

mod citizens;
mod idempotency;
mod transactions;

pub use citizens::*;
pub use idempotency::*;
pub use transactions::*;

/// The name of every check, in the order `run_all` runs them; each is a public function of this
/// module taking a fresh, unmigrated store.
pub const CHECKS: &[&str] = &[
    "migrate_is_idempotent_and_reports_current",
    "catalogue_round_trips_and_bumps_generation_once",
    "import_if_empty_never_replaces",
    "missing_services_are_retired_not_deleted",
    "concurrent_imports_serialise",
    "a_cancelled_import_leaves_the_store_consistent",
    "a_unit_of_work_commits_all_or_nothing",
    "unique_keys_are_reported_as_unique_violations",
    "a_serialization_conflict_is_retried_until_both_commit",
    "a_passed_deadline_refuses_work_before_it_starts",
    "the_deadline_stops_a_long_statement_and_frees_its_connection",
    "a_unit_of_work_cancelled_after_writing_rolls_back",
    "concurrent_writes_all_commit",
    "a_failing_unit_undoes_only_its_own_work",
    "a_retried_request_id_replays_and_a_reused_one_is_refused",
    "concurrent_first_calls_with_one_request_id_apply_once",
    "a_record_round_trips_with_identifiers_sealed_to_their_row",
    "a_stale_version_saves_nothing_and_identifiers_are_unique",
    "consents_round_trip_and_revocations_are_kept",
    "access_events_are_numbered_and_enter_the_tree_in_order",
    "notices_get_positions_in_order_and_only_their_agency_reads_them",
];

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

pub async fn migrate_is_idempotent_and_reports_current(store: &Store) {
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

pub async fn catalogue_round_trips_and_bumps_generation_once(store: &Store) {
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

pub async fn import_if_empty_never_replaces(store: &Store) {
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

pub async fn missing_services_are_retired_not_deleted(store: &Store) {
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

pub async fn concurrent_imports_serialise(store: &Store) {
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

pub async fn a_cancelled_import_leaves_the_store_consistent(store: &Store) {
    store.migrate().await.expect("migrate");
    store
        .import_catalog(&sample_catalog(), ImportMode::Replace)
        .await
        .expect("import");
    let mut newer = sample_catalog();
    newer.services.pop();
    let mut expected = newer.clone();
    expected.services.push(Service {
        retired: true,
        standards: Vec::new(),
        ..sample_catalog().services.pop().expect("a service")
    });
    // Cancel the import after 1, 2, 3... wake-ups (each a real step of progress: a statement
    // answered, a lock granted), until one run completes. Whatever a cancelled import had written
    // must roll back, and the connection it held must come back to the pool usable.
    for steps in 1.. {
        let import = store.import_catalog(&newer, ImportMode::Replace);
        if cancel_after(steps, import).await.is_some() {
            break;
        }
        let (generation, loaded) = store
            .load_catalog()
            .await
            .expect("load after a cancelled import");
        // All or nothing: a cancel that raced the commit may have committed, never half of it.
        match generation {
            1 => assert_eq!(loaded, sample_catalog(), "a cancelled import wrote nothing"),
            2 => assert_eq!(loaded, expected, "a completed import wrote everything"),
            other => panic!("unexpected generation {other}"),
        }
        if generation == 2 {
            break;
        }
    }
    // How many cancels land mid-import depends on timing (SQLite may answer every statement
    // before the task is polled again, so an import can finish in one poll): this check proves
    // all or nothing for whichever points it reached, and
    // `a_unit_of_work_cancelled_after_writing_rolls_back` pins the cancel-after-a-write case.
    store
        .import_catalog(&newer, ImportMode::Replace)
        .await
        .expect("a later import");
    assert_eq!(store.catalog_generation().await.expect("generation"), 2);
}
