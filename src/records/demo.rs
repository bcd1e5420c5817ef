//! The demo citizens of the embedded default: created, with their identity links to the demo
//! identity provider, on first start.

use std::sync::Arc;

use super::{Access, Caller, record};
use crate::{
    auth::demo::{self, DemoCitizen},
    domain::{
        access::{Action, Outcome},
        citizen::{
            Identifier, IdentifierScheme, PostalCode, Province,
            record::{Address, AddressKind, Citizen, Details, Language},
            values::{Date, parse_phone},
        },
        principal::Principal,
        time::Timestamp,
    },
    secrets::Keyring,
    store::{StoreResult, Tx, citizen_sql},
};

fn details(c: &DemoCitizen) -> Details {
    let mut d = Details::default();
    d.identity.given_name = c.given_name.to_owned();
    d.identity.family_name = c.family_name.to_owned();
    d.identity.date_of_birth = Date::parse(c.date_of_birth).ok();
    d.contact.email = c.email.to_owned();
    d.contact.phone = parse_phone(c.phone).expect("a valid demo phone");
    let province = Province::parse(c.province).expect("a valid demo province");
    d.addresses.push(Address {
        kind: AddressKind::Residential,
        line1: c.line1.to_owned(),
        line2: String::new(),
        city: c.city.to_owned(),
        province,
        postal_code: PostalCode::parse(c.postal_code).expect("a valid demo postal code"),
    });
    d.preferences.language = Some(if c.french {
        Language::French
    } else {
        Language::English
    });
    d.identifiers
        .push(Identifier::parse(IdentifierScheme::Sin, c.sin).expect("a valid demo SIN"));
    d
}

/// Input of [`ensure`].
pub struct Ensure {
    pub keys: Arc<Keyring>,
    pub now: Timestamp,
}

/// Creates the demo citizens that do not exist yet, linked to the demo identity provider's
/// subjects; how many it created.
pub async fn ensure(tx: &mut Tx, input: &Ensure) -> StoreResult<usize> {
    let caller = Caller {
        principal: Principal::Administrator {
            id: "demo-setup".to_owned(),
        },
        citizen: None,
        request_id: "demo-setup".to_owned(),
    };
    let mut created = 0;
    for c in demo::CITIZENS {
        if citizen_sql::exists(tx, c.id).await? {
            continue;
        }
        let citizen = Citizen {
            id: c.id.to_owned(),
            details: details(c),
            version: 1,
            created: input.now,
            updated: input.now,
        };
        citizen_sql::insert(tx, &input.keys, &citizen).await?;
        citizen_sql::link(tx, demo::IDP_ISSUER, c.subject, c.id, input.now).await?;
        let access = Access {
            caller: &caller,
            representative: None,
            citizen_id: c.id,
            action: Action::Create,
            purpose: None,
            categories: super::citizens::present(&citizen.details),
            outcome: Outcome::Allowed,
            at: input.now,
        };
        record(tx, access, true).await?;
        created += 1;
    }
    Ok(created)
}
