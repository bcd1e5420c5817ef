//! Start-up, readiness, catalogue reloads and shutdown.

use std::time::Duration;

use single_window::{
    catalog::import,
    proto::v1::{GetServiceRequest, ListServicesRequest},
    startup::Stopped,
    store::{CatalogStore as _, ImportMode, SchemaStore as _},
};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::{
    assert_error,
    helpers::{Backend, TestApp, TestDb, backends, serve_args},
};

#[tokio::test]
async fn a_server_on_an_empty_store_imports_the_built_in_catalogue_and_serves() {
    for backend in backends() {
        let db = TestDb::empty(backend).await;
        if backend == Backend::Postgres {
            // PostgreSQL is migrated by `single-window migrate`, never by the server.
            let store = db.store().await;
            store.migrate().await.expect("migrate");
            store.close().await;
        }
        let app = TestApp::start(db, None).await;
        app.wait_until_serving().await;
        assert_eq!(app.health_status("").await, ServingStatus::Serving);
        let page = app
            .catalog
            .clone()
            .list_services(ListServicesRequest::default())
            .await
            .expect("ListServices")
            .into_inner();
        assert_eq!(page.total_size, 1751, "{backend:?}");
        assert_eq!(app.stop().await.expect("clean stop"), Stopped::Drained);
    }
}

#[tokio::test]
async fn a_running_server_swaps_in_a_newer_catalogue() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let (mut catalog, _) = import::build(import::BUILTIN).expect("catalogue");
        let ei = catalog
            .services
            .iter_mut()
            .find(|s| s.id == "1003")
            .expect("EI");
        ei.name.en = "Employment Insurance (renamed)".to_owned();
        catalog.services.retain(|s| s.id != "SRV03054");
        let store = app.db.store().await;
        let outcome = store
            .import_catalog(&catalog, ImportMode::Replace)
            .await
            .expect("import");
        assert_eq!((outcome.changed, outcome.retired_services), (true, 1));
        store.close().await;
        let renamed = async {
            loop {
                let service = app.get_service("services/1003").await.expect("GetService");
                if service
                    .display_name
                    .expect("name")
                    .en
                    .ends_with("(renamed)")
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), renamed)
            .await
            .expect("the new catalogue was swapped in");
        let retired = app
            .get_service("services/SRV03054")
            .await
            .expect("a retired service can still be read");
        assert_eq!(
            retired.state,
            single_window::proto::v1::ServiceState::Retired as i32
        );
        let page = app
            .catalog
            .clone()
            .list_services(ListServicesRequest::default())
            .await
            .expect("ListServices")
            .into_inner();
        assert_eq!(
            page.total_size, 1750,
            "{backend:?}: retired services are not listed"
        );
    }
}

#[tokio::test]
async fn an_unreachable_database_keeps_the_server_not_serving_and_calls_unavailable() {
    // Nothing listens on port 1: connecting fails at once and is retried with backoff.
    let db = TestDb::empty(Backend::Sqlite).await;
    let mut args = serve_args("postgres://nobody@127.0.0.1:1/none");
    args.shutdown_timeout = Duration::from_secs(1);
    let app = TestApp::start(db, Some(args)).await;
    assert_eq!(app.health_status("").await, ServingStatus::NotServing);
    assert_eq!(
        app.health_status("singlewindow.v1.CatalogService").await,
        ServingStatus::NotServing
    );
    let status = app
        .get_service("services/1003")
        .await
        .expect_err("no catalogue yet");
    assert_error(&status, Code::Unavailable, "SERVICE_UNAVAILABLE", None);
    let stopped = app
        .stop()
        .await
        .expect("a server still waiting for its database stops cleanly");
    assert_eq!(stopped, Stopped::Drained);
}

#[tokio::test]
async fn an_unknown_database_scheme_stops_the_server_with_a_clear_error() {
    let db = TestDb::empty(Backend::Sqlite).await;
    let error = TestApp::refused_start(db, Some(serve_args("mysql://localhost/x"))).await;
    assert!(error.contains("unsupported scheme `mysql`"), "{error}");
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_stops_the_server() {
    for backend in backends() {
        let db = TestDb::empty(backend).await;
        let store = db.store().await;
        store.migrate().await.expect("migrate");
        store.close().await;
        insert_unknown_migration(&db.url).await;
        let error = TestApp::refused_start(db, None).await;
        assert!(
            error.contains("newer than this binary"),
            "{backend:?}: {error}"
        );
    }
}

async fn insert_unknown_migration(url: &str) {
    let sql = "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
               VALUES (99999, 'from the future', CURRENT_TIMESTAMP, TRUE, X'00', 0)";
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        sqlx::query(sql).execute(&pool).await.expect("insert");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
             VALUES (99999, 'from the future', now(), TRUE, '\\x00', 0)",
        )
        .execute(&pool)
        .await
        .expect("insert");
        pool.close().await;
    }
}

#[tokio::test]
async fn an_unmigrated_postgres_database_stops_the_server_asking_for_migrate() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let db = TestDb::empty(Backend::Postgres).await;
    let error = TestApp::refused_start(db, None).await;
    assert!(error.contains("single-window migrate"), "{error}");
}

#[tokio::test]
async fn health_turns_not_serving_while_draining_and_watches_end() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let request = HealthCheckRequest {
            service: String::new(),
        };
        let mut stream = app
            .health
            .clone()
            .watch(request)
            .await
            .expect("watch")
            .into_inner();
        let first = stream.message().await.expect("stream").expect("a status");
        assert_eq!(first.status, ServingStatus::Serving as i32);
        let stopping = tokio::spawn(app.stop());
        let next = stream
            .message()
            .await
            .expect("stream")
            .expect("a status while draining");
        assert_eq!(next.status, ServingStatus::NotServing as i32, "{backend:?}");
        let end = stream.message().await.expect("the watch ends cleanly");
        assert!(
            end.is_none(),
            "{backend:?}: the watch stream ends when draining starts"
        );
        let stopped = stopping.await.expect("join").expect("stopped");
        assert_eq!(
            stopped,
            Stopped::Drained,
            "{backend:?}: an open health watch does not hold shutdown up"
        );
    }
}

#[tokio::test]
async fn grpc_web_over_http1_answers_an_allowed_browser_origin() {
    use prost::Message as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let app = TestApp::spawn(Backend::Sqlite).await;
    let message = GetServiceRequest {
        name: "services/1003".into(),
    }
    .encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    body.extend_from_slice(&message);
    let head = format!(
        "POST /singlewindow.v1.CatalogService/GetService HTTP/1.1\r\nHost: {}\r\nOrigin: https://portal.example.ca\r\n\
         Content-Type: application/grpc-web+proto\r\nX-Grpc-Web: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.addr,
        body.len()
    );
    let mut socket = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    socket.write_all(head.as_bytes()).await.expect("write head");
    socket.write_all(&body).await.expect("write body");
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(
        text.contains("access-control-allow-origin: https://portal.example.ca"),
        "{text}"
    );
    assert!(text.contains("application/grpc-web"), "{text}");
    assert!(
        text.contains("employment insurance"),
        "the service is in the body"
    );
    assert!(
        text.contains("grpc-status:0"),
        "trailers report success: {text}"
    );
}
