//! The access log as a transparency log: inclusion and consistency proofs against signed
//! checkpoints, the offline verifier naming each kind of tampering, positions that never skip a
//! late commit, and identifiers that are never at rest in clear.

use single_window::{
    audit::{
        checkpoint::{Checkpoint, parse_verifier_key},
        export::{self, Export},
        merkle,
    },
    clock::SystemClock,
    proto::v1::{self as pb, ConsentCategory as Cat, ConsentPurpose as Purpose},
    records::{self, RecordsConfig},
    secrets::Secrets,
    store::{Backend, Lock, PoolSettings, Store, notice_sql},
};
use sqlx::{Connection as _, Executor as _};

use crate::{
    citizens::{
        AMELIE, AUDITOR, As, CRA, ESDC, amelie, consent, create, events, get, grant, new_citizen,
    },
    helpers::{TestApp, backends},
};

const ORIGIN: &str = "single-window.localhost/access-log";

/// A few accesses to Amélie's record by different callers.
async fn some_accesses(app: &TestApp) {
    let me = amelie(app);
    grant(
        app,
        &me,
        AMELIE,
        consent("esdc-edsc", Purpose::ServiceDelivery, &[Cat::Contact]),
    )
    .await
    .expect("granted");
    get(app, &As::Key(ESDC), AMELIE, Purpose::ServiceDelivery, &[])
        .await
        .expect("read");
    get(app, &As::Key(CRA), AMELIE, Purpose::ServiceDelivery, &[])
        .await
        .expect_err("denied");
    get(app, &me, AMELIE, Purpose::Unspecified, &[])
        .await
        .expect("own read");
}

#[tokio::test]
async fn every_event_is_proven_in_the_signed_tree_and_the_tree_only_grows() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        some_accesses(&app).await;
        let me = amelie(&app);
        let first = events(&app, &me, AMELIE, 0).await.expect("listed");
        let (name, key) = parse_verifier_key(&first.verifier_key).expect("a verifier key");
        assert_eq!(name, ORIGIN);
        let secrets = Secrets::load(&app.db.keys_file).expect("keys");
        assert_eq!(
            key,
            secrets.log_signing_key.verifying_key(),
            "the key of the key file"
        );
        let checkpoint =
            Checkpoint::verify(&first.checkpoint, &name, &key).expect("a signed checkpoint");
        let actions: Vec<i32> = first.events.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                pb::AccessAction::Create as i32,
                pb::AccessAction::GrantConsent as i32,
                pb::AccessAction::Read as i32,
                pb::AccessAction::Read as i32,
                pb::AccessAction::Read as i32,
                pb::AccessAction::ListAccessEvents as i32,
            ]
        );
        let denied = &first.events[3];
        assert_eq!(denied.outcome, pb::AccessOutcome::Denied as i32);
        assert_eq!(denied.actor, "agencies/cra-arc/teams/benefits-credits");
        assert!(denied.request_id.len() >= 8, "the call's request id");
        for (i, event) in first.events.iter().enumerate() {
            assert_eq!(event.name, format!("{AMELIE}/accessEvents/{}", i + 1));
            let index = event.leaf_index.expect("sequenced") as u64;
            let proof: Vec<[u8; 32]> = event
                .inclusion_proof
                .iter()
                .map(|p| p.as_slice().try_into().expect("32 bytes"))
                .collect();
            let leaf = merkle::leaf_hash(event.leaf.as_bytes());
            assert!(
                merkle::verify_inclusion(index, checkpoint.size, &leaf, &proof, &checkpoint.root),
                "event {i}"
            );
        }
        let mut tampered = first.events[2].leaf.clone();
        tampered = tampered.replace("allowed", "denied");
        let proof: Vec<[u8; 32]> = first.events[2]
            .inclusion_proof
            .iter()
            .map(|p| p.as_slice().try_into().expect("32"))
            .collect();
        assert!(!merkle::verify_inclusion(
            first.events[2].leaf_index.expect("i") as u64,
            checkpoint.size,
            &merkle::leaf_hash(tampered.as_bytes()),
            &proof,
            &checkpoint.root
        ));

        get(&app, &As::Key(ESDC), AMELIE, Purpose::ServiceDelivery, &[])
            .await
            .expect("read again");
        let later = events(&app, &As::Key(AUDITOR), AMELIE, checkpoint.size as i64)
            .await
            .expect("an auditor lists");
        let newer = Checkpoint::verify(&later.checkpoint, &name, &key).expect("signed");
        assert!(newer.size > checkpoint.size);
        let proof: Vec<[u8; 32]> = later
            .consistency_proof
            .iter()
            .map(|p| p.as_slice().try_into().expect("32"))
            .collect();
        assert!(merkle::verify_consistency(
            checkpoint.size,
            newer.size,
            &checkpoint.root,
            &newer.root,
            &proof
        ));
        assert_eq!(
            later.events.last().expect("events").actor,
            "auditors/demo-auditor"
        );
    }
}

/// Runs `sql` on the test database.
pub async fn exec(app: &TestApp, backend: Backend, sql: &str) {
    match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.db.url)
                .await
                .expect("connect");
            c.execute(sqlx::AssertSqlSafe(sql.to_owned()))
                .await
                .expect(sql);
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.db.url)
                .await
                .expect("connect");
            c.execute(sqlx::AssertSqlSafe(sql.to_owned()))
                .await
                .expect(sql);
        }
    }
}

async fn export_of(app: &TestApp, citizen: Option<&str>) -> Export {
    let store = Store::connect(&app.db.url, &PoolSettings::default())
        .await
        .expect("store");
    let config = RecordsConfig {
        secrets: std::sync::Arc::new(Secrets::load(&app.db.keys_file).expect("keys")),
        log_origin: ORIGIN.to_owned(),
    };
    let id = citizen.map(|name| {
        name.strip_prefix("citizens/")
            .expect("a citizen name")
            .to_owned()
    });
    let export = records::log::export(&store, &config, id)
        .await
        .expect("export");
    store.close().await;
    export
}

fn verify(export: &Export, kept: Option<&str>) -> Result<export::Verified, String> {
    let key = export.verifier_key.clone();
    export::verify(export, &key, kept).map_err(|p| p.0)
}

/// Ways to tamper with the stored events of Amélie.
#[derive(Debug, Clone, Copy)]
enum Tamper {
    Edit,
    Delete,
    Insert,
    Reorder,
}

async fn tamper(app: &TestApp, backend: Backend, how: Tamper) {
    let w = "citizen_id = 'demo-amelie'";
    match how {
        Tamper::Edit => exec(app, backend, &format!("UPDATE access_events SET actor = 'agencies/cic' WHERE {w} AND number = 2")).await,
        Tamper::Delete => exec(app, backend, &format!("DELETE FROM access_events WHERE {w} AND number = 3")).await,
        Tamper::Insert => {
            exec(
                app,
                backend,
                &format!(
                    "INSERT INTO access_events (id, citizen_id, number, leaf_index, actor, officer, representative, action, purpose, categories, outcome, at_unix_ms, request_id) \
                     SELECT 'fake-event', 'demo-amelie', MAX(number) + 1, 999999, 'agencies/cic', '', '', 'read', 'service-delivery', 'identity', 'allowed', MAX(at_unix_ms), 'fake' \
                     FROM access_events WHERE {w}"
                ),
            )
            .await
        }
        Tamper::Reorder => {
            let export = export_of(app, Some(AMELIE)).await;
            let (a, b) = (export.events[1].leaf_index.expect("a"), export.events[2].leaf_index.expect("b"));
            for sql in [
                format!("UPDATE access_events SET leaf_index = -1 WHERE {w} AND number = 2"),
                format!("UPDATE access_events SET leaf_index = {a} WHERE {w} AND number = 3"),
                format!("UPDATE access_events SET leaf_index = {b} WHERE {w} AND number = 2"),
            ] {
                exec(app, backend, &sql).await;
            }
        }
    }
}

#[tokio::test]
async fn the_offline_verifier_names_each_altered_removed_inserted_or_reordered_event() {
    let cases = [
        (Tamper::Edit, "accessEvents/2 was altered"),
        (Tamper::Delete, "accessEvents/3 was removed"),
        (Tamper::Insert, "was inserted: it claims leaf 999999"),
        (Tamper::Reorder, "was reordered"),
    ];
    for backend in backends() {
        for (how, expected) in cases {
            let app = TestApp::spawn(backend).await;
            some_accesses(&app).await;
            let clean = export_of(&app, Some(AMELIE)).await;
            let verified = verify(&clean, None).expect("an untouched log verifies");
            assert_eq!(verified.proven, clean.events.len());
            assert!(verified.proven >= 5, "{verified:?}");
            verify(&export_of(&app, None).await, None).expect("the whole log verifies");
            tamper(&app, backend, how).await;
            let problem = verify(&export_of(&app, Some(AMELIE)).await, None).expect_err("tampered");
            assert!(problem.contains(expected), "{backend:?} {how:?}: {problem}");
            let whole = verify(&export_of(&app, None).await, None);
            assert!(
                whole.is_err(),
                "{backend:?} {how:?}: the whole log shows it too"
            );
        }
    }
}

#[tokio::test]
async fn a_removal_after_a_kept_checkpoint_is_detected_even_when_the_tree_is_rebuilt() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        some_accesses(&app).await;
        let kept = export_of(&app, Some(AMELIE)).await.checkpoint;
        // Someone with the database and the signing key removes an event, renumbers the rest and
        // rebuilds the tree: the export is consistent with itself...
        for sql in [
            "DELETE FROM access_events WHERE citizen_id = 'demo-amelie' AND number = 2".to_owned(),
            "UPDATE access_events SET leaf_index = NULL, number = NULL".to_owned(),
            "DELETE FROM access_log_leaves".to_owned(),
            "DELETE FROM access_log_checkpoints".to_owned(),
        ] {
            exec(&app, backend, &sql).await;
        }
        let rewritten = export_of(&app, Some(AMELIE)).await;
        verify(&rewritten, None).expect("consistent with itself");
        // ...but not with the checkpoint the citizen kept.
        let problem = verify(&rewritten, Some(&kept)).expect_err("history was rewritten");
        assert!(
            problem.contains("rewritten since the kept checkpoint"),
            "{problem}"
        );
    }
}

/// Runs the binary with `args`, off the test's runtime thread (which serves the test server: a
/// blocked runtime would stall the server's writer in the middle of a transaction).
pub(crate) async fn cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_single-window"))
            .args(args)
            .output()
            .expect("run the binary")
    })
    .await
    .expect("the command ran")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

#[tokio::test]
async fn audit_export_and_verify_work_from_the_command_line() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    some_accesses(&app).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("amelie.json");
    let keys = app.db.keys_file.display().to_string();
    let path = file.display().to_string();
    let out = cli(strings(&[
        "audit",
        "export",
        "--citizen",
        AMELIE,
        "--database-url",
        &app.db.url,
        "--keys-file",
        &keys,
        "--out",
        &path,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = cli(strings(&[
        "audit",
        "public-key",
        "--database-url",
        &app.db.url,
        "--keys-file",
        &keys,
    ]))
    .await;
    let key = String::from_utf8(key.stdout).expect("utf-8");
    let ok = cli(strings(&[
        "audit",
        "verify",
        "--verifier-key",
        key.trim(),
        &path,
    ]))
    .await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("verified: "));
    let mut export: Export =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    export.events[1].purpose = "prefill".to_owned();
    std::fs::write(&file, serde_json::to_string(&export).expect("json")).expect("write");
    let bad = cli(strings(&[
        "audit",
        "verify",
        "--verifier-key",
        key.trim(),
        &path,
    ]))
    .await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("accessEvents/2 was altered"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[tokio::test]
async fn change_notice_positions_never_skip_a_notice_that_commits_late() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let store = Store::connect(&app.db.url, &PoolSettings::default())
            .await
            .expect("store")
            .with_clock(std::sync::Arc::new(SystemClock));
        // Stamped now: the server's housekeeping forgets notices past their retention.
        let now = crate::citizens::unix_now() * 1000;
        let insert = |id: &str| {
            format!(
                "INSERT INTO change_notices (id, agency, citizen_id, kind, at_unix_ms, position) VALUES ('{id}', 'cra-arc', 'demo-amelie', 'contact', {now}, NULL)"
            )
        };
        let sequence = || {
            store.write_locked(Lock::ChangeNoticeSequencer, (), |tx, ()| {
                Box::pin(notice_sql::sequence(tx, 100))
            })
        };
        let read = |after: i64| {
            store.read(after, |tx, after| {
                Box::pin(notice_sql::list(tx, "cra-arc", *after, 100))
            })
        };
        // A transaction that began first and commits last.
        let mut late: Option<sqlx::PgConnection> = None;
        match backend {
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&app.db.url)
                    .await
                    .expect("connect");
                c.execute("BEGIN").await.expect("begin");
                c.execute(sqlx::AssertSqlSafe(insert("late")))
                    .await
                    .expect("insert");
                late = Some(c);
            }
            Backend::Sqlite => {}
        }
        exec(&app, backend, &insert("early")).await;
        sequence().await.expect("sequenced");
        let first = read(0).await.expect("read");
        let seen: Vec<&str> = first.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(seen, ["early"], "{backend:?}");
        let resume = first.last().and_then(|n| n.position).expect("a position");
        match late.take() {
            Some(mut c) => {
                c.execute("COMMIT").await.expect("commit");
            }
            None => exec(&app, backend, &insert("late")).await,
        }
        sequence().await.expect("sequenced");
        let next = read(resume).await.expect("read");
        let seen: Vec<&str> = next.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            seen,
            ["late"],
            "{backend:?}: the late commit comes after the resume point"
        );
        assert!(next[0].position.expect("position") > resume);
        store.close().await;
    }
}

#[tokio::test]
async fn no_identifier_is_stored_in_clear() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let mut citizen = new_citizen("Plain", "Text", "130 692 544");
        citizen.identifiers.push(pb::Identifier {
            scheme: pb::IdentifierScheme::Passport as i32,
            value: "QX918273".to_owned(),
            ..Default::default()
        });
        create(&app, &As::Key(ESDC), citizen, "at-rest")
            .await
            .expect("created");
        let needles = ["130692544", "130 692 544", "QX918273", "273456780"];
        let haystack: Vec<u8> = match backend {
            Backend::Sqlite => {
                let path = app.db.url.strip_prefix("sqlite://").expect("a file URL");
                let mut bytes = std::fs::read(path).expect("the database file");
                if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
                    bytes.extend(wal);
                }
                bytes
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&app.db.url)
                    .await
                    .expect("connect");
                let tables: Vec<(String,)> = sqlx::query_as("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'")
                    .fetch_all(&mut c)
                    .await
                    .expect("tables");
                let mut all = String::new();
                for (table,) in tables {
                    let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT CAST(t AS TEXT) FROM \"{table}\" t"
                    )))
                    .fetch_all(&mut c)
                    .await
                    .expect("rows");
                    all.extend(rows.into_iter().map(|(r,)| r));
                }
                all.into_bytes()
            }
        };
        assert!(haystack.len() > 10_000, "{backend:?}: read the data");
        for needle in needles {
            assert!(
                !haystack
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes()),
                "{backend:?}: `{needle}` is stored in clear"
            );
        }
        // Yet the record opens, and the identifier finds it.
        let found = app
            .citizens
            .clone()
            .find_citizen(crate::citizens::req(
                &As::Key(CRA),
                pb::FindCitizenRequest {
                    purpose: Purpose::ServiceDelivery as i32,
                    identifier: Some(pb::Identifier {
                        scheme: pb::IdentifierScheme::Passport as i32,
                        value: "qx 918273".to_owned(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ))
            .await
            .expect("found")
            .into_inner();
        assert_eq!(found.candidates.len(), 1);
    }
}

#[tokio::test]
async fn keys_rotate_reseal_and_reindex_keep_every_identifier_readable_and_findable() {
    use single_window::{
        domain::citizen::{Identifier, IdentifierScheme, matching::Traits},
        store::citizen_sql,
    };
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let created = create(
            &app,
            &As::Key(ESDC),
            new_citizen("Key", "Rotation", "130 692 544"),
            "",
        )
        .await
        .expect("created");
        let id = created
            .name
            .strip_prefix("citizens/")
            .expect("a name")
            .to_owned();
        let keys = app.db.keys_file.display().to_string();
        let run = |args: &[&str]| {
            let mut args = strings(args);
            args.extend(strings(&[
                "--database-url",
                &app.db.url,
                "--keys-file",
                &keys,
            ]));
            async move {
                let out = cli(args.clone()).await;
                assert!(
                    out.status.success(),
                    "{args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stderr).into_owned()
            }
        };
        let before = Secrets::load(&app.db.keys_file).expect("keys").keyring;
        run(&["keys", "rotate", "test-2"]).await;
        let said = run(&["keys", "reseal"]).await;
        assert!(said.contains("re-sealed 3 identifiers"), "{said}");
        let store = Store::connect(&app.db.url, &PoolSettings::default())
            .await
            .expect("store");
        let key_ids: Vec<(String,)> = store
            .read((), |tx, ()| Box::pin(citizen_sql::key_ids(tx)))
            .await
            .expect("key ids");
        assert!(key_ids.iter().all(|(k,)| k == "test-2"), "{key_ids:?}");
        let after = Secrets::load(&app.db.keys_file).expect("keys").keyring;
        assert_eq!(after.current_key_id(), "test-2");
        let sin = Identifier::parse(IdentifierScheme::Sin, "130692544").expect("a SIN");
        let open = |keys: std::sync::Arc<single_window::secrets::Keyring>| {
            let id = id.clone();
            store.read(keys, move |tx, keys| {
                let id = id.clone();
                Box::pin(async move { citizen_sql::load(tx, keys, &id).await })
            })
        };
        let loaded = open(after.clone()).await.expect("loaded").expect("exists");
        assert_eq!(loaded.details.identifiers, std::slice::from_ref(&sin));
        run(&["keys", "reindex"]).await;
        let reindexed = Secrets::load(&app.db.keys_file).expect("keys").keyring;
        let find = |keys: std::sync::Arc<single_window::secrets::Keyring>| {
            let query = Traits {
                identifier_indexes: vec![citizen_sql::identifier_index(&keys, &sin)],
                ..Traits::default()
            };
            store.read(query, |tx, q| Box::pin(citizen_sql::candidates(tx, q, 10)))
        };
        assert_eq!(
            find(reindexed.clone()).await.expect("found").len(),
            1,
            "the new index finds it"
        );
        assert!(
            find(before).await.expect("searched").is_empty(),
            "the old index no longer does"
        );
        assert!(open(reindexed).await.expect("loaded").is_some());
        store.close().await;
    }
}
