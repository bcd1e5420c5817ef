//! TLS and mutual TLS: the agency comes from its registered client certificate, never from a
//! header; an unregistered certificate is UNAUTHENTICATED, an untrusted one fails the handshake.

use std::{path::PathBuf, sync::Arc};

use prost::Message as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _};
use single_window::{
    auth::{PrincipalEntry, PrincipalsFile},
    proto::v1::GetServiceRequest,
};
use tonic::Code;

use crate::{
    assert_error,
    helpers::TestApp,
    raw::{self, frame},
};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

/// A server with TLS, trusting the test CA for client certificates, with the ESDC certificate
/// registered.
async fn tls_app(dir: &tempfile::TempDir) -> TestApp {
    let fingerprint = std::fs::read_to_string(data("esdc.sha256")).expect("fingerprint");
    let principals = PrincipalsFile {
        principals: vec![PrincipalEntry {
            name: "agencies/esdc-edsc".to_owned(),
            officer: None,
            api_key_sha256: Vec::new(),
            certificate_sha256: vec![fingerprint.trim().to_owned()],
        }],
        quotas: Default::default(),
    };
    let path = dir.path().join("principals.json");
    std::fs::write(&path, serde_json::to_vec(&principals).expect("json")).expect("write");
    let app = TestApp::start_with(|args| {
        args.tls_cert = Some(data("server.pem"));
        args.tls_key = Some(data("server.key"));
        args.tls_client_ca = Some(data("ca.pem"));
        args.principals_file = Some(path);
        args.health_listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    })
    .await;
    wait_until_serving(&app).await;
    app
}

/// Health Watch over TLS until the catalogue service is SERVING.
async fn wait_until_serving(app: &TestApp) {
    let mut client = connect(app, None).await.expect("TLS");
    let request = frame(b"\x0a\x1esinglewindow.v1.CatalogService");
    let mut response = raw::start(&mut client, "/grpc.health.v1.Health/Watch", &[], request).await;
    let wait = async {
        let mut body = (&mut response).await.expect("watch").into_body();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("data");
            let _ = body.flow_control().release_capacity(chunk.len());
            if chunk.ends_with(&[0x08, 0x01]) {
                return;
            }
        }
        panic!("the health stream ended before SERVING");
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), wait)
        .await
        .expect("the TLS server became SERVING");
}

/// An HTTP/2-over-TLS connection presenting `client` (a certificate and key name), if any.
async fn connect(
    app: &TestApp,
    client: Option<&str>,
) -> Result<h2::client::SendRequest<bytes::Bytes>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(data("ca.pem")).expect("CA"))
        .expect("root");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some(name) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(data(&format!("{name}.pem"))).expect("cert")],
                PrivateKeyDer::from_pem_file(data(&format!("{name}.key"))).expect("key"),
            )
            .expect("client auth"),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(app.addr).await.expect("TCP");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .map_err(|e| e.to_string())?;
    raw::handshake(tls, 1 << 20)
        .await
        .map_err(|e| e.to_string())
}

/// Starts GetService `services/1003` on `client`.
async fn start_get_service(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    headers: &[(&str, &str)],
) -> h2::client::ResponseFuture {
    let body = frame(
        &GetServiceRequest {
            name: "services/1003".to_owned(),
        }
        .encode_to_vec(),
    );
    raw::start(
        client,
        "/singlewindow.v1.CatalogService/GetService",
        headers,
        body,
    )
    .await
}

async fn get_service(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    headers: &[(&str, &str)],
) -> tonic::Status {
    raw::finish(start_get_service(client, headers).await)
        .await
        .status()
}

#[tokio::test]
async fn a_registered_client_certificate_is_the_credential_and_others_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = tls_app(&dir).await;

    let mut esdc = connect(&app, Some("esdc")).await.expect("mutual TLS");
    assert_eq!(get_service(&mut esdc, &[]).await.code(), Code::Ok);
    // The certificate is the identity: a header cannot add or replace one.
    let both = get_service(
        &mut esdc,
        &[("authorization", "Bearer demo-cic-passports-93b40c2e")],
    )
    .await;
    assert_error(&both, Code::Unauthenticated, "UNAUTHENTICATED", None);

    let mut unmapped = connect(&app, Some("unmapped"))
        .await
        .expect("a trusted certificate");
    let status = get_service(&mut unmapped, &[]).await;
    assert_error(&status, Code::Unauthenticated, "UNAUTHENTICATED", None);

    let mut anonymous = connect(&app, None)
        .await
        .expect("TLS without a client certificate");
    assert_eq!(
        get_service(&mut anonymous, &[]).await.code(),
        Code::Ok,
        "the catalogue stays public"
    );

    // A certificate from a CA the server does not trust fails the handshake (or the first read).
    let rogue = match connect(&app, Some("rogue")).await {
        Err(_) => true,
        Ok(mut client) => start_get_service(&mut client, &[]).await.await.is_err(),
    };
    assert!(rogue, "an untrusted client certificate is refused");
}

#[tokio::test]
async fn a_plaintext_client_cannot_talk_to_a_tls_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = tls_app(&dir).await;
    let tcp = tokio::net::TcpStream::connect(app.addr).await.expect("TCP");
    let outcome = async {
        let mut client = raw::handshake(tcp, 1 << 20).await.ok()?;
        start_get_service(&mut client, &[]).await.await.ok()
    };
    let answered = tokio::time::timeout(std::time::Duration::from_secs(20), outcome)
        .await
        .expect("the server closed the connection");
    assert!(answered.is_none(), "no gRPC answer without TLS");
}

#[tokio::test]
async fn the_health_port_answers_probes_in_plaintext_and_serves_nothing_else() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let app = tls_app(&dir).await;
    let addr = app.health_addr.expect("a health listener");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect()
        .await
        .expect("plaintext connection to the health port");
    for service in ["", "singlewindow.v1.CatalogService"] {
        let status = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service:?}");
    }
    let other =
        single_window::proto::v1::catalog_service_client::CatalogServiceClient::new(channel)
            .get_service(GetServiceRequest {
                name: "services/1003".to_owned(),
            })
            .await
            .expect_err("only health is served there");
    assert_eq!(other.code(), Code::Unimplemented);
}
