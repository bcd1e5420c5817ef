//! The portal on the gRPC port: its files over HTTP/1.1 with a strict Content-Security-Policy,
//! the hashed files cached for good, unknown paths not found, and the demo identity provider's
//! sign-in list only in demo mode, with tokens the server accepts.

use std::net::SocketAddr;

use single_window::{
    auth::{PrincipalEntry, PrincipalsFile, hash_key, to_hex},
    proto::v1::GetCitizenRequest,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};

use crate::{
    citizens::{AMELIE, As, req},
    helpers::TestApp,
};

/// One HTTP/1.1 exchange, the connection closed after it.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn http1(addr: SocketAddr, method: &str, path: &str) -> Reply {
    http1_with(addr, method, path, "").await
}

/// [`http1`] with `extra` header lines (each ending in CRLF).
async fn http1_with(addr: SocketAddr, method: &str, path: &str, extra: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Connection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read the reply");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

#[tokio::test]
async fn the_portal_is_served_over_http1_with_a_strict_content_security_policy() {
    let app = TestApp::spawn_with(|_| {}).await;
    let page = http1(app.addr, "GET", "/").await;
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let csp = page.header("content-security-policy").expect("a CSP");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        page.header("cross-origin-opener-policy"),
        Some("same-origin")
    );
    let html = page.text();
    assert!(html.contains(r#"<div id="app">"#), "{html}");

    let script = html
        .split(r#"src=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page names its script");
    assert!(script.starts_with("/assets/"), "{script}");
    let js = http1(app.addr, "GET", script).await;
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        js.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        js.body.len() > 10_000,
        "the bundle is {} bytes",
        js.body.len()
    );
}

#[tokio::test]
async fn scripts_go_gzipped_to_browsers_that_accept_it_and_plain_to_others() {
    let app = TestApp::spawn_with(|_| {}).await;
    let html = http1(app.addr, "GET", "/").await.text();
    let script = html
        .split(r#"src=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page names its script")
        .to_owned();
    let plain = http1(app.addr, "GET", &script).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("accept-encoding"));
    let zipped = http1_with(app.addr, "GET", &script, "Accept-Encoding: gzip, br\r\n").await;
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("vary"), Some("accept-encoding"));
    assert_eq!(
        zipped.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(&zipped.body[..2], [0x1f, 0x8b], "a gzip stream");
    assert!(
        zipped.body.len() * 2 < plain.body.len(),
        "{} bytes gzipped against {} plain",
        zipped.body.len(),
        plain.body.len()
    );
    let refused = http1_with(app.addr, "GET", &script, "Accept-Encoding: gzip;q=0\r\n").await;
    assert_eq!(refused.header("content-encoding"), None);
    assert_eq!(refused.body, plain.body);
    let copy = http1(app.addr, "GET", &format!("{script}.gz")).await;
    assert_eq!(
        copy.status, 404,
        "the gzip copies are not files of their own"
    );
}

#[tokio::test]
async fn head_has_no_body_and_unknown_paths_are_not_found() {
    let app = TestApp::spawn_with(|_| {}).await;
    let head = http1(app.addr, "HEAD", "/").await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    for path in ["/nope", "/assets/../index.html", "/index.html/", "/.env"] {
        let reply = http1(app.addr, "GET", path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(
            reply.header("content-security-policy").is_some(),
            "{path}: a 404 is locked down too"
        );
    }
}

#[tokio::test]
async fn the_demo_identity_provider_signs_in_demo_citizens_with_tokens_the_server_accepts() {
    let app = TestApp::spawn_with(|_| {}).await;
    let reply = http1(app.addr, "GET", "/demo/credentials").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&reply.body).expect("JSON");
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    for kind in ["agency", "portal", "administrator", "auditor"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let amelie = lines
        .iter()
        .find(|l| l["citizen"] == AMELIE)
        .expect("a line for Amélie");
    assert_eq!(amelie["citizen_name"], "Amélie Tremblay");
    let token = amelie["citizen_token"].as_str().expect("her token");
    let citizen = app
        .citizens
        .clone()
        .get_citizen(req(
            &As::Portal(token.to_owned()),
            GetCitizenRequest {
                name: AMELIE.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .expect("the portal reads her record with the token")
        .into_inner();
    assert_eq!(citizen.name, AMELIE);
}

#[tokio::test]
async fn without_demo_mode_there_is_no_demo_identity_provider() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("principals.json");
    let file = PrincipalsFile {
        principals: vec![PrincipalEntry {
            name: "portals/my-service".to_owned(),
            officer: None,
            api_key_sha256: vec![to_hex(&hash_key("sw_test_portal_key"))],
            certificate_sha256: Vec::new(),
        }],
        quotas: Default::default(),
    };
    std::fs::write(&path, serde_json::to_vec(&file).expect("json")).expect("write");
    let app = TestApp::spawn_with(|args| args.principals_file = Some(path.clone())).await;
    let reply = http1(app.addr, "GET", "/demo/credentials").await;
    assert_eq!(reply.status, 404);
    assert!(!reply.text().contains("demo-portal"));
    let page = http1(app.addr, "GET", "/").await;
    assert_eq!(page.status, 200, "the portal itself is still served");
}
