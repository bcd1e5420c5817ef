//! Forms' SQL, identical on both backends: a form's row, its versions with their fields, choices
//! and clauses in explicit columns (a definition is never stored as a document), and its links to
//! services. A published version's rows are never written again.

use std::collections::BTreeMap;

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::domain::{
    catalog::Text,
    form::{
        Choice, Clause, Combine, Condition, Constraints, DateBound, Decimal, Definition, Field,
        FieldType, FormVersion, Link, Operator, RecordField, SchemeKind, VersionState,
    },
    time::Timestamp,
};

/// A form's own row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormRow {
    pub id: String,
    pub owner: String,
    pub latest_version: i64,
    pub latest_published: Option<i64>,
    pub created: Timestamp,
}

/// Inserts a form's row; `UniqueViolation` when the id is taken.
pub async fn insert_form(tx: &mut Tx, row: &FormRow) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query("INSERT INTO forms (id, owner, latest_version, latest_published, created_at_unix_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&row.id).bind(&row.owner).bind(row.latest_version).bind(row.latest_published).bind(row.created.unix_millis())
            .execute(conn).await?;
    });
    Ok(())
}

/// A form's row, if it exists.
pub async fn form(tx: &mut Tx, id: &str) -> StoreResult<Option<FormRow>> {
    let row: Option<(String, String, i64, Option<i64>, i64)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT id, owner, latest_version, latest_published, created_at_unix_ms FROM forms WHERE id = $1")
            .bind(id).fetch_optional(conn).await?
    });
    Ok(row.map(
        |(id, owner, latest_version, latest_published, created)| FormRow {
            id,
            owner,
            latest_version,
            latest_published,
            created: Timestamp::from_unix_millis(created),
        },
    ))
}

/// Moves a form's pointers, if its newest version is still `expected_latest`; whether it was.
pub async fn set_pointers(
    tx: &mut Tx,
    id: &str,
    expected_latest: i64,
    (latest_version, latest_published): (i64, Option<i64>),
) -> StoreResult<bool> {
    let done = on_conn!(tx, conn, DB => {
        sqlx::query("UPDATE forms SET latest_version = $1, latest_published = $2 WHERE id = $3 AND latest_version = $4")
            .bind(latest_version).bind(latest_published).bind(id).bind(expected_latest)
            .execute(conn).await?.rows_affected()
    });
    Ok(done == 1)
}

/// Inserts a version with its fields; `UniqueViolation` when its number is taken.
pub async fn insert_version(tx: &mut Tx, v: &FormVersion) -> StoreResult<()> {
    let d = &v.definition;
    on_conn!(tx, conn, DB => {
        sqlx::query("INSERT INTO form_versions (form_id, number, state, replacement, revision, title_en, title_fr, \
                     description_en, description_fr, created_at_unix_ms, updated_at_unix_ms, published_at_unix_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
            .bind(&v.form_id).bind(v.number).bind(v.state.code()).bind(v.replacement).bind(v.revision)
            .bind(&d.title.en).bind(&d.title.fr).bind(&d.description.en).bind(&d.description.fr)
            .bind(v.created.unix_millis()).bind(v.updated.unix_millis()).bind(v.published.map(Timestamp::unix_millis))
            .execute(conn).await?;
    });
    insert_fields(tx, &v.form_id, v.number, &d.fields).await
}

/// Replaces a draft's definition, if its revision is still `expected_revision`; whether it was.
pub async fn replace_draft(
    tx: &mut Tx,
    v: &FormVersion,
    expected_revision: i64,
) -> StoreResult<bool> {
    let d = &v.definition;
    let done = on_conn!(tx, conn, DB => {
        sqlx::query("UPDATE form_versions SET revision = $1, title_en = $2, title_fr = $3, description_en = $4, \
                     description_fr = $5, updated_at_unix_ms = $6 \
                     WHERE form_id = $7 AND number = $8 AND revision = $9 AND state = 'draft'")
            .bind(v.revision).bind(&d.title.en).bind(&d.title.fr).bind(&d.description.en).bind(&d.description.fr)
            .bind(v.updated.unix_millis()).bind(&v.form_id).bind(v.number).bind(expected_revision)
            .execute(&mut *conn).await?.rows_affected()
    });
    if done != 1 {
        return Ok(false);
    }
    on_conn!(tx, conn, DB => {
        for table in ["form_clauses", "form_choices", "form_fields"] {
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE form_id = $1 AND version = $2")))
                .bind(&v.form_id).bind(v.number).execute(&mut *conn).await?;
        }
    });
    insert_fields(tx, &v.form_id, v.number, &d.fields).await?;
    Ok(true)
}

/// Moves a version to `state` (with its replacement and publication time), if its revision is
/// still `expected_revision`; whether it was.
pub async fn set_state(tx: &mut Tx, v: &FormVersion, expected_revision: i64) -> StoreResult<bool> {
    let done = on_conn!(tx, conn, DB => {
        sqlx::query("UPDATE form_versions SET state = $1, replacement = $2, revision = $3, updated_at_unix_ms = $4, \
                     published_at_unix_ms = $5 WHERE form_id = $6 AND number = $7 AND revision = $8")
            .bind(v.state.code()).bind(v.replacement).bind(v.revision).bind(v.updated.unix_millis())
            .bind(v.published.map(Timestamp::unix_millis)).bind(&v.form_id).bind(v.number).bind(expected_revision)
            .execute(conn).await?.rows_affected()
    });
    Ok(done == 1)
}

type ConditionRow = (Option<String>, Option<String>);

async fn insert_fields(
    tx: &mut Tx,
    form_id: &str,
    version: i64,
    fields: &[Field],
) -> StoreResult<()> {
    let mut flat = Vec::new();
    flatten(fields, None, &mut flat);
    on_conn!(tx, conn, DB => {
        for (ordinal, parent, f) in &flat {
            let c = &f.constraints;
            let (show, require): ConditionRow = (
                f.show_when.as_ref().map(|c| c.combine.code().to_owned()),
                f.require_when.as_ref().map(|c| c.combine.code().to_owned()),
            );
            sqlx::query("INSERT INTO form_fields (form_id, version, ordinal, parent_ordinal, key, kind, label_en, label_fr, \
                         help_en, help_fr, required, min_length, max_length, minimum, maximum, pattern, earliest, latest, \
                         min_choices, max_choices, scheme, repeatable, max_items, show_combine, require_combine, prefill, write_back) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
                         $21, $22, $23, $24, $25, $26, $27)")
                .bind(form_id).bind(version).bind(*ordinal).bind(*parent).bind(&f.key).bind(f.kind.code())
                .bind(&f.label.en).bind(&f.label.fr).bind(&f.help.en).bind(&f.help.fr).bind(f.required)
                .bind(c.min_length.map(i64::from)).bind(c.max_length.map(i64::from))
                .bind(c.minimum.map(|d| d.to_string())).bind(c.maximum.map(|d| d.to_string())).bind(c.pattern.as_deref())
                .bind(c.earliest.as_ref().map(|(t, _)| t.as_str())).bind(c.latest.as_ref().map(|(t, _)| t.as_str()))
                .bind(c.min_choices.map(i64::from)).bind(c.max_choices.map(i64::from))
                .bind(f.scheme.map(SchemeKind::code)).bind(f.repeatable).bind(i64::from(f.max_items))
                .bind(show).bind(require).bind(f.prefill.map(RecordField::code)).bind(f.write_back)
                .execute(&mut *conn).await?;
            for (position, choice) in f.choices.iter().enumerate() {
                sqlx::query("INSERT INTO form_choices (form_id, version, ordinal, position, value, label_en, label_fr) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(form_id).bind(version).bind(*ordinal).bind(position as i64).bind(&choice.value)
                    .bind(&choice.label.en).bind(&choice.label.fr)
                    .execute(&mut *conn).await?;
            }
            for (role, condition) in [("show", &f.show_when), ("require", &f.require_when)] {
                for (position, clause) in condition.iter().flat_map(|c| c.clauses.iter()).enumerate() {
                    sqlx::query("INSERT INTO form_clauses (form_id, version, ordinal, role, position, field, operator, clause_values) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                        .bind(form_id).bind(version).bind(*ordinal).bind(role).bind(position as i64)
                        .bind(&clause.field).bind(clause.operator.code()).bind(clause.values.join("\n"))
                        .execute(&mut *conn).await?;
                }
            }
        }
    });
    Ok(())
}

/// Every field depth first with its ordinal and its group's.
fn flatten<'a>(
    fields: &'a [Field],
    parent: Option<i64>,
    out: &mut Vec<(i64, Option<i64>, &'a Field)>,
) {
    for f in fields {
        let ordinal = out.len() as i64;
        out.push((ordinal, parent, f));
        flatten(&f.fields, Some(ordinal), out);
    }
}

type VersionRow = (
    String,
    i64,
    String,
    Option<i64>,
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    String,
);

/// A version with its definition, if it exists.
pub async fn version(tx: &mut Tx, form_id: &str, number: i64) -> StoreResult<Option<FormVersion>> {
    let row: Option<VersionRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT v.form_id, v.number, v.state, v.replacement, v.revision, v.title_en, v.title_fr, \
                        v.description_en, v.description_fr, v.created_at_unix_ms, v.updated_at_unix_ms, \
                        v.published_at_unix_ms, f.owner \
                        FROM form_versions v JOIN forms f ON f.id = v.form_id WHERE v.form_id = $1 AND v.number = $2")
            .bind(form_id).bind(number).fetch_optional(conn).await?
    });
    let Some((
        form_id,
        number,
        state,
        replacement,
        revision,
        title_en,
        title_fr,
        description_en,
        description_fr,
        created,
        updated,
        published,
        owner,
    )) = row
    else {
        return Ok(None);
    };
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("form version {form_id}/{number}: {what}"));
    let fields = fields(tx, &form_id, number).await?;
    Ok(Some(FormVersion {
        state: VersionState::from_code(&state).ok_or_else(|| corrupt("unreadable state"))?,
        owner,
        definition: Definition {
            title: Text {
                en: title_en,
                fr: title_fr,
            },
            description: Text {
                en: description_en,
                fr: description_fr,
            },
            fields,
        },
        form_id,
        number,
        replacement,
        revision,
        created: Timestamp::from_unix_millis(created),
        updated: Timestamp::from_unix_millis(updated),
        published: published.map(Timestamp::from_unix_millis),
    }))
}

/// A row of `form_fields`.
#[derive(sqlx::FromRow)]
struct FieldColumns {
    ordinal: i64,
    parent_ordinal: Option<i64>,
    key: String,
    kind: String,
    label_en: String,
    label_fr: String,
    help_en: String,
    help_fr: String,
    required: bool,
    min_length: Option<i64>,
    max_length: Option<i64>,
    minimum: Option<String>,
    maximum: Option<String>,
    pattern: Option<String>,
    earliest: Option<String>,
    latest: Option<String>,
    min_choices: Option<i64>,
    max_choices: Option<i64>,
    scheme: Option<String>,
    repeatable: bool,
    max_items: i64,
    show_combine: Option<String>,
    require_combine: Option<String>,
    prefill: Option<String>,
    write_back: bool,
}

type ChoiceRow = (i64, String, String, String);
type ClauseRow = (i64, String, String, String, String);

async fn fields(tx: &mut Tx, form_id: &str, version: i64) -> StoreResult<Vec<Field>> {
    let (rows, choices, clauses) = on_conn!(tx, conn, DB => {
        let rows: Vec<FieldColumns> =
            sqlx::query_as("SELECT ordinal, parent_ordinal, key, kind, label_en, label_fr, help_en, help_fr, required, \
                            min_length, max_length, minimum, maximum, pattern, earliest, latest, min_choices, max_choices, \
                            scheme, repeatable, max_items, show_combine, require_combine, prefill, write_back \
                            FROM form_fields WHERE form_id = $1 AND version = $2 ORDER BY ordinal")
                .bind(form_id).bind(version).fetch_all(&mut *conn).await?;
        let choices: Vec<ChoiceRow> =
            sqlx::query_as("SELECT ordinal, value, label_en, label_fr FROM form_choices WHERE form_id = $1 AND version = $2 \
                            ORDER BY ordinal, position")
                .bind(form_id).bind(version).fetch_all(&mut *conn).await?;
        let clauses: Vec<ClauseRow> =
            sqlx::query_as("SELECT ordinal, role, field, operator, clause_values FROM form_clauses \
                            WHERE form_id = $1 AND version = $2 ORDER BY ordinal, role, position")
                .bind(form_id).bind(version).fetch_all(&mut *conn).await?;
        (rows, choices, clauses)
    });
    assemble(form_id, version, rows, choices, clauses)
}

/// The field a row holds (its choices and clauses come after).
fn decode_field(
    form_id: &str,
    version: i64,
    r: FieldColumns,
) -> StoreResult<(i64, Option<i64>, Field)> {
    let key = r.key;
    let bad = |what: &str| {
        StoreError::Corrupt(format!(
            "form version {form_id}/{version}: field `{key}`: unreadable {what}"
        ))
    };
    let count = |n: Option<i64>| n.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let decimal = |t: Option<String>, what| {
        t.map(|t| Decimal::parse(&t).ok_or_else(|| bad(what)))
            .transpose()
    };
    let bound = |t: Option<String>, what| {
        t.map(|t| {
            DateBound::parse(&t)
                .map(|b| (t.clone(), b))
                .ok_or_else(|| bad(what))
        })
        .transpose()
    };
    let combine = |t: Option<String>| -> StoreResult<Option<Condition>> {
        t.map(|t| {
            Combine::from_code(&t)
                .map(|combine| Condition {
                    combine,
                    clauses: Vec::new(),
                })
                .ok_or_else(|| bad("condition"))
        })
        .transpose()
    };
    let field = Field {
        kind: FieldType::from_code(&r.kind).ok_or_else(|| bad("type"))?,
        label: Text {
            en: r.label_en,
            fr: r.label_fr,
        },
        help: Text {
            en: r.help_en,
            fr: r.help_fr,
        },
        required: r.required,
        constraints: Constraints {
            min_length: count(r.min_length),
            max_length: count(r.max_length),
            minimum: decimal(r.minimum, "minimum")?,
            maximum: decimal(r.maximum, "maximum")?,
            pattern: r.pattern,
            earliest: bound(r.earliest, "earliest")?,
            latest: bound(r.latest, "latest")?,
            min_choices: count(r.min_choices),
            max_choices: count(r.max_choices),
        },
        choices: Vec::new(),
        scheme: r
            .scheme
            .map(|s| SchemeKind::from_code(&s).ok_or_else(|| bad("scheme")))
            .transpose()?,
        fields: Vec::new(),
        repeatable: r.repeatable,
        max_items: u32::try_from(r.max_items).unwrap_or(0),
        show_when: combine(r.show_combine)?,
        require_when: combine(r.require_combine)?,
        prefill: r
            .prefill
            .map(|p| RecordField::from_code(&p).ok_or_else(|| bad("prefill")))
            .transpose()?,
        write_back: r.write_back,
        key: key.clone(),
    };
    Ok((r.ordinal, r.parent_ordinal, field))
}

fn assemble(
    form_id: &str,
    version: i64,
    rows: Vec<FieldColumns>,
    choices: Vec<ChoiceRow>,
    clauses: Vec<ClauseRow>,
) -> StoreResult<Vec<Field>> {
    let corrupt =
        |what: String| StoreError::Corrupt(format!("form version {form_id}/{version}: {what}"));
    let mut by_ordinal: BTreeMap<i64, (Option<i64>, Field)> = BTreeMap::new();
    for row in rows {
        let (ordinal, parent, field) = decode_field(form_id, version, row)?;
        by_ordinal.insert(ordinal, (parent, field));
    }
    for (ordinal, value, en, fr) in choices {
        let (_, f) = by_ordinal
            .get_mut(&ordinal)
            .ok_or_else(|| corrupt("a choice of no field".into()))?;
        f.choices.push(Choice {
            value,
            label: Text { en, fr },
        });
    }
    for (ordinal, role, field, operator, values) in clauses {
        let (_, f) = by_ordinal
            .get_mut(&ordinal)
            .ok_or_else(|| corrupt("a clause of no field".into()))?;
        let condition = match role.as_str() {
            "show" => f.show_when.as_mut(),
            "require" => f.require_when.as_mut(),
            _ => None,
        }
        .ok_or_else(|| corrupt(format!("field `{}`: a clause of no condition", f.key)))?;
        condition.clauses.push(Clause {
            field,
            operator: Operator::from_code(&operator)
                .ok_or_else(|| corrupt("unreadable operator".into()))?,
            values: if values.is_empty() {
                Vec::new()
            } else {
                values.split('\n').map(str::to_owned).collect()
            },
        });
    }
    // Children come after their group in ordinal order: attach from the last.
    let mut top = Vec::new();
    let ordinals: Vec<i64> = by_ordinal.keys().rev().copied().collect();
    for ordinal in ordinals {
        let (parent, field) = by_ordinal
            .remove(&ordinal)
            .ok_or_else(|| corrupt("lost field".into()))?;
        match parent {
            Some(p) => by_ordinal
                .get_mut(&p)
                .ok_or_else(|| corrupt(format!("field `{}` in no group", field.key)))?
                .1
                .fields
                .insert(0, field),
            None => top.insert(0, field),
        }
    }
    Ok(top)
}

/// The form's links to services, by service.
pub async fn links(tx: &mut Tx, form_id: &str) -> StoreResult<Vec<Link>> {
    let rows: Vec<(String, String, i64)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT service_id, agency, linked_at_unix_ms FROM form_links WHERE form_id = $1 ORDER BY service_id")
            .bind(form_id).fetch_all(conn).await?
    });
    Ok(rows
        .into_iter()
        .map(|(service, agency, at)| Link {
            service,
            agency,
            at: Timestamp::from_unix_millis(at),
        })
        .collect())
}

/// Links the form to a service (nothing when it already is); whether it was new.
pub async fn link(tx: &mut Tx, form_id: &str, link: &Link) -> StoreResult<bool> {
    let done = on_conn!(tx, conn, DB => {
        sqlx::query("INSERT INTO form_links (form_id, service_id, agency, linked_at_unix_ms) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (form_id, service_id) DO NOTHING")
            .bind(form_id).bind(&link.service).bind(&link.agency).bind(link.at.unix_millis())
            .execute(conn).await?.rows_affected()
    });
    Ok(done == 1)
}

/// Removes the links `agency` made to services not in `keep`.
pub async fn unlink_others(
    tx: &mut Tx,
    form_id: &str,
    agency: &str,
    keep: &[String],
) -> StoreResult<()> {
    for link in links(tx, form_id).await? {
        if link.agency == agency && !keep.contains(&link.service) {
            on_conn!(tx, conn, DB => {
                sqlx::query("DELETE FROM form_links WHERE form_id = $1 AND service_id = $2")
                    .bind(form_id).bind(&link.service).execute(conn).await?;
            });
        }
    }
    Ok(())
}

/// The ids of the forms linked to `service_id`, by id.
pub async fn forms_of_service(tx: &mut Tx, service_id: &str) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT form_id FROM form_links WHERE service_id = $1 ORDER BY form_id")
            .bind(service_id).fetch_all(conn).await?
    });
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Every link: (service id, form id), in order of both.
pub async fn all_links(tx: &mut Tx) -> StoreResult<Vec<(String, String)>> {
    Ok(on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT service_id, form_id FROM form_links ORDER BY service_id, form_id")
            .fetch_all(conn).await?
    }))
}

/// Forms by id after `after`, at most `limit`, owned by one of `owners` and linked to one of
/// `services` (an empty list does not filter).
pub async fn list(
    tx: &mut Tx,
    owners: &[String],
    services: &[String],
    after: &str,
    limit: i64,
) -> StoreResult<Vec<FormRow>> {
    let rows: Vec<(String, String, i64, Option<i64>, i64)> = on_conn!(tx, conn, DB => {
        let mut sql = String::from("SELECT id, owner, latest_version, latest_published, created_at_unix_ms FROM forms WHERE id > $1");
        let mut n = 1;
        let mut list = |column: &str, values: &[String], sql: &mut String| {
            if !values.is_empty() {
                let marks: Vec<String> = values.iter().map(|_| { n += 1; format!("${n}") }).collect();
                sql.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
            }
        };
        list("owner", owners, &mut sql);
        if !services.is_empty() {
            let marks: Vec<String> = services.iter().map(|_| { n += 1; format!("${n}") }).collect();
            sql.push_str(&format!(" AND id IN (SELECT form_id FROM form_links WHERE service_id IN ({}))", marks.join(", ")));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", n + 1));
        let mut query = sqlx::query_as::<DB, (String, String, i64, Option<i64>, i64)>(sqlx::AssertSqlSafe(sql)).bind(after);
        for value in owners.iter().chain(services) {
            query = query.bind(value);
        }
        query.bind(limit).fetch_all(conn).await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(id, owner, latest_version, latest_published, created)| FormRow {
                id,
                owner,
                latest_version,
                latest_published,
                created: Timestamp::from_unix_millis(created),
            },
        )
        .collect())
}

/// Whether any form exists (the seed forms are loaded into an empty table).
pub async fn any(tx: &mut Tx) -> StoreResult<bool> {
    let (n,): (i64,) = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT COUNT(*) FROM (SELECT 1 FROM forms LIMIT 1) AS one").fetch_one(conn).await?
    });
    Ok(n > 0)
}

/// A version's state and replacement, if it exists (without its definition).
pub async fn state(
    tx: &mut Tx,
    form_id: &str,
    number: i64,
) -> StoreResult<Option<(VersionState, Option<i64>)>> {
    let row: Option<(String, Option<i64>)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT state, replacement FROM form_versions WHERE form_id = $1 AND number = $2")
            .bind(form_id).bind(number).fetch_optional(conn).await?
    });
    row.map(|(state, replacement)| {
        VersionState::from_code(&state)
            .map(|s| (s, replacement))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("form version {form_id}/{number}: unreadable state"))
            })
    })
    .transpose()
}

/// Whether the form is linked to `service_id`.
pub async fn linked(tx: &mut Tx, form_id: &str, service_id: &str) -> StoreResult<bool> {
    let row: Option<(i64,)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT CAST(1 AS BIGINT) FROM form_links WHERE form_id = $1 AND service_id = $2")
            .bind(form_id).bind(service_id).fetch_optional(conn).await?
    });
    Ok(row.is_some())
}
