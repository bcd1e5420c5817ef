//! Building and running the server.
//!
//! The listener is bound first (port 0 works; the bound address is logged), health and reflection
//! answer at once, and the catalogue service reports NOT_SERVING until the database is reachable
//! (retried with backoff), its schema is current, the catalogue is imported if the store is empty,
//! and the snapshot and search index are loaded. The application owns the store for its whole
//! life: handlers use it from the start, and it is closed only after the drain. On shutdown health
//! turns NOT_SERVING again, connections are asked to finish their calls, and at
//! `shutdown_timeout` every connection still open is closed.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    auth::{
        self, Authenticator,
        jwt::{JwtSettings, JwtVerifier},
    },
    catalog::{Catalogue, import},
    clock::{SharedClock, SystemClock},
    config::ServeArgs,
    domain::time::Timestamp,
    feedback,
    feeds::Feeds,
    forms::FormsConfig,
    grpc::{
        calls::{CallSettings, CallStackLayer, Policies, QuotaSettings, Quotas},
        catalog::CatalogApi,
        citizens::CitizenApi,
        feedback::FeedbackApi,
        forms::FormApi,
        page_token::{PageTokens, TokenKey},
        requests::RequestApi,
        routing::RoutingApi,
    },
    health::DrainingHealth,
    proto::{
        ERROR_DETAILS_DESCRIPTOR_SET, FILE_DESCRIPTOR_SET, HEALTH_DESCRIPTOR_SET,
        v1::{
            catalog_service_server::{CatalogServiceServer, SERVICE_NAME as CATALOG_SERVICE},
            citizen_service_server::{CitizenServiceServer, SERVICE_NAME as CITIZEN_SERVICE},
            feedback_service_server::{FeedbackServiceServer, SERVICE_NAME as FEEDBACK_SERVICE},
            form_service_server::{FormServiceServer, SERVICE_NAME as FORM_SERVICE},
            request_service_server::{RequestServiceServer, SERVICE_NAME as REQUEST_SERVICE},
            routing_service_server::{RoutingServiceServer, SERVICE_NAME as ROUTING_SERVICE},
        },
    },
    records::{self, RecordsConfig},
    requests::{self, steps},
    routing::{
        encoder::{self, Encoders},
        vectors::{self, VectorTable},
    },
    secrets::Secrets,
    store::{
        Backend, CatalogStore as _, ImportMode, Lock, SchemaStatus, SchemaStore as _, Store,
        StoreError, idempotency_sql, notice_sql, request_sql,
    },
    transport::{self, TransportSettings},
    web::{DemoIdentityProvider, WebLayer, WebSettings},
};

/// A bound, not yet running, server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    /// The plaintext health-only listener of `--health-listen`.
    health_listener: Option<TcpListener>,
    args: ServeArgs,
    clock: SharedClock,
    /// API keys accepted beside the configured ones (the simulation's agencies).
    extra_keys: Vec<(crate::auth::KeyHash, crate::domain::principal::Principal)>,
}

impl Application {
    /// Binds the listen address.
    pub async fn build(args: ServeArgs) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let local_addr = listener.local_addr()?;
        let health_listener = match args.health_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for health checks"))?,
            ),
            None => None,
        };
        Ok(Self {
            listener,
            local_addr,
            health_listener,
            args,
            clock: Arc::new(SystemClock),
            extra_keys: Vec::new(),
        })
    }

    /// This application, also accepting `keys` (API keys in clear, with their principals): for
    /// the simulation's in-process server on loopback.
    pub fn with_extra_keys(
        mut self,
        keys: impl IntoIterator<Item = (String, crate::domain::principal::Principal)>,
    ) -> Self {
        self.extra_keys.extend(
            keys.into_iter()
                .map(|(k, p)| (crate::auth::hash_key(&k), p)),
        );
        self
    }

    /// This application, telling time by `clock` (tests and simulations set it).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address the health-only listener bound, when `--health-listen` was given.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then drains, and says whether calls in flight finished
    /// before the deadline. Fails when the database URL is unusable or the schema is one this
    /// binary does not know.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Stopped> {
        let args = self.args;
        let store = Store::open(&args.database.database_url, &args.database.pool_settings())?
            .with_clock(self.clock.clone());
        let health = HealthReporter::new();
        set_health(&health, ServingStatus::NotServing).await;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let catalogue = Arc::new(match &args.routing_vectors {
            None => Catalogue::default(),
            Some(path) => Catalogue::with_vectors(Arc::new(read_vectors(path)?)),
        });
        let secrets = Arc::new(args.database.secrets()?);
        let demo = demo_mode(&args);
        let (authenticator, quotas) = authenticator(&args, self.clock.clone(), &secrets)?;
        let authenticator = authenticator.with_keys(self.extra_keys);
        let tls = tls_config(&args)?;
        let records = RecordsConfig {
            secrets,
            log_origin: args.log_origin.clone(),
        };
        let concurrency = args
            .routing_concurrency
            .map_or_else(encoder::default_concurrency, usize::from);
        let encoders = tokio::task::spawn_blocking(move || Encoders::load(concurrency)).await?;
        let feeds = Feeds::new(&store, args.stream_buffer, stop_rx.clone());
        let web = WebSettings {
            demo: demo
                .then(|| records.secrets.demo_identity_provider_key.clone())
                .flatten()
                .map(|key| DemoIdentityProvider {
                    key,
                    clock: self.clock.clone(),
                }),
        };
        let service = services(
            &args,
            &health,
            stop_rx.clone(),
            (catalogue.clone(), store.clone(), records.clone(), encoders),
            (authenticator, quotas, feeds.clone(), web),
        )?;

        tracing::info!(address = %self.local_addr, tls = tls.is_some(), "listening");
        let drain = CancellationToken::new();
        if let Some(listener) = self.health_listener {
            tracing::info!(address = %listener.local_addr()?, "health checks listening (plaintext)");
            let routes = tonic::service::Routes::new(DrainingHealth::server(
                health.clone(),
                stop_rx.clone(),
            ))
            .prepare();
            tokio::spawn(transport::serve(
                listener,
                routes,
                transport_settings(&args, None),
                drain.clone(),
            ));
        }
        let mut server = tokio::spawn(transport::serve(
            self.listener,
            service,
            transport_settings(&args, tls),
            drain.clone(),
        ));
        let mut ready = tokio::spawn(prepare_and_watch(
            args.clone(),
            store.clone(),
            (catalogue, records, demo, feeds),
            health.clone(),
            stop_rx,
        ));

        let mut ready_ended = false;
        let outcome = tokio::select! {
            () = shutdown => Ok(()),
            result = &mut ready => {
                ready_ended = true;
                match result {
                    Ok(Err(error)) => Err(error),
                    Ok(Ok(())) => Ok(()),
                    Err(join) => Err(anyhow::Error::new(join).context("readiness task failed")),
                }
            },
            result = &mut server => {
                result.context("server task failed")?;
                bail!("the server stopped accepting connections on its own");
            }
        };
        tracing::info!("draining");
        // Stop first: the database watcher checks it before it would set SERVING again.
        let _ = stop_tx.send(true);
        set_health(&health, ServingStatus::NotServing).await;
        drain.cancel();
        // One budget for the whole shutdown: the drain, then closing the store.
        let hard_stop = tokio::time::Instant::now() + args.shutdown_timeout;
        let stopped = match tokio::time::timeout_at(hard_stop, &mut server).await {
            Ok(result) => {
                result.context("server task failed")?;
                Stopped::Drained
            }
            Err(_) => {
                tracing::warn!(timeout = ?args.shutdown_timeout, "calls still in flight at the shutdown deadline; closing their connections");
                server.abort();
                let _ = server.await;
                Stopped::DeadlineExceeded
            }
        };
        if !ready_ended {
            ready.abort();
            let _ = ready.await;
        }
        // What the drain left of the budget (a little at least): committed data is durable
        // either way, closing only checkpoints a SQLite file and says goodbye to PostgreSQL.
        let close_by = hard_stop.max(tokio::time::Instant::now() + Duration::from_millis(100));
        if tokio::time::timeout_at(close_by, store.close())
            .await
            .is_err()
        {
            tracing::warn!("the database pool did not close within the shutdown timeout");
        }
        tracing::info!(?stopped, "stopped");
        outcome.map(|()| stopped)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// How a server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every call in flight finished before the shutdown deadline.
    Drained,
    /// Calls were still in flight at the deadline; their connections were closed.
    DeadlineExceeded,
}

type AppService = crate::web::WebService<
    tower_http::cors::Cors<
        tonic_web::GrpcWebService<crate::grpc::calls::CallStack<tonic::service::Routes>>,
    >,
>;

/// The portal's pages in front of every gRPC service behind CORS, gRPC-Web and the call stack.
fn services(
    args: &ServeArgs,
    health: &HealthReporter,
    draining: tokio::sync::watch::Receiver<bool>,
    (catalogue, store, records, encoders): (Arc<Catalogue>, Store, RecordsConfig, Encoders),
    (authenticator, quotas, feeds, web): (Authenticator, QuotaSettings, Feeds, WebSettings),
) -> anyhow::Result<AppService> {
    let limits = &args.limits;
    let descriptor_sets = [
        FILE_DESCRIPTOR_SET,
        HEALTH_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ];
    let policies = Policies::build(
        &descriptor_sets,
        limits.max_request_size,
        limits.max_deadline,
    );
    let decode_limit = policies.max_request_bytes();
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(HEALTH_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(ERROR_DETAILS_DESCRIPTOR_SET)
    };
    let tokens = Arc::new(page_tokens(args));
    let router = RoutingApi::new(
        store.clone(),
        catalogue.clone(),
        encoders,
        records.secrets.keyring.clone(),
    );
    let requests = RequestServiceServer::new(RequestApi::new(
        store.clone(),
        router.clone(),
        records.secrets.keyring.clone(),
        (Arc::new(args.requests()), tokens.clone()),
        feeds.clone(),
    ))
    .max_decoding_message_size(decode_limit)
    .max_encoding_message_size(limits.max_response_size);
    let feedback = FeedbackServiceServer::new(FeedbackApi::new(
        (store.clone(), catalogue.clone()),
        records.secrets.keyring.clone(),
        Arc::new(args.feedback()),
        tokens.clone(),
    ))
    .max_decoding_message_size(decode_limit)
    .max_encoding_message_size(limits.max_response_size);
    let forms = FormServiceServer::new(FormApi::new(
        (store.clone(), catalogue.clone()),
        Arc::new(FormsConfig::new(
            records.secrets.keyring.clone(),
            &args.time_zone,
        )),
        tokens.clone(),
    ))
    .max_decoding_message_size(decode_limit)
    .max_encoding_message_size(limits.max_response_size);
    let routing = RoutingServiceServer::new(router)
        .max_decoding_message_size(decode_limit)
        .max_encoding_message_size(limits.max_response_size);
    let citizens = CitizenServiceServer::new(CitizenApi::new(
        store.clone(),
        records,
        tokens.clone(),
        (catalogue.clone(), feeds),
    ))
    .max_decoding_message_size(decode_limit)
    .max_encoding_message_size(limits.max_response_size);
    let catalog = CatalogServiceServer::new(CatalogApi::new(catalogue, tokens, store))
        .max_decoding_message_size(decode_limit)
        .max_encoding_message_size(limits.max_response_size);
    let routes = tonic::service::Routes::new(DrainingHealth::server(health.clone(), draining))
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(catalog)
        .add_service(citizens)
        .add_service(routing)
        .add_service(requests)
        .add_service(feedback)
        .add_service(forms)
        .prepare();
    let calls = CallStackLayer::new(CallSettings {
        policies,
        authenticator,
        max_concurrent_calls: limits.max_concurrent_calls,
        quotas: Quotas::new(&quotas),
    });
    Ok(tower::ServiceBuilder::new()
        .layer(WebLayer::new(web))
        .layer(cors(&args.cors_allowed_origins)?)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(calls)
        .service(routes))
}

/// Reads a vector file given with `--routing-vectors`.
fn read_vectors(path: &std::path::Path) -> anyhow::Result<VectorTable> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the routing vectors {}", path.display()))?;
    let table = VectorTable::parse(&bytes)
        .with_context(|| format!("{} is not a vector file", path.display()))?;
    if table.identity != vectors::model_identity() {
        bail!(
            "{} was made by another sentence encoder; run `single-window catalog vectors` again",
            path.display()
        );
    }
    Ok(table)
}

/// Whether the demo principals and citizens of the embedded default are in use: no principals
/// file, and a loopback address (their credentials are public).
fn demo_mode(args: &ServeArgs) -> bool {
    args.principals_file.is_none() && args.listen.ip().is_loopback()
}

/// API keys: the principals file when one is configured; otherwise the demo principals, but only
/// on a loopback address (their keys are public); otherwise none. JWTs: from the identity
/// provider of `--jwks-file`, when given. Citizen tokens: from the citizens' identity provider of
/// `--citizen-jwks-file`, or in demo mode from the demo identity provider. Quotas: the principals
/// file's, none without one.
fn authenticator(
    args: &ServeArgs,
    clock: SharedClock,
    secrets: &Secrets,
) -> anyhow::Result<(Authenticator, QuotaSettings)> {
    let (authenticator, quotas) = agency_authenticator(args, clock.clone())?;
    if let Some(path) = &args.citizen_jwks_file {
        let settings = JwtSettings {
            issuer: args
                .citizen_token_issuer
                .clone()
                .context("--citizen-jwks-file needs --citizen-token-issuer")?,
            audience: args.citizen_token_audience.clone(),
            algorithms: args.jwt_algorithms.clone(),
        };
        tracing::info!(issuer = %settings.issuer, "citizen tokens accepted");
        return Ok((
            authenticator.with_citizen_tokens(JwtVerifier::from_file(path, settings, clock)?),
            quotas,
        ));
    }
    match (&secrets.demo_identity_provider_key, demo_mode(args)) {
        (Some(key), true) => {
            tracing::info!("citizen tokens of the demo identity provider accepted (loopback only)");
            Ok((
                authenticator.with_citizen_tokens(auth::demo::idp_verifier(key, clock)?),
                quotas,
            ))
        }
        _ => Ok((authenticator, quotas)),
    }
}

fn agency_authenticator(
    args: &ServeArgs,
    clock: SharedClock,
) -> anyhow::Result<(Authenticator, QuotaSettings)> {
    let mut quotas = QuotaSettings::default();
    let authenticator = if let Some(path) = &args.principals_file {
        let (authenticator, file_quotas) = Authenticator::from_file(path)?;
        tracing::info!(keys = authenticator.key_count(), quotas = file_quotas.principals.len(), file = %path.display(), "principals loaded");
        quotas = file_quotas;
        authenticator
    } else if args.listen.ip().is_loopback() {
        tracing::info!(
            "demo principals accepted (loopback only); `single-window demo credentials` prints them"
        );
        Authenticator::demo()
    } else {
        tracing::warn!("no principals file and not on loopback: demo credentials are refused");
        Authenticator::default()
    };
    let Some(path) = &args.jwks_file else {
        return Ok((authenticator, quotas));
    };
    let settings = JwtSettings {
        issuer: args
            .jwt_issuer
            .clone()
            .context("--jwks-file needs --jwt-issuer")?,
        audience: args.jwt_audience.clone(),
        algorithms: args.jwt_algorithms.clone(),
    };
    tracing::info!(issuer = %settings.issuer, audience = %settings.audience, "JWTs accepted");
    Ok((
        authenticator.with_jwt(JwtVerifier::from_file(path, settings, clock)?),
        quotas,
    ))
}

fn page_tokens(args: &ServeArgs) -> PageTokens {
    let current = args.page_token_key.clone().unwrap_or_else(|| {
        tracing::info!("page tokens are signed with a key of this process only; set --page-token-key to share one between replicas and restarts");
        TokenKey::random()
    });
    PageTokens::new(current, args.page_token_previous_key.clone())
}

fn transport_settings(
    args: &ServeArgs,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> TransportSettings {
    let limits = &args.limits;
    let window = |bytes: usize| u32::try_from(bytes).unwrap_or(u32::MAX);
    TransportSettings {
        max_connections: limits.max_connections,
        handshake_timeout: limits.handshake_timeout,
        tcp_keepalive: limits.tcp_keepalive,
        http2_keepalive_interval: limits.http2_keepalive_interval,
        http2_keepalive_timeout: limits.http2_keepalive_timeout,
        max_concurrent_streams: limits.max_concurrent_streams,
        stream_window_bytes: window(limits.http2_stream_window),
        connection_window_bytes: window(limits.http2_connection_window),
        max_header_list_bytes: window(limits.max_header_list_size),
        max_pending_reset_streams: limits.max_pending_reset_streams,
        connection_buffer_bytes: limits.connection_buffer,
        process_buffer_bytes: limits.process_buffer,
        tls,
    }
}

/// The TLS configuration of `--tls-cert`, `--tls-key` and `--tls-client-ca`, if given.
fn tls_config(args: &ServeArgs) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &args.tls_client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(ca)
                .with_context(|| format!("cannot read CA certificates from {}", ca.display()))?
            {
                roots.add(certificate?)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .allow_unauthenticated()
            .build()?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status(CATALOG_SERVICE, status).await;
    set_database_health(health, status).await;
}

/// The status of the server as a whole and of every service that needs the database (all but the
/// catalogue, which is answered from memory).
async fn set_database_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health.set_service_status(CITIZEN_SERVICE, status).await;
    health.set_service_status(ROUTING_SERVICE, status).await;
    health.set_service_status(REQUEST_SERVICE, status).await;
    health.set_service_status(FEEDBACK_SERVICE, status).await;
    health.set_service_status(FORM_SERVICE, status).await;
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
            http::HeaderName::from_static("x-request-id"),
        ]))
}

/// Gets the store and catalogue ready, marks the service SERVING, then keeps the snapshot fresh
/// and the access log sequenced until `stop`. Returns an error only for failures a retry cannot
/// fix.
async fn prepare_and_watch(
    args: ServeArgs,
    store: Store,
    (catalogue, records, demo, feeds): (Arc<Catalogue>, RecordsConfig, bool, Feeds),
    health: HealthReporter,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    tokio::select! {
        prepared = prepare(&store, &catalogue) => prepared?,
        _ = stop.changed() => return Ok(()),
    };
    if demo {
        let input = records::demo::Ensure {
            keys: records.secrets.keyring.clone(),
            now: store.clock().now(),
        };
        let created = store
            .write(input, |tx, input| {
                Box::pin(records::demo::ensure(tx, input))
            })
            .await?;
        if created > 0 {
            tracing::info!(created, "demo citizens created");
        }
    }
    feeds.prime().await;
    set_health(&health, ServingStatus::Serving).await;
    tracing::info!("serving");
    let feeds_run = feeds.run(&store, args.log_sequence_interval, stop.clone());
    let mut measure_stop = stop.clone();
    let measure = catalogue.measure_every(&store, args.performance_interval, async move {
        let _ = measure_stop.wait_for(|s| *s).await;
    });
    let mut sequencer_stop = stop.clone();
    let sequencer = sequence_logs(&store, (&records, &catalogue), &args, async move {
        let _ = sequencer_stop.changed().await;
    });
    let mut warnings_stop = stop.clone();
    let warnings = evaluate_warnings(&store, &catalogue, &args, async move {
        let _ = warnings_stop.wait_for(|s| *s).await;
    });
    let database = watch_database(&store, &health, stop.clone());
    let watch = catalogue.watch(&store, args.catalog_poll_interval, async move {
        let _ = stop.changed().await;
    });
    tokio::join!(sequencer, watch, feeds_run, measure, warnings, database);
    Ok(())
}

/// How often the server checks that the database answers, and how often while it does not.
const DATABASE_CHECK: Duration = Duration::from_secs(1);
const DATABASE_RECHECK: Duration = Duration::from_millis(250);

/// Until `stop`: checks every second that the database answers ([`Store::probe`]). When it does
/// not, the server and every service but the catalogue go NOT_SERVING (calls needing the database
/// fail at once with UNAVAILABLE); at the first answer, checked four times a second meanwhile,
/// SERVING again.
async fn watch_database(
    store: &Store,
    health: &HealthReporter,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut down_since: Option<tokio::time::Instant> = None;
    loop {
        let answered = store.probe().await;
        if *stop.borrow() {
            return;
        }
        match (answered, down_since) {
            (Ok(()), Some(since)) => {
                set_database_health(health, ServingStatus::Serving).await;
                tracing::info!(outage = ?since.elapsed(), "the database answers again; SERVING");
                down_since = None;
            }
            (Err(error), None) => {
                set_database_health(health, ServingStatus::NotServing).await;
                tracing::warn!(error = %error, "the database does not answer; NOT_SERVING until it does");
                down_since = Some(tokio::time::Instant::now());
            }
            _ => {}
        }
        let pause = if down_since.is_some() {
            DATABASE_RECHECK
        } else {
            DATABASE_CHECK
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {},
            _ = stop.changed() => return,
        }
    }
}

/// Every warning interval until `stop`: evaluates the early warnings' rules, one replica at a
/// time.
async fn evaluate_warnings(
    store: &Store,
    catalogue: &Catalogue,
    args: &ServeArgs,
    stop: impl Future<Output = ()>,
) {
    let config = Arc::new(args.requests());
    let feedback = args.feedback();
    let run = async {
        let mut ticks = tokio::time::interval(feedback.warning_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(snapshot) = catalogue.current() else {
                continue;
            };
            let input = feedback::warnings::Evaluate {
                snapshot,
                settings: feedback.warnings,
                config: config.clone(),
                now: store.clock().now(),
            };
            let evaluated = store
                .write_locked(Lock::EarlyWarnings, input, |tx, input| {
                    Box::pin(feedback::warnings::evaluate(tx, input))
                })
                .await;
            match evaluated {
                Ok(0) => {}
                Ok(changed) => {
                    tracing::info!(changed, "early warnings raised, changed or resolved")
                }
                Err(error) => {
                    tracing::warn!(error = %error, "the early warnings job failed; retrying later")
                }
            }
        }
    };
    tokio::select! {
        () = run => {},
        () = stop => {},
    }
}

/// Every `interval` until `stop`: adds committed access events to the log's tree (signing a
/// checkpoint when it grew) and gives committed change notices their positions; about once a
/// minute, forgets idempotent answers and change notices past their retention.
async fn sequence_logs(
    store: &Store,
    (records, catalogue): (&RecordsConfig, &Catalogue),
    args: &ServeArgs,
    stop: impl Future<Output = ()>,
) {
    let requests_config = Arc::new(args.requests());
    let key = records.secrets.log_signing_key.clone();
    let interval = args.log_sequence_interval;
    let housekeeping_every =
        (Duration::from_secs(60).as_millis() / interval.as_millis().max(1)).max(1);
    let run = async {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for tick in 0u128.. {
            ticks.tick().await;
            let input = records::log::Sequence {
                key: key.clone(),
                origin: records.log_origin.clone(),
                now: store.clock().now(),
            };
            let sequenced = store
                .write_locked(Lock::AccessLogSequencer, input, |tx, input| {
                    Box::pin(records::log::sequence(tx, input))
                })
                .await;
            if let Err(error) = sequenced {
                tracing::warn!(error = %error, "sequencing the access log failed; retrying");
            }
            if let Some(snapshot) = catalogue.current() {
                let sweep = steps::Sweep {
                    cx: requests::Context {
                        snapshot,
                        config: requests_config.clone(),
                    },
                    now: store.clock().now(),
                    limit: 500,
                };
                let swept = store
                    .write_locked(Lock::WaitSweep, sweep, |tx, sweep| {
                        Box::pin(steps::abandon_overdue(tx, sweep))
                    })
                    .await;
                match swept {
                    Ok(0) => {}
                    Ok(legs) => tracing::info!(legs, "ended waits on citizens past their limit"),
                    Err(error) => {
                        tracing::warn!(error = %error, "the wait sweep failed; retrying later")
                    }
                }
            }
            if tick % housekeeping_every == 0 {
                let now = store.clock().now();
                let cutoffs = (
                    Timestamp::from_unix_millis(
                        now.unix_millis()
                            .saturating_sub(millis(args.idempotency_retention)),
                    ),
                    Timestamp::from_unix_millis(
                        now.unix_millis()
                            .saturating_sub(millis(args.notice_retention)),
                    ),
                );
                let forgotten = store
                    .write(cutoffs, |tx, (answers, notices)| {
                        Box::pin(async move {
                            let a = idempotency_sql::forget_before(tx, *answers).await?;
                            let n = notice_sql::forget_before(tx, *notices).await?
                                + request_sql::forget_events_before(tx, *notices).await?;
                            Ok((a, n))
                        })
                    })
                    .await;
                match forgotten {
                    Ok((0, 0)) => {}
                    Ok((answers, notices)) => {
                        tracing::info!(answers, notices, "forgot what is past its retention")
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, "housekeeping failed; retrying later")
                    }
                }
            }
        }
    };
    tokio::select! {
        () = run => {},
        () = stop => {},
    }
}

async fn prepare(store: &Store, catalogue: &Catalogue) -> anyhow::Result<()> {
    wait_for_database(store).await?;
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
    catalogue.refresh(store).await?;
    let seeds = crate::forms::seed::parse(crate::forms::seed::BUILTIN, store.clock().now())?;
    let published = store
        .write_locked(Lock::CatalogImport, seeds, |tx, seeds| {
            Box::pin(crate::forms::seed::ensure(tx, seeds))
        })
        .await?;
    if published > 0 {
        tracing::info!(published, "published the built-in common forms");
    }
    catalogue.reload_form_links(store).await?;
    Ok(())
}

/// Waits, retrying with backoff, until the database answers.
async fn wait_for_database(store: &Store) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(200);
    loop {
        match store.ping().await {
            Ok(()) => {
                tracing::info!(backend = ?store.backend(), "database connected");
                return Ok(());
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
