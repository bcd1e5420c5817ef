//! Units of work on submissions: submit (with the write-backs it causes, under the record's
//! consent rules, in the same transaction), read one, list them.

use std::sync::Arc;

use super::not_found;
use crate::{
    domain::{
        access::{Action, Outcome},
        catalog::Channel,
        consent::{Categories, Purpose},
        form::{RecordField, Value, VersionState, version_name},
        time::Timestamp,
    },
    error::AppError,
    records::{
        Access, Acting, Caller, Idempotency, Toward, acting,
        citizens::{Answer, notify, visible},
        recall, record, remember, toward,
    },
    secrets::Keyring,
    store::{
        StoreError, StoreResult, Tx, citizen_sql, consent_sql, form_sql, request_sql,
        submission_sql::{
            self, Filter, StoredAnswer, SubmissionRecord, WriteBackOutcome, WriteBackRecord,
        },
    },
};

/// One accepted answer as the unit keeps it.
#[derive(Debug, Clone)]
pub struct Kept {
    pub path: String,
    /// Its field's ordinal in the version.
    pub ordinal: i64,
    pub value: Value,
    pub sealed: bool,
    /// The record field it prefills (and writes back to, with `write_back`).
    pub record_field: Option<RecordField>,
    pub write_back: bool,
}

/// Builds the response from the stored submission.
pub type Respond = Arc<dyn Fn(&SubmissionRecord) -> Vec<u8> + Send + Sync>;

/// Input of [`submit`]: the checked answers and the new submission's id, made before the unit runs.
pub struct Submit {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub id: String,
    pub form_id: String,
    pub number: i64,
    pub citizen_id: String,
    pub service_id: String,
    /// The agency that owns the service.
    pub recipient: String,
    pub channel: Channel,
    pub request_id: Option<String>,
    pub answers: Vec<Kept>,
    pub now: Timestamp,
    pub idempotency: Idempotency,
    pub respond: Respond,
}

/// Refuses a version that is not published: a retired one names the version to use (following
/// replacements to a published one); a draft or a missing one is not found.
pub async fn usable(tx: &mut Tx, form_id: &str, number: i64) -> StoreResult<Result<(), AppError>> {
    let name = version_name(form_id, number);
    let mut at = number;
    for _ in 0..100 {
        match form_sql::state(tx, form_id, at).await? {
            Some((VersionState::Published, _)) if at == number => return Ok(Ok(())),
            Some((VersionState::Published, _)) => {
                return Ok(Err(AppError::FormVersionRetired {
                    name,
                    replacement: version_name(form_id, at),
                }));
            }
            Some((VersionState::Retired, Some(next))) => at = next,
            _ => break,
        }
    }
    Ok(Err(not_found(&name)))
}

/// Whether `agency` is party to the request: it opened it, owns it, or a leg went from or to it.
async fn party(
    tx: &mut Tx,
    request: &request_sql::RequestRecord,
    agency: &str,
) -> StoreResult<bool> {
    if request.entry_agency.as_deref() == Some(agency) || request.owner_agency == agency {
        return Ok(true);
    }
    let legs = request_sql::handoffs(tx, &request.id).await?;
    Ok(legs
        .iter()
        .any(|h| h.to_agency == agency || h.from_agency.as_deref() == Some(agency)))
}

/// What the caller may write back: for an agency, its live record maintenance consent; for the
/// citizen, everything; for a representative, the scope.
async fn writable(
    tx: &mut Tx,
    to: &Toward,
    citizen_id: &str,
    now: Timestamp,
) -> StoreResult<Categories> {
    let purpose = matches!(to, Toward::Agency(_)).then_some(Purpose::RecordMaintenance);
    Ok(visible(tx, to, citizen_id, purpose, now)
        .await?
        .unwrap_or_default())
}

/// Stores a submission, writing its write-back answers to the record where the caller may; the
/// encoded response (the first call's, for a retry).
pub async fn submit(tx: &mut Tx, input: &Submit) -> Answer<Vec<u8>> {
    match recall(tx, &input.keys, &input.idempotency).await? {
        Ok(Some(bytes)) => return Ok(Ok(bytes)),
        Ok(None) => {}
        Err(error) => return Ok(Err(error)),
    }
    if let Err(error) = usable(tx, &input.form_id, input.number).await? {
        return Ok(Err(error));
    }
    if !form_sql::linked(tx, &input.form_id, &input.service_id).await? {
        return Ok(Err(AppError::invalid(
            "service",
            format!(
                "forms/{} is not linked to services/{}",
                input.form_id, input.service_id
            ),
        )));
    }
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let to = toward(tx, &who, &input.citizen_id, input.now).await?;
    let about: Categories = input
        .answers
        .iter()
        .filter_map(|a| a.record_field)
        .map(RecordField::category)
        .collect();
    let exists = citizen_sql::exists(tx, &input.citizen_id).await?;
    let allowed = exists
        && match &to {
            Toward::Agency(agency) => {
                let grants =
                    consent_sql::grants(tx, &input.citizen_id, agency, Purpose::ServiceDelivery)
                        .await?;
                grants
                    .iter()
                    .any(|g| g.revoked_at.is_none() && g.is_live(input.now))
            }
            Toward::Herself | Toward::Representative(_) => true,
            Toward::Auditor | Toward::Stranger => false,
        };
    let access = |action, categories, outcome| Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: &input.citizen_id,
        action,
        purpose: matches!(to, Toward::Agency(_)).then_some(Purpose::ServiceDelivery),
        categories,
        outcome,
        at: input.now,
    };
    if !allowed {
        record(
            tx,
            access(Action::SubmitForm, about, Outcome::Denied),
            exists,
        )
        .await?;
        return Ok(Err(AppError::PermissionDenied));
    }
    if let Some(request_id) = &input.request_id {
        let request = request_sql::get_request(tx, request_id).await?;
        let attached = match (&request, &who) {
            (Some(r), _) if r.citizen_id != input.citizen_id => false,
            (Some(r), Acting::Agency(agency)) => party(tx, r, agency).await?,
            (Some(_), _) => true,
            (None, _) => false,
        };
        if !attached {
            return Ok(Err(AppError::invalid(
                "request",
                "must be a request of the citizen that the caller is party to",
            )));
        }
    }
    let write_backs = write_back(tx, input, &to).await?;
    record(
        tx,
        access(Action::SubmitForm, about, Outcome::Allowed),
        true,
    )
    .await?;
    let submission = SubmissionRecord {
        id: input.id.clone(),
        form_id: input.form_id.clone(),
        version: input.number,
        citizen_id: input.citizen_id.clone(),
        service_id: input.service_id.clone(),
        recipient: input.recipient.clone(),
        submitted_by: input.caller.principal.name(),
        submitter_agency: match &who {
            Acting::Agency(agency) => agency.clone(),
            _ => String::new(),
        },
        channel: input.channel,
        request_id: input.request_id.clone(),
        submitted: input.now,
        answers: input
            .answers
            .iter()
            .map(|a| StoredAnswer {
                path: a.path.clone(),
                ordinal: a.ordinal,
                value: a.value.stored(),
                sealed: a.sealed,
            })
            .collect(),
        write_backs,
    };
    submission_sql::insert(tx, &input.keys, &submission).await?;
    let response = (input.respond)(&submission);
    remember(tx, &input.keys, &input.idempotency, &response, input.now).await?;
    Ok(Ok(response))
}

/// Writes the write-back answers the caller may write to the record (one change, with its change
/// notices and access events); what became of each.
async fn write_back(tx: &mut Tx, input: &Submit, to: &Toward) -> StoreResult<Vec<WriteBackRecord>> {
    let targets: Vec<(&Kept, RecordField)> = input
        .answers
        .iter()
        .filter(|a| a.write_back)
        .filter_map(|a| a.record_field.map(|r| (a, r)))
        .collect();
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let may = writable(tx, to, &input.citizen_id, input.now).await?;
    let old = citizen_sql::load(tx, &input.keys, &input.citizen_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let mut new = old.clone();
    let (mut written, mut refused) = (Categories::NONE, Categories::NONE);
    let mut out = Vec::new();
    for (answer, target) in targets {
        let category = target.category();
        let outcome = if !may.contains(category) {
            refused = refused.union([category].into_iter().collect());
            WriteBackOutcome::NotPermitted
        } else if target.write(&mut new.details, &answer.value) {
            written = written.union([category].into_iter().collect());
            WriteBackOutcome::Written
        } else {
            WriteBackOutcome::Unchanged
        };
        out.push(WriteBackRecord {
            path: answer.path.clone(),
            record_field: target.code().to_owned(),
            outcome,
        });
    }
    let access = |categories, outcome| Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: &input.citizen_id,
        action: Action::WriteBack,
        purpose: matches!(to, Toward::Agency(_)).then_some(Purpose::RecordMaintenance),
        categories,
        outcome,
        at: input.now,
    };
    if !refused.is_empty() {
        record(tx, access(refused, Outcome::Denied), true).await?;
    }
    if new.details != old.details {
        new.version = old.version + 1;
        new.updated = input.now;
        if !citizen_sql::save(tx, &input.keys, &new, old.version).await? {
            return Err(StoreError::Conflict(sqlx::Error::Protocol(
                "the record changed while a submission wrote back to it".to_owned(),
            )));
        }
        notify(tx, &old, &new, input.now).await?;
        record(tx, access(written, Outcome::Allowed), true).await?;
    }
    Ok(out)
}

/// Whether the caller may read a submission about `citizen_id` sent by `submitter_agency` to
/// `recipient`.
fn may_read(to: &Toward, s: &SubmissionRecord) -> bool {
    match to {
        Toward::Agency(agency) => s.recipient == *agency || s.submitter_agency == *agency,
        Toward::Herself | Toward::Representative(_) => true,
        Toward::Auditor | Toward::Stranger => false,
    }
}

/// Input of [`get`].
pub struct Get {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub form_id: String,
    pub id: String,
    pub now: Timestamp,
}

/// A submission the caller may read, logged in the citizen's access log.
pub async fn get(tx: &mut Tx, input: &Get) -> Answer<SubmissionRecord> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let Some(found) = submission_sql::get(tx, &input.keys, &input.form_id, &input.id).await? else {
        return Ok(Err(AppError::PermissionDenied));
    };
    let to = toward(tx, &who, &found.citizen_id, input.now).await?;
    let allowed = may_read(&to, &found);
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: &found.citizen_id,
        action: Action::ReadSubmission,
        purpose: None,
        categories: Categories::NONE,
        outcome: Outcome::of(allowed),
        at: input.now,
    };
    record(tx, access, true).await?;
    if allowed {
        Ok(Ok(found))
    } else {
        Ok(Err(AppError::PermissionDenied))
    }
}

/// Input of [`list`].
pub struct List {
    pub caller: Caller,
    pub filter: Filter,
    pub after: Option<(i64, String)>,
    pub limit: i64,
    pub now: Timestamp,
}

/// Submissions the caller may read, newest first (one more than `limit` when there are more).
pub async fn list(tx: &mut Tx, input: &List) -> Answer<Vec<SubmissionRecord>> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let mut filter = input.filter.clone();
    match &who {
        Acting::Agency(agency) => filter.agency = Some(agency.clone()),
        Acting::Citizen(Some(own)) => {
            let citizen = filter.citizen_id.clone().unwrap_or_else(|| own.clone());
            let to = toward(tx, &who, &citizen, input.now).await?;
            if !matches!(to, Toward::Herself | Toward::Representative(_)) {
                return Ok(Err(AppError::PermissionDenied));
            }
            filter.citizen_id = Some(citizen);
        }
        Acting::Citizen(None) => return Ok(Ok(Vec::new())),
        Acting::Auditor => return Ok(Err(AppError::PermissionDenied)),
    }
    Ok(Ok(submission_sql::list(
        tx,
        &filter,
        input.after.clone(),
        input.limit + 1,
    )
    .await?))
}
