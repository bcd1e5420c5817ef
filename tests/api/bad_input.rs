//! Bad input gets INVALID_ARGUMENT naming the field, unknown names NOT_FOUND, reused page tokens
//! INVALID_PAGE_TOKEN: never a panic, never a driver message.

use single_window::grpc::page_token::TokenKey;
use single_window::proto::v1::{
    GetAgencyRequest, GetLifeEventRequest, GetServiceRequest, GetServiceStandardRequest,
    ListAgenciesRequest, ListLifeEventsRequest, ListServiceStandardsRequest, ListServicesRequest,
    SearchServicesRequest, catalog_service_client::CatalogServiceClient,
};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt as _;

use crate::{
    assert_error,
    helpers::{TestApp, backends},
};

/// One call of the catalogue API.
#[derive(Debug, Clone)]
enum Call {
    GetAgency(GetAgencyRequest),
    ListAgencies(ListAgenciesRequest),
    GetService(GetServiceRequest),
    ListServices(ListServicesRequest),
    Search(SearchServicesRequest),
    GetStandard(GetServiceStandardRequest),
    ListStandards(ListServiceStandardsRequest),
    GetLifeEvent(GetLifeEventRequest),
    ListLifeEvents(ListLifeEventsRequest),
}

impl Call {
    /// The status the call fails with; panics if it succeeds.
    async fn error(self, mut client: CatalogServiceClient<Channel>) -> Status {
        let description = format!("{self:?}");
        let result = match self {
            Call::GetAgency(r) => client.get_agency(r).await.map(drop),
            Call::ListAgencies(r) => client.list_agencies(r).await.map(drop),
            Call::GetService(r) => client.get_service(r).await.map(drop),
            Call::ListServices(r) => client.list_services(r).await.map(drop),
            Call::Search(r) => client.search_services(r).await.map(drop),
            Call::GetStandard(r) => client.get_service_standard(r).await.map(drop),
            Call::ListStandards(r) => client.list_service_standards(r).await.map(drop),
            Call::GetLifeEvent(r) => client.get_life_event(r).await.map(drop),
            Call::ListLifeEvents(r) => client.list_life_events(r).await.map(drop),
        };
        result.expect_err(&format!("{description} should fail"))
    }
}

fn service(name: &str) -> Call {
    Call::GetService(GetServiceRequest { name: name.into() })
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let cases: Vec<(Call, &str)> = vec![
        (
            Call::ListAgencies(ListAgenciesRequest {
                page_size: -1,
                ..Default::default()
            }),
            "page_size",
        ),
        (
            Call::ListServices(ListServicesRequest {
                page_size: -5,
                ..Default::default()
            }),
            "page_size",
        ),
        (
            Call::ListStandards(ListServiceStandardsRequest {
                page_size: -1,
                ..Default::default()
            }),
            "page_size",
        ),
        (
            Call::ListLifeEvents(ListLifeEventsRequest {
                page_size: i32::MIN,
                ..Default::default()
            }),
            "page_size",
        ),
        (
            Call::Search(SearchServicesRequest {
                query: "tax".into(),
                page_size: -1,
                ..Default::default()
            }),
            "page_size",
        ),
        (service(""), "name"),
        (service("service/1003"), "name"),
        (service("services/"), "name"),
        (service("services/1003/extra"), "name"),
        (service("services/ 1003"), "name"),
        (service("services/10\n03"), "name"),
        (service("agencies/cic"), "name"),
        (
            Call::GetAgency(GetAgencyRequest {
                name: "agencies/".into(),
            }),
            "name",
        ),
        (
            Call::GetLifeEvent(GetLifeEventRequest {
                name: "life-events/moving".into(),
            }),
            "name",
        ),
        (
            Call::GetStandard(GetServiceStandardRequest {
                name: "services/1003".into(),
            }),
            "name",
        ),
        (
            Call::GetStandard(GetServiceStandardRequest {
                name: "services/1003/standards/".into(),
            }),
            "name",
        ),
        (
            Call::ListServices(ListServicesRequest {
                agencies: vec!["cic".into()],
                ..Default::default()
            }),
            "agencies[0]",
        ),
        (
            Call::ListServices(ListServicesRequest {
                agencies: vec!["agencies/cic".into(), "agencies/nope".into()],
                ..Default::default()
            }),
            "agencies[1]",
        ),
        (
            Call::ListServices(ListServicesRequest {
                channels: vec![0],
                ..Default::default()
            }),
            "channels[0]",
        ),
        (
            Call::ListServices(ListServicesRequest {
                channels: vec![99],
                ..Default::default()
            }),
            "channels[0]",
        ),
        (
            Call::ListServices(ListServicesRequest {
                client_groups: vec![0],
                ..Default::default()
            }),
            "client_groups[0]",
        ),
        (
            Call::ListServices(ListServicesRequest {
                life_events: vec!["lifeEvents/nope".into()],
                ..Default::default()
            }),
            "life_events[0]",
        ),
        (
            Call::Search(SearchServicesRequest {
                query: "   ".into(),
                ..Default::default()
            }),
            "query",
        ),
        (
            Call::Search(SearchServicesRequest {
                query: "a".repeat(1001),
                ..Default::default()
            }),
            "query",
        ),
        (
            Call::ListStandards(ListServiceStandardsRequest {
                service: "services/1003".into(),
                agency: "agencies/esdc-edsc".into(),
                ..Default::default()
            }),
            "agency",
        ),
        (
            Call::ListStandards(ListServiceStandardsRequest {
                service: "1003".into(),
                ..Default::default()
            }),
            "service",
        ),
    ];
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        for (call, field) in cases.clone() {
            let description = format!("{backend:?} {call:?}");
            let status = call.error(app.catalog.clone()).await;
            assert_error(
                &status,
                Code::InvalidArgument,
                "INVALID_ARGUMENT",
                Some(field),
            );
            assert!(!status.message().is_empty(), "{description}");
        }
    }
}

#[tokio::test]
async fn several_bad_fields_are_all_named_at_once() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let status = Call::ListServices(ListServicesRequest {
            page_size: -1,
            channels: vec![0],
            agencies: vec!["x".into()],
            ..Default::default()
        })
        .error(app.catalog.clone())
        .await;
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .expect("BadRequest")
            .field_violations
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields.len(), 3, "{backend:?}: {fields:?}");
    }
}

#[tokio::test]
async fn unknown_names_are_not_found_with_the_resource_name() {
    let cases = vec![
        (service("services/99999999"), "services/99999999"),
        // Ids are case-sensitive: SRV03054 exists, srv03054 does not.
        (service("services/srv03054"), "services/srv03054"),
        (
            Call::GetAgency(GetAgencyRequest {
                name: "agencies/nope".into(),
            }),
            "agencies/nope",
        ),
        (
            Call::GetLifeEvent(GetLifeEventRequest {
                name: "lifeEvents/nope".into(),
            }),
            "lifeEvents/nope",
        ),
        (
            Call::GetStandard(GetServiceStandardRequest {
                name: "services/1003/standards/nope".into(),
            }),
            "services/1003/standards/nope",
        ),
        (
            Call::ListStandards(ListServiceStandardsRequest {
                service: "services/nope".into(),
                ..Default::default()
            }),
            "services/nope",
        ),
        (
            Call::ListStandards(ListServiceStandardsRequest {
                agency: "agencies/nope".into(),
                ..Default::default()
            }),
            "agencies/nope",
        ),
    ];
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.get_service("services/SRV03054")
            .await
            .expect("SRV03054 exists as published");
        for (call, name) in cases.clone() {
            let status = call.error(app.catalog.clone()).await;
            assert_error(&status, Code::NotFound, "RESOURCE_NOT_FOUND", None);
            let details = status.get_error_details();
            let info = details.error_info().expect("ErrorInfo");
            assert_eq!(
                info.metadata.get("resource_name").map(String::as_str),
                Some(name),
                "{backend:?}"
            );
        }
    }
}

#[tokio::test]
async fn page_tokens_are_bound_to_their_request() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let mut client = app.catalog.clone();
        let first = client
            .list_services(ListServicesRequest {
                page_size: 10,
                agencies: vec!["agencies/cra-arc".into()],
                ..Default::default()
            })
            .await
            .expect("first page")
            .into_inner();
        assert!(!first.next_page_token.is_empty());
        let token = first.next_page_token;
        let reused = [
            Call::ListServices(ListServicesRequest {
                page_size: 10,
                page_token: token.clone(),
                ..Default::default()
            }),
            Call::ListServices(ListServicesRequest {
                page_size: 10,
                page_token: token.clone(),
                agencies: vec!["agencies/cic".into()],
                ..Default::default()
            }),
            Call::ListAgencies(ListAgenciesRequest {
                page_token: token.clone(),
                ..Default::default()
            }),
            Call::ListServices(ListServicesRequest {
                page_token: "not-a-token".into(),
                ..Default::default()
            }),
            Call::ListServices(ListServicesRequest {
                page_token: "e30".into(),
                ..Default::default()
            }),
        ];
        for call in reused {
            let status = call.error(client.clone()).await;
            assert_error(
                &status,
                Code::InvalidArgument,
                "INVALID_PAGE_TOKEN",
                Some("page_token"),
            );
        }
        // The same filters with a changed page size may continue.
        client
            .list_services(ListServicesRequest {
                page_size: 20,
                page_token: token,
                agencies: vec!["agencies/cra-arc".into()],
                ..Default::default()
            })
            .await
            .expect("a token continues its own query");
    }
}

/// The first page of services owned or delivered by CRA, ten at a time.
fn cra_page(page_token: &str) -> ListServicesRequest {
    ListServicesRequest {
        page_size: 10,
        page_token: page_token.to_owned(),
        agencies: vec!["agencies/cra-arc".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn an_edited_page_token_is_refused_never_another_page() {
    let app = TestApp::spawn_with(|_| {}).await;
    let mut client = app.catalog.clone();
    let token = client
        .list_services(cra_page(""))
        .await
        .expect("first page")
        .into_inner()
        .next_page_token;
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bytes = engine.decode(&token).expect("base64url");
    for i in [1, bytes.len() / 2, bytes.len() - 1] {
        let mut edited = bytes.clone();
        edited[i] ^= 0x01;
        let status = client
            .list_services(cra_page(&engine.encode(&edited)))
            .await
            .expect_err("an edited token is refused");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_PAGE_TOKEN",
            Some("page_token"),
        );
    }
}

#[tokio::test]
async fn replicas_sharing_a_key_continue_each_others_pages_and_honour_a_rotation() {
    let old = TokenKey::new(vec![7u8; 32]).expect("key");
    let new = TokenKey::new(vec![9u8; 32]).expect("key");
    let key = old.clone();
    let a = TestApp::spawn_with(|args| args.page_token_key = Some(key)).await;
    let (current, previous) = (new.clone(), old.clone());
    let rotated = TestApp::spawn_with(|args| {
        args.page_token_key = Some(current);
        args.page_token_previous_key = Some(previous);
    })
    .await;
    let key = new.clone();
    let after = TestApp::spawn_with(|args| args.page_token_key = Some(key)).await;
    let other = TestApp::spawn_with(|_| {}).await;
    let token = a
        .catalog
        .clone()
        .list_services(cra_page(""))
        .await
        .expect("page on replica A")
        .into_inner()
        .next_page_token;
    let next = rotated
        .catalog
        .clone()
        .list_services(cra_page(&token))
        .await
        .expect("the previous key is still accepted")
        .into_inner();
    after
        .catalog
        .clone()
        .list_services(cra_page(&next.next_page_token))
        .await
        .expect("tokens of the rotated replica use the new key");
    for refusing in [&after, &other] {
        let status = refusing
            .catalog
            .clone()
            .list_services(cra_page(&token))
            .await
            .expect_err("a key no longer accepted");
        assert_error(
            &status,
            Code::InvalidArgument,
            "INVALID_PAGE_TOKEN",
            Some("page_token"),
        );
    }
}
