//! The public report as files: CSV (one row per service and channel, A-11's columns) and JSON
//! (the rows and the actions taken), rendered from the `PublicReport` message itself so the files
//! say exactly what `GetPublicReport` answers.

use crate::proto::v1 as pb;

/// The CSV header.
pub const COLUMNS: [&str; 24] = [
    "agency",
    "service_id",
    "service_name_en",
    "service_name_fr",
    "channel",
    "quarter",
    "fiscal_quarter",
    "suppressed",
    "customers",
    "surveys_offered",
    "respondents",
    "response_rate",
    "satisfaction",
    "trust",
    "effectiveness",
    "ease",
    "efficiency",
    "transparency",
    "employees",
    "value",
    "share_satisfied",
    "minimum_respondents",
    "actions_taken",
    "source",
];

fn id(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, id)| id)
}

fn channel(value: i32) -> &'static str {
    pb::Channel::try_from(value).map_or("", |c| c.as_str_name())
}

/// The report as CSV: suppressed rows keep their key and leave every figure empty.
pub fn csv(report: &pb::PublicReport) -> anyhow::Result<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(COLUMNS)?;
    for row in &report.rows {
        let suppressed = row.suppression != pb::Suppression::Unspecified as i32;
        let figure = |text: String| if suppressed { String::new() } else { text };
        let name = row.display_name.clone().unwrap_or_default();
        let actions = report
            .actions
            .iter()
            .filter(|a| a.agency == row.agency)
            .count();
        let mut record = vec![
            id(&row.agency).to_owned(),
            id(&row.service).to_owned(),
            name.en,
            name.fr,
            channel(row.channel).to_owned(),
            report.quarter.clone(),
            report.fiscal_quarter.clone(),
            suppressed.to_string(),
            figure(row.customers.to_string()),
            figure(row.surveys_offered.to_string()),
            figure(row.respondents.to_string()),
            figure(format!("{:.4}", row.response_rate)),
        ];
        for d in 1..=8 {
            let mean = row
                .drivers
                .iter()
                .find(|f| f.driver == d)
                .filter(|f| f.answered > 0)
                .map(|f| format!("{:.2}", f.mean))
                .unwrap_or_default();
            record.push(figure(mean));
        }
        record.push(figure(format!("{:.4}", row.share_satisfied)));
        record.push(report.minimum_respondents.to_string());
        record.push(actions.to_string());
        record.push("single-window".to_owned());
        out.write_record(&record)?;
    }
    Ok(out.into_inner()?)
}

/// The report as JSON.
pub fn json(report: &pb::PublicReport) -> serde_json::Value {
    let drivers = |row: &pb::PublicReportRow| -> serde_json::Value {
        row.drivers
            .iter()
            .map(|f| {
                let name = pb::Driver::try_from(f.driver)
                    .map_or("", |d| d.as_str_name())
                    .trim_start_matches("DRIVER_")
                    .to_lowercase();
                (
                    name,
                    serde_json::json!({
                        "answered": f.answered,
                        "mean": f.mean,
                        "distribution": f.distribution,
                    }),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let rows: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|row| {
            let name = row.display_name.clone().unwrap_or_default();
            let suppressed = row.suppression != pb::Suppression::Unspecified as i32;
            let mut value = serde_json::json!({
                "agency": row.agency,
                "service": row.service,
                "name": { "en": name.en, "fr": name.fr },
                "channel": channel(row.channel),
                "suppressed": suppressed,
            });
            if !suppressed {
                value["customers"] = row.customers.into();
                value["surveys_offered"] = row.surveys_offered.into();
                value["respondents"] = row.respondents.into();
                value["response_rate"] = row.response_rate.into();
                value["drivers"] = drivers(row);
                value["share_satisfied"] = row.share_satisfied.into();
            }
            value
        })
        .collect();
    let actions: Vec<serde_json::Value> = report
        .actions
        .iter()
        .map(|a| {
            let summary = a.summary.clone().unwrap_or_default();
            serde_json::json!({
                "agency": a.agency,
                "warning": a.warning,
                "you_said": { "en": summary.en, "fr": summary.fr },
                "we_did": a.action,
                "acknowledge_time": a.acknowledge_time.as_ref().map(|t| t.seconds),
            })
        })
        .collect();
    let wrong_doors: Vec<serde_json::Value> = report
        .wrong_doors
        .iter()
        .map(|w| {
            let suppressed = w.suppression != pb::Suppression::Unspecified as i32;
            let mut value = serde_json::json!({
                "from_agency": w.from_agency,
                "to_agency": w.to_agency,
                "suppressed": suppressed,
            });
            if !suppressed {
                value["answered"] = w.answered.into();
                value["declined"] = w.declined.into();
                value["decline_rate"] = w.decline_rate.into();
            }
            value
        })
        .collect();
    serde_json::json!({
        "quarter": report.quarter,
        "fiscal_quarter": report.fiscal_quarter,
        "minimum_respondents": report.minimum_respondents,
        "method": report.method,
        "rows": rows,
        "wrong_doors": wrong_doors,
        "actions": actions,
    })
}
