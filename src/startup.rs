//! Building and running the gRPC server.
//!
//! The listener is bound first (port 0 works; the bound address is logged), health and reflection
//! answer at once, and the catalogue service reports NOT_SERVING until the database is reachable
//! (retried with backoff), its schema is current, the catalogue is imported if the store is empty,
//! and the snapshot and search index are loaded. On shutdown health turns NOT_SERVING again, calls
//! in flight get `shutdown_timeout` to finish, then the server stops regardless.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use tokio::{net::TcpListener, sync::oneshot};
use tonic::transport::{Server, server::TcpIncoming};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::health::DrainingHealth;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    catalog::{Catalogue, import},
    config::ServeArgs,
    grpc::catalog::CatalogApi,
    proto::{
        ERROR_DETAILS_DESCRIPTOR_SET, FILE_DESCRIPTOR_SET,
        v1::catalog_service_server::{CatalogServiceServer, SERVICE_NAME as CATALOG_SERVICE},
    },
    store::{
        Backend, CatalogStore as _, ImportMode, SchemaStatus, SchemaStore as _, Store, StoreError,
    },
};

/// A bound, not yet running, server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    args: ServeArgs,
}

impl Application {
    /// Binds the listen address.
    pub async fn build(args: ServeArgs) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            local_addr,
            args,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves, then drains, and says whether calls in flight finished
    /// before the deadline. Fails when the database URL is unusable or the schema is one this
    /// binary does not know.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Stopped> {
        let health = HealthReporter::new();
        set_health(&health, ServingStatus::NotServing).await;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let health_service = DrainingHealth::server(health.clone(), stop_rx.clone());
        let catalogue = Arc::new(Catalogue::default());
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(ERROR_DETAILS_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(ERROR_DETAILS_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let router = Server::builder()
            .accept_http1(true)
            .trace_fn(|request| tracing::info_span!("rpc", method = %request.uri().path()))
            .layer(cors(&self.args.cors_allowed_origins)?)
            .layer(tonic_web::GrpcWebLayer::new())
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(CatalogServiceServer::new(CatalogApi::new(
                catalogue.clone(),
            )));

        tracing::info!(address = %self.local_addr, "listening");
        let (drain_tx, drain_rx) = oneshot::channel::<()>();
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        let mut server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = drain_rx.await;
        }));
        let mut ready = tokio::spawn(prepare_and_watch(
            self.args.clone(),
            catalogue,
            health.clone(),
            stop_rx,
        ));

        let outcome = tokio::select! {
            () = shutdown => Ok(()),
            result = &mut ready => match result {
                Ok(Err(error)) => Err(error),
                Ok(Ok(())) => Ok(()),
                Err(join) => Err(anyhow::Error::new(join).context("readiness task failed")),
            },
            result = &mut server => {
                result.context("server task failed")?.context("server failed")?;
                return Ok(Stopped::Drained);
            }
        };
        tracing::info!("draining");
        set_health(&health, ServingStatus::NotServing).await;
        let _ = stop_tx.send(true);
        let _ = drain_tx.send(());
        let stopped = match tokio::time::timeout(self.args.shutdown_timeout, &mut server).await {
            Ok(result) => {
                result
                    .context("server task failed")?
                    .context("server failed")?;
                Stopped::Drained
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.args.shutdown_timeout, "calls still in flight at the shutdown deadline; stopping anyway");
                server.abort();
                Stopped::DeadlineExceeded
            }
        };
        if !ready.is_finished() {
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut ready).await;
            ready.abort();
        }
        tracing::info!(?stopped, "stopped");
        outcome.map(|()| stopped)
    }
}

/// How a server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every call in flight finished before the shutdown deadline.
    Drained,
    /// Calls were still in flight at the deadline and were cut off.
    DeadlineExceeded,
}

async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health.set_service_status(CATALOG_SERVICE, status).await;
}

fn cors(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .filter(|o| !o.is_empty())
            .map(|o| {
                o.parse()
                    .with_context(|| format!("invalid CORS origin `{o}`"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(values)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow)
        .allow_headers(tower_http::cors::Any)
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .expose_headers([
            http::HeaderName::from_static("grpc-status"),
            http::HeaderName::from_static("grpc-message"),
            http::HeaderName::from_static("grpc-status-details-bin"),
        ]))
}

/// Gets the store and catalogue ready, marks the service SERVING, then keeps the snapshot fresh
/// until `stop`. Returns an error only for failures a retry cannot fix.
async fn prepare_and_watch(
    args: ServeArgs,
    catalogue: Arc<Catalogue>,
    health: HealthReporter,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let store = tokio::select! {
        store = prepare(&args, &catalogue) => store?,
        _ = stop.changed() => return Ok(()),
    };
    set_health(&health, ServingStatus::Serving).await;
    tracing::info!("serving");
    catalogue
        .watch(&store, args.catalog_poll_interval, async move {
            let _ = stop.changed().await;
        })
        .await;
    store.close().await;
    Ok(())
}

async fn prepare(args: &ServeArgs, catalogue: &Catalogue) -> anyhow::Result<Store> {
    let store = connect_with_backoff(&args.database.database_url, &args.database).await?;
    match store.backend() {
        Backend::Sqlite => store.migrate().await?,
        Backend::Postgres => match store.schema_status().await? {
            SchemaStatus::Current => {}
            status => bail!("{status}"),
        },
    }
    if store.catalog_generation().await? == 0 {
        let (catalog, report) =
            tokio::task::spawn_blocking(|| import::build(import::BUILTIN)).await??;
        let outcome = store.import_catalog(&catalog, ImportMode::IfEmpty).await?;
        if outcome.changed {
            tracing::info!(
                generation = outcome.generation,
                services = outcome.services,
                "imported the built-in catalogue"
            );
            for line in report.anomalies() {
                tracing::info!("import report: {line}");
            }
        }
    }
    catalogue.refresh(&store).await?;
    Ok(store)
}

/// Connects, retrying with backoff while the database is unreachable.
async fn connect_with_backoff(
    url: &str,
    database: &crate::config::DatabaseArgs,
) -> anyhow::Result<Store> {
    let mut delay = Duration::from_millis(200);
    loop {
        match Store::connect(url, &database.pool_settings()).await {
            Ok(store) => {
                tracing::info!(backend = ?store.backend(), "database connected");
                return Ok(store);
            }
            Err(StoreError::Unavailable(error)) => {
                tracing::warn!(error = %error, retry_in = ?delay, "database unreachable; NOT_SERVING until it answers");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error.into()),
        }
    }
}
