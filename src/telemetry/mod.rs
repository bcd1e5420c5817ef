//! Logs, traces and metrics.
//!
//! - **Logs**: human-readable by default (coloured on a terminal), JSON when asked; always to
//!   standard error, filtered by `RUST_LOG` (default `info`). A call's log lines carry its
//!   `request_id` and, when it has one, its `trace_id`.
//! - **Traces and metrics** over OTLP (gRPC) when the standard variables ask for them:
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` for both, or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
//!   `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` for one; `OTEL_TRACES_EXPORTER=none`,
//!   `OTEL_METRICS_EXPORTER=none` or `OTEL_SDK_DISABLED=true` turn one or both off. The rest of
//!   the standard variables apply (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//!   `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_BSP_*`...). Without them
//!   nothing is installed: no exporter, no span beyond what the logs use, and metric calls are
//!   skipped ([`enabled`]).
//!
//! Each call's span (`rpc`) continues the W3C trace context of its `traceparent` metadata
//! ([`rpc`]); the store's transactions are its child spans (`db`, at INFO like the call's: `RUST_LOG` decides what is exported). [`metrics`] lists every
//! instrument; their attributes are low-cardinality (methods, codes, agencies, channels, kinds),
//! never a citizen, a name or free text.

pub mod metrics;
pub mod rpc;

use std::{
    io::IsTerminal as _,
    sync::atomic::{AtomicBool, Ordering},
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, SpanExporter};
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer as _, fmt, prelude::*};

use crate::config::LogFormat;

static METRICS_ON: AtomicBool = AtomicBool::new(false);

/// Whether metrics are exported (instruments are not touched otherwise).
pub fn enabled() -> bool {
    METRICS_ON.load(Ordering::Relaxed)
}

/// The exporters installed; dropping it flushes and shuts them down (within the runtime that
/// was current when [`init`] ran, which must still be alive).
#[derive(Default)]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("traces", &self.traces.is_some())
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(traces) = self.traces.take()
            && let Err(error) = traces.shutdown()
        {
            tracing::warn!(%error, "the trace exporter did not flush");
        }
        if let Some(metrics) = self.metrics.take()
            && let Err(error) = metrics.shutdown()
        {
            tracing::warn!(%error, "the metric exporter did not flush");
        }
    }
}

/// Installs the global subscriber and, when the environment asks for them, the OTLP exporters.
/// Call once, first thing, inside the Tokio runtime that will run the server. An exporter that
/// cannot be built is reported in the log and left off; the service runs without it.
pub fn init(format: LogFormat) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,tantivy=warn,h2=warn,tower=warn,hyper=warn")
    });
    let logs = match format {
        LogFormat::Json => fmt::layer().json().with_writer(std::io::stderr).boxed(),
        LogFormat::Auto => fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
    };
    let mut telemetry = Telemetry::default();
    let mut problems = Vec::new();
    let resource = resource();
    let traces = if wanted("TRACES") {
        match SpanExporter::builder().with_tonic().build() {
            Ok(exporter) => {
                let provider = SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource.clone())
                    .build();
                let tracer = provider.tracer("single-window");
                telemetry.traces = Some(provider);
                Some(tracing_opentelemetry::layer().with_tracer(tracer))
            }
            Err(error) => {
                problems.push(format!("traces: {error}"));
                None
            }
        }
    } else {
        None
    };
    if wanted("METRICS") {
        match MetricExporter::builder().with_tonic().build() {
            Ok(exporter) => {
                let provider = SdkMeterProvider::builder()
                    .with_periodic_exporter(exporter)
                    .with_resource(resource)
                    .build();
                opentelemetry::global::set_meter_provider(provider.clone());
                METRICS_ON.store(true, Ordering::Relaxed);
                telemetry.metrics = Some(provider);
            }
            Err(error) => problems.push(format!("metrics: {error}")),
        }
    }
    // One filter for both: `RUST_LOG` decides which spans and events exist (per-layer filters
    // lose events when a span is enabled for one layer only).
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .init();
    for problem in problems {
        tracing::error!(
            problem,
            "an OpenTelemetry exporter could not be built; it is off"
        );
    }
    if telemetry.traces.is_some() || telemetry.metrics.is_some() {
        tracing::info!(
            traces = telemetry.traces.is_some(),
            metrics = telemetry.metrics.is_some(),
            "OpenTelemetry export over OTLP"
        );
    }
    telemetry
}

/// Whether the environment asks for the OTLP export of `signal` (`TRACES` or `METRICS`).
fn wanted(signal: &str) -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let exporter_off = std::env::var(format!("OTEL_{signal}_EXPORTER"))
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("none"));
    !disabled
        && !exporter_off
        && (set("OTEL_EXPORTER_OTLP_ENDPOINT")
            || set(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")))
}

/// The resource: `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` when given, otherwise the
/// service name `single-window`; always the version.
fn resource() -> Resource {
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder.with_service_name("single-window").build()
    }
}
