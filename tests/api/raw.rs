//! A raw HTTP/2 client for faults a typed gRPC client cannot express: arbitrary bytes, headers,
//! content types and flow-control windows.

use std::net::SocketAddr;

use bytes::Bytes;
use http::HeaderMap;
use tokio::net::TcpStream;
use tonic::Status;

/// What came back for one raw call.
#[derive(Debug)]
pub struct RawReply {
    pub http_status: http::StatusCode,
    pub headers: HeaderMap,
    pub trailers: Option<HeaderMap>,
    pub body_bytes: usize,
}

impl RawReply {
    /// The gRPC status, from the trailers or, for a trailers-only answer, the headers.
    pub fn status(&self) -> Status {
        self.trailers
            .as_ref()
            .and_then(Status::from_header_map)
            .or_else(|| Status::from_header_map(&self.headers))
            .unwrap_or_else(|| panic!("no grpc-status in {self:?}"))
    }
}

/// A gRPC frame: the 5-byte prefix and `message`.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// An HTTP/2 connection to `addr` whose streams get `window` bytes of receive window.
pub async fn connect(addr: SocketAddr, window: u32) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    handshake(tcp, window).await.expect("HTTP/2 handshake")
}

/// HTTP/2 over `io` (plain TCP, or TLS).
pub async fn handshake<IO>(io: IO, window: u32) -> Result<h2::client::SendRequest<Bytes>, h2::Error>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = h2::client::Builder::new()
        .initial_window_size(window)
        .handshake(io)
        .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Sends a POST to `path` with `headers` (content type `application/grpc` unless given) and
/// `body`; returns the response future without reading it.
pub async fn start(
    client: &mut h2::client::SendRequest<Bytes>,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> h2::client::ResponseFuture {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{path}"))
        .header("te", "trailers");
    if !headers.iter().any(|(k, _)| *k == "content-type") {
        request = request.header("content-type", "application/grpc");
    }
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let ready = client.clone().ready().await.expect("stream slot");
    *client = ready;
    let (response, mut send) = client
        .send_request(request.body(()).expect("request"), false)
        .expect("send request");
    send.send_data(Bytes::from(body), true).expect("send body");
    response
}

/// Reads a whole response, releasing flow control as it goes.
pub async fn finish(response: h2::client::ResponseFuture) -> RawReply {
    let response = response.await.expect("response headers");
    let (parts, mut body) = response.into_parts();
    let mut body_bytes = 0;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("response data");
        body_bytes += chunk.len();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.expect("trailers");
    RawReply {
        http_status: parts.status,
        headers: parts.headers,
        trailers,
        body_bytes,
    }
}

/// One whole raw call on a new connection.
pub async fn call(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> RawReply {
    let mut client = connect(addr, 1 << 20).await;
    let response = start(&mut client, path, headers, body).await;
    finish(response).await
}
