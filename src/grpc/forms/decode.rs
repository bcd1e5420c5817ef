//! FormService requests into domain values: definitions (every bad part named by its path, a
//! definition with too many fields refused before its fields are read), names, etags and answers.

use super::super::request::Violations;
use crate::{
    domain::{
        catalog::Text,
        form::{
            Choice, Clause, Combine, Condition, Constraints, DateBound, Decimal, Definition, Field,
            FieldType, Operator, RecordField, SchemeKind,
            check::{MAX_DEPTH, MAX_FIELDS},
            valid_form_id,
            validate::MAX_ANSWERS,
            value::{BankAccount, Raw},
        },
    },
    proto::v1 as pb,
};

/// Longest clause value.
const MAX_CLAUSE_VALUE: usize = 200;
/// Longest answer path.
const MAX_PATH: usize = 300;

/// The form id in `forms/{form}`.
pub fn form_name(v: &mut Violations, field: &str, name: &str) -> String {
    match name.strip_prefix("forms/") {
        Some(id) if valid_form_id(id) => id.to_owned(),
        _ if name.is_empty() => {
            v.add(field, "is required");
            String::new()
        }
        _ => {
            v.add(field, "must be of the form `forms/{form}`");
            String::new()
        }
    }
}

/// The form id and version number in `forms/{form}/versions/{n}`, or (with `bare`) the form id
/// alone in `forms/{form}`.
pub fn version_name(
    v: &mut Violations,
    field: &str,
    name: &str,
    bare: bool,
) -> (String, Option<i64>) {
    let expected = if bare {
        "must be of the form `forms/{form}` or `forms/{form}/versions/{n}`"
    } else {
        "must be of the form `forms/{form}/versions/{n}`"
    };
    if name.is_empty() {
        v.add(field, "is required");
        return (String::new(), None);
    }
    let parts: Vec<&str> = name.split('/').collect();
    match parts[..] {
        ["forms", id] if bare && valid_form_id(id) => (id.to_owned(), None),
        ["forms", id, "versions", n] if valid_form_id(id) => match n.parse::<i64>() {
            Ok(n) if n > 0 && n.to_string() == parts[3] => (id.to_owned(), Some(n)),
            _ => {
                v.add(field, expected);
                (String::new(), None)
            }
        },
        _ => {
            v.add(field, expected);
            (String::new(), None)
        }
    }
}

/// The form id and submission id in `forms/{form}/submissions/{submission}`.
pub fn submission_name(v: &mut Violations, field: &str, name: &str) -> (String, String) {
    let parts: Vec<&str> = name.split('/').collect();
    match parts[..] {
        ["forms", form, "submissions", id]
            if valid_form_id(form)
                && !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            (form.to_owned(), id.to_owned())
        }
        _ if name.is_empty() => {
            v.add(field, "is required");
            (String::new(), String::new())
        }
        _ => {
            v.add(
                field,
                "must be of the form `forms/{form}/submissions/{submission}`",
            );
            (String::new(), String::new())
        }
    }
}

/// A form's etag: `"{n}-{revision}"`.
pub fn etag(v: &mut Violations, field: &str, value: &str) -> (i64, i64) {
    let bare = value.trim().trim_matches('"');
    let parsed = bare
        .split_once('-')
        .and_then(|(n, r)| Some((n.parse::<i64>().ok()?, r.parse::<i64>().ok()?)))
        .filter(|(n, r)| *n > 0 && *r > 0);
    match parsed {
        Some(found) => found,
        None if value.is_empty() => {
            v.add(field, "is required: send the etag of the version you read");
            (0, 0)
        }
        None => {
            v.add(field, "is not an etag of this service");
            (0, 0)
        }
    }
}

fn text(t: Option<&pb::LocalizedText>) -> Text {
    t.map(|t| Text {
        en: t.en.clone(),
        fr: t.fr.clone(),
    })
    .unwrap_or_default()
}

/// How many fields `fields` holds, groups' fields included, counting no further than the limit.
fn count(fields: &[pb::FormField], depth: usize) -> usize {
    let mut n = fields.len();
    if depth <= MAX_DEPTH {
        for f in fields {
            if n > MAX_FIELDS {
                break;
            }
            n += count(&f.fields, depth + 1);
        }
    }
    n
}

/// The definition of `form` (title, description and fields), each bad part named under `prefix`.
pub fn definition(v: &mut Violations, prefix: &str, form: &pb::Form) -> Definition {
    let total = count(&form.fields, 0);
    let fields = if total > MAX_FIELDS {
        v.add(
            format!("{prefix}.fields"),
            format!("at most {MAX_FIELDS} fields in all, groups' fields included"),
        );
        Vec::new()
    } else {
        fields(v, &format!("{prefix}.fields"), &form.fields, 0)
    };
    Definition {
        title: text(form.title.as_ref()),
        description: text(form.description.as_ref()),
        fields,
    }
}

fn fields(v: &mut Violations, at: &str, list: &[pb::FormField], depth: usize) -> Vec<Field> {
    list.iter()
        .enumerate()
        .map(|(i, f)| field(v, &format!("{at}[{i}]"), f, depth))
        .collect()
}

fn field(v: &mut Violations, p: &str, f: &pb::FormField, depth: usize) -> Field {
    let kind = field_type(v, &format!("{p}.type"), f.r#type);
    let mut out = Field::new(
        &f.key,
        kind.unwrap_or(FieldType::ShortText),
        text(f.label.as_ref()),
    );
    out.help = text(f.help.as_ref());
    out.required = f.required;
    out.constraints = constraints(v, &format!("{p}.constraints"), f.constraints.as_ref());
    out.choices = f
        .choices
        .iter()
        .map(|c| Choice {
            value: c.value.clone(),
            label: text(c.label.as_ref()),
        })
        .collect();
    out.scheme = scheme(v, &format!("{p}.identifier_scheme"), f.identifier_scheme);
    if depth <= MAX_DEPTH {
        out.fields = fields(v, &format!("{p}.fields"), &f.fields, depth + 1);
    } else if !f.fields.is_empty() {
        v.add(
            format!("{p}.fields"),
            format!("groups nest at most {MAX_DEPTH} deep"),
        );
    }
    out.repeatable = f.repeatable;
    out.max_items = u32::try_from(f.max_items).unwrap_or_else(|_| {
        v.add(format!("{p}.max_items"), "must not be negative");
        0
    });
    out.show_when = f
        .show_when
        .as_ref()
        .map(|c| condition(v, &format!("{p}.show_when"), c));
    out.require_when = f
        .require_when
        .as_ref()
        .map(|c| condition(v, &format!("{p}.require_when"), c));
    if !f.prefill.is_empty() {
        out.prefill = RecordField::from_code(&f.prefill);
        if out.prefill.is_none() {
            let known: Vec<&str> = RecordField::ALL.iter().map(|r| r.code()).collect();
            v.add(
                format!("{p}.prefill"),
                format!(
                    "`{}` is not a record field; one of {}",
                    f.prefill.chars().take(100).collect::<String>(),
                    known.join(", ")
                ),
            );
        }
    }
    out.write_back = f.write_back;
    out
}

fn field_type(v: &mut Violations, field: &str, value: i32) -> Option<FieldType> {
    use pb::FieldType as P;
    let kind = match P::try_from(value) {
        Ok(P::ShortText) => FieldType::ShortText,
        Ok(P::LongText) => FieldType::LongText,
        Ok(P::Integer) => FieldType::Integer,
        Ok(P::Decimal) => FieldType::Decimal,
        Ok(P::Boolean) => FieldType::Boolean,
        Ok(P::Date) => FieldType::Date,
        Ok(P::SingleChoice) => FieldType::SingleChoice,
        Ok(P::MultipleChoice) => FieldType::MultipleChoice,
        Ok(P::Email) => FieldType::Email,
        Ok(P::Phone) => FieldType::Phone,
        Ok(P::PostalCode) => FieldType::PostalCode,
        Ok(P::Address) => FieldType::Address,
        Ok(P::Identifier) => FieldType::Identifier,
        Ok(P::BankAccount) => FieldType::BankAccount,
        Ok(P::Group) => FieldType::Group,
        Ok(P::Unspecified) | Err(_) => {
            v.add(field, "is required: a FIELD_TYPE_ value");
            return None;
        }
    };
    Some(kind)
}

/// The scheme of an identifier field or answer (`None`: unspecified).
pub fn scheme_of(value: i32) -> Result<Option<SchemeKind>, ()> {
    use pb::IdentifierScheme as P;
    match P::try_from(value) {
        Ok(P::Unspecified) => Ok(None),
        Ok(P::Sin) => Ok(Some(SchemeKind::Sin)),
        Ok(P::HealthCard) => Ok(Some(SchemeKind::HealthCard)),
        Ok(P::Passport) => Ok(Some(SchemeKind::Passport)),
        Err(_) => Err(()),
    }
}

fn scheme(v: &mut Violations, field: &str, value: i32) -> Option<SchemeKind> {
    scheme_of(value).unwrap_or_else(|()| {
        v.add(field, format!("{value} is not a valid value"));
        None
    })
}

fn constraints(v: &mut Violations, p: &str, c: Option<&pb::FieldConstraints>) -> Constraints {
    let Some(c) = c else {
        return Constraints::default();
    };
    let mut count = |name: &str, value: Option<i32>| {
        value.and_then(|n| {
            u32::try_from(n)
                .map_err(|_| v.add(format!("{p}.{name}"), "must not be negative"))
                .ok()
        })
    };
    let (min_length, max_length) = (
        count("min_length", c.min_length),
        count("max_length", c.max_length),
    );
    let (min_choices, max_choices) = (
        count("min_choices", c.min_choices),
        count("max_choices", c.max_choices),
    );
    let mut decimal = |name: &str, text: &str| {
        if text.is_empty() {
            return None;
        }
        let parsed = Decimal::parse(text);
        if parsed.is_none() {
            v.add(
                format!("{p}.{name}"),
                "must be a decimal number such as 10 or -2.5",
            );
        }
        parsed
    };
    let (minimum, maximum) = (
        decimal("minimum", &c.minimum),
        decimal("maximum", &c.maximum),
    );
    let mut bound = |name: &str, text: &str| {
        if text.is_empty() {
            return None;
        }
        match DateBound::parse(text) {
            Some(b) => Some((text.to_owned(), b)),
            None => {
                v.add(
                    format!("{p}.{name}"),
                    "must be `YYYY-MM-DD`, `today`, or `today` with an offset such as `today-18y`",
                );
                None
            }
        }
    };
    let (earliest, latest) = (bound("earliest", &c.earliest), bound("latest", &c.latest));
    Constraints {
        min_length,
        max_length,
        minimum,
        maximum,
        pattern: (!c.pattern.is_empty()).then(|| c.pattern.clone()),
        earliest,
        latest,
        min_choices,
        max_choices,
    }
}

fn condition(v: &mut Violations, p: &str, c: &pb::Condition) -> Condition {
    let combine = match pb::Combine::try_from(c.combine) {
        Ok(pb::Combine::Unspecified | pb::Combine::All) => Combine::All,
        Ok(pb::Combine::Any) => Combine::Any,
        Err(_) => {
            v.add(
                format!("{p}.combine"),
                format!("{} is not a valid value", c.combine),
            );
            Combine::All
        }
    };
    let clauses = c
        .clauses
        .iter()
        .enumerate()
        .map(|(i, clause)| {
            let at = format!("{p}.clauses[{i}]");
            use pb::ClauseOperator as P;
            let operator = match P::try_from(clause.operator) {
                Ok(P::Equals) => Operator::Equals,
                Ok(P::NotEquals) => Operator::NotEquals,
                Ok(P::In) => Operator::In,
                Ok(P::GreaterThan) => Operator::GreaterThan,
                Ok(P::LessThan) => Operator::LessThan,
                Ok(P::Exists) => Operator::Exists,
                Ok(P::NotExists) => Operator::NotExists,
                Ok(P::Unspecified) | Err(_) => {
                    v.add(
                        format!("{at}.operator"),
                        "is required: a CLAUSE_OPERATOR_ value",
                    );
                    Operator::Exists
                }
            };
            for (j, value) in clause.values.iter().enumerate() {
                if value.chars().count() > MAX_CLAUSE_VALUE || value.chars().any(char::is_control) {
                    v.add(
                        format!("{at}.values[{j}]"),
                        format!(
                            "at most {MAX_CLAUSE_VALUE} characters, without control characters"
                        ),
                    );
                }
            }
            Clause {
                field: clause.field.clone(),
                operator,
                values: clause.values.clone(),
            }
        })
        .collect();
    Condition { combine, clauses }
}

/// The answers of a request, as (path, value); too many is one violation of `answers`.
pub fn answers(v: &mut Violations, list: &[pb::Answer]) -> Vec<(String, Raw)> {
    if list.len() > MAX_ANSWERS {
        v.add("answers", format!("at most {MAX_ANSWERS} answers"));
        return Vec::new();
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        if a.field.is_empty() || a.field.len() > MAX_PATH {
            v.add(
                format!("answers[{i}].field"),
                format!("is required, at most {MAX_PATH} characters"),
            );
            continue;
        }
        out.push((a.field.clone(), raw(a)));
    }
    out
}

/// The value member of an answer.
pub fn raw(a: &pb::Answer) -> Raw {
    use pb::answer::Value as V;
    match &a.value {
        None => Raw::Missing,
        Some(V::Text(t)) => Raw::Text(t.clone()),
        Some(V::Integer(n)) => Raw::Integer(*n),
        Some(V::Decimal(d)) => Raw::Decimal(d.clone()),
        Some(V::Boolean(b)) => Raw::Boolean(*b),
        Some(V::Choices(c)) => Raw::Choices(c.values.clone()),
        Some(V::Address(x)) => Raw::Address {
            line1: x.line1.clone(),
            line2: x.line2.clone(),
            city: x.city.clone(),
            province: x.province.clone(),
            postal_code: x.postal_code.clone(),
        },
        Some(V::Identifier(x)) => match scheme_of(x.scheme) {
            Ok(scheme) => Raw::Identifier {
                scheme,
                province: x.province.clone(),
                value: x.value.clone(),
            },
            Err(()) => Raw::Identifier {
                scheme: None,
                province: String::new(),
                value: String::new(),
            },
        },
        Some(V::BankAccount(b)) => Raw::BankAccount(BankAccount {
            institution: b.institution.clone(),
            transit: b.transit.clone(),
            account: b.account.clone(),
        }),
    }
}
