//! Builds a [`Catalog`] from the GC Service Inventory (`si_*.csv`), the Service Standards
//! (`ss_*.csv`) and the curated overlay (`overlay.json`), and reports the anomalies it met.
//!
//! Source quirks handled here: a UTF-8 BOM and CRLF; a service id repeated across fiscal years (the
//! newest row wins); double-encoded UTF-8; quoted program-name lists aligned with `program_id`;
//! `ND`/`NA` counts; empty targets and performances, kept as absent rather than 0.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    overlay::Overlay,
    text::{quoted_list, repair_double_encoding},
};
use crate::domain::catalog::{
    Agency, Availability, Catalog, Channel, ChannelVolumes, ClientGroup, Count, Jurisdiction,
    OnlineSteps, Program, Service, ServiceStandard, ServiceType, StandardKind, Text,
};
use crate::domain::{names::valid_id, threshold::parse_thresholds};

/// The files a catalogue is built from.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    pub services_csv: &'a [u8],
    pub standards_csv: &'a [u8],
    pub overlay_json: &'a [u8],
}

/// The catalogue files built into the binary (GC Service Inventory FY 2023-24 and the overlay).
pub const BUILTIN: Sources<'static> = Sources {
    services_csv: include_bytes!("../../data/gc-service-inventory/si_2024.csv"),
    standards_csv: include_bytes!("../../data/gc-service-inventory/ss_2024.csv"),
    overlay_json: include_bytes!("../../data/overlay.json"),
};

/// Why a set of files could not become a catalogue.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: cannot read CSV: {source}")]
    Csv {
        file: &'static str,
        source: csv::Error,
    },
    #[error("{file}: missing column `{column}`")]
    MissingColumn {
        file: &'static str,
        column: &'static str,
    },
    #[error("overlay: {0}")]
    OverlayJson(#[from] serde_json::Error),
    #[error("overlay: {0}")]
    Overlay(String),
    #[error(
        "{file}: `{id}` is not a usable id (1 to 128 characters, no `/`, no control characters)"
    )]
    InvalidId { file: &'static str, id: String },
    #[error("standards: service `{service}` of standard `{standard}` is not in the services file")]
    UnknownService { service: String, standard: String },
}

/// What an import met in the source, for the operator.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub service_rows: usize,
    pub duplicate_service_rows: Vec<String>,
    pub duplicate_standard_rows: Vec<String>,
    pub standard_rows: usize,
    pub standards_with_threshold: usize,
    pub timeliness_standards: usize,
    pub timeliness_with_threshold: usize,
    pub repaired_texts: usize,
    pub missing_targets: usize,
    pub missing_performance: usize,
    pub performance_above_one: usize,
    pub meeting_target_above_total: usize,
    pub unknown_codes: BTreeSet<String>,
}

impl ImportReport {
    /// The anomalies, one line each.
    pub fn anomalies(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "{} service rows; duplicates dropped (older fiscal year): {}",
                self.service_rows,
                if self.duplicate_service_rows.is_empty() {
                    "none".to_owned()
                } else {
                    self.duplicate_service_rows.join(", ")
                }
            ),
            format!(
                "{} standard rows; repeated (service, standard id) rows, the last kept: {}",
                self.standard_rows,
                if self.duplicate_standard_rows.is_empty() {
                    "none".to_owned()
                } else {
                    self.duplicate_standard_rows.join(", ")
                }
            ),
            format!(
                "{} text fields repaired from double-encoded UTF-8",
                self.repaired_texts
            ),
            format!(
                "{} standards without a published target",
                self.missing_targets
            ),
            format!(
                "{} standards without a published performance",
                self.missing_performance
            ),
            format!(
                "{} standards with a published performance above 1 (kept as published)",
                self.performance_above_one
            ),
            format!(
                "{} standards with more cases meeting the target than in total (kept as published)",
                self.meeting_target_above_total
            ),
            format!(
                "{} of {} standards have a parsed time threshold ({} of {} timeliness standards)",
                self.standards_with_threshold,
                self.standard_rows,
                self.timeliness_with_threshold,
                self.timeliness_standards
            ),
        ];
        if !self.unknown_codes.is_empty() {
            let codes: Vec<_> = self.unknown_codes.iter().cloned().collect();
            lines.push(format!("unknown codes ignored: {}", codes.join(", ")));
        }
        lines
    }
}

/// Builds the catalogue from `sources`.
pub fn build(sources: Sources<'_>) -> Result<(Catalog, ImportReport), ImportError> {
    let mut report = ImportReport::default();
    let (mut services, agencies) = read_services(sources.services_csv, &mut report)?;
    read_standards(sources.standards_csv, &mut services, &mut report)?;
    let overlay = Overlay::parse(strip_bom(sources.overlay_json))?;
    let mut catalog = Catalog {
        agencies: agencies.into_values().collect(),
        services: services.into_values().collect(),
        life_events: Vec::new(),
    };
    overlay.apply(&mut catalog)?;
    Ok((catalog, report))
}

type Row = BTreeMap<String, String>;
type ServicesById = BTreeMap<String, Service>;
type AgenciesById = BTreeMap<String, Agency>;

fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

fn read_rows(
    file: &'static str,
    bytes: &[u8],
    required: &[&'static str],
) -> Result<Vec<Row>, ImportError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(strip_bom(bytes));
    let headers = reader
        .headers()
        .map_err(|source| ImportError::Csv { file, source })?
        .clone();
    if let Some(column) = required.iter().find(|c| !headers.iter().any(|h| h == **c)) {
        return Err(ImportError::MissingColumn { file, column });
    }
    reader
        .records()
        .map(|record| {
            let record = record.map_err(|source| ImportError::Csv { file, source })?;
            Ok(headers
                .iter()
                .map(str::to_owned)
                .zip(record.iter().map(str::to_owned))
                .collect())
        })
        .collect()
}

/// The raw value of `column`; empty when the file lacks that (optional) column.
fn col<'a>(row: &'a Row, column: &str) -> &'a str {
    row.get(column).map_or("", String::as_str)
}

/// A field, trimmed and repaired.
fn field(row: &Row, column: &str, report: &mut ImportReport) -> String {
    let raw = row.get(column).map_or("", |v| v.trim());
    let repaired = repair_double_encoding(raw);
    if repaired != raw {
        report.repaired_texts += 1;
    }
    repaired.into_owned()
}

fn text(row: &Row, column: &str, report: &mut ImportReport) -> Text {
    Text {
        en: field(row, &format!("{column}_en"), report),
        fr: field(row, &format!("{column}_fr"), report),
    }
}

fn count(value: &str) -> Count {
    match value.trim() {
        "NA" => Count::NotApplicable,
        v => v
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map_or(Count::NoData, |n| {
                #[allow(clippy::cast_possible_truncation)]
                Count::Reported(n.round() as i64)
            }),
    }
}

fn codes<T>(value: &str, parse: impl Fn(&str) -> Option<T>, report: &mut ImportReport) -> Vec<T> {
    value
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && *c != "NON")
        .filter_map(|c| {
            let parsed = parse(c);
            if parsed.is_none() {
                report.unknown_codes.insert(c.to_owned());
            }
            parsed
        })
        .collect()
}

const SERVICE_COLUMNS: &[&str] = &[
    "fiscal_yr",
    "service_id",
    "service_name_en",
    "service_name_fr",
    "owner_org",
    "owner_org_title",
];

fn read_services(
    bytes: &[u8],
    report: &mut ImportReport,
) -> Result<(ServicesById, AgenciesById), ImportError> {
    let rows = read_rows("services", bytes, SERVICE_COLUMNS)?;
    report.service_rows = rows.len();
    let mut services: BTreeMap<String, Service> = BTreeMap::new();
    let mut agencies = BTreeMap::new();
    for row in &rows {
        let service = service_from_row(row, report);
        for id in [&service.id, &service.agency] {
            if !valid_id(id) {
                return Err(ImportError::InvalidId {
                    file: "services",
                    id: id.clone(),
                });
            }
        }
        let (en, fr) = col(row, "owner_org_title")
            .split_once('|')
            .unwrap_or((col(row, "owner_org_title"), ""));
        agencies
            .entry(service.agency.clone())
            .or_insert_with(|| Agency {
                id: service.agency.clone(),
                name: Text {
                    en: en.trim().to_owned(),
                    fr: fr.trim().to_owned(),
                },
                jurisdiction: Jurisdiction::Federal,
                region: "CA".to_owned(),
                keywords: Vec::new(),
            });
        match services.get(&service.id) {
            Some(existing) if existing.fiscal_year >= service.fiscal_year => {
                report
                    .duplicate_service_rows
                    .push(format!("{} ({})", service.id, service.fiscal_year));
            }
            Some(existing) => {
                report
                    .duplicate_service_rows
                    .push(format!("{} ({})", existing.id, existing.fiscal_year));
                services.insert(service.id.clone(), service);
            }
            None => {
                services.insert(service.id.clone(), service);
            }
        }
    }
    Ok((services, agencies))
}

fn service_from_row(row: &Row, report: &mut ImportReport) -> Service {
    let volumes = ChannelVolumes {
        phone_enquiries: count(col(row, "num_phone_enquiries")),
        website_visits: count(col(row, "num_website_visits")),
        applications_online: count(col(row, "num_applications_online")),
        applications_in_person: count(col(row, "num_applications_in_person")),
        applications_by_phone: count(col(row, "num_applications_by_phone")),
        applications_by_mail: count(col(row, "num_applications_by_mail")),
        applications_by_email: count(col(row, "num_applications_by_email")),
        applications_by_fax: count(col(row, "num_applications_by_fax")),
        applications_by_other: count(col(row, "num_applications_by_other")),
        applications_total: count(col(row, "num_applications_total")),
    };
    let step = |column: &str| Availability::from_code(col(row, column).trim());
    Service {
        id: col(row, "service_id").trim().to_owned(),
        name: text(row, "service_name", report),
        description: text(row, "service_description", report),
        agency: col(row, "owner_org").trim().to_owned(),
        delivery_partners: Vec::new(),
        retired: false,
        fiscal_year: col(row, "fiscal_yr").trim().to_owned(),
        programs: programs(row, report),
        service_types: codes(col(row, "service_type"), ServiceType::from_code, report),
        client_groups: codes(
            col(row, "client_target_groups"),
            ClientGroup::from_code,
            report,
        ),
        channels: volumes.channels_in_use(),
        feedback_channels: codes(
            col(row, "client_feedback_channel"),
            Channel::from_code,
            report,
        ),
        online_steps: OnlineSteps {
            account_registration: step("os_account_registration"),
            authentication: step("os_authentication"),
            application: step("os_application"),
            decision: step("os_decision"),
            issuance: step("os_issuance"),
            issue_resolution_feedback: step("os_issue_resolution_feedback"),
        },
        volumes,
        has_fee: col(row, "service_fee").trim() == "Y",
        uses_automated_decisions: col(row, "automated_decision_system").trim() == "Y",
        uses_sin: col(row, "sin_usage").trim() == "Y",
        uri: text(row, "service_uri", report),
        keywords: Vec::new(),
        life_events: Vec::new(),
        standards: Vec::new(),
    }
}

fn programs(row: &Row, report: &mut ImportReport) -> Vec<Program> {
    let ids: Vec<&str> = col(row, "program_id")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let en = quoted_list(&field(row, "program_name_en", report));
    let fr = quoted_list(&field(row, "program_name_fr", report));
    ids.iter()
        .enumerate()
        .map(|(i, id)| Program {
            id: (*id).to_owned(),
            name: Text {
                en: en.get(i).cloned().unwrap_or_default(),
                fr: fr.get(i).cloned().unwrap_or_default(),
            },
        })
        .collect()
}

const STANDARD_COLUMNS: &[&str] = &[
    "service_id",
    "service_standard_id",
    "service_standard_en",
    "type",
    "channel",
    "target",
    "performance",
];

fn read_standards(
    bytes: &[u8],
    services: &mut BTreeMap<String, Service>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    let rows = read_rows("standards", bytes, STANDARD_COLUMNS)?;
    report.standard_rows = rows.len();
    for row in &rows {
        let standard = standard_from_row(row, report);
        if !valid_id(&standard.id) {
            return Err(ImportError::InvalidId {
                file: "standards",
                id: standard.id,
            });
        }
        let Some(service) = services.get_mut(&standard.service_id) else {
            return Err(ImportError::UnknownService {
                service: standard.service_id,
                standard: standard.id,
            });
        };
        if let Some(channel) = standard.channel
            && !service.channels.contains(&channel)
        {
            service.channels.push(channel);
            service.channels.sort();
        }
        if let Some(existing) = service.standards.iter_mut().find(|s| s.id == standard.id) {
            report
                .duplicate_standard_rows
                .push(format!("{}/{}", standard.service_id, standard.id));
            *existing = standard;
        } else {
            service.standards.push(standard);
        }
    }
    for service in services.values_mut() {
        service.standards.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(())
}

fn standard_from_row(row: &Row, report: &mut ImportReport) -> ServiceStandard {
    let decimal = |column: &str| {
        col(row, column)
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
    };
    let text = text(row, "service_standard", report);
    let kind = StandardKind::from_code(col(row, "type").trim());
    let thresholds = parse_thresholds(&text.en);
    let target = decimal("target");
    let performance = decimal("performance");
    let volume_meeting_target = count(col(row, "volume_meeting_target"));
    let total_volume = count(col(row, "total_volume"));
    report.missing_targets += usize::from(target.is_none());
    report.missing_performance += usize::from(performance.is_none());
    report.performance_above_one += usize::from(performance.is_some_and(|p| p > 1.0));
    if let (Count::Reported(met), Count::Reported(total)) = (volume_meeting_target, total_volume) {
        report.meeting_target_above_total += usize::from(met > total);
    }
    report.standards_with_threshold += usize::from(!thresholds.is_empty());
    if kind == StandardKind::Timeliness {
        report.timeliness_standards += 1;
        report.timeliness_with_threshold += usize::from(!thresholds.is_empty());
    }
    ServiceStandard {
        id: col(row, "service_standard_id").trim().to_owned(),
        service_id: col(row, "service_id").trim().to_owned(),
        text,
        kind,
        channel: Channel::from_code(col(row, "channel").trim()),
        channel_comments: self::text(row, "channel_comments", report),
        thresholds,
        target,
        volume_meeting_target,
        total_volume,
        performance,
        target_met: Availability::from_code(col(row, "target_met").trim()),
        comments: self::text(row, "comments", report),
        standard_uri: self::text(row, "standards_targets_uri", report),
        performance_uri: self::text(row, "performance_results_uri", report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: &str = "\u{feff}fiscal_yr,service_id,service_name_en,service_name_fr,owner_org,owner_org_title\r\n\
        2023-2024,1,Passports,Passeports,cic,Immigration | Immigration\r\n\
        2022-2023,1,Old name,Ancien nom,cic,Immigration | Immigration\r\n";
    const STANDARDS: &str = "service_id,service_standard_id,service_standard_en,type,channel,target,performance\n\
        1,10,Within 10 business days,TML,ONL,0.9,\n\
        1,10,Within 20 business days,TML,ONL,0.9,1.2\n";
    const OVERLAY: &str = r#"{"life_events": [], "delivery_partners": [], "agency_keywords": [], "service_keywords": []}"#;

    fn sources<'a>(services: &'a str, standards: &'a str, overlay: &'a str) -> Sources<'a> {
        Sources {
            services_csv: services.as_bytes(),
            standards_csv: standards.as_bytes(),
            overlay_json: overlay.as_bytes(),
        }
    }

    #[test]
    fn builds_from_files_with_only_the_required_columns_keeping_the_newest_rows() {
        let (catalog, report) = build(sources(SERVICES, STANDARDS, OVERLAY)).expect("builds");
        assert_eq!(catalog.services.len(), 1);
        let service = &catalog.services[0];
        assert_eq!(service.name.en, "Passports", "the newest fiscal year wins");
        assert_eq!(
            service.volumes.phone_enquiries,
            Count::NoData,
            "a missing column is no data, never 0"
        );
        assert_eq!(
            service.standards.len(),
            1,
            "a repeated (service, standard) row is one standard"
        );
        assert_eq!(
            service.standards[0].text.en, "Within 20 business days",
            "the last row wins"
        );
        assert_eq!(
            service.standards[0].performance,
            Some(1.2),
            "kept as published"
        );
        assert_eq!(report.duplicate_service_rows, ["1 (2022-2023)"]);
        assert_eq!(report.duplicate_standard_rows, ["1/10"]);
        assert_eq!(catalog.agencies[0].name.fr, "Immigration");
    }

    #[test]
    fn refuses_unknown_references_and_unusable_ids() {
        let unknown = "service_id,service_standard_id,service_standard_en,type,channel,target,performance\n2,1,x,TML,ONL,,\n";
        assert!(matches!(
            build(sources(SERVICES, unknown, OVERLAY)),
            Err(ImportError::UnknownService { .. })
        ));
        let slash = "service_id,service_standard_id,service_standard_en,type,channel,target,performance\n1,a/b,x,TML,ONL,,\n";
        assert!(matches!(
            build(sources(SERVICES, slash, OVERLAY)),
            Err(ImportError::InvalidId { .. })
        ));
        let overlay = r#"{"life_events": [], "delivery_partners": [{"service": "1", "partner": "cic"}], "agency_keywords": [], "service_keywords": []}"#;
        assert!(
            matches!(
                build(sources(SERVICES, STANDARDS, overlay)),
                Err(ImportError::Overlay(_))
            ),
            "an owner is not its own partner"
        );
        let missing = "service_id,service_standard_en\n";
        assert!(matches!(
            build(sources(SERVICES, missing, OVERLAY)),
            Err(ImportError::MissingColumn { .. })
        ));
    }

    #[test]
    fn the_built_in_catalogue_has_the_published_counts() {
        let (catalog, report) = build(BUILTIN).expect("builds");
        assert_eq!(catalog.agencies.len(), 79);
        assert_eq!(catalog.services.len(), 1751);
        assert_eq!(
            catalog
                .services
                .iter()
                .map(|s| s.standards.len())
                .sum::<usize>(),
            2343
        );
        assert_eq!(report.service_rows, 1752);
        assert!(report.duplicate_standard_rows.is_empty());
        assert!(
            catalog
                .services
                .iter()
                .all(|s| !s.name.en.contains("Ã") && !s.description.en.contains("Ã"))
        );
    }
}
