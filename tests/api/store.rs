//! The storage conformance suite on every backend, and the migration folders' parity.

use single_window::store::conformance;

use crate::helpers::{TestDb, backends};

#[tokio::test]
async fn every_backend_meets_the_store_contract() {
    for backend in backends() {
        let databases = std::sync::Mutex::new(Vec::new());
        conformance::run_all(|| async {
            let db = TestDb::empty(backend).await;
            let store = db.store().await;
            databases.lock().unwrap().push(db);
            store
        })
        .await;
    }
}

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
