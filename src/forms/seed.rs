//! The common forms shipped with the service (`data/forms/common-forms.json`), published when the
//! store holds no form yet (under the catalogue import lock, so replicas do not race).

use serde::Deserialize;

use crate::{
    domain::{
        catalog::Text,
        form::{
            Choice, Clause, Combine, Condition, Constraints, DateBound, Decimal, Definition, Field,
            FieldType, FormVersion, Link, Operator, RecordField, SchemeKind, VersionState, check,
        },
        time::Timestamp,
    },
    store::{StoreResult, Tx, form_sql},
};

/// The shipped file.
pub const BUILTIN: &str = include_str!("../../data/forms/common-forms.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)]
    about: String,
    forms: Vec<SeedForm>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedForm {
    id: String,
    owner: String,
    title: Text,
    description: Text,
    links: Vec<SeedLink>,
    fields: Vec<SeedField>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedLink {
    service: String,
    agency: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SeedConstraints {
    min_length: Option<u32>,
    max_length: Option<u32>,
    minimum: Option<String>,
    maximum: Option<String>,
    pattern: Option<String>,
    earliest: Option<String>,
    latest: Option<String>,
    min_choices: Option<u32>,
    max_choices: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedChoice {
    value: String,
    label: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedClause {
    field: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedCondition {
    combine: String,
    clauses: Vec<SeedClause>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedField {
    key: String,
    #[serde(rename = "type")]
    kind: String,
    label: Text,
    #[serde(default)]
    help: Text,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    constraints: SeedConstraints,
    #[serde(default)]
    choices: Vec<SeedChoice>,
    scheme: Option<String>,
    #[serde(default)]
    fields: Vec<SeedField>,
    #[serde(default)]
    repeatable: bool,
    #[serde(default)]
    max_items: u32,
    show_when: Option<SeedCondition>,
    require_when: Option<SeedCondition>,
    prefill: Option<String>,
    #[serde(default)]
    write_back: bool,
}

/// A shipped form: its first version (published) and its links.
#[derive(Debug, Clone)]
pub struct Seed {
    pub version: FormVersion,
    pub links: Vec<Link>,
}

fn code<T>(what: &str, text: &str, parse: impl Fn(&str) -> Option<T>) -> anyhow::Result<T> {
    parse(text).ok_or_else(|| anyhow::anyhow!("unknown {what} `{text}`"))
}

fn condition(c: SeedCondition) -> anyhow::Result<Condition> {
    Ok(Condition {
        combine: code("combine", &c.combine, Combine::from_code)?,
        clauses: c
            .clauses
            .into_iter()
            .map(|cl| {
                Ok(Clause {
                    field: cl.field,
                    operator: code("operator", &cl.operator, Operator::from_code)?,
                    values: cl.values,
                })
            })
            .collect::<anyhow::Result<_>>()?,
    })
}

fn field(f: SeedField) -> anyhow::Result<Field> {
    let c = f.constraints;
    let decimal = |t: Option<String>| t.map(|t| code("decimal", &t, Decimal::parse)).transpose();
    let bound = |t: Option<String>| {
        t.map(|t| code("date bound", &t, DateBound::parse).map(|b| (t.clone(), b)))
            .transpose()
    };
    let key = f.key.clone();
    let out = Field {
        kind: code("field type", &f.kind, FieldType::from_code)?,
        label: f.label,
        help: f.help,
        required: f.required,
        constraints: Constraints {
            min_length: c.min_length,
            max_length: c.max_length,
            minimum: decimal(c.minimum)?,
            maximum: decimal(c.maximum)?,
            pattern: c.pattern,
            earliest: bound(c.earliest)?,
            latest: bound(c.latest)?,
            min_choices: c.min_choices,
            max_choices: c.max_choices,
        },
        choices: f
            .choices
            .into_iter()
            .map(|c| Choice {
                value: c.value,
                label: c.label,
            })
            .collect(),
        scheme: f
            .scheme
            .map(|s| code("scheme", &s, SchemeKind::from_code))
            .transpose()?,
        fields: f
            .fields
            .into_iter()
            .map(field)
            .collect::<anyhow::Result<_>>()?,
        repeatable: f.repeatable,
        max_items: f.max_items,
        show_when: f.show_when.map(condition).transpose()?,
        require_when: f.require_when.map(condition).transpose()?,
        prefill: f
            .prefill
            .map(|p| code("prefill path", &p, RecordField::from_code))
            .transpose()?,
        write_back: f.write_back,
        key,
    };
    Ok(out)
}

/// The forms of `json`, each checked as CreateForm checks a definition, published at `now`.
pub fn parse(json: &str, now: Timestamp) -> anyhow::Result<Vec<Seed>> {
    let file: File = serde_json::from_str(json)?;
    file.forms
        .into_iter()
        .map(|f| {
            let id = f.id.clone();
            let definition = Definition {
                title: f.title,
                description: f.description,
                fields: f
                    .fields
                    .into_iter()
                    .map(field)
                    .collect::<anyhow::Result<_>>()?,
            };
            if let Err(problems) = check::check(&definition, "form") {
                anyhow::bail!("the common form `{id}` does not pass its checks: {problems:?}");
            }
            let version = FormVersion {
                form_id: f.id,
                number: 1,
                owner: f.owner,
                definition,
                state: VersionState::Published,
                replacement: None,
                revision: 1,
                created: now,
                updated: now,
                published: Some(now),
            };
            let links = f
                .links
                .into_iter()
                .map(|l| Link {
                    service: l.service,
                    agency: l.agency,
                    at: now,
                })
                .collect();
            Ok(Seed { version, links })
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|e| e.context("data/forms/common-forms.json"))
}

/// Publishes `seeds` when the store holds no form; how many were published.
pub async fn ensure(tx: &mut Tx, seeds: &Vec<Seed>) -> StoreResult<usize> {
    if form_sql::any(tx).await? {
        return Ok(0);
    }
    for seed in seeds {
        let v = &seed.version;
        let row = form_sql::FormRow {
            id: v.form_id.clone(),
            owner: v.owner.clone(),
            latest_version: 1,
            latest_published: Some(1),
            created: v.created,
        };
        form_sql::insert_form(tx, &row).await?;
        form_sql::insert_version(tx, v).await?;
        for link in &seed.links {
            form_sql::link(tx, &v.form_id, link).await?;
        }
    }
    Ok(seeds.len())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::catalog::import;

    #[test]
    fn the_shipped_forms_pass_their_checks_and_link_services_of_several_agencies() {
        let seeds = parse(BUILTIN, Timestamp::from_unix_millis(0)).expect("the shipped forms");
        let ids: Vec<&str> = seeds.iter().map(|s| s.version.form_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "change-of-address",
                "identity-and-contact",
                "direct-deposit"
            ]
        );
        let (catalog, _) = import::build(import::BUILTIN).expect("the built-in catalogue");
        for seed in &seeds {
            let agencies: BTreeSet<&str> = seed.links.iter().map(|l| l.agency.as_str()).collect();
            assert!(
                agencies.len() >= 2,
                "{} is shared by one agency",
                seed.version.form_id
            );
            assert!(agencies.contains(seed.version.owner.as_str()));
            for link in &seed.links {
                let service = catalog
                    .services
                    .iter()
                    .find(|s| s.id == link.service)
                    .unwrap_or_else(|| panic!("no service {}", link.service));
                assert_eq!(
                    service.agency, link.agency,
                    "services/{} is not its linker's",
                    link.service
                );
            }
            for (_, f) in seed.version.definition.walk() {
                assert!(
                    !f.label.en.is_empty() && !f.label.fr.is_empty(),
                    "{}",
                    f.key
                );
            }
        }
    }
}
