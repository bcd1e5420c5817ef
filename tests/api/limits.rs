//! Hostile and careless clients, through the real server and raw HTTP/2: undecodable requests,
//! oversized messages, deadlines, content types, slow readers, silent connections, connection and
//! call limits. Transport only: the catalogue answers from memory, so these run on SQLite alone.

use std::time::Duration;

use prost::Message as _;
use single_window::proto::v1::{GetServiceRequest, ListServicesRequest, SearchServicesRequest};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::{
    assert_error,
    helpers::TestApp,
    raw::{self, frame},
};

const GET_AGENCY: &str = "/singlewindow.v1.CatalogService/GetAgency";
const GET_SERVICE: &str = "/singlewindow.v1.CatalogService/GetService";
const LIST_SERVICES: &str = "/singlewindow.v1.CatalogService/ListServices";
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const HEALTH_WATCH: &str = "/grpc.health.v1.Health/Watch";

fn list_500() -> Vec<u8> {
    frame(
        &ListServicesRequest {
            page_size: 500,
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

fn get_ei() -> Vec<u8> {
    frame(
        &GetServiceRequest {
            name: "services/1003".to_owned(),
        }
        .encode_to_vec(),
    )
}

fn malformed_part(status: &tonic::Status) -> String {
    status
        .get_error_details()
        .error_info()
        .and_then(|i| i.metadata.get("part").cloned())
        .unwrap_or_default()
}

#[tokio::test]
async fn undecodable_messages_are_invalid_argument_without_library_text() {
    let app = TestApp::spawn_with(|_| {}).await;
    // Field 1, wire type 3 (start group), nested past prost's recursion limit.
    let nested = vec![0x0b; 120];
    let cases: [(&str, &str, Vec<u8>, &str); 5] = [
        (
            "invalid UTF-8",
            GET_AGENCY,
            frame(b"\x0a\x0aagencies/\xff"),
            "message",
        ),
        ("wire type 7", GET_AGENCY, frame(b"\x0f\x01"), "message"),
        ("nested too deep", HEALTH_CHECK, frame(&nested), "message"),
        (
            "truncated message",
            GET_SERVICE,
            frame(b"\x0a\x0dservices/1003")[..9].to_vec(),
            "framing",
        ),
        ("empty body", GET_SERVICE, Vec::new(), "framing"),
    ];
    for (what, path, body, part) in cases {
        let status = raw::call(app.addr, path, &[], body).await.status();
        assert_error(&status, Code::InvalidArgument, "MALFORMED_REQUEST", None);
        assert_eq!(malformed_part(&status), part, "{what}");
        for banned in ["prost", "decode", "Protobuf", "tonic", "buffer"] {
            assert!(
                !status.message().contains(banned),
                "{what}: {}",
                status.message()
            );
        }
    }
}

#[tokio::test]
async fn an_oversized_request_is_refused_from_its_length_prefix_before_any_handler() {
    let app = TestApp::spawn_with(|args| args.limits.max_request_size = 1024).await;
    // Only the prefix is sent: no handler could run, yet the answer comes at once.
    let mut client = raw::connect(app.addr, 1 << 20).await;
    let prefix = [0u8, 0, 0, 4, 1].to_vec(); // 1025 bytes announced
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://localhost{GET_SERVICE}"))
        .header("content-type", "application/grpc")
        .body(())
        .expect("request");
    let (response, mut send) = client.send_request(request, false).expect("send");
    send.send_data(prefix.into(), false).expect("prefix");
    let status = raw::finish(response).await.status();
    assert_error(&status, Code::ResourceExhausted, "MESSAGE_TOO_LARGE", None);
    let info = status
        .get_error_details()
        .error_info()
        .cloned()
        .expect("ErrorInfo");
    assert_eq!(
        info.metadata.get("limit_bytes").map(String::as_str),
        Some("1024")
    );
    // At the limit the call runs (and fails on its content, not its size).
    let query = "x".repeat(1024 - 3);
    let at_limit = SearchServicesRequest {
        query,
        ..Default::default()
    }
    .encode_to_vec();
    assert_eq!(at_limit.len(), 1024);
    let status = raw::call(
        app.addr,
        "/singlewindow.v1.CatalogService/SearchServices",
        &[],
        frame(&at_limit),
    )
    .await
    .status();
    assert_error(
        &status,
        Code::InvalidArgument,
        "INVALID_ARGUMENT",
        Some("query"),
    );
}

#[tokio::test]
async fn the_clients_deadline_is_enforced_on_the_whole_answer() {
    let app = TestApp::spawn_with(|_| {}).await;
    let reply = raw::call(
        app.addr,
        LIST_SERVICES,
        &[("grpc-timeout", "1n")],
        list_500(),
    )
    .await;
    assert_error(
        &reply.status(),
        Code::DeadlineExceeded,
        "DEADLINE_EXCEEDED",
        None,
    );
    assert!(
        reply.body_bytes < 100_000,
        "the page was not sent: {} bytes",
        reply.body_bytes
    );
    // A stream with a deadline ends with DEADLINE_EXCEEDED instead of staying open.
    let watch = raw::call(
        app.addr,
        HEALTH_WATCH,
        &[("grpc-timeout", "300m")],
        frame(&[]),
    )
    .await;
    assert!(watch.body_bytes > 0, "the stream sent its status first");
    assert_error(
        &watch.status(),
        Code::DeadlineExceeded,
        "DEADLINE_EXCEEDED",
        None,
    );
    // A generous deadline changes nothing.
    let ok = raw::call(
        app.addr,
        LIST_SERVICES,
        &[("grpc-timeout", "20S")],
        list_500(),
    )
    .await;
    assert_eq!(ok.status().code(), Code::Ok);
    assert!(ok.body_bytes > 500_000);
}

#[tokio::test]
async fn a_malformed_grpc_timeout_is_invalid_argument() {
    let app = TestApp::spawn_with(|_| {}).await;
    for bad in ["abc", "10", "123456789S", "-1S"] {
        let status = raw::call(app.addr, GET_SERVICE, &[("grpc-timeout", bad)], get_ei())
            .await
            .status();
        assert_error(&status, Code::InvalidArgument, "MALFORMED_REQUEST", None);
        assert_eq!(malformed_part(&status), "grpc-timeout", "{bad}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_grpc_gets_http_415_and_unknown_methods_unimplemented() {
    let app = TestApp::spawn_with(|_| {}).await;
    for content_type in ["text/plain", "application/json", "application/grp"] {
        let reply = raw::call(
            app.addr,
            LIST_SERVICES,
            &[("content-type", content_type)],
            list_500(),
        )
        .await;
        assert_eq!(
            reply.http_status,
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert_eq!(reply.body_bytes, 0);
    }
    let status = raw::call(
        app.addr,
        "/singlewindow.v1.CatalogService/DeleteEverything",
        &[],
        get_ei(),
    )
    .await
    .status();
    assert_error(&status, Code::Unimplemented, "UNKNOWN_METHOD", None);
}

#[tokio::test]
async fn the_request_id_is_kept_when_sane_and_made_otherwise() {
    let app = TestApp::spawn_with(|_| {}).await;
    let given = raw::call(
        app.addr,
        GET_SERVICE,
        &[("x-request-id", "portal-42.a:b")],
        get_ei(),
    )
    .await;
    assert_eq!(
        given.headers.get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"portal-42.a:b"[..])
    );
    let made = raw::call(
        app.addr,
        GET_SERVICE,
        &[("x-request-id", "bad id with spaces")],
        get_ei(),
    )
    .await;
    let id = made
        .headers
        .get("x-request-id")
        .expect("an id")
        .to_str()
        .expect("ascii");
    assert!(id.len() >= 16 && !id.contains(' '), "{id}");
}

#[tokio::test]
async fn malformed_grpc_web_text_is_invalid_argument() {
    let app = TestApp::spawn_with(|_| {}).await;
    let mut tcp = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let body = "!!!not base64!!!";
    let request = format!(
        "POST {GET_SERVICE} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/grpc-web-text\r\naccept: application/grpc-web-text\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(
        answer.contains("grpc-status: 3"),
        "INVALID_ARGUMENT: {answer}"
    );
    assert!(!answer.contains("tonic"), "{answer}");
}

#[tokio::test]
async fn unary_calls_over_the_concurrency_limit_are_shed_but_streams_are_not() {
    let app = TestApp::spawn_with(|args| args.limits.max_concurrent_calls = 0).await;
    let status = app.get_service("services/1003").await.expect_err("shed");
    assert_error(&status, Code::Unavailable, "OVERLOADED", None);
    assert!(
        status.get_error_details().retry_info().is_some(),
        "RetryInfo"
    );
    // Watch is a stream: it does not take a slot (readiness waited on it already).
    app.wait_until_serving().await;
}

#[tokio::test]
async fn a_connection_that_never_starts_http_is_closed() {
    let app =
        TestApp::spawn_with(|args| args.limits.handshake_timeout = Duration::from_millis(200))
            .await;
    for sent in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let mut tcp = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        tcp.write_all(sent).await.expect("write");
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(20), tcp.read(&mut buf))
            .await
            .expect("the server closed the connection");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "{read:?} after sending {sent:?}"
        );
    }
    app.get_service("services/1003")
        .await
        .expect("others are served");
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_disconnected() {
    let app = TestApp::spawn_with(|args| {
        args.limits.http2_keepalive_interval = Duration::from_millis(200);
        args.limits.http2_keepalive_timeout = Duration::from_millis(200);
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    // The preface and an empty SETTINGS frame, then silence: pings go unanswered.
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface");
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "the server closed the silent connection");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_while_the_others_are_served() {
    let app = TestApp::spawn_with(|args| args.limits.max_connections = 2).await;
    // The test app's own client holds one connection.
    app.get_service("services/1003").await.expect("first");
    let mut second = raw::connect(app.addr, 1 << 20).await;
    let reply = raw::finish(raw::start(&mut second, GET_SERVICE, &[], get_ei()).await).await;
    assert_eq!(reply.status().code(), Code::Ok);
    let mut third = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("TCP connects");
    let _ = third.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(20), third.read(&mut buf))
        .await
        .expect("closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    app.get_service("services/1003")
        .await
        .expect("still served");
}

#[tokio::test]
async fn the_stream_limit_per_connection_is_advertised() {
    let app = TestApp::spawn_with(|args| args.limits.max_concurrent_streams = 3).await;
    let mut client = raw::connect(app.addr, 1 << 20).await;
    let reply = raw::finish(raw::start(&mut client, GET_SERVICE, &[], get_ei()).await).await;
    assert_eq!(reply.status().code(), Code::Ok);
    assert_eq!(client.current_max_send_streams(), 3);
}

#[tokio::test]
async fn a_slow_reader_pins_at_most_its_connection_buffer_and_others_are_served() {
    let app = TestApp::spawn_with(|args| args.limits.connection_buffer = 2 << 20).await;
    // Tiny windows and no reading: each 500-service page (about 1.3 MB) stays with the server.
    let mut slow = raw::connect(app.addr, 1024).await;
    let mut pending = Vec::new();
    for _ in 0..5 {
        pending.push(raw::start(&mut slow, LIST_SERVICES, &[], list_500()).await);
    }
    let mut refused = 0;
    for response in pending {
        let response = tokio::time::timeout(Duration::from_secs(30), response)
            .await
            .expect("headers")
            .expect("response");
        let mut body = response.into_body();
        // Refused calls end with trailers and no data; pinned ones have data waiting.
        let ended = tokio::time::timeout(Duration::from_secs(2), body.trailers()).await;
        if let Ok(Ok(Some(trailers))) = ended {
            let status = tonic::Status::from_header_map(&trailers).expect("grpc-status");
            assert_error(
                &status,
                Code::ResourceExhausted,
                "CONNECTION_BUFFER_FULL",
                None,
            );
            refused += 1;
        }
    }
    assert!(
        refused >= 3,
        "at most one 1.3 MB page fits a 2 MiB buffer ({refused} refused)"
    );
    app.get_service("services/1003")
        .await
        .expect("another connection is served");
}
