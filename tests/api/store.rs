//! The storage conformance suite, one test per check on every backend, and the migration
//! folders' parity.

use single_window::store::conformance;

use crate::helpers::{TestDb, backends};

/// One test per conformance check, each on a fresh database of every backend.
macro_rules! conformance_tests {
    ($($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                for backend in backends() {
                    let db = TestDb::empty(backend).await;
                    let store = db.store().await;
                    conformance::$check(&store).await;
                    store.close().await;
                }
            }
        )+

        #[test]
        fn every_conformance_check_runs_as_a_test() {
            let listed: Vec<&str> = vec![$(stringify!($check)),+];
            assert_eq!(listed, conformance::CHECKS);
        }
    };
}

conformance_tests!(
    migrate_is_idempotent_and_reports_current,
    catalogue_round_trips_and_bumps_generation_once,
    import_if_empty_never_replaces,
    missing_services_are_retired_not_deleted,
    concurrent_imports_serialise,
    a_cancelled_import_leaves_the_store_consistent,
    a_unit_of_work_commits_all_or_nothing,
    unique_keys_are_reported_as_unique_violations,
    a_serialization_conflict_is_retried_until_both_commit,
    a_passed_deadline_refuses_work_before_it_starts,
    the_deadline_stops_a_long_statement_and_frees_its_connection,
    a_unit_of_work_cancelled_after_writing_rolls_back,
    concurrent_writes_all_commit,
    a_failing_unit_undoes_only_its_own_work,
    a_retried_request_id_replays_and_a_reused_one_is_refused,
    concurrent_first_calls_with_one_request_id_apply_once,
    a_record_round_trips_with_identifiers_sealed_to_their_row,
    a_stale_version_saves_nothing_and_identifiers_are_unique,
    consents_round_trip_and_revocations_are_kept,
    access_events_are_numbered_and_enter_the_tree_in_order,
    notices_get_positions_in_order_and_only_their_agency_reads_them,
);

#[test]
fn both_migration_folders_list_the_same_versions_and_names() {
    let list = |backend: &str| -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (sqlite, postgres) = (list("sqlite"), list("postgres"));
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
}
