//! Domain values of the citizen capability into `CitizenService` messages.

use crate::{
    audit::merkle::Hash,
    domain::{
        access::{AccessEvent, Action, Outcome},
        citizen::{
            Identifier, IdentifierScheme,
            record::{AccessibilityNeed, Address, AddressKind, Circumstance, Citizen, Language},
            representation::{Representation, RepresentationKind},
        },
        consent::{Categories, Category, Purpose},
        time::Timestamp,
    },
    grpc::convert,
    proto::v1 as pb,
    store::{
        consent_sql::ConsentRecord,
        notice_sql::{ChangeKind, Notice},
    },
};

/// A protobuf timestamp.
pub fn timestamp(t: Timestamp) -> prost_types::Timestamp {
    let ms = t.unix_millis();
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// `citizens/{id}`.
pub fn citizen_name(id: &str) -> String {
    format!("citizens/{id}")
}

pub fn purpose(p: Purpose) -> pb::ConsentPurpose {
    use pb::ConsentPurpose as P;
    match p {
        Purpose::ServiceDelivery => P::ServiceDelivery,
        Purpose::EligibilityAssessment => P::EligibilityAssessment,
        Purpose::Referral => P::Referral,
        Purpose::Prefill => P::Prefill,
        Purpose::RecordMaintenance => P::RecordMaintenance,
        Purpose::NotifyOfChanges => P::NotifyOfChanges,
        Purpose::DeidentifiedStatistics => P::DeidentifiedStatistics,
    }
}

pub fn category(c: Category) -> pb::ConsentCategory {
    use pb::ConsentCategory as P;
    match c {
        Category::Identity => P::Identity,
        Category::Contact => P::Contact,
        Category::Address => P::Address,
        Category::Preferences => P::Preferences,
        Category::Accessibility => P::Accessibility,
        Category::Circumstances => P::Circumstances,
        Category::Identifiers => P::Identifiers,
    }
}

fn categories(set: Categories) -> Vec<i32> {
    set.iter().map(|c| category(c) as i32).collect()
}

fn need(n: AccessibilityNeed) -> pb::AccessibilityNeed {
    use pb::AccessibilityNeed as P;
    match n {
        AccessibilityNeed::ScreenReader => P::ScreenReader,
        AccessibilityNeed::LargePrint => P::LargePrint,
        AccessibilityNeed::Braille => P::Braille,
        AccessibilityNeed::SignLanguage => P::SignLanguage,
        AccessibilityNeed::HearingAssistance => P::HearingAssistance,
        AccessibilityNeed::Mobility => P::Mobility,
        AccessibilityNeed::PlainLanguage => P::PlainLanguage,
        AccessibilityNeed::Interpreter => P::Interpreter,
    }
}

fn circumstance(c: Circumstance) -> pb::Circumstance {
    use pb::Circumstance as P;
    match c {
        Circumstance::Veteran => P::Veteran,
        Circumstance::Student => P::Student,
        Circumstance::Newcomer => P::Newcomer,
        Circumstance::Indigenous => P::Indigenous,
        Circumstance::Disability => P::Disability,
        Circumstance::Caregiver => P::Caregiver,
        Circumstance::Senior => P::Senior,
    }
}

/// The record as a message holding only `shown` (the other parts left empty).
pub fn citizen(c: &Citizen, shown: Categories) -> pb::Citizen {
    let d = c.details.only(shown);
    let show = |category| shown.contains(category);
    pb::Citizen {
        name: citizen_name(&c.id),
        identity: show(Category::Identity).then(|| pb::Identity {
            given_name: d.identity.given_name.clone(),
            family_name: d.identity.family_name.clone(),
            preferred_name: d.identity.preferred_name.clone(),
            date_of_birth: d
                .identity
                .date_of_birth
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_default(),
            deceased_date: d
                .identity
                .deceased_date
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_default(),
        }),
        contact: show(Category::Contact).then(|| pb::Contact {
            email: d.contact.email.clone(),
            phone: d.contact.phone.clone(),
        }),
        addresses: d.addresses.iter().map(address).collect(),
        preferences: show(Category::Preferences).then(|| pb::Preferences {
            language: match d.preferences.language {
                None => pb::Language::Unspecified,
                Some(Language::English) => pb::Language::English,
                Some(Language::French) => pb::Language::French,
            } as i32,
            preferred_channel: d
                .preferences
                .preferred_channel
                .map_or(pb::Channel::Unspecified, convert::channel)
                as i32,
        }),
        accessibility: show(Category::Accessibility).then(|| pb::Accessibility {
            needs: d
                .accessibility
                .needs
                .iter()
                .map(|n| need(*n) as i32)
                .collect(),
            note: d.accessibility.note.clone(),
        }),
        circumstances: show(Category::Circumstances).then(|| pb::Circumstances {
            declared: d
                .circumstances
                .iter()
                .map(|c| circumstance(*c) as i32)
                .collect(),
        }),
        identifiers: d.identifiers.iter().map(identifier).collect(),
        categories: categories(shown),
        etag: c.etag(),
        create_time: Some(timestamp(c.created)),
        update_time: Some(timestamp(c.updated)),
    }
}

/// An address of the record (or a form's answer).
pub(crate) fn address(a: &Address) -> pb::Address {
    pb::Address {
        kind: match a.kind {
            AddressKind::Residential => pb::AddressKind::Residential,
            AddressKind::Mailing => pb::AddressKind::Mailing,
        } as i32,
        line1: a.line1.clone(),
        line2: a.line2.clone(),
        city: a.city.clone(),
        province: a.province.code().to_owned(),
        postal_code: a.postal_code.to_string(),
    }
}

/// An identifier of the record (or a form's answer).
pub(crate) fn identifier(i: &Identifier) -> pb::Identifier {
    let (scheme, province) = match i.scheme() {
        IdentifierScheme::Sin => (pb::IdentifierScheme::Sin, String::new()),
        IdentifierScheme::Passport => (pb::IdentifierScheme::Passport, String::new()),
        IdentifierScheme::HealthCard(p) => (pb::IdentifierScheme::HealthCard, p.code().to_owned()),
    };
    pb::Identifier {
        scheme: scheme as i32,
        province,
        value: i.value().to_owned(),
    }
}

/// The state of a grant-like record at `now`.
fn state(
    from: Timestamp,
    until: Option<Timestamp>,
    revoked: Option<Timestamp>,
    now: Timestamp,
) -> pb::ConsentState {
    if revoked.is_some() {
        pb::ConsentState::Revoked
    } else if now < from {
        pb::ConsentState::Pending
    } else if until.is_some_and(|until| now >= until) {
        pb::ConsentState::Expired
    } else {
        pb::ConsentState::Active
    }
}

/// A representation as seen at `now`.
pub fn representation(r: &Representation, now: Timestamp) -> pb::Representation {
    pb::Representation {
        name: format!("citizens/{}/representatives/{}", r.citizen_id, r.id),
        representative: citizen_name(&r.representative_id),
        kind: match r.kind {
            RepresentationKind::Parent => pb::RepresentationKind::Parent,
            RepresentationKind::PowerOfAttorney => pb::RepresentationKind::PowerOfAttorney,
            RepresentationKind::Executor => pb::RepresentationKind::Executor,
        } as i32,
        categories: categories(r.categories),
        manage_consents: r.manage_consents,
        valid_from: Some(timestamp(r.valid_from)),
        valid_until: r.valid_until.map(timestamp),
        recorded_by: r.recorded_by.clone(),
        officer: r.officer.clone(),
        create_time: Some(timestamp(r.created)),
        revoke_time: r.revoked_at.map(timestamp),
        revoked_by: r.revoked_by.clone(),
        state: state(r.valid_from, r.valid_until, r.revoked_at, now) as i32,
    }
}

/// A consent as seen at `now`.
pub fn consent(c: &ConsentRecord, now: Timestamp) -> pb::Consent {
    let g = &c.grant;
    let state = state(g.valid_from, g.valid_until, g.revoked_at, now);
    pb::Consent {
        name: format!("citizens/{}/consents/{}", c.citizen_id, c.id),
        grantee: format!("agencies/{}", g.grantee),
        purpose: purpose(g.purpose) as i32,
        categories: categories(g.categories),
        valid_from: Some(timestamp(g.valid_from)),
        valid_until: g.valid_until.map(timestamp),
        channel: convert::channel(c.channel) as i32,
        recorded_by: c.recorded_by.clone(),
        officer: c.officer.clone(),
        create_time: Some(timestamp(c.created)),
        revoke_time: g.revoked_at.map(timestamp),
        revoked_by: c.revoked_by.clone(),
        state: state as i32,
    }
}

fn action(a: Action) -> pb::AccessAction {
    use pb::AccessAction as P;
    match a {
        Action::Create => P::Create,
        Action::Read => P::Read,
        Action::Update => P::Update,
        Action::Find => P::Find,
        Action::GrantConsent => P::GrantConsent,
        Action::RevokeConsent => P::RevokeConsent,
        Action::ListConsents => P::ListConsents,
        Action::ListAccessEvents => P::ListAccessEvents,
        Action::AuthorizeRepresentative => P::AuthorizeRepresentative,
        Action::RevokeRepresentative => P::RevokeRepresentative,
        Action::ListRepresentatives => P::ListRepresentatives,
        Action::IssueClaimCode => P::IssueClaimCode,
        Action::ClaimCitizen => P::ClaimCitizen,
        Action::OpenRequest => P::OpenRequest,
        Action::ReadRequest => P::ReadRequest,
        Action::ChangeRequest => P::ChangeRequest,
        Action::RecordFeedback => P::RecordFeedback,
        Action::ListSurveyInvitations => P::ListSurveyInvitations,
        Action::ReadUnsuppressedReport => P::ReadUnsuppressedReport,
        Action::PrefillForm => P::PrefillForm,
        Action::SubmitForm => P::SubmitForm,
        Action::WriteBack => P::WriteBack,
        Action::ReadSubmission => P::ReadSubmission,
    }
}

/// An access event with its inclusion proof.
pub fn event(e: &AccessEvent, proof: &[Hash]) -> pb::AccessEvent {
    pb::AccessEvent {
        name: format!("citizens/{}/accessEvents/{}", e.citizen_id, e.number),
        leaf_index: e.leaf_index,
        actor: e.actor.principal.clone(),
        officer: e.actor.officer.clone(),
        representative: if e.actor.representative.is_empty() {
            String::new()
        } else {
            citizen_name(&e.actor.representative)
        },
        action: action(e.action) as i32,
        purpose: e.purpose.map_or(pb::ConsentPurpose::Unspecified, purpose) as i32,
        categories: categories(e.categories),
        outcome: match e.outcome {
            Outcome::Allowed => pb::AccessOutcome::Allowed,
            Outcome::Denied => pb::AccessOutcome::Denied,
        } as i32,
        time: Some(timestamp(e.at)),
        request_id: e.request_id.clone(),
        leaf: e.leaf(),
        inclusion_proof: proof.iter().map(|h| h.to_vec()).collect(),
    }
}

/// A change notice.
pub fn notice(n: &Notice) -> pb::ChangeNotice {
    pb::ChangeNotice {
        position: n.position.unwrap_or_default(),
        citizen: citizen_name(&n.citizen_id),
        kind: match n.kind {
            ChangeKind::Contact => pb::ChangeKind::Contact,
            ChangeKind::Address => pb::ChangeKind::Address,
            ChangeKind::Deceased => pb::ChangeKind::Deceased,
        } as i32,
        time: Some(timestamp(n.at)),
    }
}
