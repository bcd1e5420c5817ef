//! HL7 FHIR R4 shapes of common forms: a version as a `Questionnaire`, a submission as a
//! `QuestionnaireResponse`, and the answers of a `QuestionnaireResponse` read back as answers.
//!
//! Items are linked by the fields' keys. What FHIR R4 has no element for (our field types beyond
//! FHIR's, conditions with IN or several clauses, date limits relative to today, prefill paths)
//! travels in extensions under `urn:single-window:fhir:`; French text in the standard translation
//! extension. Addresses, identifiers and bank accounts are groups of string items
//! (`{key}.line1`...), because R4 answers have no such types.

use serde_json::{Map, Value as Json, json};

use super::super::request::Violations;
use crate::{
    domain::{
        catalog::Text,
        form::{
            Combine, Condition, Field, FieldType, FormVersion, Operator, VersionState,
            value::{BankAccount, Raw},
        },
    },
    proto::v1 as pb,
};

const EXT: &str = "urn:single-window:fhir:";
const TRANSLATION: &str = "http://hl7.org/fhir/StructureDefinition/translation";
/// Most bytes of a QuestionnaireResponse read.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

fn ext(name: &str, key: &str, value: Json) -> Json {
    let mut m = Map::new();
    m.insert("url".into(), Json::String(format!("{EXT}{name}")));
    m.insert(key.into(), value);
    Json::Object(m)
}

/// The French translation of a string element (`_title`, `_text`).
fn french(fr: &str) -> Json {
    json!({ "extension": [{ "url": TRANSLATION, "extension": [
        { "url": "lang", "valueCode": "fr-CA" },
        { "url": "content", "valueString": fr },
    ]}]})
}

fn put_text(item: &mut Map<String, Json>, name: &str, text: &Text) {
    item.insert(name.into(), Json::String(text.en.clone()));
    if !text.fr.is_empty() {
        item.insert(format!("_{name}"), french(&text.fr));
    }
}

/// The FHIR item type of a field (parts of structured values are strings).
fn item_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::ShortText | FieldType::Email | FieldType::Phone | FieldType::PostalCode => {
            "string"
        }
        FieldType::LongText => "text",
        FieldType::Integer => "integer",
        FieldType::Decimal => "decimal",
        FieldType::Boolean => "boolean",
        FieldType::Date => "date",
        FieldType::SingleChoice | FieldType::MultipleChoice => "choice",
        FieldType::Address | FieldType::Identifier | FieldType::BankAccount | FieldType::Group => {
            "group"
        }
    }
}

/// The parts of a structured field, as string items.
fn parts(kind: FieldType) -> &'static [&'static str] {
    match kind {
        FieldType::Address => &["line1", "line2", "city", "province", "postal_code"],
        FieldType::Identifier => &["province", "value"],
        FieldType::BankAccount => &["institution", "transit", "account"],
        _ => &[],
    }
}

fn operator(o: Operator) -> &'static str {
    match o {
        Operator::Equals | Operator::In => "=",
        Operator::NotEquals => "!=",
        Operator::GreaterThan => ">",
        Operator::LessThan => "<",
        Operator::Exists | Operator::NotExists => "exists",
    }
}

/// The `enableWhen` answer of a clause value for a tested field of `kind`.
fn enable_answer(kind: FieldType, value: &str) -> (String, Json) {
    match kind {
        FieldType::Boolean => ("answerBoolean".into(), Json::Bool(value == "true")),
        FieldType::Integer => (
            "answerInteger".into(),
            value.parse::<i64>().map_or(Json::Null, Json::from),
        ),
        FieldType::Decimal => (
            "answerDecimal".into(),
            value.parse::<f64>().map_or(Json::Null, Json::from),
        ),
        FieldType::Date => ("answerDate".into(), Json::String(value.to_owned())),
        FieldType::SingleChoice | FieldType::MultipleChoice => {
            ("answerCoding".into(), json!({ "code": value }))
        }
        _ => ("answerString".into(), Json::String(value.to_owned())),
    }
}

/// `enableWhen` for a show condition FHIR can say (one IN clause, or clauses without IN).
fn enable_when(
    condition: &Condition,
    kind_of: &dyn Fn(&str) -> FieldType,
) -> Option<(Vec<Json>, &'static str)> {
    let has_in = condition.clauses.iter().any(|c| c.operator == Operator::In);
    if has_in && condition.clauses.len() > 1 {
        return None;
    }
    let mut out = Vec::new();
    for clause in &condition.clauses {
        let kind = kind_of(&clause.field);
        match clause.operator {
            Operator::Exists | Operator::NotExists => out.push(json!({
                "question": clause.field,
                "operator": "exists",
                "answerBoolean": clause.operator == Operator::Exists,
            })),
            op => {
                for value in &clause.values {
                    let (name, answer) = enable_answer(kind, value);
                    let mut m = Map::new();
                    m.insert("question".into(), Json::String(clause.field.clone()));
                    m.insert("operator".into(), Json::String(operator(op).into()));
                    m.insert(name, answer);
                    out.push(Json::Object(m));
                }
            }
        }
    }
    let behavior = match (has_in, condition.combine) {
        (true, _) | (false, Combine::Any) => "any",
        (false, Combine::All) => "all",
    };
    Some((out, behavior))
}

/// A condition as our extension carries it, exactly.
fn condition_ext(name: &str, c: &Condition) -> Json {
    let mut parts = vec![json!({ "url": "combine", "valueCode": c.combine.code() })];
    for clause in &c.clauses {
        let mut sub = vec![
            json!({ "url": "field", "valueString": clause.field }),
            json!({ "url": "operator", "valueCode": clause.operator.code() }),
        ];
        sub.extend(
            clause
                .values
                .iter()
                .map(|v| json!({ "url": "value", "valueString": v })),
        );
        parts.push(json!({ "url": "clause", "extension": sub }));
    }
    json!({ "url": format!("{EXT}{name}"), "extension": parts })
}

fn item(f: &Field, kind_of: &dyn Fn(&str) -> FieldType, form_id: &str) -> Json {
    let mut m = Map::new();
    m.insert("linkId".into(), Json::String(f.key.clone()));
    put_text(&mut m, "text", &f.label);
    m.insert("type".into(), Json::String(item_type(f.kind).into()));
    m.insert("required".into(), Json::Bool(f.required));
    let repeats =
        f.kind == FieldType::MultipleChoice || (f.kind == FieldType::Group && f.repeatable);
    m.insert("repeats".into(), Json::Bool(repeats));
    let c = &f.constraints;
    if let Some(max) = c.max_length {
        m.insert("maxLength".into(), Json::from(max));
    }
    let mut extensions = vec![ext(
        "field-type",
        "valueCode",
        Json::String(f.kind.code().into()),
    )];
    if f.help != Text::default() {
        let mut help = Map::new();
        put_text(&mut help, "valueString", &f.help);
        help.insert("url".into(), Json::String(format!("{EXT}help")));
        extensions.push(Json::Object(help));
    }
    if let Some(min) = c.min_length {
        extensions.push(json!({ "url": "http://hl7.org/fhir/StructureDefinition/minLength", "valueInteger": min }));
    }
    if let Some(pattern) = &c.pattern {
        extensions.push(json!({ "url": "http://hl7.org/fhir/StructureDefinition/regex", "valueString": pattern }));
    }
    for (name, bound) in [("minValue", c.minimum), ("maxValue", c.maximum)] {
        if let Some(b) = bound {
            let value = match f.kind {
                FieldType::Integer => (
                    "valueInteger",
                    b.to_string().parse::<i64>().map_or(Json::Null, Json::from),
                ),
                _ => (
                    "valueDecimal",
                    b.to_string().parse::<f64>().map_or(Json::Null, Json::from),
                ),
            };
            let mut e = Map::new();
            e.insert(
                "url".into(),
                Json::String(format!("http://hl7.org/fhir/StructureDefinition/{name}")),
            );
            e.insert(value.0.into(), value.1);
            extensions.push(Json::Object(e));
            extensions.push(ext(
                if name == "minValue" {
                    "minimum"
                } else {
                    "maximum"
                },
                "valueString",
                Json::String(b.to_string()),
            ));
        }
    }
    for (name, bound) in [("earliest", &c.earliest), ("latest", &c.latest)] {
        if let Some((text, _)) = bound {
            extensions.push(ext(name, "valueString", Json::String(text.clone())));
        }
    }
    for (name, n) in [
        ("questionnaire-minOccurs", c.min_choices),
        ("questionnaire-maxOccurs", c.max_choices),
    ] {
        if let Some(n) = n {
            extensions.push(json!({ "url": format!("http://hl7.org/fhir/StructureDefinition/{name}"), "valueInteger": n }));
        }
    }
    if f.kind == FieldType::Group && f.repeatable {
        extensions.push(json!({ "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs", "valueInteger": f.item_limit() }));
    }
    if let Some(scheme) = f.scheme {
        extensions.push(ext(
            "identifier-scheme",
            "valueCode",
            Json::String(scheme.code().into()),
        ));
    }
    if let Some(prefill) = f.prefill {
        extensions.push(ext(
            "prefill",
            "valueString",
            Json::String(prefill.code().into()),
        ));
        extensions.push(ext("write-back", "valueBoolean", Json::Bool(f.write_back)));
    }
    if let Some(show) = &f.show_when {
        extensions.push(condition_ext("show-when", show));
        if let Some((when, behavior)) = enable_when(show, kind_of) {
            m.insert("enableWhen".into(), Json::Array(when));
            m.insert("enableBehavior".into(), Json::String(behavior.into()));
        }
    }
    if let Some(require) = &f.require_when {
        extensions.push(condition_ext("require-when", require));
    }
    m.insert("extension".into(), Json::Array(extensions));
    if !f.choices.is_empty() {
        let options: Vec<Json> = f
            .choices
            .iter()
            .map(|c| {
                let mut coding = Map::new();
                coding.insert(
                    "system".into(),
                    Json::String(format!("{EXT}forms/{form_id}/{}", f.key)),
                );
                coding.insert("code".into(), Json::String(c.value.clone()));
                put_text(&mut coding, "display", &c.label);
                json!({ "valueCoding": coding })
            })
            .collect();
        m.insert("answerOption".into(), Json::Array(options));
    }
    let children: Vec<Json> = match f.kind {
        FieldType::Group => f.fields.iter().map(|c| item(c, kind_of, form_id)).collect(),
        kind => parts(kind)
            .iter()
            .map(|p| json!({ "linkId": format!("{}.{p}", f.key), "text": p, "type": "string" }))
            .collect(),
    };
    if !children.is_empty() {
        m.insert("item".into(), Json::Array(children));
    }
    Json::Object(m)
}

/// The canonical URL of a form.
fn canonical(form_id: &str) -> String {
    format!("{EXT}forms/{form_id}")
}

/// `version` as a FHIR R4 Questionnaire (JSON).
pub fn questionnaire(version: &FormVersion) -> String {
    let d = &version.definition;
    let kind_of = |key: &str| d.field(key).map_or(FieldType::ShortText, |f| f.kind);
    let mut q = Map::new();
    q.insert("resourceType".into(), Json::String("Questionnaire".into()));
    q.insert(
        "id".into(),
        Json::String(format!("{}-{}", version.form_id, version.number)),
    );
    q.insert("url".into(), Json::String(canonical(&version.form_id)));
    q.insert("version".into(), Json::String(version.number.to_string()));
    q.insert(
        "name".into(),
        Json::String(version.form_id.replace('-', "_")),
    );
    put_text(&mut q, "title", &d.title);
    let status = match version.state {
        VersionState::Draft => "draft",
        VersionState::Published => "active",
        VersionState::Retired => "retired",
    };
    q.insert("status".into(), Json::String(status.into()));
    q.insert(
        "publisher".into(),
        Json::String(format!("agencies/{}", version.owner)),
    );
    if !d.description.en.is_empty() {
        put_text(&mut q, "description", &d.description);
    }
    q.insert(
        "item".into(),
        Json::Array(
            d.fields
                .iter()
                .map(|f| item(f, &kind_of, &version.form_id))
                .collect(),
        ),
    );
    Json::Object(q).to_string()
}

/// The answer of one response item for an answer value.
fn response_answer(value: &pb::answer::Value, kind: FieldType) -> Vec<Json> {
    use pb::answer::Value as V;
    match value {
        V::Text(t) if kind == FieldType::Date => vec![json!({ "valueDate": t })],
        V::Text(t) => vec![json!({ "valueString": t })],
        V::Integer(n) => vec![json!({ "valueInteger": n })],
        V::Decimal(d) => vec![json!({ "valueDecimal": d.parse::<f64>().unwrap_or_default() })],
        V::Boolean(b) => vec![json!({ "valueBoolean": b })],
        V::Choices(c) => c
            .values
            .iter()
            .map(|v| json!({ "valueCoding": { "code": v } }))
            .collect(),
        V::Address(_) | V::Identifier(_) | V::BankAccount(_) => Vec::new(),
    }
}

/// The string parts of a structured answer.
fn part_values(value: &pb::answer::Value) -> Vec<(&'static str, String)> {
    use pb::answer::Value as V;
    match value {
        V::Address(a) => vec![
            ("line1", a.line1.clone()),
            ("line2", a.line2.clone()),
            ("city", a.city.clone()),
            ("province", a.province.clone()),
            ("postal_code", a.postal_code.clone()),
        ],
        V::Identifier(i) => vec![("province", i.province.clone()), ("value", i.value.clone())],
        V::BankAccount(b) => vec![
            ("institution", b.institution.clone()),
            ("transit", b.transit.clone()),
            ("account", b.account.clone()),
        ],
        _ => Vec::new(),
    }
}

/// Builds the response items of `fields` from the answers under `prefix` (`` or `group[1].`).
fn response_items(fields: &[Field], answers: &[pb::Answer], prefix: &str) -> Vec<Json> {
    let mut out = Vec::new();
    for f in fields {
        if f.kind == FieldType::Group {
            let items = (0..f.item_limit())
                .take_while(|i| {
                    let p = format!("{prefix}{}[{i}].", f.key);
                    answers.iter().any(|a| a.field.starts_with(&p))
                })
                .count();
            for i in 0..items {
                let inner = response_items(&f.fields, answers, &format!("{prefix}{}[{i}].", f.key));
                out.push(json!({ "linkId": f.key, "item": inner }));
            }
            continue;
        }
        let path = format!("{prefix}{}", f.key);
        let Some(value) = answers
            .iter()
            .find(|a| a.field == path)
            .and_then(|a| a.value.as_ref())
        else {
            continue;
        };
        let structured = part_values(value);
        if structured.is_empty() {
            out.push(json!({ "linkId": f.key, "answer": response_answer(value, f.kind) }));
        } else {
            let parts: Vec<Json> = structured
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(p, v)| json!({ "linkId": format!("{}.{p}", f.key), "answer": [{ "valueString": v }] }))
                .collect();
            out.push(json!({ "linkId": f.key, "item": parts }));
        }
    }
    out
}

/// `submission` (filled against `version`) as a FHIR R4 QuestionnaireResponse (JSON).
pub fn questionnaire_response(version: &FormVersion, submission: &pb::Submission) -> String {
    let id = submission.name.rsplit('/').next().unwrap_or_default();
    let authored = submission.submit_time.as_ref().map(|t| {
        jiff::Timestamp::new(t.seconds, t.nanos)
            .map(|t| t.to_string())
            .unwrap_or_default()
    });
    json!({
        "resourceType": "QuestionnaireResponse",
        "id": id,
        "questionnaire": format!("{}|{}", canonical(&version.form_id), version.number),
        "status": "completed",
        "subject": { "identifier": { "system": format!("{EXT}citizens"), "value": submission.citizen } },
        "authored": authored,
        "author": { "identifier": { "system": format!("{EXT}principals"), "value": submission.submitted_by } },
        "item": response_items(&version.definition.fields, &submission.answers, ""),
    })
    .to_string()
}

/// The answers of a QuestionnaireResponse, as (path, value); every bad part is a violation of
/// `field` with the JSON path.
pub fn response_answers(v: &mut Violations, field: &str, json: &str) -> Vec<(String, Raw)> {
    if json.len() > MAX_RESPONSE_BYTES {
        v.add(field, format!("at most {MAX_RESPONSE_BYTES} bytes"));
        return Vec::new();
    }
    let Ok(doc) = serde_json::from_str::<Json>(json) else {
        v.add(field, "is not JSON");
        return Vec::new();
    };
    if doc.get("resourceType").and_then(Json::as_str) != Some("QuestionnaireResponse") {
        v.add(
            format!("{field}.resourceType"),
            "must be `QuestionnaireResponse`",
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    let items = doc
        .get("item")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    read_items(v, &format!("{field}.item"), &items, "", &mut out, 0);
    if out.len() > crate::domain::form::validate::MAX_ANSWERS {
        v.add(
            field,
            format!(
                "at most {} answers",
                crate::domain::form::validate::MAX_ANSWERS
            ),
        );
        return Vec::new();
    }
    out
}

fn read_items(
    v: &mut Violations,
    at: &str,
    items: &[Json],
    prefix: &str,
    out: &mut Vec<(String, Raw)>,
    depth: usize,
) {
    if depth > 4 {
        v.add(at, "nests too deep");
        return;
    }
    let mut seen: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}[{i}]");
        let Some(link) = item.get("linkId").and_then(Json::as_str) else {
            v.add(format!("{here}.linkId"), "is required");
            continue;
        };
        let children = item.get("item").and_then(Json::as_array);
        let answers = item.get("answer").and_then(Json::as_array);
        match (children, answers) {
            (Some(children), None)
                if children.iter().all(|c| {
                    c.get("linkId")
                        .and_then(Json::as_str)
                        .is_some_and(|l| l.starts_with(&format!("{link}.")))
                }) && !children.is_empty() =>
            {
                out.push((format!("{prefix}{link}"), structured(link, children)));
            }
            (Some(children), None) => {
                let n = seen.entry(link.to_owned()).or_insert(0);
                let inner = format!("{prefix}{link}[{n}].");
                *n += 1;
                read_items(v, &format!("{here}.item"), children, &inner, out, depth + 1);
            }
            (None, Some(answers)) => match answer_of(answers) {
                Some(raw) => out.push((format!("{prefix}{link}"), raw)),
                None => v.add(
                    format!("{here}.answer"),
                    "holds no answer value this service reads",
                ),
            },
            _ => v.add(here, "must hold either `answer` or `item`"),
        }
    }
}

/// The value of an item's answers.
fn answer_of(answers: &[Json]) -> Option<Raw> {
    let first = answers.first()?;
    let codings: Vec<String> = answers
        .iter()
        .filter_map(|a| {
            a.get("valueCoding")?
                .get("code")?
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    if !codings.is_empty() {
        return Some(Raw::Choices(codings));
    }
    if let Some(s) = first
        .get("valueString")
        .or_else(|| first.get("valueDate"))
        .and_then(Json::as_str)
    {
        return Some(Raw::Text(s.to_owned()));
    }
    if let Some(b) = first.get("valueBoolean").and_then(Json::as_bool) {
        return Some(Raw::Boolean(b));
    }
    if let Some(n) = first.get("valueInteger").and_then(Json::as_i64) {
        return Some(Raw::Integer(n));
    }
    first.get("valueDecimal").and_then(Json::as_f64).map(|d| {
        let text = format!("{d:.6}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        Raw::Decimal(text.to_owned())
    })
}

/// A structured answer from its part items (`{key}.line1`...): an address, an identifier or a
/// bank account, told apart by their parts.
fn structured(link: &str, children: &[Json]) -> Raw {
    let part = |name: &str| {
        children
            .iter()
            .find(|c| c.get("linkId").and_then(Json::as_str) == Some(&format!("{link}.{name}")))
            .and_then(|c| {
                c.get("answer")?
                    .as_array()?
                    .first()?
                    .get("valueString")?
                    .as_str()
            })
            .unwrap_or_default()
            .to_owned()
    };
    let has = |name: &str| {
        children
            .iter()
            .any(|c| c.get("linkId").and_then(Json::as_str) == Some(&format!("{link}.{name}")))
    };
    if has("city") || has("line1") {
        Raw::Address {
            line1: part("line1"),
            line2: part("line2"),
            city: part("city"),
            province: part("province"),
            postal_code: part("postal_code"),
        }
    } else if has("institution") || has("account") {
        Raw::BankAccount(BankAccount {
            institution: part("institution"),
            transit: part("transit"),
            account: part("account"),
        })
    } else {
        Raw::Identifier {
            scheme: None,
            province: part("province"),
            value: part("value"),
        }
    }
}
