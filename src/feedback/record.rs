//! Recording a survey response: who may respond, on what, once; the segment taken only from what
//! the citizen shares for de-identified statistics (or gives); the response stored without naming
//! her, in the transaction that marks her invitation answered and logs the access.

use std::sync::Arc;

use crate::{
    domain::{
        access::{Action, Outcome},
        catalog::Channel,
        citizen::values::date_of,
        consent::{self, Categories, Purpose},
        feedback::{Scores, Segment, SubjectKind, segment_categories, segment_of},
        time::Timestamp,
    },
    error::AppError,
    records::{Access, Caller, Idempotency, new_id, recall, record as log_access, remember},
    requests::{Answer, Party, party},
    secrets::Keyring,
    store::{
        StoreResult, Tx, citizen_sql, consent_sql,
        feedback_sql::{self, ResponseRecord, SubjectRecord},
        request_sql,
    },
};

/// What the respondent answers.
#[derive(Debug, Clone)]
pub struct Answers {
    pub scores: Scores,
    /// 0: not said.
    pub contacts: i64,
    pub survey_channel: Channel,
    pub comment: String,
    /// Segment parts given with the response.
    pub segment: Segment,
}

/// Encodes the stored response for the answer, with the subject's name.
pub type Respond = Arc<dyn Fn(&ResponseRecord, Timestamp) -> Vec<u8> + Send + Sync>;

/// Input of [`record`].
pub struct Record {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub idempotency: Idempotency,
    /// The subject: its request and leg number (0: the request), and its name.
    pub request_id: String,
    pub number: i64,
    pub subject: String,
    pub answers: Answers,
    pub now: Timestamp,
    pub respond: Respond,
}

/// Records the response (see the module); answers the encoded response.
pub async fn record(tx: &mut Tx, input: &Record) -> Answer<crate::records::Answered> {
    match recall(tx, &input.keys, &input.idempotency).await? {
        Ok(Some(bytes)) => {
            return Ok(Ok(crate::records::Answered {
                bytes,
                replayed: true,
            }));
        }
        Ok(None) => {}
        Err(error) => return Ok(Err(error)),
    }
    let Some(request) = request_sql::get_request(tx, &input.request_id).await? else {
        return Ok(Err(AppError::PermissionDenied));
    };
    let party = match party(tx, &input.caller, &request, input.now).await? {
        Ok(Some(party)) => party,
        Ok(None) => return Ok(Err(AppError::PermissionDenied)),
        Err(error) => return Ok(Err(error)),
    };
    let subject = feedback_sql::subject(tx, &input.request_id, input.number).await?;
    if let Err(error) = may_respond(tx, input, &request, &party, subject.as_ref()).await? {
        return Ok(Err(error));
    }
    let Some(subject) = subject else {
        return Ok(Err(not_ended(input)));
    };
    if let Err(error) = open_for_response(&subject, &input.subject, input.now) {
        return Ok(Err(error));
    }
    let respondent = match &party {
        Party::Citizen {
            representative: Some(r),
        } => r.clone(),
        _ => request.citizen_id.clone(),
    };
    let key = input.keys.blind_index(
        "survey-respondent",
        format!("{}\n{respondent}", input.subject).as_bytes(),
    );
    if feedback_sql::response_taken(tx, &key).await? {
        return Ok(Err(AppError::AlreadyExists {
            name: format!("the response of this respondent on {}", input.subject),
        }));
    }
    let shared = segment_from_consent(tx, input, &request.citizen_id, &subject, &party).await?;
    let id = new_id();
    let comment = (!input.answers.comment.is_empty()).then(|| {
        input.keys.seal(
            input.answers.comment.as_bytes(),
            format!("survey-comment/{id}").as_bytes(),
        )
    });
    let day = input.now.unix_millis().div_euclid(86_400_000) * 86_400_000;
    let response = ResponseRecord {
        id,
        respondent_key: key.to_vec(),
        kind: subject.kind,
        agency: subject.agency.clone(),
        team: subject.team.clone(),
        officer: subject.officer.clone(),
        service_id: subject.service_id.clone(),
        channel: subject.channel,
        from_agency: subject.from_agency.clone(),
        standard: subject.standard,
        quarter: subject.quarter.clone(),
        segment: shared.overridden_by(&input.answers.segment),
        survey_channel: input.answers.survey_channel,
        contacts: input.answers.contacts,
        scores: input.answers.scores,
        comment,
        recorded_on: Timestamp::from_unix_millis(day),
    };
    feedback_sql::insert_response(tx, &response).await?;
    feedback_sql::mark_responded(tx, &subject.id).await?;
    let bytes = (input.respond)(&response, input.now);
    remember(tx, &input.keys, &input.idempotency, &bytes, input.now).await?;
    Ok(Ok(crate::records::Answered {
        bytes,
        replayed: false,
    }))
}

/// Whether the caller may respond on the subject: the citizen (or her representative) always; an
/// agency when the leg went to it or came from it, or it is the request's entry agency (for a
/// request: any agency party to it).
async fn may_respond(
    tx: &mut Tx,
    input: &Record,
    request: &request_sql::RequestRecord,
    party: &Party,
    subject: Option<&SubjectRecord>,
) -> StoreResult<Result<(), AppError>> {
    let Party::Agency(agency) = party else {
        return Ok(Ok(()));
    };
    if input.number == 0 {
        return Ok(Ok(()));
    }
    let (to, from) = match subject {
        Some(s) => (s.agency.clone(), s.from_agency.clone()),
        None => {
            let legs = request_sql::handoffs(tx, &request.id).await?;
            match legs.iter().find(|h| h.number == input.number) {
                Some(h) => (
                    h.to_agency.clone(),
                    h.from_agency.clone().unwrap_or_default(),
                ),
                None => {
                    return Ok(Err(AppError::NotFound {
                        name: input.subject.clone(),
                    }));
                }
            }
        }
    };
    let entry = request.entry_agency.as_deref() == Some(agency.as_str());
    Ok(if *agency == to || *agency == from || entry {
        Ok(())
    } else {
        Err(AppError::PermissionDenied)
    })
}

fn not_ended(input: &Record) -> AppError {
    let what = if input.number == 0 {
        "the request has not ended: it can be rated once it is completed"
    } else {
        "the leg has not ended: it can be rated once it is completed or declined"
    };
    AppError::FailedPrecondition {
        condition: "SUBJECT_OPEN",
        subject: input.subject.clone(),
        description: what.to_owned(),
    }
}

/// Whether `subject` takes a response at `now`.
fn open_for_response(subject: &SubjectRecord, name: &str, now: Timestamp) -> Result<(), AppError> {
    if !subject.invited {
        let description = match subject.kind {
            SubjectKind::Handoff => format!(
                "a leg that ended {} invites no survey: only completed and declined legs do",
                subject.ended_as
            ),
            SubjectKind::Request => format!(
                "a request that ended {} invites no survey: only completed requests do",
                subject.ended_as
            ),
        };
        return Err(AppError::FailedPrecondition {
            condition: "NO_SURVEY",
            subject: name.to_owned(),
            description,
        });
    }
    if now >= subject.expires {
        return Err(AppError::FailedPrecondition {
            condition: "SURVEY_CLOSED",
            subject: name.to_owned(),
            description: "the survey window of this subject has closed".to_owned(),
        });
    }
    Ok(())
}

/// The segment the citizen's record gives under her live de-identified statistics consent to the
/// rated agency, logged as an access when it reads anything (and the response's recording either
/// way).
async fn segment_from_consent(
    tx: &mut Tx,
    input: &Record,
    citizen_id: &str,
    subject: &SubjectRecord,
    party: &Party,
) -> StoreResult<Segment> {
    let grants = consent_sql::grants(
        tx,
        citizen_id,
        &subject.agency,
        Purpose::DeidentifiedStatistics,
    )
    .await?;
    let covered = consent::covered(
        &grants,
        &subject.agency,
        Purpose::DeidentifiedStatistics,
        input.now,
    );
    let shared: Categories = covered
        .iter()
        .filter(|c| segment_categories().contains(*c))
        .collect();
    let segment = if shared.is_empty() {
        Segment::default()
    } else {
        match citizen_sql::load_only(tx, &input.keys, citizen_id, shared).await? {
            Some(citizen) => {
                segment_of(&citizen.details, shared, &date_of(input.now.unix_millis()))
            }
            None => Segment::default(),
        }
    };
    let representative = match party {
        Party::Citizen { representative } => representative.as_deref(),
        Party::Agency(_) => None,
    };
    let access = Access {
        caller: &input.caller,
        representative,
        citizen_id,
        action: Action::RecordFeedback,
        purpose: (!shared.is_empty()).then_some(Purpose::DeidentifiedStatistics),
        categories: shared,
        outcome: Outcome::Allowed,
        at: input.now,
    };
    log_access(tx, access, true).await?;
    Ok(segment)
}
