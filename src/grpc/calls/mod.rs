//! The call stack: the one place every gRPC call passes through before and after its handler, in
//! this order (outermost first; CORS and gRPC-Web translation sit outside it):
//!
//! 1. **method**: only methods with a declared policy are served (`policy`), others are
//!    UNIMPLEMENTED with reason `UNKNOWN_METHOD`;
//! 2. **content type**: `POST` with `application/grpc*` (gRPC-Web arrives translated), otherwise
//!    HTTP 415 (405 for another method), as the gRPC protocol asks;
//! 3. **request id** and **span**: the client's `x-request-id` when it is a sane token, otherwise a
//!    new one, echoed in the response headers and recorded on the call's span, which continues
//!    the client's `traceparent` and ends with the response (`crate::telemetry::rpc`);
//! 4. **deadline**: the client's `grpc-timeout` (malformed: `MALFORMED_REQUEST`), capped for
//!    unary methods by the server's maximum; everything below runs under it, the store included
//!    (`crate::deadline`), and the call ends DEADLINE_EXCEEDED when it passes;
//! 5. **authentication**: the credential becomes the call's [`Principal`] (a request extension;
//!    none is the public, a bad one UNAUTHENTICATED), checked against the method's declared
//!    callers (PERMISSION_DENIED, or UNAUTHENTICATED for the public), before any byte of the
//!    body is read;
//! 6. **quota**: the principal's quota (`quota`), or RESOURCE_EXHAUSTED `QUOTA_EXCEEDED` with
//!    `RetryInfo`, before any byte of the body is read;
//! 7. **request message**: read and checked before any handler (`message`): over the method's
//!    limit is RESOURCE_EXHAUSTED `MESSAGE_TOO_LARGE`, broken framing `MALFORMED_REQUEST`;
//! 8. **concurrency**: unary calls take one of a fixed number of process-wide slots, or are shed at
//!    once with UNAVAILABLE `OVERLOADED` and `RetryInfo`; streams never take one (they are
//!    long-lived and bounded per connection by HTTP/2's stream limit instead);
//! 9. the handler, then the **response body** guarded by the deadline and the connection's budget
//!    (`response`).

mod message;
pub mod policy;
pub mod quota;
mod response;
pub mod timeout;

use std::{
    convert::Infallible,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt as _;
use tokio::{sync::Semaphore, time::Instant};
use tonic::{Status, body::Body};
use tower::{Layer, Service};
use tracing::Instrument as _;

use crate::{
    auth::Authenticator,
    domain::principal::{Principal, PrincipalKind},
    error::{AppError, MalformedPart},
    transport::{
        budget::{Budget, Budgets, Reservation},
        conn::ConnInfo,
    },
};
pub use policy::{Callers, MethodPolicy, Policies, Shape};
pub use quota::{Quota, QuotaSettings, Quotas};

/// The request id of a call (a request extension, and the `x-request-id` response header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

const REQUEST_ID: &str = "x-request-id";

/// Settings of the call stack.
#[derive(Debug)]
pub struct CallSettings {
    pub policies: Policies,
    /// Resolves each call's credential to its principal.
    pub authenticator: Authenticator,
    /// Unary calls in flight across the process before new ones are shed.
    pub max_concurrent_calls: usize,
    /// Calls each principal may make.
    pub quotas: Quotas,
}

#[derive(Debug)]
struct Shared {
    policies: Policies,
    authenticator: Authenticator,
    quotas: Quotas,
    unary_slots: Arc<Semaphore>,
    /// For calls that reach the stack without a connection (none in the server; a safety net).
    unbudgeted: Budgets,
}

/// The layer that puts the call stack around the gRPC routes.
#[derive(Debug, Clone)]
pub struct CallStackLayer {
    shared: Arc<Shared>,
}

impl CallStackLayer {
    /// A call stack with `settings`.
    pub fn new(settings: CallSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                policies: settings.policies,
                authenticator: settings.authenticator,
                quotas: settings.quotas,
                unary_slots: Arc::new(Semaphore::new(settings.max_concurrent_calls)),
                unbudgeted: Budgets {
                    connection: Budget::new(usize::MAX),
                    process: Budget::new(usize::MAX),
                },
            }),
        }
    }
}

impl<S> Layer<S> for CallStackLayer {
    type Service = CallStack<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallStack {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The call stack around `S` (the routes).
#[derive(Debug, Clone)]
pub struct CallStack<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for CallStack<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let inner = self.inner.clone();
        let shared = self.shared.clone();
        Box::pin(async move { Ok(handle(inner, shared, request).await) })
    }
}

fn reply(error: AppError) -> Response<Body> {
    Status::from(error).into_http()
}

/// A plain HTTP answer for a request that is not gRPC. A short body is read first (for at most a
/// second), so that clients still sending it see the answer rather than a reset stream.
async fn http_status(code: StatusCode, body: Body) -> Response<Body> {
    const READ_AT_MOST: usize = 64 * 1024;
    let drain = async {
        let mut body = body;
        let mut read = 0;
        while let Some(Ok(frame)) = body.frame().await {
            read += frame.data_ref().map_or(0, |d| d.len());
            if read > READ_AT_MOST {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

async fn handle<S>(inner: S, shared: Arc<Shared>, mut request: Request<Body>) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Send,
    S::Future: Send,
{
    let path = request.uri().path().to_owned();
    let Some(policy) = shared.policies.get(&path).cloned() else {
        return reply(AppError::UnknownMethod(path));
    };
    if request.method() != http::Method::POST {
        return http_status(StatusCode::METHOD_NOT_ALLOWED, request.into_body()).await;
    }
    if !is_grpc(request.headers()) {
        return http_status(StatusCode::UNSUPPORTED_MEDIA_TYPE, request.into_body()).await;
    }
    let request_id = request_id(request.headers());
    request.extensions_mut().insert(request_id.clone());
    let started = std::time::Instant::now();
    let span = crate::telemetry::rpc::span(&path, &request_id.0, request.headers());
    let mut response = async {
        match deadline(&request, &policy) {
            Ok(deadline) => run(inner, &shared, &policy, request, deadline).await,
            Err(error) => reply(error),
        }
    }
    .instrument(span.clone())
    .await;
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    crate::telemetry::rpc::Observed::wrap(response, path, started, span)
}

fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

fn request_id(headers: &http::HeaderMap) -> RequestId {
    let given = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    RequestId(given.map_or_else(new_request_id, str::to_owned))
}

/// A new request id: 8 random bytes drawn once per process, then a counter, in hex (unique
/// across replicas and restarts without a system call per call).
fn new_request_id() -> String {
    use std::sync::{
        LazyLock,
        atomic::{AtomicU32, Ordering},
    };
    static PREFIX: LazyLock<u64> = LazyLock::new(|| {
        let mut bytes = [0u8; 8];
        let _ = getrandom::fill(&mut bytes);
        u64::from_be_bytes(bytes)
    });
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{:016x}{:08x}",
        *PREFIX,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The call's deadline: the client's `grpc-timeout`, capped by the method's maximum.
fn deadline<B>(request: &Request<B>, policy: &MethodPolicy) -> Result<Option<Instant>, AppError> {
    let asked = match request.headers().get("grpc-timeout") {
        None => None,
        Some(value) => Some(timeout::parse(value.as_bytes()).ok_or(AppError::Malformed {
            part: MalformedPart::GrpcTimeout,
            description: "grpc-timeout must be up to 8 digits and a unit (H, M, S, m, u or n)",
        })?),
    };
    let limit = match (asked, policy.max_deadline) {
        (Some(a), Some(m)) => Some(a.min(m)),
        (a, m) => a.or(m),
    };
    Ok(limit.map(|d| Instant::now() + d.min(Duration::from_secs(100 * 365 * 86_400))))
}

/// The caller's principal, if it may call the method of `policy`.
fn authorize(
    authenticator: &Authenticator,
    policy: &MethodPolicy,
    headers: &http::HeaderMap,
    certificate: Option<&[u8; 32]>,
) -> Result<Principal, AppError> {
    let principal = authenticator.authenticate(headers, certificate)?;
    match principal.kind() {
        kind if policy.callers.allows(kind) => Ok(principal),
        PrincipalKind::Public => Err(AppError::Unauthenticated(
            "this method needs a credential: authorization: Bearer <credential>",
        )),
        _ => Err(AppError::PermissionDenied),
    }
}

async fn run<S>(
    mut inner: S,
    shared: &Shared,
    policy: &MethodPolicy,
    request: Request<Body>,
    deadline: Option<Instant>,
) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Send,
    S::Future: Send,
{
    let (budgets, certificate, client) = match request.extensions().get::<ConnInfo>() {
        Some(conn) => (
            conn.budgets.clone(),
            conn.client_certificate_sha256,
            Some(conn.remote_addr.ip()),
        ),
        None => (shared.unbudgeted.clone(), None, None),
    };
    let call = async {
        let (mut parts, mut body) = request.into_parts();
        let principal = authorize(
            &shared.authenticator,
            policy,
            &parts.headers,
            certificate.as_ref(),
        )?;
        shared
            .quotas
            .admit(&principal, client)
            .inspect_err(|refused| {
                if let AppError::QuotaExceeded { subject, .. } = refused {
                    crate::telemetry::metrics::quota_refused(principal.kind().as_str(), subject);
                }
            })?;
        let citizen = shared
            .authenticator
            .citizen_token(&parts.headers, &principal)?;
        if let Some(citizen) = citizen {
            parts.extensions.insert(citizen);
        }
        parts.extensions.insert(principal);
        let mut held = Reservation::new(budgets.clone());
        if policy.shape != Shape::ClientStreaming {
            let first = message::read_first(&mut body, policy.max_request_bytes, &mut held).await?;
            body = Body::new(message::Prefixed::new(first, body));
        }
        let _slot =
            match policy.shape {
                Shape::Unary => Some(shared.unary_slots.clone().try_acquire_owned().map_err(
                    |_| {
                        crate::telemetry::metrics::shed();
                        AppError::Overloaded
                    },
                )?),
                Shape::ServerStreaming | Shape::ClientStreaming => None,
            };
        let request = Request::from_parts(parts, body);
        let response = match deadline {
            Some(at) => crate::deadline::scope(at, inner.call(request)).await,
            None => inner.call(request).await,
        };
        drop(held);
        Ok::<_, AppError>(response)
    };
    let outcome = match deadline {
        Some(at) => tokio::time::timeout_at(at, call)
            .await
            .unwrap_or(Err(AppError::DeadlineExceeded)),
        None => call.await,
    };
    match outcome {
        Ok(Ok(response)) => response.map(|body| {
            Body::new(response::Guarded::new(
                body,
                Reservation::new(budgets),
                deadline,
            ))
        }),
        Ok(Err(never)) => match never {},
        Err(error) => reply(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::demo;

    fn policy(callers: Callers) -> MethodPolicy {
        MethodPolicy {
            callers,
            shape: Shape::Unary,
            max_request_bytes: 1024,
            max_deadline: None,
        }
    }

    fn headers_for(kind: PrincipalKind) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Some(credential) = demo::CREDENTIALS.iter().find(|c| c.kind == kind) {
            let value = format!("Bearer {}", credential.token);
            headers.insert(http::header::AUTHORIZATION, value.parse().expect("header"));
        }
        headers
    }

    #[test]
    fn a_method_admits_exactly_its_declared_callers() {
        let authenticator = Authenticator::demo();
        let agencies_only = policy(Callers::only(&[PrincipalKind::Agency]));
        for kind in PrincipalKind::ALL {
            let outcome = authorize(&authenticator, &agencies_only, &headers_for(kind), None);
            match (kind, outcome) {
                (PrincipalKind::Agency, Ok(principal)) => assert_eq!(principal.kind(), kind),
                (PrincipalKind::Public, Err(AppError::Unauthenticated(_))) => {}
                (_, Err(AppError::PermissionDenied)) => {}
                (kind, other) => panic!("{kind:?}: {other:?}"),
            }
            let anyone = authorize(
                &authenticator,
                &policy(Callers::ANYONE),
                &headers_for(kind),
                None,
            );
            assert_eq!(anyone.expect("anyone").kind(), kind);
        }
    }
}
