//! Units of work on consents: grant, revoke, list.

use super::{
    Access, Caller, Idempotency, Toward, Written, acting, citizens::Answer, recall, record,
    remember, toward,
};
use std::sync::Arc;

use crate::{
    domain::{
        access::{Action, Outcome},
        consent::Categories,
        time::Timestamp,
    },
    error::AppError,
    secrets::Keyring,
    store::{
        Tx, citizen_sql,
        consent_sql::{self, ConsentRecord},
    },
};

/// Whether the caller may act on a citizen's consents, and as which grantee: the citizen's own
/// portal, or a representative who may manage consents, acts on all of them (`Some(None)`); an
/// agency on those granted to itself.
fn scope(to: &Toward) -> Option<Option<String>> {
    match to {
        Toward::Herself => Some(None),
        Toward::Representative(scope) if scope.manage_consents => Some(None),
        Toward::Agency(agency) => Some(Some(agency.clone())),
        Toward::Representative(_) | Toward::Auditor | Toward::Stranger => None,
    }
}

/// Input of [`grant`]: the consent as it will be stored and the encoded answer.
pub struct Grant {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub consent: ConsentRecord,
    pub response: Vec<u8>,
    pub idempotency: Idempotency,
}

/// Records a consent: the citizen's portal for any grantee, an agency for itself only.
pub async fn grant(tx: &mut Tx, input: &Grant) -> Answer<Written> {
    match recall(tx, &input.keys, &input.idempotency).await? {
        Ok(Some(bytes)) => return Ok(Ok(Written::Replay(bytes))),
        Ok(None) => {}
        Err(error) => return Ok(Err(error)),
    }
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let consent = &input.consent;
    let id = consent.citizen_id.as_str();
    let exists = citizen_sql::exists(tx, id).await?;
    let to = toward(tx, &who, id, consent.created).await?;
    let allowed = exists
        && match scope(&to) {
            Some(None) => true,
            Some(Some(agency)) => agency == consent.grant.grantee,
            None => false,
        };
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: id,
        action: Action::GrantConsent,
        purpose: Some(consent.grant.purpose),
        categories: consent.grant.categories,
        outcome: Outcome::of(allowed),
        at: consent.created,
    };
    record(tx, access, exists).await?;
    if !allowed {
        return Ok(Err(AppError::PermissionDenied));
    }
    consent_sql::insert(tx, consent).await?;
    remember(
        tx,
        &input.keys,
        &input.idempotency,
        &input.response,
        consent.created,
    )
    .await?;
    Ok(Ok(Written::New))
}

/// Input of [`revoke`].
pub struct Revoke {
    pub caller: Caller,
    pub citizen_id: String,
    pub consent_id: String,
    pub now: Timestamp,
}

/// Revokes a consent (a revoked one stays as it is) and returns it.
pub async fn revoke(tx: &mut Tx, input: &Revoke) -> Answer<ConsentRecord> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let id = input.citizen_id.as_str();
    let exists = citizen_sql::exists(tx, id).await?;
    let found = if exists {
        consent_sql::get(tx, id, &input.consent_id).await?
    } else {
        None
    };
    let to = toward(tx, &who, id, input.now).await?;
    let allowed = match (scope(&to), &found) {
        (Some(None), Some(_)) => true,
        (Some(Some(agency)), Some(c)) => agency == c.grant.grantee,
        _ => false,
    };
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: id,
        action: Action::RevokeConsent,
        purpose: found.as_ref().map(|c| c.grant.purpose),
        categories: found
            .as_ref()
            .map_or(Categories::NONE, |c| c.grant.categories),
        outcome: Outcome::of(allowed),
        at: input.now,
    };
    record(tx, access, exists).await?;
    let Some(mut consent) = found.filter(|_| allowed) else {
        return Ok(Err(match scope(&to) {
            // The citizen's own portal may know which of its consents exist.
            Some(None) if exists => AppError::NotFound {
                name: format!("citizens/{id}/consents/{}", input.consent_id),
            },
            _ => AppError::PermissionDenied,
        }));
    };
    if consent.grant.revoked_at.is_none() {
        let by = input.caller.principal.name();
        consent_sql::revoke(tx, id, &consent.id, input.now, &by).await?;
        consent.grant.revoked_at = Some(input.now);
        consent.revoked_by = by;
    }
    Ok(Ok(consent))
}

/// Input of [`list`].
pub struct List {
    pub caller: Caller,
    pub citizen_id: String,
    pub after_number: i64,
    pub limit: i64,
    pub now: Timestamp,
}

/// A page of a citizen's consents (for an agency: those granted to it), plus one more when there
/// are more.
pub async fn list(tx: &mut Tx, input: &List) -> Answer<Vec<ConsentRecord>> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let id = input.citizen_id.as_str();
    let exists = citizen_sql::exists(tx, id).await?;
    let to = toward(tx, &who, id, input.now).await?;
    let scope = scope(&to);
    let allowed = scope.is_some();
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: id,
        action: Action::ListConsents,
        purpose: None,
        categories: Categories::NONE,
        outcome: Outcome::of(allowed),
        at: input.now,
    };
    record(tx, access, exists).await?;
    let Some(grantee) = scope else {
        return Ok(Err(AppError::PermissionDenied));
    };
    if !exists {
        return Ok(Ok(Vec::new()));
    }
    let rows = consent_sql::list(
        tx,
        id,
        grantee.as_deref(),
        input.after_number,
        input.limit + 1,
    )
    .await?;
    Ok(Ok(rows))
}
