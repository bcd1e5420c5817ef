//! The test harness: the real server on `127.0.0.1:0` over a fresh database of either backend,
//! with typed clients.
//!
//! SQLite: a temporary file copied from a template that already holds the migrated schema and the
//! built-in catalogue. PostgreSQL (from `TEST_DATABASE_URL`): a new database cloned from such a
//! template, dropped afterwards. Without `TEST_DATABASE_URL` the PostgreSQL cases are skipped with
//! one printed line, unless `CI` is set, in which case they fail.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{LazyLock, Once},
    time::Duration,
};

pub use single_window::store::Backend;
use single_window::{
    catalog::import,
    config::ServeArgs,
    proto::v1::{
        GetServiceRequest, ListServiceStandardsRequest, ListServicesRequest, Service,
        ServiceStandard, catalog_service_client::CatalogServiceClient,
        citizen_service_client::CitizenServiceClient,
        feedback_service_client::FeedbackServiceClient, form_service_client::FormServiceClient,
        request_service_client::RequestServiceClient, routing_service_client::RoutingServiceClient,
    },
    startup::{Application, Stopped},
    store::{CatalogStore as _, ImportMode, PoolSettings, SchemaStore as _, Store},
};
use sqlx::{Connection as _, Executor as _, PgConnection};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The backends to run every API test on.
pub fn backends() -> Vec<Backend> {
    static SKIP_NOTICE: Once = Once::new();
    match pg_server_url() {
        Some(_) => vec![Backend::Sqlite, Backend::Postgres],
        None if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but TEST_DATABASE_URL is not: the PostgreSQL backend must be tested in CI"
            )
        }
        None => {
            SKIP_NOTICE.call_once(|| {
                // Written to the stderr handle itself: the test harness captures `eprintln!`,
                // and this line must be seen.
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "note: TEST_DATABASE_URL is not set; PostgreSQL cases are skipped (SQLite only)"
                );
            });
            vec![Backend::Sqlite]
        }
    }
}

fn pg_server_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// `url` with its database replaced by `database`.
fn pg_url_for(url: &str, database: &str) -> String {
    let (base, _) = url
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database path");
    format!("{base}/{database}")
}

/// Logs of the server under test go to the test output only with `TEST_LOG` set.
fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            std::mem::forget(single_window::telemetry::init(
                single_window::config::LogFormat::Auto,
            ));
        }
    });
}

/// A database for one test, removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    /// A key file made for this database (servers of the tests use it).
    pub keys_file: PathBuf,
    _keys_dir: Option<tempfile::TempDir>,
    _dir: Option<tempfile::TempDir>,
    pg_database: Option<String>,
}

/// A directory holding a new key file.
fn new_keys() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("keys.json");
    let file = single_window::secrets::KeyFile::generate("test-1");
    std::fs::write(&path, serde_json::to_vec(&file).expect("json")).expect("write the key file");
    (dir, path)
}

impl TestDb {
    /// A fresh, empty database (no schema, no catalogue).
    pub async fn empty(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                let (keys_dir, keys_file) = new_keys();
                Self {
                    url,
                    keys_file,
                    _keys_dir: Some(keys_dir),
                    _dir: Some(dir),
                    pg_database: None,
                }
            }
            Backend::Postgres => Self::postgres(None).await,
        }
    }

    /// The same database and key file, for another server (a replica); dropping it leaves the
    /// database to its owner.
    pub fn alias(&self) -> Self {
        Self {
            url: self.url.clone(),
            keys_file: self.keys_file.clone(),
            _keys_dir: None,
            _dir: None,
            pg_database: None,
        }
    }

    /// A store connected to this database.
    pub async fn store(&self) -> Store {
        Store::connect(&self.url, &PoolSettings::default())
            .await
            .expect("connect to the test database")
    }

    /// A database holding the migrated schema and the built-in catalogue.
    pub async fn with_catalogue(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("test.db");
                std::fs::copy(sqlite_template().await, &path).expect("copy the SQLite template");
                let (keys_dir, keys_file) = new_keys();
                Self {
                    url: format!("sqlite://{}", path.display()),
                    keys_file,
                    _keys_dir: Some(keys_dir),
                    _dir: Some(dir),
                    pg_database: None,
                }
            }
            Backend::Postgres => Self::postgres(Some(pg_template().await)).await,
        }
    }

    /// The database at `url` (owned by the caller: a private PostgreSQL server, a SQLite file on
    /// a filesystem of its own), migrated and holding the built-in catalogue.
    pub async fn with_catalogue_at(url: String) -> Self {
        load_catalogue(&url).await;
        let (keys_dir, keys_file) = new_keys();
        Self {
            url,
            keys_file,
            _keys_dir: Some(keys_dir),
            _dir: None,
            pg_database: None,
        }
    }

    async fn postgres(template: Option<&str>) -> Self {
        let server = pg_server_url().expect("TEST_DATABASE_URL");
        let name = format!("sw_test_{}", unique_suffix());
        let mut admin = PgConnection::connect(&server)
            .await
            .expect("connect to TEST_DATABASE_URL");
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        // Concurrent clones of one template can collide briefly; retry.
        let mut attempt = 0;
        while let Err(error) = admin.execute(sqlx::AssertSqlSafe(sql.clone())).await {
            attempt += 1;
            assert!(attempt < 50, "cannot create test database: {error}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        admin.close().await.ok();
        let (keys_dir, keys_file) = new_keys();
        Self {
            url: pg_url_for(&server, &name),
            keys_file,
            _keys_dir: Some(keys_dir),
            _dir: None,
            pg_database: Some(name),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (Some(name), Some(server)) = (self.pg_database.take(), pg_server_url()) else {
            return;
        };
        // Drop runs outside any runtime guarantee: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&server).await {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            });
        })
        .join();
    }
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// Migrates `url` and imports the built-in catalogue.
async fn load_catalogue(url: &str) {
    let store = Store::connect(url, &PoolSettings::default())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let (catalog, _) = import::build(import::BUILTIN).expect("the built-in catalogue builds");
    store
        .import_catalog(&catalog, ImportMode::Replace)
        .await
        .expect("import");
    store.close().await;
}

/// Builds the template once per test process, whichever test's runtime gets there first: each
/// template is built on a thread of its own so no connection outlives the runtime that made it.
fn build_once<T: Send + Sync + 'static>(
    cell: &'static tokio::sync::OnceCell<T>,
    make: fn() -> T,
) -> impl Future<Output = &'static T> {
    cell.get_or_init(move || async move {
        tokio::task::spawn_blocking(make)
            .await
            .expect("template builder thread")
    })
}

fn on_own_runtime<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

async fn sqlite_template() -> &'static PathBuf {
    static DIR: LazyLock<tempfile::TempDir> =
        LazyLock::new(|| tempfile::tempdir().expect("temp dir"));
    static TEMPLATE: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    build_once(&TEMPLATE, || {
        let path = DIR.path().join("template.db");
        on_own_runtime(load_catalogue(&format!("sqlite://{}", path.display())));
        path
    })
    .await
}

/// The PostgreSQL template for this test binary: named after the binary's build, reused by later
/// runs of the same build, and replacing the templates of older builds (so they do not pile up).
async fn pg_template() -> &'static str {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    build_once(&TEMPLATE, || on_own_runtime(ensure_pg_template()))
        .await
        .as_str()
}

fn build_id() -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let meta = std::fs::metadata(&exe).expect("test binary metadata");
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default();
    format!("{:x}{:x}", modified.as_secs(), meta.len())
}

async fn ensure_pg_template() -> String {
    let server = pg_server_url().expect("TEST_DATABASE_URL");
    let name = format!("sw_tpl_{}", build_id());
    let mut admin = PgConnection::connect(&server)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let existing: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'sw_tpl_%'")
            .fetch_all(&mut admin)
            .await
            .expect("list templates");
    if existing.contains(&name) {
        return name;
    }
    for old in existing {
        // Another run may be using it: then it stays, and a later run removes it.
        let _ = admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {old}"
            )))
            .await;
    }
    let building = TestDb::postgres(None).await;
    load_catalogue(&building.url).await;
    let temporary = building.pg_database.clone().expect("a PostgreSQL database");
    let renamed = admin
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {temporary} RENAME TO {name}"
        )))
        .await;
    if renamed.is_ok() {
        std::mem::forget(building); // now the template; kept for later runs
    } // otherwise a concurrent run made it first: ours is dropped with `building`
    admin.close().await.ok();
    name
}

/// Every active service, following page tokens.
pub async fn all_services(client: &CatalogServiceClient<Channel>) -> Vec<Service> {
    let mut client = client.clone();
    let (mut all, mut token) = (Vec::new(), String::new());
    loop {
        let request = ListServicesRequest {
            page_size: 500,
            page_token: token,
            ..Default::default()
        };
        let page = client
            .list_services(request)
            .await
            .expect("ListServices")
            .into_inner();
        all.extend(page.services);
        token = page.next_page_token;
        if token.is_empty() {
            return all;
        }
    }
}

/// Every standard of the active services, following page tokens.
pub async fn all_standards(client: &CatalogServiceClient<Channel>) -> Vec<ServiceStandard> {
    let mut client = client.clone();
    let (mut all, mut token) = (Vec::new(), String::new());
    loop {
        let request = ListServiceStandardsRequest {
            page_size: 500,
            page_token: token,
            ..Default::default()
        };
        let page = client
            .list_service_standards(request)
            .await
            .expect("ListServiceStandards")
            .into_inner();
        all.extend(page.service_standards);
        token = page.next_page_token;
        if token.is_empty() {
            return all;
        }
    }
}

/// A running server and its clients.
#[derive(Debug)]
pub struct TestApp {
    pub addr: SocketAddr,
    /// The health-only listener's address, when the settings asked for one.
    pub health_addr: Option<SocketAddr>,
    pub catalog: CatalogServiceClient<Channel>,
    pub citizens: CitizenServiceClient<Channel>,
    pub routing: RoutingServiceClient<Channel>,
    pub requests: RequestServiceClient<Channel>,
    pub feedback: FeedbackServiceClient<Channel>,
    pub forms: FormServiceClient<Channel>,
    pub health: HealthClient<Channel>,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<Stopped>>>,
}

/// Server settings for tests: the defaults on port 0, with a short catalogue poll, a short
/// shutdown timeout and one allowed browser origin.
pub fn serve_args(database_url: &str) -> ServeArgs {
    let mut args = ServeArgs::defaults_for(database_url);
    args.database.database_max_connections = 4;
    args.cors_allowed_origins = vec!["https://portal.example.ca".to_owned()];
    args.catalog_poll_interval = Duration::from_millis(200);
    args.shutdown_timeout = Duration::from_secs(2);
    args.performance_interval = Duration::from_millis(200);
    args
}

impl TestApp {
    /// A server over a database already holding the catalogue, ready (SERVING).
    pub async fn spawn(backend: Backend) -> Self {
        let app = Self::start(TestDb::with_catalogue(backend).await, None).await;
        app.wait_until_serving().await;
        app
    }

    /// A SQLite-backed server holding the catalogue, with `configure` applied to the test
    /// settings, ready (SERVING). For transport and limit tests, where storage plays no part.
    pub async fn spawn_with(configure: impl FnOnce(&mut ServeArgs)) -> Self {
        let db = TestDb::with_catalogue(Backend::Sqlite).await;
        let mut args = serve_args(&db.url);
        configure(&mut args);
        let app = Self::start(db, Some(args)).await;
        app.wait_until_serving().await;
        app
    }

    /// A SQLite-backed server like [`TestApp::spawn_with`], not waited on (for servers the
    /// plaintext clients cannot reach, such as TLS ones).
    pub async fn start_with(configure: impl FnOnce(&mut ServeArgs)) -> Self {
        let db = TestDb::with_catalogue(Backend::Sqlite).await;
        let mut args = serve_args(&db.url);
        configure(&mut args);
        Self::start(db, Some(args)).await
    }

    /// A server over `db`, started with `args` (defaults from [`serve_args`]); not waited on.
    pub async fn start(db: TestDb, args: Option<ServeArgs>) -> Self {
        Self::start_clocked(db, args, None).await
    }

    /// [`TestApp::start`], telling time by `clock` when one is given.
    pub async fn start_clocked(
        db: TestDb,
        args: Option<ServeArgs>,
        clock: Option<single_window::clock::SharedClock>,
    ) -> Self {
        init_logging();
        let mut args = args.unwrap_or_else(|| serve_args(&db.url));
        args.database
            .keys_file
            .get_or_insert_with(|| db.keys_file.clone());
        let mut application = Application::build(args).await.expect("bind");
        if let Some(clock) = clock {
            application = application.with_clock(clock);
        }
        let addr = application.local_addr();
        let health_addr = application.health_addr();
        let (tx, rx) = oneshot::channel();
        let handle = tokio::spawn(application.run_until_stopped(async {
            let _ = rx.await;
        }));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_lazy();
        Self {
            addr,
            health_addr,
            catalog: CatalogServiceClient::new(channel.clone()),
            citizens: CitizenServiceClient::new(channel.clone()),
            routing: RoutingServiceClient::new(channel.clone()),
            requests: RequestServiceClient::new(channel.clone()),
            feedback: FeedbackServiceClient::new(channel.clone()),
            forms: FormServiceClient::new(channel.clone()),
            health: HealthClient::new(channel),
            db,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// `GetService` for `name`.
    pub async fn get_service(&self, name: &str) -> Result<Service, tonic::Status> {
        let request = GetServiceRequest {
            name: name.to_owned(),
        };
        self.catalog
            .clone()
            .get_service(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Starts a server over `db` that must refuse to run, and returns its error text.
    pub async fn refused_start(db: TestDb, args: Option<ServeArgs>) -> String {
        let mut app = Self::start(db, args).await;
        format!(
            "{:#}",
            app.join().await.expect_err("the server refuses to run")
        )
    }

    /// The health status of `service` (`""` for the whole server).
    pub async fn health_status(&self, service: &str) -> ServingStatus {
        let request = HealthCheckRequest {
            service: service.to_owned(),
        };
        let response = self
            .health
            .clone()
            .check(request)
            .await
            .expect("health check answers");
        ServingStatus::try_from(response.into_inner().status).expect("a known status")
    }

    /// Waits for the catalogue service to report SERVING (health Watch, no polling sleeps).
    pub async fn wait_until_serving(&self) {
        let request = HealthCheckRequest {
            service: "singlewindow.v1.CatalogService".to_owned(),
        };
        let wait = async {
            let mut stream = self
                .health
                .clone()
                .watch(request)
                .await
                .expect("health watch")
                .into_inner();
            while let Some(message) = stream.message().await.expect("health stream") {
                if message.status == ServingStatus::Serving as i32 {
                    return;
                }
            }
            panic!("health stream ended before SERVING");
        };
        tokio::time::timeout(Duration::from_secs(120), wait)
            .await
            .expect("the server became SERVING");
    }

    /// Sends the shutdown signal and returns what the server returned.
    pub async fn stop(mut self) -> anyhow::Result<Stopped> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.join().await
    }

    /// Waits for the server to return on its own (a fatal start-up error).
    pub async fn join(&mut self) -> anyhow::Result<Stopped> {
        let handle = self.handle.take().expect("the server runs");
        tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .expect("the server stopped in time")
            .expect("the server task did not panic")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
