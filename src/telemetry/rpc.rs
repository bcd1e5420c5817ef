//! The span and the duration metric of one gRPC call.
//!
//! The span continues the caller's W3C trace context (`traceparent`, `tracestate` metadata; a
//! malformed one is ignored and a new trace starts), is named `package.Service/Method` as the
//! OpenTelemetry conventions ask, and ends with the response body, stream calls included, with
//! the call's gRPC code. Its `trace_id` field puts the trace id in every log line of the call.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use http::HeaderMap;
use http_body::Frame;
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator as _},
    trace::{TraceContextExt as _, TraceId},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::{Status, body::Body};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::metrics;

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// The span of a call of `path` (a declared method) with `headers`.
pub fn span(path: &str, request_id: &str, headers: &HeaderMap) -> Span {
    let name = path.trim_start_matches('/');
    let (service, method) = name.split_once('/').unwrap_or((name, ""));
    let span = tracing::info_span!(
        "rpc",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = tracing::field::Empty,
        request_id = request_id,
        trace_id = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    let remote = parent.span().span_context().trace_id();
    if remote != TraceId::INVALID {
        let _ = span.set_parent(parent);
    }
    // The span's own trace (the caller's, or a new one when traces are exported); without an
    // exporter, the caller's trace id still goes into the logs.
    let own = span.context().span().span_context().trace_id();
    let trace = if own == TraceId::INVALID { remote } else { own };
    if trace != TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace));
    }
    span
}

/// A response body that records the call's code, on its span and in `rpc.server.duration`, when
/// it ends (or is dropped: a client that left is CANCELLED).
pub struct Observed {
    inner: Body,
    path: String,
    started: Instant,
    span: Span,
    /// The code of a trailers-only answer, known from the headers.
    code: Option<i32>,
    ended: bool,
}

impl Observed {
    /// Observes `response`, a call of `path` that started at `started`, in `span`.
    pub fn wrap(
        response: http::Response<Body>,
        path: String,
        started: Instant,
        span: Span,
    ) -> http::Response<Body> {
        let code = grpc_status(response.headers());
        response.map(|inner| {
            Body::new(Self {
                inner,
                path,
                started,
                span,
                code,
                ended: false,
            })
        })
    }

    fn end(&mut self, code: i32) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.span.record("rpc.grpc.status_code", code);
        if is_server_error(code) {
            self.span.record("otel.status_code", "error");
        }
        let millis = self.started.elapsed().as_secs_f64() * 1000.0;
        self.span
            .in_scope(|| tracing::debug!(code, millis, "call ended"));
        metrics::rpc_ended(&self.path, code, millis);
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        // OK when the answer was complete without trailers (never for gRPC), else CANCELLED.
        let code = self.code.unwrap_or(1);
        self.end(code);
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The codes the OpenTelemetry conventions count as a server's errors.
fn is_server_error(code: i32) -> bool {
    // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    this.code = Some(code);
                    this.end(code);
                }
            }
            Poll::Ready(Some(Err(status))) => {
                let code = i32::from(status.code());
                this.code = Some(code);
                this.end(code);
            }
            Poll::Ready(None) => {
                let code = this.code.unwrap_or(0);
                this.end(code);
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
