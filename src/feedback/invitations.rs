//! A citizen's survey invitations: her portal (or a representative's) lists all of hers; an agency
//! lists those of subjects it served or opened, to run a phone survey. Each listing is an access
//! in her log.

use crate::{
    domain::{
        access::{Action, Outcome},
        time::Timestamp,
    },
    error::AppError,
    records::{Access, Acting, Caller, Toward, acting, record, toward},
    requests::Answer,
    store::{
        Tx, citizen_sql,
        feedback_sql::{self, InvitationQuery, SubjectRecord},
    },
};

/// Input of [`list`].
pub struct List {
    pub caller: Caller,
    pub citizen_id: String,
    pub include_closed: bool,
    pub now: Timestamp,
    /// After this (ended time, id), newest first.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// A page of the invitations (one more than `limit` when there are more).
pub async fn list(tx: &mut Tx, input: &List) -> Answer<Vec<SubjectRecord>> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let exists = citizen_sql::exists(tx, &input.citizen_id).await?;
    let towards = toward(tx, &who, &input.citizen_id, input.now).await?;
    let agency = match (&who, &towards) {
        (Acting::Agency(agency), _) => Some(agency.clone()),
        (_, Toward::Herself | Toward::Representative(_)) if exists => None,
        _ => {
            let access = Access {
                caller: &input.caller,
                representative: None,
                citizen_id: &input.citizen_id,
                action: Action::ListSurveyInvitations,
                purpose: None,
                categories: Default::default(),
                outcome: Outcome::Denied,
                at: input.now,
            };
            record(tx, access, exists).await?;
            return Ok(Err(AppError::PermissionDenied));
        }
    };
    let query = InvitationQuery {
        citizen_id: &input.citizen_id,
        agency: agency.as_deref(),
        include_closed: input.include_closed,
        now: input.now,
        after: input.after.clone(),
        limit: input.limit + 1,
    };
    let page = feedback_sql::invitations(tx, &query).await?;
    if exists {
        let access = Access {
            caller: &input.caller,
            representative: towards.representative(),
            citizen_id: &input.citizen_id,
            action: Action::ListSurveyInvitations,
            purpose: None,
            categories: Default::default(),
            outcome: Outcome::Allowed,
            at: input.now,
        };
        record(tx, access, true).await?;
    }
    Ok(Ok(page))
}
