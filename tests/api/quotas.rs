//! Per-principal quotas: a noisy agency is refused with RESOURCE_EXHAUSTED, a `QuotaFailure` and
//! `RetryInfo`, while a quiet agency calling at the same time loses nothing.

use std::{collections::HashMap, num::NonZeroU32, time::Instant};

use futures_util::future::join_all;
use single_window::{
    auth::{PrincipalEntry, PrincipalsFile, hash_key, to_hex},
    grpc::calls::{Quota, QuotaSettings},
    proto::v1::GetServiceRequest,
};
use tonic::{Code, Request};
use tonic_types::StatusExt as _;

use crate::{assert_error, helpers::TestApp};

const NOISY_KEY: &str = "sw_test_key_noisy_cic";
const QUIET_KEY: &str = "sw_test_key_quiet_esdc";

fn entry(name: &str, key: &str) -> PrincipalEntry {
    PrincipalEntry {
        name: name.to_owned(),
        officer: None,
        api_key_sha256: vec![to_hex(&hash_key(key))],
        certificate_sha256: Vec::new(),
    }
}

fn quota(per_second: u32, burst: u32) -> Quota {
    Quota {
        calls_per_second: NonZeroU32::new(per_second).expect("non-zero"),
        burst: NonZeroU32::new(burst),
    }
}

async fn app_with_quotas(quotas: QuotaSettings) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("principals.json");
    let file = PrincipalsFile {
        principals: vec![
            entry("agencies/cic/teams/passports", NOISY_KEY),
            entry("agencies/esdc-edsc", QUIET_KEY),
        ],
        quotas,
    };
    std::fs::write(&path, serde_json::to_vec(&file).expect("json")).expect("write");
    let app = TestApp::spawn_with(|args| args.principals_file = Some(path.clone())).await;
    (app, dir)
}

async fn get_service(app: &TestApp, key: &str) -> Result<(), tonic::Status> {
    let mut request = Request::new(GetServiceRequest {
        name: "services/1003".to_owned(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {key}").parse().expect("metadata"),
    );
    app.catalog.clone().get_service(request).await.map(drop)
}

#[tokio::test]
async fn a_noisy_agency_is_refused_past_its_quota_and_a_quiet_one_loses_nothing() {
    let (app, _dir) = app_with_quotas(QuotaSettings {
        default: Some(quota(1_000, 1_000)),
        principals: HashMap::from([("agencies/cic".to_owned(), quota(5, 5))]),
        ..QuotaSettings::default()
    })
    .await;
    let started = Instant::now();
    // Ten times the noisy agency's burst, and the quiet agency's calls beside them.
    let noisy = join_all((0..50).map(|_| get_service(&app, NOISY_KEY)));
    let quiet = join_all((0..50).map(|_| get_service(&app, QUIET_KEY)));
    let (noisy, quiet) = tokio::join!(noisy, quiet);
    let elapsed = started.elapsed().as_secs_f64();

    let quiet_failures: Vec<_> = quiet.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(quiet_failures.is_empty(), "{quiet_failures:?}");
    let admitted = noisy.iter().filter(|r| r.is_ok()).count();
    // The burst, and what the rate refilled while the calls ran.
    let at_most = 5 + (elapsed * 5.0).ceil() as usize;
    assert!(
        (5..=at_most).contains(&admitted),
        "{admitted} admitted in {elapsed:.2}s"
    );
    let mut retry_after = std::time::Duration::ZERO;
    for status in noisy.iter().filter_map(|r| r.as_ref().err()) {
        assert_error(status, Code::ResourceExhausted, "QUOTA_EXCEEDED", None);
        let details = status.get_error_details();
        let failure = details.quota_failure().expect("QuotaFailure");
        assert_eq!(failure.violations.len(), 1);
        assert_eq!(failure.violations[0].subject, "agencies/cic");
        assert!(
            failure.violations[0]
                .description
                .contains("5 calls per second")
        );
        let retry = details
            .retry_info()
            .and_then(|r| r.retry_delay)
            .expect("RetryInfo");
        assert!(
            retry > std::time::Duration::ZERO && retry <= std::time::Duration::from_millis(200)
        );
        retry_after = retry_after.max(retry);
    }

    // After the pause it was told, the noisy agency is admitted again.
    tokio::time::sleep(retry_after).await;
    get_service(&app, NOISY_KEY)
        .await
        .expect("admitted after the retry delay");
}

#[tokio::test]
async fn a_principal_without_a_quota_of_its_own_gets_the_default_to_itself() {
    let (app, _dir) = app_with_quotas(QuotaSettings {
        default: Some(quota(1, 2)),
        ..QuotaSettings::default()
    })
    .await;
    for _ in 0..2 {
        get_service(&app, QUIET_KEY)
            .await
            .expect("within the burst");
    }
    let status = get_service(&app, QUIET_KEY)
        .await
        .expect_err("past the burst");
    assert_error(&status, Code::ResourceExhausted, "QUOTA_EXCEEDED", None);
    let details = status.get_error_details();
    assert_eq!(
        details.quota_failure().expect("QuotaFailure").violations[0].subject,
        "agencies/esdc-edsc"
    );
    // Another principal's bucket is its own, and the public has no quota here.
    get_service(&app, NOISY_KEY)
        .await
        .expect("another principal");
    for _ in 0..5 {
        let public = app
            .catalog
            .clone()
            .get_service(GetServiceRequest {
                name: "services/1003".to_owned(),
            })
            .await;
        public.expect("the public is not limited without a public quota");
    }
}
