//! Units of work on representatives: authorise, revoke, list.

use super::{
    Access, Caller, Idempotency, Toward, Written, acting, citizens::Answer, recall, record,
    remember, toward,
};
use std::sync::Arc;

use crate::{
    domain::{
        access::{Action, Outcome},
        citizen::representation::Representation,
        time::Timestamp,
    },
    error::{AppError, FieldViolation},
    secrets::Keyring,
    store::{Tx, citizen_sql, representation_sql},
};

/// Input of [`authorize`]: the representation as it will be stored and the encoded answer.
pub struct Authorize {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub representation: Representation,
    pub response: Vec<u8>,
    pub idempotency: Idempotency,
}

/// Records a representative: by the citizen's own portal, or by an agency (on documents such as
/// a power of attorney). The representative must have a record of their own.
pub async fn authorize(tx: &mut Tx, input: &Authorize) -> Answer<Written> {
    match recall(tx, &input.keys, &input.idempotency).await? {
        Ok(Some(bytes)) => return Ok(Ok(Written::Replay(bytes))),
        Ok(None) => {}
        Err(error) => return Ok(Err(error)),
    }
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let r = &input.representation;
    let exists = citizen_sql::exists(tx, &r.citizen_id).await?;
    let to = toward(tx, &who, &r.citizen_id, r.created).await?;
    let allowed = exists && matches!(to, Toward::Herself | Toward::Agency(_));
    let access = Access {
        caller: &input.caller,
        representative: None,
        citizen_id: &r.citizen_id,
        action: Action::AuthorizeRepresentative,
        purpose: None,
        categories: r.categories,
        outcome: Outcome::of(allowed),
        at: r.created,
    };
    if !allowed {
        record(tx, access, exists).await?;
        return Ok(Err(AppError::PermissionDenied));
    }
    if !citizen_sql::exists(tx, &r.representative_id).await? {
        return Ok(Err(AppError::InvalidArgument(vec![FieldViolation::new(
            "representation.representative",
            "no such citizen: a representative needs a record of their own",
        )])));
    }
    record(tx, access, true).await?;
    representation_sql::insert(tx, r).await?;
    remember(
        tx,
        &input.keys,
        &input.idempotency,
        &input.response,
        r.created,
    )
    .await?;
    Ok(Ok(Written::New))
}

/// Input of [`revoke`].
pub struct Revoke {
    pub caller: Caller,
    pub citizen_id: String,
    pub id: String,
    pub now: Timestamp,
}

/// Revokes a representation: the citizen, the representative, or an agency may.
pub async fn revoke(tx: &mut Tx, input: &Revoke) -> Answer<Representation> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let id = input.citizen_id.as_str();
    let exists = citizen_sql::exists(tx, id).await?;
    let found = if exists {
        representation_sql::get(tx, id, &input.id).await?
    } else {
        None
    };
    let to = toward(tx, &who, id, input.now).await?;
    let own = match &who {
        super::Acting::Citizen(Some(own)) => Some(own.as_str()),
        _ => None,
    };
    let allowed = match (&to, &found) {
        (Toward::Herself | Toward::Agency(_), Some(_)) => true,
        (_, Some(r)) => own == Some(r.representative_id.as_str()),
        (_, None) => false,
    };
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: id,
        action: Action::RevokeRepresentative,
        purpose: None,
        categories: found.as_ref().map(|r| r.categories).unwrap_or_default(),
        outcome: Outcome::of(allowed),
        at: input.now,
    };
    record(tx, access, exists).await?;
    let Some(mut r) = found.filter(|_| allowed) else {
        return Ok(Err(AppError::PermissionDenied));
    };
    if r.revoked_at.is_none() {
        let by = input.caller.principal.name();
        representation_sql::revoke(tx, id, &r.id, input.now, &by).await?;
        r.revoked_at = Some(input.now);
        r.revoked_by = by;
    }
    Ok(Ok(r))
}

/// Input of [`list`].
pub struct List {
    pub caller: Caller,
    pub citizen_id: String,
    pub now: Timestamp,
}

/// A citizen's representations: all of them for the citizen and agencies, a representative's own
/// for a representative.
pub async fn list(tx: &mut Tx, input: &List) -> Answer<Vec<Representation>> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let id = input.citizen_id.as_str();
    let exists = citizen_sql::exists(tx, id).await?;
    let to = toward(tx, &who, id, input.now).await?;
    let allowed = matches!(
        to,
        Toward::Herself | Toward::Agency(_) | Toward::Representative(_)
    );
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: id,
        action: Action::ListRepresentatives,
        purpose: None,
        categories: Default::default(),
        outcome: Outcome::of(allowed && exists),
        at: input.now,
    };
    record(tx, access, exists).await?;
    if !allowed {
        return Ok(Err(AppError::PermissionDenied));
    }
    if !exists {
        return Ok(Ok(Vec::new()));
    }
    let all = representation_sql::list(tx, id).await?;
    Ok(Ok(match to.representative() {
        Some(me) => all
            .into_iter()
            .filter(|r| r.representative_id == me)
            .collect(),
        None => all,
    }))
}
