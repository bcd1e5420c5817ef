//! The catalogue: agencies, services, published service standards and life events.
//!
//! Values keep the source's meaning: a count is reported, no data or not applicable (never a made-up
//! 0); targets and performance stay as published.

use serde::{Deserialize, Serialize};

use super::threshold::Threshold;

/// Text in both official languages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub en: String,
    pub fr: String,
}

/// A published count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Count {
    Reported(i64),
    /// `ND` or an empty cell.
    #[default]
    NoData,
    /// `NA`.
    NotApplicable,
}

impl Count {
    /// Whether the channel this counts is in use: above 0, or no data published.
    pub fn signals_use(self) -> bool {
        match self {
            Count::Reported(n) => n > 0,
            Count::NoData => true,
            Count::NotApplicable => false,
        }
    }
}

/// A way to reach a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Channel {
    Online,
    Telephone,
    InPerson,
    Mail,
    Email,
    Fax,
    Other,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 7] = [
        Channel::Online,
        Channel::Telephone,
        Channel::InPerson,
        Channel::Mail,
        Channel::Email,
        Channel::Fax,
        Channel::Other,
    ];

    /// The source code of the channel (what rows hold).
    pub fn code(self) -> &'static str {
        match self {
            Channel::Online => "ONL",
            Channel::Telephone => "TEL",
            Channel::InPerson => "PERSON",
            Channel::Mail => "POST",
            Channel::Email => "EML",
            Channel::Fax => "FAX",
            Channel::Other => "OTH",
        }
    }

    /// Parses a source code (`ONL`, `TEL`, `PERSON`, `POST`, `EML`, `FAX`, `OTH`).
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "ONL" => Channel::Online,
            "TEL" => Channel::Telephone,
            "PERSON" => Channel::InPerson,
            "POST" => Channel::Mail,
            "EML" => Channel::Email,
            "FAX" => Channel::Fax,
            "OTH" => Channel::Other,
            _ => return None,
        })
    }
}

/// Who a service is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ClientGroup {
    Person,
    Business,
    NonProfit,
    ProvinceTerritoryCommunity,
    Foreign,
    Government,
}

impl ClientGroup {
    /// Parses a source code (`PERSON`, `ECONOM`, `NGO`, `PTC`, `FOR`, `INTERN_GOV`).
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "PERSON" => ClientGroup::Person,
            "ECONOM" => ClientGroup::Business,
            "NGO" => ClientGroup::NonProfit,
            "PTC" => ClientGroup::ProvinceTerritoryCommunity,
            "FOR" => ClientGroup::Foreign,
            "INTERN_GOV" => ClientGroup::Government,
            _ => return None,
        })
    }
}

/// Kind of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceType {
    AgreementsPermissions,
    CareEducationRecreation,
    GrantsContributions,
    Information,
    LegislationPolicy,
    PenaltiesProtection,
    HighVolumeRegulatory,
    Resources,
}

impl ServiceType {
    /// Parses a source code (`APIR`, `CER`, `GNC`, `INFO`, `LRP`, `PPI`, `REG_VOL`, `RES`).
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "APIR" => ServiceType::AgreementsPermissions,
            "CER" => ServiceType::CareEducationRecreation,
            "GNC" => ServiceType::GrantsContributions,
            "INFO" => ServiceType::Information,
            "LRP" => ServiceType::LegislationPolicy,
            "PPI" => ServiceType::PenaltiesProtection,
            "REG_VOL" => ServiceType::HighVolumeRegulatory,
            "RES" => ServiceType::Resources,
            _ => return None,
        })
    }
}

/// A published yes / no / not applicable flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Availability {
    #[default]
    Unpublished,
    Yes,
    No,
    NotApplicable,
}

impl Availability {
    /// Parses `Y`, `N` or `NA`; anything else is unpublished.
    pub fn from_code(code: &str) -> Self {
        match code {
            "Y" => Availability::Yes,
            "N" => Availability::No,
            "NA" => Availability::NotApplicable,
            _ => Availability::Unpublished,
        }
    }
}

/// Which steps are online end to end.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineSteps {
    pub account_registration: Availability,
    pub authentication: Availability,
    pub application: Availability,
    pub decision: Availability,
    pub issuance: Availability,
    pub issue_resolution_feedback: Availability,
}

/// Published yearly volumes per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelVolumes {
    pub phone_enquiries: Count,
    pub website_visits: Count,
    pub applications_online: Count,
    pub applications_in_person: Count,
    pub applications_by_phone: Count,
    pub applications_by_mail: Count,
    pub applications_by_email: Count,
    pub applications_by_fax: Count,
    pub applications_by_other: Count,
    pub applications_total: Count,
}

impl ChannelVolumes {
    /// Channels whose application or enquiry volume is above 0 or not published (`ND`).
    pub fn channels_in_use(&self) -> Vec<Channel> {
        let pairs = [
            (
                Channel::Online,
                self.applications_online.signals_use() || self.website_visits.signals_use(),
            ),
            (
                Channel::Telephone,
                self.applications_by_phone.signals_use() || self.phone_enquiries.signals_use(),
            ),
            (Channel::InPerson, self.applications_in_person.signals_use()),
            (Channel::Mail, self.applications_by_mail.signals_use()),
            (Channel::Email, self.applications_by_email.signals_use()),
            (Channel::Fax, self.applications_by_fax.signals_use()),
            (Channel::Other, self.applications_by_other.signals_use()),
        ];
        pairs
            .into_iter()
            .filter(|(_, used)| *used)
            .map(|(c, _)| c)
            .collect()
    }
}

/// A program a service belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    pub id: String,
    pub name: Text,
}

/// Level of government.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Jurisdiction {
    Federal,
    Provincial,
    Municipal,
}

/// A department or agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agency {
    pub id: String,
    pub name: Text,
    pub jurisdiction: Jurisdiction,
    /// ISO 3166 code: `CA` or `CA-ON`.
    pub region: String,
    pub keywords: Vec<String>,
}

/// A service as published, with what the overlay adds (partners, keywords, life events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: Text,
    pub description: Text,
    /// Owning agency id.
    pub agency: String,
    /// Agency ids that deliver it on the owner's behalf; never the owner.
    pub delivery_partners: Vec<String>,
    /// Missing from the latest import; kept, not listed.
    pub retired: bool,
    pub fiscal_year: String,
    pub programs: Vec<Program>,
    pub service_types: Vec<ServiceType>,
    pub client_groups: Vec<ClientGroup>,
    /// Offered channels: volumes in use plus the channels its standards name.
    pub channels: Vec<Channel>,
    pub feedback_channels: Vec<Channel>,
    pub online_steps: OnlineSteps,
    pub volumes: ChannelVolumes,
    pub has_fee: bool,
    pub uses_automated_decisions: bool,
    pub uses_sin: bool,
    pub uri: Text,
    pub keywords: Vec<String>,
    /// Life event ids that call for it.
    pub life_events: Vec<String>,
    /// Its standards in order of id; stored apart from the service row.
    #[serde(skip)]
    pub standards: Vec<ServiceStandard>,
}

/// Kind of service standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StandardKind {
    Timeliness,
    Access,
    Accuracy,
    Other,
}

impl StandardKind {
    /// Parses `TML`, `ACS`, `ACY`; anything else is other.
    pub fn from_code(code: &str) -> Self {
        match code {
            "TML" => StandardKind::Timeliness,
            "ACS" => StandardKind::Access,
            "ACY" => StandardKind::Accuracy,
            _ => StandardKind::Other,
        }
    }
}

/// A published service standard, identified by (service id, standard id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStandard {
    pub id: String,
    pub service_id: String,
    pub text: Text,
    pub kind: StandardKind,
    pub channel: Option<Channel>,
    pub channel_comments: Text,
    pub thresholds: Vec<Threshold>,
    pub target: Option<f64>,
    pub volume_meeting_target: Count,
    pub total_volume: Count,
    pub performance: Option<f64>,
    /// `Y`, `N`, `NA` as published.
    pub target_met: Availability,
    pub comments: Text,
    pub standard_uri: Text,
    pub performance_uri: Text,
}

/// A service a life event calls for, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifeEventService {
    pub service_id: String,
    pub condition: Text,
}

/// A moment in life that calls for services across agencies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifeEvent {
    pub id: String,
    pub name: Text,
    pub description: Text,
    pub keywords: Vec<String>,
    pub services: Vec<LifeEventService>,
}

/// A whole catalogue, each list in order of id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub agencies: Vec<Agency>,
    pub services: Vec<Service>,
    pub life_events: Vec<LifeEvent>,
}
