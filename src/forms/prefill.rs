//! Prefill: the answers a citizen's record already holds for a version's prefillable fields,
//! read under the caller's consent for prefill and logged in her access log.

use crate::{
    domain::{
        access::{Action, Outcome},
        consent::{Categories, Purpose},
        form::{RecordField, Value, check::Compiled},
        time::Timestamp,
    },
    error::AppError,
    records::{
        Access, Caller, Toward, acting,
        citizens::{Answer, visible},
        record, toward,
    },
    secrets::Keyring,
    store::{StoreError, Tx, citizen_sql, consent_sql},
};

/// A prefillable field: its answer path and the record field it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: String,
    pub key: String,
    pub record_field: RecordField,
}

/// The prefillable fields of `form`, in its order (fields of non-repeatable groups as
/// `group[0].key`; the definition check keeps prefill out of repeatable groups).
pub fn targets(form: &Compiled) -> Vec<Target> {
    let mut out = Vec::new();
    for (i, node) in form.nodes.iter().enumerate() {
        let Some(record_field) = node.field.prefill else {
            continue;
        };
        let mut path = String::new();
        for group in form.ancestors(i) {
            path.push_str(&format!("{}[0].", form.nodes[group].field.key));
        }
        path.push_str(&node.field.key);
        out.push(Target {
            path,
            key: node.field.key.clone(),
            record_field,
        });
    }
    out
}

/// Input of [`prefill`].
pub struct Prefill {
    pub caller: Caller,
    pub keys: std::sync::Arc<Keyring>,
    pub targets: Vec<Target>,
    pub citizen_id: String,
    pub now: Timestamp,
}

/// One prefilled answer, with where it came from.
#[derive(Debug, Clone)]
pub struct Prefilled {
    pub target: Target,
    pub value: Value,
    /// The consent it was read under (`None`: the citizen read her own record).
    pub consent: Option<String>,
}

/// What a prefill read.
#[derive(Debug, Clone, Default)]
pub struct Read {
    pub answers: Vec<Prefilled>,
    /// Keys of the prefillable fields the caller may not read.
    pub withheld: Vec<String>,
    /// When the record last changed.
    pub record_updated: Option<Timestamp>,
}

/// Reads the record for the prefillable fields, with an access event.
pub async fn prefill(tx: &mut Tx, input: &Prefill) -> Answer<Read> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let to = toward(tx, &who, &input.citizen_id, input.now).await?;
    let needed: Categories = input
        .targets
        .iter()
        .map(|t| t.record_field.category())
        .collect();
    let purpose = matches!(to, Toward::Agency(_)).then_some(Purpose::Prefill);
    let may = visible(tx, &to, &input.citizen_id, purpose, input.now).await?;
    let exists = may.is_some() || citizen_sql::exists(tx, &input.citizen_id).await?;
    let released = match (exists, may) {
        (true, Some(may)) => needed.iter().filter(|c| may.contains(*c)).collect(),
        _ => Categories::NONE,
    };
    let allowed = !released.is_empty()
        || (exists && needed.is_empty() && !matches!(to, Toward::Stranger | Toward::Auditor));
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: &input.citizen_id,
        action: Action::PrefillForm,
        purpose,
        categories: if allowed { released } else { needed },
        outcome: Outcome::of(allowed),
        at: input.now,
    };
    record(tx, access, exists).await?;
    if !allowed {
        return Ok(Err(AppError::PermissionDenied));
    }
    let citizen = citizen_sql::load_only(tx, &input.keys, &input.citizen_id, released)
        .await?
        .ok_or(StoreError::NotFound)?;
    let details = citizen.details.only(released);
    let consents = match &to {
        Toward::Agency(agency) => {
            consent_sql::list(tx, &input.citizen_id, Some(agency), 0, 1_000).await?
        }
        _ => Vec::new(),
    };
    let consent_for = |category| {
        consents
            .iter()
            .find(|c| {
                let g = &c.grant;
                g.purpose == Purpose::Prefill
                    && g.revoked_at.is_none()
                    && g.is_live(input.now)
                    && g.categories.contains(category)
            })
            .map(|c| c.id.clone())
    };
    let mut read = Read {
        record_updated: Some(citizen.updated),
        ..Read::default()
    };
    for target in &input.targets {
        let category = target.record_field.category();
        if !released.contains(category) {
            read.withheld.push(target.key.clone());
            continue;
        }
        if let Some(value) = target.record_field.read(&details) {
            read.answers.push(Prefilled {
                target: target.clone(),
                value,
                consent: consent_for(category),
            });
        }
    }
    Ok(Ok(read))
}
