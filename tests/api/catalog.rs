//! CatalogService behaviour over the built-in Government of Canada catalogue.

use std::collections::BTreeSet;

use single_window::proto::v1::{
    self as pb, Channel, ClientGroup, DurationUnit, GetAgencyRequest, GetLifeEventRequest,
    GetServiceRequest, GetServiceStandardRequest, ListAgenciesRequest, ListLifeEventsRequest,
    ListServiceStandardsRequest, ListServicesRequest, SearchServicesRequest,
};

use crate::helpers::{TestApp, all_services, all_standards, backends};

#[tokio::test]
async fn get_service_returns_employment_insurance_with_its_standards_and_thresholds() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let service = app.get_service("services/1003").await.expect("GetService");
        let name = service.display_name.clone().expect("display name");
        assert_eq!(service.name, "services/1003");
        assert!(
            name.en.contains("Employment Insurance"),
            "{backend:?}: {}",
            name.en
        );
        assert!(
            name.fr.contains("assurance-emploi"),
            "{backend:?}: {}",
            name.fr
        );
        assert_eq!(service.agency, "agencies/esdc-edsc");
        assert_eq!(service.state, pb::ServiceState::Active as i32);
        assert!(
            !service.standards.is_empty(),
            "{backend:?}: EI has published standards"
        );
        for standard in &service.standards {
            assert!(
                standard.name.starts_with("services/1003/standards/"),
                "{}",
                standard.name
            );
            assert_eq!(standard.service, "services/1003");
        }
        let with_threshold = service
            .standards
            .iter()
            .filter(|s| !s.thresholds.is_empty())
            .count();
        assert!(
            with_threshold > 0,
            "{backend:?}: some EI standard has a parsed threshold"
        );
        let first = &service
            .standards
            .iter()
            .find(|s| !s.thresholds.is_empty())
            .expect("a threshold")
            .thresholds[0];
        assert!(first.value > 0.0 && first.unit != DurationUnit::Unspecified as i32);
        assert!(
            service
                .life_events
                .contains(&"lifeEvents/losing-a-job".to_owned()),
            "{:?}",
            service.life_events
        );
    }
}

#[tokio::test]
async fn paging_list_services_visits_every_service_exactly_once() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        for page_size in [500, 137] {
            let mut seen = Vec::new();
            let mut token = String::new();
            loop {
                let page = app
                    .catalog
                    .clone()
                    .list_services(ListServicesRequest {
                        page_size,
                        page_token: token.clone(),
                        ..Default::default()
                    })
                    .await
                    .expect("ListServices")
                    .into_inner();
                assert_eq!(page.total_size, 1751, "{backend:?}");
                assert!(page.services.len() <= usize::try_from(page_size).unwrap());
                seen.extend(page.services.into_iter().map(|s| s.service_id));
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            let distinct: BTreeSet<_> = seen.iter().cloned().collect();
            assert_eq!(seen.len(), 1751, "{backend:?} page_size {page_size}");
            assert_eq!(
                distinct.len(),
                1751,
                "{backend:?}: a service was listed twice"
            );
            let mut sorted = seen.clone();
            sorted.sort();
            assert_eq!(
                seen, sorted,
                "{backend:?}: services are listed in order of id"
            );
        }
    }
}

#[tokio::test]
async fn page_size_defaults_to_50_and_is_clamped_to_500() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        for (asked, got) in [(0, 50), (1, 1), (100_000, 500)] {
            let page = app
                .catalog
                .clone()
                .list_services(ListServicesRequest {
                    page_size: asked,
                    ..Default::default()
                })
                .await
                .expect("ListServices")
                .into_inner();
            assert_eq!(page.services.len(), got, "{backend:?} page_size {asked}");
        }
    }
}

#[tokio::test]
async fn list_services_filters_are_ored_within_and_anded_across() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let list = |request: ListServicesRequest| {
            let mut client = app.catalog.clone();
            async move {
                client
                    .list_services(request)
                    .await
                    .expect("ListServices")
                    .into_inner()
            }
        };
        let cra = list(ListServicesRequest {
            agencies: vec!["agencies/cra-arc".into()],
            page_size: 500,
            ..Default::default()
        })
        .await;
        let vac = list(ListServicesRequest {
            agencies: vec!["agencies/vac-acc".into()],
            page_size: 500,
            ..Default::default()
        })
        .await;
        let both = list(ListServicesRequest {
            agencies: vec!["agencies/cra-arc".into(), "agencies/vac-acc".into()],
            page_size: 500,
            ..Default::default()
        })
        .await;
        assert!(cra.total_size > 0 && vac.total_size > 0);
        assert_eq!(
            both.total_size,
            cra.total_size + vac.total_size,
            "{backend:?}: agencies are ORed"
        );
        let mail_people = list(ListServicesRequest {
            channels: vec![Channel::Mail as i32],
            client_groups: vec![ClientGroup::Person as i32],
            page_size: 500,
            ..Default::default()
        })
        .await;
        assert!(mail_people.total_size > 0);
        for s in &mail_people.services {
            assert!(s.channels.contains(&(Channel::Mail as i32)), "{}", s.name);
            assert!(
                s.client_groups.contains(&(ClientGroup::Person as i32)),
                "{}",
                s.name
            );
        }
        let mail = list(ListServicesRequest {
            channels: vec![Channel::Mail as i32],
            ..Default::default()
        })
        .await;
        assert!(
            mail_people.total_size < mail.total_size,
            "{backend:?}: filters are ANDed"
        );
        let baby = list(ListServicesRequest {
            life_events: vec!["lifeEvents/having-a-baby".into()],
            ..Default::default()
        })
        .await;
        assert!(baby.total_size >= 3);
        assert!(baby.services.iter().all(|s| {
            s.life_events
                .contains(&"lifeEvents/having-a-baby".to_owned())
        }));
    }
}

#[tokio::test]
async fn agency_filter_includes_services_the_agency_delivers_for_another() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let esdc = app
            .catalog
            .clone()
            .list_services(ListServicesRequest {
                agencies: vec!["agencies/esdc-edsc".into()],
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("ListServices")
            .into_inner();
        let delivered: Vec<_> = esdc
            .services
            .iter()
            .filter(|s| s.agency != "agencies/esdc-edsc")
            .collect();
        assert!(
            !delivered.is_empty(),
            "{backend:?}: Service Canada delivers services of other agencies"
        );
        for s in delivered {
            assert!(
                s.delivery_partners
                    .contains(&"agencies/esdc-edsc".to_owned()),
                "{}",
                s.name
            );
        }
    }
}

#[tokio::test]
async fn agencies_are_listed_with_their_service_counts() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let page = app
            .catalog
            .clone()
            .list_agencies(ListAgenciesRequest {
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("ListAgencies")
            .into_inner();
        assert_eq!(page.total_size, 79, "{backend:?}");
        assert_eq!(page.agencies.len(), 79);
        assert!(page.next_page_token.is_empty());
        let total: i32 = page.agencies.iter().map(|a| a.service_count).sum();
        assert_eq!(total, 1751);
        let cic = app
            .catalog
            .clone()
            .get_agency(GetAgencyRequest {
                name: "agencies/cic".into(),
            })
            .await
            .expect("GetAgency")
            .into_inner();
        assert!(
            cic.keywords.iter().any(|k| k == "IRCC"),
            "{:?}",
            cic.keywords
        );
        assert_eq!(cic.region, "CA");
        assert_eq!(cic.jurisdiction, pb::Jurisdiction::Federal as i32);
        let names = cic.display_name.expect("names");
        assert!(!names.en.is_empty() && !names.fr.is_empty());
    }
}

#[tokio::test]
async fn search_ranks_the_matching_service_first_in_english_and_french() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        for query in ["employment insurance", "assurance-emploi"] {
            let response = app
                .catalog
                .clone()
                .search_services(SearchServicesRequest {
                    query: query.into(),
                    page_size: 5,
                    ..Default::default()
                })
                .await
                .expect("SearchServices")
                .into_inner();
            let ids: Vec<_> = response
                .results
                .iter()
                .map(|r| r.service.as_ref().expect("service").service_id.clone())
                .collect();
            assert!(
                ids.iter().take(3).any(|id| id == "1003"),
                "{backend:?} {query:?}: {ids:?}"
            );
            let scores: Vec<f32> = response.results.iter().map(|r| r.score).collect();
            assert!(
                scores.windows(2).all(|w| w[0] >= w[1]),
                "scores are in decreasing order: {scores:?}"
            );
        }
    }
}

#[tokio::test]
async fn search_treats_query_syntax_as_plain_words_and_pages_without_repeats() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let query = "passport -renewal: \"lost\" AND (child) *";
        let mut token = String::new();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let page = app
                .catalog
                .clone()
                .search_services(SearchServicesRequest {
                    query: query.into(),
                    page_size: 10,
                    page_token: token.clone(),
                    ..Default::default()
                })
                .await
                .expect("SearchServices never fails on punctuation")
                .into_inner();
            seen.extend(
                page.results
                    .iter()
                    .map(|r| r.service.as_ref().unwrap().service_id.clone()),
            );
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        assert!(seen.len() >= 10, "{backend:?}: {seen:?}");
        let distinct: BTreeSet<_> = seen.iter().collect();
        assert_eq!(
            distinct.len(),
            seen.len(),
            "{backend:?}: no result repeats across pages"
        );
    }
}

#[tokio::test]
async fn standards_are_listed_by_service_or_agency_and_identified_by_the_pair() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let mut client = app.catalog.clone();
        let all = client
            .list_service_standards(ListServiceStandardsRequest {
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("ListServiceStandards")
            .into_inner();
        assert_eq!(all.total_size, 2343, "{backend:?}");
        let by_service = client
            .list_service_standards(ListServiceStandardsRequest {
                service: "services/1003".into(),
                ..Default::default()
            })
            .await
            .expect("by service")
            .into_inner();
        assert!(
            by_service
                .service_standards
                .iter()
                .all(|s| s.service == "services/1003")
        );
        let by_agency = client
            .list_service_standards(ListServiceStandardsRequest {
                agency: "agencies/cra-arc".into(),
                page_size: 500,
                ..Default::default()
            })
            .await
            .expect("by agency")
            .into_inner();
        assert!(by_agency.total_size > 0 && by_agency.total_size < all.total_size);
        let first = &by_service.service_standards[0];
        let fetched = client
            .get_service_standard(GetServiceStandardRequest {
                name: first.name.clone(),
            })
            .await
            .expect("GetServiceStandard")
            .into_inner();
        assert_eq!(&fetched, first);
        // Standard ids repeat across services: each (service, id) pair is its own standard.
        let mut by_id: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for s in all_standards(&app.catalog).await {
            by_id
                .entry(s.standard_id.clone())
                .or_default()
                .push(s.service.clone());
        }
        let (id, services) = by_id
            .iter()
            .find(|(_, services)| services.len() > 1)
            .expect("a repeated standard id");
        let a = client
            .get_service_standard(GetServiceStandardRequest {
                name: format!("{}/standards/{id}", services[0]),
            })
            .await
            .expect("first")
            .into_inner();
        let b = client
            .get_service_standard(GetServiceStandardRequest {
                name: format!("{}/standards/{id}", services[1]),
            })
            .await
            .expect("second")
            .into_inner();
        assert_ne!(a.service, b.service, "{backend:?}");
    }
}

#[tokio::test]
async fn life_events_call_for_services_of_several_agencies() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let events = app
            .catalog
            .clone()
            .list_life_events(ListLifeEventsRequest::default())
            .await
            .expect("ListLifeEvents")
            .into_inner();
        assert!(events.total_size >= 10, "{backend:?}");
        for required in [
            "having-a-baby",
            "losing-a-job",
            "death-of-a-loved-one",
            "moving",
            "retiring",
            "immigrating-to-canada",
            "leaving-the-military",
            "starting-a-business",
            "turning-65",
            "becoming-disabled",
        ] {
            assert!(
                events
                    .life_events
                    .iter()
                    .any(|e| e.life_event_id == required),
                "missing {required}"
            );
        }
        for event in &events.life_events {
            let agencies: BTreeSet<_> = event.services.iter().map(|s| s.agency.clone()).collect();
            assert!(event.services.len() >= 3, "{}", event.name);
            assert!(agencies.len() >= 2, "{}", event.name);
            assert!(
                !agencies.contains(""),
                "{}: every service resolves to its agency",
                event.name
            );
        }
        let baby = app
            .catalog
            .clone()
            .get_life_event(GetLifeEventRequest {
                name: "lifeEvents/having-a-baby".into(),
            })
            .await
            .expect("GetLifeEvent")
            .into_inner();
        assert_eq!(baby.name, "lifeEvents/having-a-baby");
        let display = baby.display_name.expect("names");
        assert!(!display.en.is_empty() && !display.fr.is_empty());
    }
}

#[tokio::test]
async fn every_name_a_list_returns_can_be_fetched_with_get() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let mut client = app.catalog.clone();
        let standards = all_standards(&app.catalog).await;
        assert_eq!(standards.len(), 2343, "{backend:?}");
        for standard in standards {
            let request = GetServiceStandardRequest {
                name: standard.name.clone(),
            };
            let fetched = client
                .get_service_standard(request)
                .await
                .unwrap_or_else(|e| {
                    panic!("{backend:?}: GetServiceStandard {:?}: {e:?}", standard.name)
                })
                .into_inner();
            assert_eq!(fetched, standard);
        }
        for service in all_services(&app.catalog).await {
            let request = GetServiceRequest {
                name: service.name.clone(),
            };
            let mut fetched = client
                .get_service(request)
                .await
                .unwrap_or_else(|e| panic!("{backend:?}: GetService {:?}: {e:?}", service.name))
                .into_inner();
            // Only GetService reads the forms linked to the service.
            assert!(service.forms.is_empty());
            fetched.forms.clear();
            assert_eq!(fetched, service);
            client
                .get_agency(GetAgencyRequest {
                    name: service.agency.clone(),
                })
                .await
                .expect("its agency");
            for event in &service.life_events {
                client
                    .get_life_event(GetLifeEventRequest {
                        name: event.clone(),
                    })
                    .await
                    .expect("its life event");
            }
        }
    }
}
