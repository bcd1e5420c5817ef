//! The population the service benchmarks run against: agencies of the built-in catalogue, each
//! with an API key of its own in a principals file, one of them (ESDC) the opener of requests
//! naming the others' services, and citizens with the opener's service-delivery consent.

use std::{net::SocketAddr, path::Path};

use sha2::{Digest as _, Sha256};
use single_window::{
    catalog::import,
    proto::v1::{self as pb, answer::Value, citizen_service_client::CitizenServiceClient},
};
use tonic::Request;

use crate::process::channels;

/// The API key of `principal` in the benchmarks' principals file.
pub fn key_of(principal: &str) -> String {
    format!("bench-{}", principal.replace('/', "-"))
}

/// `message` as a call by `principal`.
pub fn as_principal<T>(principal: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", key_of(principal))
            .parse()
            .expect("metadata"),
    );
    request
}

pub struct Population {
    /// Agencies that own an active service the opener does not deliver (up to the number asked;
    /// the built-in catalogue has 78).
    pub agencies: Vec<String>,
    /// One such service of each agency, in the same order.
    pub services: Vec<String>,
    /// `agencies/esdc-edsc`.
    pub opener: String,
    /// The principals file naming every agency and the opener.
    pub principals_file: std::path::PathBuf,
}

impl Population {
    /// Up to `agencies` agencies, with their principals file written in `dir`.
    pub fn new(agencies: usize, dir: &Path) -> Self {
        let (catalog, _) = import::build(import::BUILTIN).expect("catalogue");
        let mut by_owner = std::collections::HashMap::<String, String>::new();
        // Services the opener does not deliver itself, so that each goes to its owner.
        for s in catalog
            .services
            .iter()
            .filter(|s| !s.retired && !s.delivery_partners.iter().any(|p| p == "esdc-edsc"))
        {
            by_owner
                .entry(s.agency.clone())
                .or_insert_with(|| s.id.clone());
        }
        let mut owners: Vec<String> = by_owner.keys().cloned().collect();
        owners.sort();
        let opener = "esdc-edsc".to_owned();
        owners.retain(|a| *a != opener);
        let agencies: Vec<String> = owners.into_iter().take(agencies).collect();
        let services: Vec<String> = agencies.iter().map(|a| by_owner[a].clone()).collect();
        let principals: Vec<serde_json::Value> = agencies
            .iter()
            .chain(std::iter::once(&opener))
            .map(|a| {
                let name = format!("agencies/{a}");
                let hash: String = Sha256::digest(key_of(&name).as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                serde_json::json!({"name": name, "api_key_sha256": [hash]})
            })
            .collect();
        let principals_file = dir.join("principals.json");
        std::fs::write(
            &principals_file,
            serde_json::json!({ "principals": principals }).to_string(),
        )
        .expect("principals");
        Self {
            agencies,
            services,
            opener: format!("agencies/{opener}"),
            principals_file,
        }
    }

    /// Creates `n` citizens through the opener, each with its service-delivery consent.
    pub async fn citizens(&self, addr: SocketAddr, n: usize) -> Vec<String> {
        let chans = channels(addr, 8);
        let mut citizens = Vec::new();
        for i in 0..n {
            let mut c = CitizenServiceClient::new(chans[i % chans.len()].clone());
            let created = c
                .create_citizen(as_principal(
                    &self.opener,
                    pb::CreateCitizenRequest {
                        citizen: Some(pb::Citizen {
                            identity: Some(pb::Identity {
                                given_name: format!("Bench{i}"),
                                family_name: "Citizen".into(),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    },
                ))
                .await
                .expect("created")
                .into_inner();
            c.grant_consent(as_principal(
                &self.opener,
                pb::GrantConsentRequest {
                    parent: created.name.clone(),
                    consent: Some(pb::Consent {
                        grantee: self.opener.clone(),
                        purpose: pb::ConsentPurpose::ServiceDelivery as i32,
                        categories: vec![
                            pb::ConsentCategory::Identity as i32,
                            pb::ConsentCategory::Contact as i32,
                        ],
                        channel: pb::Channel::InPerson as i32,
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .expect("consent");
            citizens.push(created.name);
        }
        citizens
    }
}

/// Valid answers to the built-in direct-deposit form (`forms/direct-deposit/versions/1`, linked
/// to `services/1003`).
pub fn deposit_answers() -> Vec<pb::Answer> {
    let answer = |k: &str, value: Value| pb::Answer {
        field: k.to_owned(),
        value: Some(value),
        source: None,
    };
    let pick = |v: &str| {
        Value::Choices(pb::ChoiceAnswer {
            values: vec![v.to_owned()],
        })
    };
    vec![
        answer("given_name", Value::Text("Bench".to_owned())),
        answer("family_name", Value::Text("Depositor".to_owned())),
        answer(
            "sin",
            Value::Identifier(pb::Identifier {
                scheme: pb::IdentifierScheme::Sin as i32,
                province: String::new(),
                value: "130 692 544".to_owned(),
            }),
        ),
        answer(
            "account",
            Value::BankAccount(pb::BankAccount {
                institution: "004".to_owned(),
                transit: "12345".to_owned(),
                account: "1234567".to_owned(),
            }),
        ),
        answer("joint_account", Value::Boolean(false)),
        answer("programs", pick("ei")),
        answer("confirm", pick("yes")),
    ]
}
