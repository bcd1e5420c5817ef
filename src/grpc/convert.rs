//! Domain values to their proto messages, and proto filter enums to domain values.

use crate::{
    catalog::Snapshot,
    domain::{
        catalog::{
            Agency, Availability, Channel, ChannelVolumes, ClientGroup, Count, Jurisdiction,
            LifeEvent, OnlineSteps, Service, ServiceStandard, ServiceType, StandardKind, Text,
        },
        names::{self, AGENCIES, LIFE_EVENTS, SERVICES},
        threshold::{DurationUnit, Threshold},
    },
    proto::v1 as pb,
};

pub(crate) fn text(t: &Text) -> Option<pb::LocalizedText> {
    Some(pb::LocalizedText {
        en: t.en.clone(),
        fr: t.fr.clone(),
    })
}

fn count(c: Count) -> Option<pb::Count> {
    let (status, value) = match c {
        Count::Reported(n) => (pb::CountStatus::Reported, n),
        Count::NoData => (pb::CountStatus::NoData, 0),
        Count::NotApplicable => (pb::CountStatus::NotApplicable, 0),
    };
    Some(pb::Count {
        status: status.into(),
        value,
    })
}

/// A proto channel.
pub fn channel(c: Channel) -> pb::Channel {
    match c {
        Channel::Online => pb::Channel::Online,
        Channel::Telephone => pb::Channel::Telephone,
        Channel::InPerson => pb::Channel::InPerson,
        Channel::Mail => pb::Channel::Mail,
        Channel::Email => pb::Channel::Email,
        Channel::Fax => pb::Channel::Fax,
        Channel::Other => pb::Channel::Other,
    }
}

/// The domain channel of a proto filter value; `None` for unspecified.
pub fn channel_filter(c: pb::Channel) -> Option<Channel> {
    match c {
        pb::Channel::Unspecified => None,
        pb::Channel::Online => Some(Channel::Online),
        pb::Channel::Telephone => Some(Channel::Telephone),
        pb::Channel::InPerson => Some(Channel::InPerson),
        pb::Channel::Mail => Some(Channel::Mail),
        pb::Channel::Email => Some(Channel::Email),
        pb::Channel::Fax => Some(Channel::Fax),
        pb::Channel::Other => Some(Channel::Other),
    }
}

fn client_group(g: ClientGroup) -> pb::ClientGroup {
    match g {
        ClientGroup::Person => pb::ClientGroup::Person,
        ClientGroup::Business => pb::ClientGroup::Business,
        ClientGroup::NonProfit => pb::ClientGroup::NonProfit,
        ClientGroup::ProvinceTerritoryCommunity => pb::ClientGroup::ProvinceTerritoryCommunity,
        ClientGroup::Foreign => pb::ClientGroup::Foreign,
        ClientGroup::Government => pb::ClientGroup::Government,
    }
}

/// The domain client group of a proto filter value; `None` for unspecified.
pub fn client_group_filter(g: pb::ClientGroup) -> Option<ClientGroup> {
    match g {
        pb::ClientGroup::Unspecified => None,
        pb::ClientGroup::Person => Some(ClientGroup::Person),
        pb::ClientGroup::Business => Some(ClientGroup::Business),
        pb::ClientGroup::NonProfit => Some(ClientGroup::NonProfit),
        pb::ClientGroup::ProvinceTerritoryCommunity => {
            Some(ClientGroup::ProvinceTerritoryCommunity)
        }
        pb::ClientGroup::Foreign => Some(ClientGroup::Foreign),
        pb::ClientGroup::Government => Some(ClientGroup::Government),
    }
}

fn service_type(t: ServiceType) -> pb::ServiceType {
    match t {
        ServiceType::AgreementsPermissions => pb::ServiceType::AgreementsPermissions,
        ServiceType::CareEducationRecreation => pb::ServiceType::CareEducationRecreation,
        ServiceType::GrantsContributions => pb::ServiceType::GrantsContributions,
        ServiceType::Information => pb::ServiceType::Information,
        ServiceType::LegislationPolicy => pb::ServiceType::LegislationPolicy,
        ServiceType::PenaltiesProtection => pb::ServiceType::PenaltiesProtection,
        ServiceType::HighVolumeRegulatory => pb::ServiceType::HighVolumeRegulatory,
        ServiceType::Resources => pb::ServiceType::Resources,
    }
}

fn online(a: Availability) -> i32 {
    match a {
        Availability::Unpublished => pb::OnlineAvailability::Unspecified,
        Availability::Yes => pb::OnlineAvailability::Available,
        Availability::No => pb::OnlineAvailability::NotAvailable,
        Availability::NotApplicable => pb::OnlineAvailability::NotApplicable,
    }
    .into()
}

fn online_steps(s: &OnlineSteps) -> Option<pb::OnlineSteps> {
    Some(pb::OnlineSteps {
        account_registration: online(s.account_registration),
        authentication: online(s.authentication),
        application: online(s.application),
        decision: online(s.decision),
        issuance: online(s.issuance),
        issue_resolution_feedback: online(s.issue_resolution_feedback),
    })
}

pub(crate) fn volumes(v: &ChannelVolumes) -> Option<pb::ChannelVolumes> {
    Some(pb::ChannelVolumes {
        phone_enquiries: count(v.phone_enquiries),
        website_visits: count(v.website_visits),
        applications_online: count(v.applications_online),
        applications_in_person: count(v.applications_in_person),
        applications_by_phone: count(v.applications_by_phone),
        applications_by_mail: count(v.applications_by_mail),
        applications_by_email: count(v.applications_by_email),
        applications_by_fax: count(v.applications_by_fax),
        applications_by_other: count(v.applications_by_other),
        applications_total: count(v.applications_total),
    })
}

/// The proto agency, with its number of active services.
pub fn agency(a: &Agency, service_count: usize) -> pb::Agency {
    pb::Agency {
        name: names::format(AGENCIES, &a.id),
        agency_id: a.id.clone(),
        display_name: text(&a.name),
        jurisdiction: match a.jurisdiction {
            Jurisdiction::Federal => pb::Jurisdiction::Federal,
            Jurisdiction::Provincial => pb::Jurisdiction::Provincial,
            Jurisdiction::Municipal => pb::Jurisdiction::Municipal,
        }
        .into(),
        region: a.region.clone(),
        keywords: a.keywords.clone(),
        service_count: i32::try_from(service_count).unwrap_or(i32::MAX),
    }
}

/// The proto service with its standards.
pub fn service(s: &Service) -> pb::Service {
    pb::Service {
        name: names::format(SERVICES, &s.id),
        service_id: s.id.clone(),
        display_name: text(&s.name),
        description: text(&s.description),
        agency: names::format(AGENCIES, &s.agency),
        delivery_partners: s
            .delivery_partners
            .iter()
            .map(|a| names::format(AGENCIES, a))
            .collect(),
        state: if s.retired {
            pb::ServiceState::Retired
        } else {
            pb::ServiceState::Active
        }
        .into(),
        fiscal_year: s.fiscal_year.clone(),
        programs: s
            .programs
            .iter()
            .map(|p| pb::Program {
                program_id: p.id.clone(),
                display_name: text(&p.name),
            })
            .collect(),
        service_types: s
            .service_types
            .iter()
            .map(|t| service_type(*t).into())
            .collect(),
        client_groups: s
            .client_groups
            .iter()
            .map(|g| client_group(*g).into())
            .collect(),
        channels: s.channels.iter().map(|c| channel(*c).into()).collect(),
        feedback_channels: s
            .feedback_channels
            .iter()
            .map(|c| channel(*c).into())
            .collect(),
        online_steps: online_steps(&s.online_steps),
        volumes: volumes(&s.volumes),
        has_fee: s.has_fee,
        uses_automated_decisions: s.uses_automated_decisions,
        uses_sin: s.uses_sin,
        uri: text(&s.uri),
        keywords: s.keywords.clone(),
        life_events: s
            .life_events
            .iter()
            .map(|e| names::format(LIFE_EVENTS, e))
            .collect(),
        standards: s.standards.iter().map(standard).collect(),
        forms: Vec::new(),
    }
}

pub(crate) fn threshold(t: &Threshold) -> pb::Threshold {
    let unit = match t.unit {
        DurationUnit::Seconds => pb::DurationUnit::Seconds,
        DurationUnit::Minutes => pb::DurationUnit::Minutes,
        DurationUnit::Hours => pb::DurationUnit::Hours,
        DurationUnit::CalendarDays => pb::DurationUnit::CalendarDays,
        DurationUnit::BusinessDays => pb::DurationUnit::BusinessDays,
        DurationUnit::Weeks => pb::DurationUnit::Weeks,
        DurationUnit::Months => pb::DurationUnit::Months,
    };
    pb::Threshold {
        value: t.value,
        unit: unit.into(),
    }
}

/// The proto service standard.
pub fn standard(s: &ServiceStandard) -> pb::ServiceStandard {
    pb::ServiceStandard {
        name: names::format_standard(&s.service_id, &s.id),
        standard_id: s.id.clone(),
        service: names::format(SERVICES, &s.service_id),
        text: text(&s.text),
        kind: match s.kind {
            StandardKind::Timeliness => pb::StandardKind::Timeliness,
            StandardKind::Access => pb::StandardKind::Access,
            StandardKind::Accuracy => pb::StandardKind::Accuracy,
            StandardKind::Other => pb::StandardKind::Other,
        }
        .into(),
        channel: s.channel.map_or(pb::Channel::Unspecified, channel).into(),
        channel_comments: text(&s.channel_comments),
        thresholds: s.thresholds.iter().map(threshold).collect(),
        target: s.target,
        volume_meeting_target: count(s.volume_meeting_target),
        total_volume: count(s.total_volume),
        performance: s.performance,
        target_met: match s.target_met {
            Availability::Unpublished => pb::TargetMet::Unspecified,
            Availability::Yes => pb::TargetMet::Met,
            Availability::No => pb::TargetMet::NotMet,
            Availability::NotApplicable => pb::TargetMet::NotApplicable,
        }
        .into(),
        comments: text(&s.comments),
        standard_uri: text(&s.standard_uri),
        performance_uri: text(&s.performance_uri),
        live_performance: None,
    }
}

/// The proto life event; each service names its owning agency from `snapshot`.
pub fn life_event(e: &LifeEvent, snapshot: &Snapshot) -> pb::LifeEvent {
    pb::LifeEvent {
        name: names::format(LIFE_EVENTS, &e.id),
        life_event_id: e.id.clone(),
        display_name: text(&e.name),
        description: text(&e.description),
        keywords: e.keywords.clone(),
        services: e
            .services
            .iter()
            .map(|s| pb::LifeEventService {
                service: names::format(SERVICES, &s.service_id),
                agency: snapshot
                    .service(&s.service_id)
                    .map(|svc| names::format(AGENCIES, &svc.agency))
                    .unwrap_or_default(),
                condition: text(&s.condition),
            })
            .collect(),
    }
}
