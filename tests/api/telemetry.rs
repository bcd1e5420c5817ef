//! OpenTelemetry as an operator sees it: the binary, started with the standard `OTEL_*`
//! variables, exports to an OTLP collector (here an in-process tonic server implementing the
//! collector's trace and metrics services) the span of each call, continuing the caller's
//! `traceparent`, with the store's transactions as child spans, and the per-call metrics; no
//! exported attribute holds a citizen or the text of a need, and log lines carry the trace id.

use std::time::Duration;

use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{KeyValue, any_value::Value},
    metrics::v1::metric::Data,
    trace::v1::{Span, span::SpanKind},
};
use single_window::proto::v1::{
    GetServiceRequest, Need, RouteNeedRequest, catalog_service_client::CatalogServiceClient, need,
    routing_service_client::RoutingServiceClient,
};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, transport::Channel};

use crate::{
    binary::Binary,
    helpers::{Backend, TestDb, backends},
};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";
const CRA: &str = "demo-cra-arc-benefits-credits-5d19e7a4";
const CITIZEN: &str = "demo-amelie";
const NEED: &str = "zebra crossing guard pension 7319";

/// The collector: every export it receives goes to the test.
struct Collector {
    traces: mpsc::UnboundedSender<ExportTraceServiceRequest>,
    metrics: mpsc::UnboundedSender<ExportMetricsServiceRequest>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _ = self.traces.send(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let _ = self.metrics.send(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

type Exports = (
    mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    mpsc::UnboundedReceiver<ExportMetricsServiceRequest>,
);

async fn start_collector() -> (std::net::SocketAddr, Exports) {
    let (traces_tx, traces) = mpsc::unbounded_channel();
    let (metrics_tx, metrics) = mpsc::unbounded_channel();
    let collector = || Collector {
        traces: traces_tx.clone(),
        metrics: metrics_tx.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(collector()))
        .add_service(MetricsServiceServer::new(collector()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);
    (addr, (traces, metrics))
}

/// The binary, exporting to `collector`.
fn start_exporting(db: &TestDb, collector: std::net::SocketAddr) -> Binary {
    Binary::serve(db, |command| {
        command
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
            .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_SERVICE_NAME", "single-window-under-test")
            .env("RUST_LOG", "info,single_window=debug");
    })
}

async fn connect(server: &Binary) -> Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect")
}

fn traced<T>(message: T, authorization: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    let metadata = request.metadata_mut();
    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    metadata.insert("traceparent", traceparent.parse().expect("metadata"));
    if let Some(key) = authorization {
        let value = format!("Bearer {key}");
        metadata.insert("authorization", value.parse().expect("metadata"));
    }
    request
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attribute(attributes, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// Spans exported until `done` holds for all of them (or the deadline).
async fn spans_until(
    traces: &mut mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    seen: &mut Vec<Span>,
    done: impl Fn(&[Span]) -> bool,
) {
    let wait = async {
        while !done(seen) {
            let export = traces.recv().await.expect("the collector runs");
            for resource in export.resource_spans {
                let name = resource
                    .resource
                    .as_ref()
                    .and_then(|r| string_attribute(&r.attributes, "service.name"))
                    .map(str::to_owned);
                assert_eq!(name.as_deref(), Some("single-window-under-test"));
                for scope in resource.scope_spans {
                    seen.extend(scope.spans);
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("spans expected; exported: {:?}", names(seen)));
}

fn names(spans: &[Span]) -> Vec<&str> {
    spans.iter().map(|s| s.name.as_str()).collect()
}

fn rpc_span<'a>(spans: &'a [Span], name: &str) -> Option<&'a Span> {
    spans.iter().find(|s| s.name == name)
}

#[tokio::test]
async fn a_calls_span_continues_its_traceparent_and_its_metrics_arrive_over_otlp() {
    for backend in backends().into_iter().rev() {
        exports_for(backend).await;
    }
}

async fn exports_for(backend: Backend) {
    let (collector, (mut traces, mut metrics)) = start_collector().await;
    let db = TestDb::with_catalogue(backend).await;
    let server = start_exporting(&db, collector);
    let channel = connect(&server).await;

    CatalogServiceClient::new(channel.clone())
        .get_service(traced(
            GetServiceRequest {
                name: "services/1003".to_owned(),
            },
            None,
        ))
        .await
        .expect("GetService");
    let routed = RoutingServiceClient::new(channel)
        .route_need(traced(
            RouteNeedRequest {
                need: Some(Need {
                    need: Some(need::Need::Text(NEED.to_owned())),
                }),
                citizen: format!("citizens/{CITIZEN}"),
                ..Default::default()
            },
            Some(CRA),
        ))
        .await;
    // Allowed or refused, the call reads the store (consents) and writes the access log.
    let _ = routed;

    let get = "singlewindow.v1.CatalogService/GetService";
    let route = "singlewindow.v1.RoutingService/RouteNeed";
    let mut spans = Vec::new();
    spans_until(&mut traces, &mut spans, |spans| {
        match (rpc_span(spans, get), rpc_span(spans, route)) {
            (Some(_), Some(r)) => spans.iter().any(|s| s.parent_span_id == r.span_id),
            _ => false,
        }
    })
    .await;

    let get_span = rpc_span(&spans, get).expect("the GetService span");
    assert_eq!(hex(&get_span.trace_id), TRACE_ID, "{backend:?}");
    assert_eq!(hex(&get_span.parent_span_id), PARENT_SPAN_ID);
    assert_eq!(get_span.kind, SpanKind::Server as i32);
    assert_eq!(
        string_attribute(&get_span.attributes, "rpc.system"),
        Some("grpc")
    );
    assert_eq!(
        string_attribute(&get_span.attributes, "rpc.method"),
        Some("GetService")
    );
    assert!(matches!(
        attribute(&get_span.attributes, "rpc.grpc.status_code"),
        Some(Value::IntValue(0))
    ));
    let route_span = rpc_span(&spans, route).expect("the RouteNeed span");
    assert_eq!(hex(&route_span.trace_id), TRACE_ID);
    let db_span = spans
        .iter()
        .find(|s| s.parent_span_id == route_span.span_id)
        .expect("a store span under RouteNeed");
    assert_eq!(db_span.trace_id, route_span.trace_id);
    assert_eq!(db_span.kind, SpanKind::Client as i32);
    let system = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    };
    assert_eq!(
        string_attribute(&db_span.attributes, "db.system.name"),
        Some(system)
    );
    let exported = format!("{spans:?}");
    assert!(!exported.contains(CITIZEN), "a span holds the citizen");
    assert!(!exported.contains(NEED), "a span holds the need's text");

    // The call's log line carries the trace id.
    server.wait_for(&["call ended", TRACE_ID]);

    let mut all = Vec::new();
    let wait = async {
        loop {
            let export = metrics.recv().await.expect("the collector runs");
            let found = export.resource_metrics.iter().any(|r| {
                r.scope_metrics.iter().any(|s| {
                    s.metrics.iter().any(|m| match &m.data {
                        Some(Data::Histogram(h)) if m.name == "rpc.server.duration" => {
                            h.data_points.iter().any(|p| {
                                string_attribute(&p.attributes, "rpc.method") == Some("GetService")
                                    && matches!(
                                        attribute(&p.attributes, "rpc.grpc.status_code"),
                                        Some(Value::IntValue(0))
                                    )
                                    && p.count >= 1
                            })
                        }
                        _ => false,
                    })
                })
            });
            all.push(export);
            if found {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("rpc.server.duration for GetService");
    let exported = format!("{all:?}");
    assert!(!exported.contains(CITIZEN), "a metric holds the citizen");
    assert!(!exported.contains(NEED), "a metric holds the need's text");
    assert!(!exported.contains(CRA), "a metric holds a credential");
}
