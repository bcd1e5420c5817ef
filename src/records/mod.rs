//! The shared citizen record, consent and the access log as units of work: who is acting, what
//! their consent lets them see, and the access event every call on a citizen appends in the same
//! transaction as the access (so that nothing is released when the event cannot be written).
//!
//! Denials never say whether the citizen exists: a denied access to an existing citizen is an
//! event in that citizen's log; one that concerns no existing citizen goes to the service's own
//! audit trail; the caller gets the same PERMISSION_DENIED either way.

pub mod citizens;
pub mod claims;
pub mod consents;
pub mod demo;
pub mod log;
pub mod notices;
pub mod representatives;

use std::sync::Arc;

use crate::{
    auth::CitizenToken,
    domain::{
        access::{AccessEvent, Action, Actor, Outcome},
        consent::{Categories, Purpose},
        principal::Principal,
        time::Timestamp,
    },
    error::AppError,
    secrets::{Keyring, Sealed, Secrets},
    store::{
        StoreError, StoreResult, Tx, access_sql, citizen_sql,
        idempotency_sql::{self, IdempotencyKey, Recalled},
        representation_sql,
    },
};

/// What the citizen capability needs: the secrets (sealing, blind index, log signing) and the
/// name of the access log's checkpoints.
#[derive(Debug, Clone)]
pub struct RecordsConfig {
    pub secrets: Arc<Secrets>,
    /// The origin line of checkpoints (`single-window.example.ca/access-log`).
    pub log_origin: String,
}

/// Who is calling, as the units of work see it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// For a portal: the citizen token it sent (verified).
    pub citizen: Option<CitizenToken>,
    /// The call's `x-request-id`.
    pub request_id: String,
}

impl Caller {
    /// The log's view of the caller.
    pub fn actor(&self) -> Actor {
        let officer = match &self.principal {
            Principal::Agency {
                officer: Some(officer),
                ..
            } => officer.clone(),
            _ => String::new(),
        };
        Actor {
            principal: self.principal.name(),
            officer,
            representative: String::new(),
        }
    }
}

/// The caller resolved against the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acting {
    /// An agency (its id).
    Agency(String),
    /// A portal for the citizen its token is linked to (`None`: not linked to any record).
    Citizen(Option<String>),
    /// An auditor.
    Auditor,
}

/// Resolves `caller`: a portal's citizen token to the citizen it is linked to.
pub async fn acting(tx: &mut Tx, caller: &Caller) -> StoreResult<Result<Acting, AppError>> {
    Ok(Ok(match &caller.principal {
        Principal::Agency { agency, .. } => Acting::Agency(agency.clone()),
        Principal::Portal { .. } => {
            let Some(token) = &caller.citizen else {
                return Ok(Err(AppError::Unauthenticated(
                    "a portal must send the citizen's token as x-citizen-token",
                )));
            };
            Acting::Citizen(citizen_sql::linked(tx, &token.issuer, &token.subject).await?)
        }
        Principal::Auditor { .. } => Acting::Auditor,
        Principal::Public | Principal::Administrator { .. } => {
            return Ok(Err(AppError::PermissionDenied));
        }
    }))
}

/// What the caller is to one citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toward {
    /// An agency (its id): it sees what that citizen's consents give it.
    Agency(String),
    /// The citizen herself, through a portal.
    Herself,
    /// A representative of the citizen, through a portal, within a scope.
    Representative(Scope),
    /// An auditor.
    Auditor,
    /// A portal for someone else (or for no record), who may not act for this citizen.
    Stranger,
}

/// What a representative may do for the citizen: the union of their live representations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The representative's citizen id.
    pub representative_id: String,
    pub categories: Categories,
    pub manage_consents: bool,
}

impl Toward {
    /// The representative acting, if one is.
    pub fn representative(&self) -> Option<&str> {
        match self {
            Toward::Representative(scope) => Some(&scope.representative_id),
            _ => None,
        }
    }
}

/// What `who` is to citizen `id` at `now`.
pub async fn toward(tx: &mut Tx, who: &Acting, id: &str, now: Timestamp) -> StoreResult<Toward> {
    Ok(match who {
        Acting::Agency(agency) => Toward::Agency(agency.clone()),
        Acting::Auditor => Toward::Auditor,
        Acting::Citizen(Some(own)) if own == id => Toward::Herself,
        Acting::Citizen(Some(own)) => {
            let live: Vec<_> = representation_sql::between(tx, id, own)
                .await?
                .into_iter()
                .filter(|r| r.is_live(now))
                .collect();
            if live.is_empty() {
                Toward::Stranger
            } else {
                Toward::Representative(Scope {
                    representative_id: own.clone(),
                    categories: live
                        .iter()
                        .fold(Categories::NONE, |all, r| all.union(r.categories)),
                    manage_consents: live.iter().any(|r| r.manage_consents),
                })
            }
        }
        Acting::Citizen(None) => Toward::Stranger,
    })
}

/// What one access to a citizen was.
#[derive(Debug, Clone)]
pub struct Access<'a> {
    pub caller: &'a Caller,
    /// The representative acting for the citizen, if one is (the log names them).
    pub representative: Option<&'a str>,
    pub citizen_id: &'a str,
    pub action: Action,
    pub purpose: Option<Purpose>,
    pub categories: Categories,
    pub outcome: Outcome,
    pub at: Timestamp,
}

/// Records `access`: an event in the citizen's log when the citizen exists, otherwise a line of
/// the service's audit trail.
pub async fn record(tx: &mut Tx, access: Access<'_>, exists: bool) -> StoreResult<()> {
    let mut actor = access.caller.actor();
    if let Some(representative) = access.representative {
        actor.representative = representative.to_owned();
    }
    if exists {
        let event = AccessEvent {
            id: new_id(),
            citizen_id: access.citizen_id.to_owned(),
            number: 0,
            leaf_index: None,
            actor,
            action: access.action,
            purpose: access.purpose,
            categories: access.categories,
            outcome: access.outcome,
            at: access.at,
            request_id: access.caller.request_id.clone(),
        };
        access_sql::append(tx, &event).await
    } else {
        access_sql::audit_trail(
            tx,
            &new_id(),
            &actor,
            access.action,
            &format!("citizens/{}", access.citizen_id),
            access.at,
            &access.caller.request_id,
        )
        .await
    }
}

/// What a kept answer is sealed to: its idempotency key.
fn answer_binding(key: &IdempotencyKey) -> Vec<u8> {
    format!(
        "idempotent/{}\n{}\n{}",
        key.caller, key.method, key.request_id
    )
    .into_bytes()
}

/// A kept answer, sealed like identifiers (never at rest in clear): the key id's length and
/// bytes, the nonce, the ciphertext.
fn seal_answer(keys: &Keyring, key: &IdempotencyKey, answer: &[u8]) -> Vec<u8> {
    let sealed = keys.seal(answer, &answer_binding(key));
    let id = sealed.key_id.as_bytes();
    let mut out = Vec::with_capacity(1 + id.len() + sealed.nonce.len() + sealed.ciphertext.len());
    out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&id[..id.len().min(255)]);
    out.extend_from_slice(&sealed.nonce);
    out.extend_from_slice(&sealed.ciphertext);
    out
}

/// The answer [`seal_answer`] sealed.
fn open_answer(keys: &Keyring, key: &IdempotencyKey, stored: &[u8]) -> StoreResult<Vec<u8>> {
    let corrupt = || StoreError::Corrupt("a kept answer does not open".to_owned());
    let (&len, rest) = stored.split_first().ok_or_else(corrupt)?;
    let len = usize::from(len);
    if rest.len() < len + 24 {
        return Err(corrupt());
    }
    let sealed = Sealed {
        key_id: String::from_utf8(rest[..len].to_vec()).map_err(|_| corrupt())?,
        nonce: rest[len..len + 24].to_vec(),
        ciphertext: rest[len + 24..].to_vec(),
    };
    keys.open(&sealed, &answer_binding(key))
        .map_err(|_| corrupt())
}

/// What an idempotent write did.
#[derive(Debug)]
pub enum Written {
    /// The work was done; answer with the prepared response.
    New,
    /// A retry: answer with the first call's response.
    Replay(Vec<u8>),
}

/// The answer of an idempotent write that encodes its answer inside the transaction.
#[derive(Debug)]
pub struct Answered {
    /// The encoded response.
    pub bytes: Vec<u8>,
    /// Whether it is the first call's answer, replayed for a retry (nothing was done again).
    pub replayed: bool,
}

/// A write's idempotency key and its request's digest, when it carries a `request_id`.
pub type Idempotency = Option<(IdempotencyKey, [u8; 32])>;

/// The answer an earlier call with the same key got (opened), if there was one; the same
/// `request_id` used for another request is refused.
pub async fn recall(
    tx: &mut Tx,
    keys: &Keyring,
    idempotency: &Idempotency,
) -> StoreResult<Result<Option<Vec<u8>>, AppError>> {
    let Some((key, digest)) = idempotency else {
        return Ok(Ok(None));
    };
    Ok(match idempotency_sql::recall(tx, key, digest).await? {
        Recalled::New => Ok(None),
        Recalled::Replay(sealed) => Ok(Some(open_answer(keys, key, &sealed)?)),
        Recalled::Reused => Err(AppError::RequestIdReused),
    })
}

/// Keeps `response` (sealed: answers hold citizen data) as the answer to the write's key.
pub async fn remember(
    tx: &mut Tx,
    keys: &Keyring,
    idempotency: &Idempotency,
    response: &[u8],
    now: Timestamp,
) -> StoreResult<()> {
    match idempotency {
        Some((key, digest)) => {
            let sealed = seal_answer(keys, key, response);
            idempotency_sql::remember(tx, key, digest, &sealed, now).await
        }
        None => Ok(()),
    }
}

/// A new random id: 24 lower-case hex digits.
pub fn new_id() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
