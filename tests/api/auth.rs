//! Credentials: no credential is the public, a bad one is UNAUTHENTICATED (never the public),
//! demo keys only on loopback, a principals file replaces them, and the admin commands.

use std::process::Command;

use single_window::{
    auth::{PrincipalEntry, PrincipalsFile, hash_key, to_hex},
    proto::v1::GetServiceRequest,
};
use tonic::{Code, Request};

use crate::{assert_error, helpers::TestApp};

const ESDC_DEMO: &str = "demo-esdc-edsc-ei-benefits-0c6f2b81";

async fn get_service_as(app: &TestApp, authorization: Option<&str>) -> Result<(), tonic::Status> {
    let mut request = Request::new(GetServiceRequest {
        name: "services/1003".to_owned(),
    });
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().expect("metadata"));
    }
    app.catalog.clone().get_service(request).await.map(drop)
}

#[tokio::test]
async fn no_credential_is_the_public_and_a_bad_credential_is_unauthenticated() {
    let app = TestApp::spawn_with(|_| {}).await;
    get_service_as(&app, None)
        .await
        .expect("the catalogue is public");
    get_service_as(&app, Some(&format!("Bearer {ESDC_DEMO}")))
        .await
        .expect("a demo agency on loopback");
    for bad in [
        "Bearer not-a-key",
        "Basic dXNlcjpwYXNz",
        ESDC_DEMO,
        "Bearer ",
    ] {
        let status = get_service_as(&app, Some(bad)).await.expect_err(bad);
        assert_error(&status, Code::Unauthenticated, "UNAUTHENTICATED", None);
        assert!(!status.message().contains(ESDC_DEMO));
    }
}

#[tokio::test]
async fn demo_credentials_are_refused_off_loopback() {
    let app = TestApp::spawn_with(|args| {
        args.listen = "0.0.0.0:0".parse().expect("address");
    })
    .await;
    get_service_as(&app, None)
        .await
        .expect("public still answers");
    let status = get_service_as(&app, Some(&format!("Bearer {ESDC_DEMO}")))
        .await
        .expect_err("demo keys are refused");
    assert_error(&status, Code::Unauthenticated, "UNAUTHENTICATED", None);
}

#[tokio::test]
async fn a_principals_file_replaces_the_demo_principals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("principals.json");
    let file = PrincipalsFile {
        principals: vec![PrincipalEntry {
            name: "agencies/cic/teams/passports".to_owned(),
            officer: Some("desk-17".to_owned()),
            api_key_sha256: vec![to_hex(&hash_key("sw_test_key_for_cic"))],
            certificate_sha256: Vec::new(),
        }],
        quotas: Default::default(),
    };
    std::fs::write(&path, serde_json::to_vec(&file).expect("json")).expect("write");
    let app = TestApp::spawn_with(|args| args.principals_file = Some(path.clone())).await;
    get_service_as(&app, Some("Bearer sw_test_key_for_cic"))
        .await
        .expect("a key of the file");
    let status = get_service_as(&app, Some(&format!("Bearer {ESDC_DEMO}")))
        .await
        .expect_err("demo keys are not accepted with a principals file");
    assert_error(&status, Code::Unauthenticated, "UNAUTHENTICATED", None);
}

#[test]
fn demo_credentials_print_every_kind_as_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_single-window"))
        .args(["demo", "credentials", "--format", "json"])
        .output()
        .expect("run the binary");
    assert!(output.status.success(), "{output:?}");
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).expect("a JSON array");
    let kinds: Vec<&str> = list.iter().filter_map(|c| c["kind"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "agency").count(), 3);
    for kind in ["portal", "administrator", "auditor"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    assert!(
        list.iter()
            .all(|c| c["principal"].is_string() && c["token"].is_string())
    );
}

#[test]
fn a_new_key_comes_with_the_entry_that_holds_only_its_hash() {
    let output = Command::new(env!("CARGO_BIN_EXE_single-window"))
        .args(["principals", "new-key", "agencies/cra-arc/teams/benefits"])
        .output()
        .expect("run the binary");
    assert!(output.status.success(), "{output:?}");
    let made: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let token = made["token"].as_str().expect("token");
    let entry: PrincipalEntry = serde_json::from_value(made["entry"].clone()).expect("an entry");
    assert_eq!(entry.api_key_sha256, vec![to_hex(&hash_key(token))]);
    assert!(token.len() >= 64);
    let refused = Command::new(env!("CARGO_BIN_EXE_single-window"))
        .args(["principals", "new-key", "citizens/1"])
        .output()
        .expect("run the binary");
    assert!(!refused.status.success());
}

#[tokio::test]
async fn jwts_of_the_configured_identity_provider_are_accepted_and_others_refused() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jwt");
    let jwks = data.join("jwks.json");
    let app = TestApp::spawn_with(|args| {
        args.jwks_file = Some(jwks);
        args.jwt_issuer = Some("https://idp.test".to_owned());
    })
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let claims = serde_json::json!({
        "iss": "https://idp.test", "aud": "single-window", "sub": "svc-1",
        "exp": now + 300, "kind": "agency", "agency": "cra-arc"
    });
    let sign = |key: &str| {
        let pem = std::fs::read(data.join(key)).expect("test key");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("test-idp-1".to_owned());
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ed_pem(&pem).expect("pem"),
        )
        .expect("sign")
    };
    get_service_as(&app, Some(&format!("Bearer {}", sign("idp.pem"))))
        .await
        .expect("a token of the identity provider");
    let status = get_service_as(&app, Some(&format!("Bearer {}", sign("other.pem"))))
        .await
        .expect_err("another identity provider");
    assert_error(&status, Code::Unauthenticated, "UNAUTHENTICATED", None);
}
