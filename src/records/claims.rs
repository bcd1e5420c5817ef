//! Claiming a record: an agency that created a record issues a one-time code; the citizen, through
//! a portal, claims the record with it, which links the citizen token to the record, once.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::{Access, Acting, Caller, acting, citizens::Answer, record};
use crate::{
    domain::{
        access::{Action, Outcome},
        citizen::record::Citizen,
        consent::Categories,
        time::Timestamp,
    },
    error::AppError,
    secrets::Keyring,
    store::{StoreError, Tx, citizen_sql},
};

/// The SHA-256 a claim code is kept by.
pub fn code_hash(code: &str) -> [u8; 32] {
    Sha256::digest(code.trim().as_bytes()).into()
}

/// A new claim code: 20 characters of an alphabet without look-alikes, in groups of 5.
pub fn new_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    chars
        .chunks(5)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Input of [`issue`].
pub struct Issue {
    pub caller: Caller,
    pub citizen_id: String,
    pub code_sha256: [u8; 32],
    pub now: Timestamp,
    pub expires: Timestamp,
}

/// Issues a claim code for a record no identity is linked to (agencies only).
pub async fn issue(tx: &mut Tx, input: &Issue) -> Answer<()> {
    match acting(tx, &input.caller).await? {
        Ok(Acting::Agency(_)) => {}
        Ok(_) => return Ok(Err(AppError::PermissionDenied)),
        Err(error) => return Ok(Err(error)),
    }
    let exists = citizen_sql::exists(tx, &input.citizen_id).await?;
    let access = Access {
        caller: &input.caller,
        representative: None,
        citizen_id: &input.citizen_id,
        action: Action::IssueClaimCode,
        purpose: None,
        categories: Categories::NONE,
        outcome: Outcome::of(exists),
        at: input.now,
    };
    record(tx, access, exists).await?;
    if !exists {
        return Ok(Err(AppError::PermissionDenied));
    }
    if citizen_sql::is_linked(tx, &input.citizen_id).await? {
        return Ok(Err(AppError::FailedPrecondition {
            condition: "ALREADY_CLAIMED",
            subject: format!("citizens/{}", input.citizen_id),
            description: "the citizen has already claimed this record".to_owned(),
        }));
    }
    let by = input.caller.principal.name();
    citizen_sql::insert_claim(
        tx,
        &input.code_sha256,
        &input.citizen_id,
        &by,
        input.expires,
    )
    .await?;
    Ok(Ok(()))
}

/// Input of [`claim`].
pub struct Claim {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub code_sha256: [u8; 32],
    pub now: Timestamp,
}

/// Links the portal's citizen token to the record of a claim code (unused, unexpired), once.
/// PERMISSION_DENIED for any code that does not qualify, the same for all.
pub async fn claim(tx: &mut Tx, input: &Claim) -> Answer<Citizen> {
    match acting(tx, &input.caller).await? {
        Ok(Acting::Citizen(None)) => {}
        Ok(Acting::Citizen(Some(linked))) => {
            return Ok(Err(AppError::AlreadyExists {
                name: format!("citizens/{linked}"),
            }));
        }
        Ok(_) => return Ok(Err(AppError::PermissionDenied)),
        Err(error) => return Ok(Err(error)),
    }
    let Some(token) = &input.caller.citizen else {
        return Ok(Err(AppError::PermissionDenied));
    };
    let Some(citizen_id) = citizen_sql::use_claim(tx, &input.code_sha256, input.now).await? else {
        return Ok(Err(AppError::PermissionDenied));
    };
    if citizen_sql::is_linked(tx, &citizen_id).await? {
        return Ok(Err(AppError::PermissionDenied));
    }
    citizen_sql::link(tx, &token.issuer, &token.subject, &citizen_id, input.now).await?;
    let access = Access {
        caller: &input.caller,
        representative: None,
        citizen_id: &citizen_id,
        action: Action::ClaimCitizen,
        purpose: None,
        categories: Categories::all(),
        outcome: Outcome::Allowed,
        at: input.now,
    };
    record(tx, access, true).await?;
    let citizen = citizen_sql::load(tx, &input.keys, &citizen_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(Ok(citizen))
}
