//! Domain values of the forms capability into `FormService` messages.

use super::super::{
    citizens::encode::{address, citizen_name, identifier, timestamp},
    convert::{self, text},
};
use crate::{
    domain::{
        form::{
            Combine, Condition, Field, FieldType, Operator, SchemeKind, Value, VersionState,
            check::Compiled, validate::Accepted, value::Unreadable, version_name,
        },
        names::{AGENCIES, SERVICES, format},
    },
    forms::{definitions::View, prefill::Read},
    proto::v1 as pb,
    store::submission_sql::{StoredAnswer, SubmissionRecord, WriteBackOutcome},
};

fn field_type(kind: FieldType) -> pb::FieldType {
    use pb::FieldType as P;
    match kind {
        FieldType::ShortText => P::ShortText,
        FieldType::LongText => P::LongText,
        FieldType::Integer => P::Integer,
        FieldType::Decimal => P::Decimal,
        FieldType::Boolean => P::Boolean,
        FieldType::Date => P::Date,
        FieldType::SingleChoice => P::SingleChoice,
        FieldType::MultipleChoice => P::MultipleChoice,
        FieldType::Email => P::Email,
        FieldType::Phone => P::Phone,
        FieldType::PostalCode => P::PostalCode,
        FieldType::Address => P::Address,
        FieldType::Identifier => P::Identifier,
        FieldType::BankAccount => P::BankAccount,
        FieldType::Group => P::Group,
    }
}

fn scheme(s: Option<SchemeKind>) -> pb::IdentifierScheme {
    match s {
        None => pb::IdentifierScheme::Unspecified,
        Some(SchemeKind::Sin) => pb::IdentifierScheme::Sin,
        Some(SchemeKind::HealthCard) => pb::IdentifierScheme::HealthCard,
        Some(SchemeKind::Passport) => pb::IdentifierScheme::Passport,
    }
}

fn condition(c: &Condition) -> pb::Condition {
    pb::Condition {
        combine: match c.combine {
            Combine::All => pb::Combine::All,
            Combine::Any => pb::Combine::Any,
        } as i32,
        clauses: c
            .clauses
            .iter()
            .map(|clause| pb::Clause {
                field: clause.field.clone(),
                operator: match clause.operator {
                    Operator::Equals => pb::ClauseOperator::Equals,
                    Operator::NotEquals => pb::ClauseOperator::NotEquals,
                    Operator::In => pb::ClauseOperator::In,
                    Operator::GreaterThan => pb::ClauseOperator::GreaterThan,
                    Operator::LessThan => pb::ClauseOperator::LessThan,
                    Operator::Exists => pb::ClauseOperator::Exists,
                    Operator::NotExists => pb::ClauseOperator::NotExists,
                } as i32,
                values: clause.values.clone(),
            })
            .collect(),
    }
}

/// A field as its owner wrote it.
pub fn field(f: &Field) -> pb::FormField {
    let c = &f.constraints;
    let constraints = (!c.is_empty()).then(|| pb::FieldConstraints {
        min_length: c.min_length.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        max_length: c.max_length.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        minimum: c.minimum.map(|d| d.to_string()).unwrap_or_default(),
        maximum: c.maximum.map(|d| d.to_string()).unwrap_or_default(),
        pattern: c.pattern.clone().unwrap_or_default(),
        earliest: c
            .earliest
            .as_ref()
            .map(|(t, _)| t.clone())
            .unwrap_or_default(),
        latest: c
            .latest
            .as_ref()
            .map(|(t, _)| t.clone())
            .unwrap_or_default(),
        min_choices: c.min_choices.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
        max_choices: c.max_choices.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
    });
    pb::FormField {
        key: f.key.clone(),
        r#type: field_type(f.kind) as i32,
        label: text(&f.label),
        help: (f.help != Default::default())
            .then(|| text(&f.help))
            .flatten(),
        required: f.required,
        constraints,
        choices: f
            .choices
            .iter()
            .map(|c| pb::FieldChoice {
                value: c.value.clone(),
                label: text(&c.label),
            })
            .collect(),
        identifier_scheme: scheme(f.scheme) as i32,
        fields: f.fields.iter().map(field).collect(),
        repeatable: f.repeatable,
        max_items: i32::try_from(f.max_items).unwrap_or(i32::MAX),
        show_when: f.show_when.as_ref().map(condition),
        require_when: f.require_when.as_ref().map(condition),
        prefill: f.prefill.map(|p| p.code().to_owned()).unwrap_or_default(),
        write_back: f.write_back,
    }
}

fn state(s: VersionState) -> pb::FormVersionState {
    match s {
        VersionState::Draft => pb::FormVersionState::Draft,
        VersionState::Published => pb::FormVersionState::Published,
        VersionState::Retired => pb::FormVersionState::Retired,
    }
}

/// A version as read.
pub fn form(view: &View) -> pb::Form {
    let v = &view.version;
    pb::Form {
        name: v.name(),
        form: format!("forms/{}", v.form_id),
        version: v.number,
        owner: format(AGENCIES, &v.owner),
        title: text(&v.definition.title),
        description: text(&v.definition.description),
        fields: v.definition.fields.iter().map(field).collect(),
        state: state(v.state) as i32,
        replacement: v
            .replacement
            .map(|n| version_name(&v.form_id, n))
            .unwrap_or_default(),
        latest_published: view
            .form
            .latest_published
            .map(|n| version_name(&v.form_id, n))
            .unwrap_or_default(),
        services: view
            .links
            .iter()
            .map(|l| format(SERVICES, &l.service))
            .collect(),
        linked: view
            .links
            .iter()
            .map(|l| pb::FormServiceLink {
                service: format(SERVICES, &l.service),
                agency: format(AGENCIES, &l.agency),
                link_time: Some(timestamp(l.at)),
            })
            .collect(),
        create_time: Some(timestamp(view.form.created)),
        update_time: Some(timestamp(v.updated)),
        publish_time: v.published.map(timestamp),
        etag: v.etag(),
        fhir_questionnaire: String::new(),
    }
}

/// An answer's value member.
pub fn value(v: &Value) -> pb::answer::Value {
    use pb::answer::Value as V;
    match v {
        Value::Text(t) => V::Text(t.clone()),
        Value::Integer(n) => V::Integer(*n),
        Value::Decimal(d) => V::Decimal(d.to_string()),
        Value::Boolean(b) => V::Boolean(*b),
        Value::Date(d) => V::Text(d.as_str().to_owned()),
        Value::Choices(c) => V::Choices(pb::ChoiceAnswer { values: c.clone() }),
        Value::Address(a) => V::Address(address(a)),
        Value::Identifier(i) => V::Identifier(identifier(i)),
        Value::BankAccount(b) => V::BankAccount(pb::BankAccount {
            institution: b.institution.clone(),
            transit: b.transit.clone(),
            account: b.account.clone(),
        }),
    }
}

/// Accepted answers.
pub fn answers(accepted: &[Accepted]) -> Vec<pb::Answer> {
    accepted
        .iter()
        .map(|a| pb::Answer {
            field: a.path.clone(),
            value: Some(value(&a.value)),
            source: None,
        })
        .collect()
}

/// `forms/{form}/submissions/{submission}`.
pub fn submission_name(form_id: &str, id: &str) -> String {
    format!("forms/{form_id}/submissions/{id}")
}

fn outcome(o: WriteBackOutcome) -> pb::WriteBackOutcome {
    match o {
        WriteBackOutcome::Written => pb::WriteBackOutcome::Written,
        WriteBackOutcome::Unchanged => pb::WriteBackOutcome::Unchanged,
        WriteBackOutcome::NotPermitted => pb::WriteBackOutcome::NotPermitted,
    }
}

/// A submission with `answers` (already encoded; empty in lists).
pub fn submission(s: &SubmissionRecord, answers: Vec<pb::Answer>) -> pb::Submission {
    pb::Submission {
        name: submission_name(&s.form_id, &s.id),
        form_version: version_name(&s.form_id, s.version),
        citizen: citizen_name(&s.citizen_id),
        service: format(SERVICES, &s.service_id),
        recipient: format(AGENCIES, &s.recipient),
        submitted_by: s.submitted_by.clone(),
        channel: convert::channel(s.channel) as i32,
        request: s
            .request_id
            .as_ref()
            .map(|r| format!("requests/{r}"))
            .unwrap_or_default(),
        answers,
        write_backs: s
            .write_backs
            .iter()
            .map(|w| pb::WriteBack {
                field: w.path.clone(),
                record_field: w.record_field.clone(),
                outcome: outcome(w.outcome) as i32,
            })
            .collect(),
        submit_time: Some(timestamp(s.submitted)),
        fhir_questionnaire_response: String::new(),
    }
}

/// The stored answers of a submission, read back with the types of `form`'s fields.
pub fn stored_answers(
    form: &Compiled,
    stored: &[StoredAnswer],
) -> Result<Vec<pb::Answer>, Unreadable> {
    stored
        .iter()
        .map(|a| {
            let node = usize::try_from(a.ordinal)
                .ok()
                .and_then(|i| form.nodes.get(i))
                .ok_or(Unreadable)?;
            let value = Value::from_stored(node.field.kind, &a.value)?;
            Ok(pb::Answer {
                field: a.path.clone(),
                value: Some(self::value(&value)),
                source: None,
            })
        })
        .collect()
}

/// Prefilled answers with their sources.
pub fn prefilled(read: &Read, citizen_id: &str) -> Vec<pb::Answer> {
    read.answers
        .iter()
        .map(|p| pb::Answer {
            field: p.target.path.clone(),
            value: Some(value(&p.value)),
            source: Some(pb::AnswerSource {
                record_field: p.target.record_field.code().to_owned(),
                citizen: citizen_name(citizen_id),
                record_update_time: read.record_updated.map(timestamp),
                consent: p
                    .consent
                    .as_ref()
                    .map(|c| format!("{}/consents/{c}", citizen_name(citizen_id)))
                    .unwrap_or_default(),
            }),
        })
        .collect()
}
