//! The transport under the gRPC services: accepting TCP connections (with a cap, TCP keepalive
//! and a handshake timeout), serving HTTP/2 and HTTP/1.1 on them with explicit limits, draining
//! them on shutdown, and cutting them off when the drain runs out of time.
//!
//! tonic's own server is not used: it cannot time out a client that never finishes the HTTP/2
//! preface, has no connection cap, and its connection tasks outlive an aborted server. Here the
//! connection tasks belong to the serve task, so aborting it closes every socket at once.

pub mod budget;
pub mod conn;

use std::{convert::Infallible, sync::Arc, time::Duration};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
    service::TowerToHyperService,
};
use socket2::{SockRef, TcpKeepalive};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tower::Service;

use budget::{Budget, Budgets};
use conn::{Conn, ConnInfo};

/// Connection and HTTP/2 limits (see `config::ServeArgs` for each one's meaning and default).
#[derive(Debug, Clone)]
pub struct TransportSettings {
    pub max_connections: usize,
    pub handshake_timeout: Duration,
    pub tcp_keepalive: Duration,
    pub http2_keepalive_interval: Duration,
    pub http2_keepalive_timeout: Duration,
    pub max_concurrent_streams: u32,
    pub stream_window_bytes: u32,
    pub connection_window_bytes: u32,
    pub max_header_list_bytes: u32,
    pub max_pending_reset_streams: usize,
    /// Bytes one connection's calls may pin while waiting on its client.
    pub connection_buffer_bytes: usize,
    /// Bytes all connections' calls together may pin.
    pub process_buffer_bytes: usize,
    /// TLS (and, with a client CA, client certificates); plaintext when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What the transport serves: the whole HTTP stack, answering every request (errors are answers).
pub trait HttpService:
    Service<
        Request<Incoming>,
        Response = Response<tonic::body::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> HttpService for S where
    S: Service<
            Request<Incoming>,
            Response = Response<tonic::body::Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Largest response piece handed to HTTP/2 at once, and the most HTTP/2 buffers per stream
/// beyond what the client's window lets it send.
pub const SEND_PIECE_BYTES: usize = 16 * 1024;
const SEND_BUFFER_BYTES: usize = 64 * 1024;

fn http_builder(settings: &TransportSettings) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .timer(TokioTimer::new())
        .initial_stream_window_size(settings.stream_window_bytes)
        .initial_connection_window_size(settings.connection_window_bytes)
        .adaptive_window(false)
        .max_concurrent_streams(settings.max_concurrent_streams)
        .max_header_list_size(settings.max_header_list_bytes)
        .max_pending_accept_reset_streams(settings.max_pending_reset_streams)
        .max_send_buf_size(SEND_BUFFER_BYTES)
        .keep_alive_interval(settings.http2_keepalive_interval)
        .keep_alive_timeout(settings.http2_keepalive_timeout);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.handshake_timeout)
        .max_buf_size(settings.max_header_list_bytes.max(8192) as usize);
    builder
}

/// Serves `service` on connections accepted from `listener` until `drain` is cancelled, then
/// stops accepting, asks every connection to finish its calls (HTTP/2 GOAWAY), and returns when
/// all have closed. Dropping (aborting) the returned future closes every connection at once.
pub async fn serve(
    listener: TcpListener,
    service: impl HttpService,
    settings: TransportSettings,
    drain: CancellationToken,
) {
    let builder = Arc::new(http_builder(&settings));
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let process_budget = Budget::new(settings.process_buffer_bytes);
    let mut connections = JoinSet::new();
    let mut refused_warned = None::<tokio::time::Instant>;
    loop {
        let accepted = tokio::select! {
            () = drain.cancelled() => break,
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, remote_addr) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors or a connection reset before accept: pause, go on.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if refused_warned.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    max_connections = settings.max_connections,
                    "connection refused: at the connection cap"
                );
                refused_warned = Some(tokio::time::Instant::now());
            }
            drop(stream);
            continue;
        };
        configure_socket(&stream, &settings);
        let info = ConnInfo {
            remote_addr,
            budgets: Budgets {
                connection: Budget::new(settings.connection_buffer_bytes),
                process: process_budget.clone(),
            },
            client_certificate_sha256: None,
        };
        let (service, builder, drain) = (service.clone(), builder.clone(), drain.clone());
        let (tls, handshake) = (settings.tls.clone(), settings.handshake_timeout);
        connections.spawn(async move {
            let Some(tls) = tls else {
                let io = Conn::new(stream, slot, tokio::time::sleep(handshake));
                return serve_connection(io, info, service, builder, drain).await;
            };
            let accept = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
            let stream = match tokio::time::timeout(handshake, accept).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    return tracing::debug!(%error, %remote_addr, "TLS handshake failed");
                }
                Err(_) => return tracing::debug!(%remote_addr, "TLS handshake timed out"),
            };
            let info = ConnInfo {
                client_certificate_sha256: client_certificate(&stream),
                ..info
            };
            let io = Conn::new(stream, slot, tokio::time::sleep(handshake));
            serve_connection(io, info, service, builder, drain).await;
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// The SHA-256 of the client's leaf certificate, when it presented one.
fn client_certificate(
    stream: &tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
) -> Option<[u8; 32]> {
    use sha2::Digest as _;
    let certificates = stream.get_ref().1.peer_certificates()?;
    certificates
        .first()
        .map(|leaf| sha2::Sha256::digest(leaf.as_ref()).into())
}

fn configure_socket(stream: &tokio::net::TcpStream, settings: &TransportSettings) {
    let _ = stream.set_nodelay(true);
    let keepalive = TcpKeepalive::new()
        .with_time(settings.tcp_keepalive)
        .with_interval(settings.tcp_keepalive);
    if let Err(error) = SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        tracing::debug!(%error, "cannot set TCP keepalive");
    }
}

async fn serve_connection<S>(
    io: Conn<S>,
    info: ConnInfo,
    service: impl HttpService,
    builder: Arc<auto::Builder<TokioExecutor>>,
    drain: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = tower::util::MapRequest::new(service, move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(info.clone());
        request
    });
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = drain.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(error = %error, "connection ended with an error");
    }
}
