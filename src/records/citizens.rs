//! Units of work on the record itself: create, read, update and find.

use std::sync::Arc;

use super::{
    Access, Acting, Caller, Idempotency, Toward, Written, acting, recall, record, remember, toward,
};
use crate::{
    domain::{
        access::{Action, Outcome},
        citizen::{
            matching::{self, Grade, Traits},
            record::{Citizen, Details},
        },
        consent::{self, Categories, Category, Purpose},
        time::Timestamp,
    },
    error::AppError,
    secrets::Keyring,
    store::{
        StoreError, StoreResult, Tx, citizen_sql, consent_sql,
        notice_sql::{self, ChangeKind, Notice},
    },
};

/// A unit's answer: committed either way; the inner error is what the caller is told.
pub type Answer<T> = StoreResult<Result<T, AppError>>;

/// The categories a record's content holds.
pub fn present(details: &Details) -> Categories {
    let mut present = vec![];
    if details.identity != Default::default() {
        present.push(Category::Identity);
    }
    if details.contact != Default::default() {
        present.push(Category::Contact);
    }
    if !details.addresses.is_empty() {
        present.push(Category::Address);
    }
    if details.preferences != Default::default() {
        present.push(Category::Preferences);
    }
    if details.accessibility != Default::default() {
        present.push(Category::Accessibility);
    }
    if !details.circumstances.is_empty() {
        present.push(Category::Circumstances);
    }
    if !details.identifiers.is_empty() {
        present.push(Category::Identifiers);
    }
    present.into_iter().collect()
}

/// Input of [`create`]: the record as it will be stored and the encoded answer, made once before
/// the unit runs so that a retry of the unit answers the same.
pub struct Create {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub citizen: Citizen,
    pub response: Vec<u8>,
    pub idempotency: Idempotency,
}

/// Creates a record (and, for a portal, links the citizen token to it).
pub async fn create(tx: &mut Tx, input: &Create) -> Answer<Written> {
    match recall(tx, &input.keys, &input.idempotency).await? {
        Ok(Some(bytes)) => return Ok(Ok(Written::Replay(bytes))),
        Ok(None) => {}
        Err(error) => return Ok(Err(error)),
    }
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    match who {
        Acting::Agency(_) => {}
        Acting::Citizen(None) => {}
        Acting::Citizen(Some(linked)) => {
            return Ok(Err(AppError::AlreadyExists {
                name: format!("citizens/{linked}"),
            }));
        }
        Acting::Auditor => return Ok(Err(AppError::PermissionDenied)),
    }
    let citizen = &input.citizen;
    match citizen_sql::insert(tx, &input.keys, citizen).await {
        Err(StoreError::UniqueViolation { .. }) => {
            // Undo the partial insert: the entry point rolls back on an error.
            return Err(StoreError::UniqueViolation {
                constraint: Some("citizen_identifiers".to_owned()),
            });
        }
        other => other?,
    }
    if let (Acting::Citizen(None), Some(token)) = (&who, &input.caller.citizen) {
        citizen_sql::link(
            tx,
            &token.issuer,
            &token.subject,
            &citizen.id,
            citizen.created,
        )
        .await?;
    }
    let access = Access {
        caller: &input.caller,
        representative: None,
        citizen_id: &citizen.id,
        action: Action::Create,
        purpose: None,
        categories: present(&citizen.details),
        outcome: Outcome::Allowed,
        at: citizen.created,
    };
    record(tx, access, true).await?;
    remember(
        tx,
        &input.keys,
        &input.idempotency,
        &input.response,
        citizen.created,
    )
    .await?;
    Ok(Ok(Written::New))
}

/// Input of [`get`].
pub struct Get {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub id: String,
    pub purpose: Option<Purpose>,
    /// The categories asked for (`None`: all the caller may see).
    pub wanted: Option<Categories>,
    pub now: Timestamp,
}

/// What a caller may see of a citizen for `purpose`: `None` when it may see nothing.
pub(crate) async fn visible(
    tx: &mut Tx,
    to: &Toward,
    id: &str,
    purpose: Option<Purpose>,
    now: Timestamp,
) -> StoreResult<Option<Categories>> {
    Ok(match to {
        Toward::Agency(agency) => match purpose {
            Some(purpose) => {
                let grants = consent_sql::grants(tx, id, agency, purpose).await?;
                let covered = consent::covered(&grants, agency, purpose, now);
                (!covered.is_empty()).then_some(covered)
            }
            None => None,
        },
        Toward::Herself => Some(Categories::all()),
        Toward::Representative(scope) => (!scope.categories.is_empty()).then_some(scope.categories),
        Toward::Auditor | Toward::Stranger => None,
    })
}

/// Reads a record: the categories the caller may see (or fewer, as asked), with an access event.
pub async fn get(tx: &mut Tx, input: &Get) -> Answer<(Citizen, Categories)> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let to = toward(tx, &who, &input.id, input.now).await?;
    let visible = visible(tx, &to, &input.id, input.purpose, input.now).await?;
    // Something visible means a consent, a representation or an identity link, each of which
    // references an existing record (and records are never deleted).
    let exists = visible.is_some() || citizen_sql::exists(tx, &input.id).await?;
    let released = match (exists, visible) {
        (true, Some(visible)) => {
            let wanted = input.wanted.unwrap_or(visible);
            visible.covers(wanted).then_some(wanted)
        }
        _ => None,
    };
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: &input.id,
        action: Action::Read,
        purpose: input.purpose,
        categories: released.unwrap_or(input.wanted.unwrap_or_default()),
        outcome: Outcome::of(released.is_some()),
        at: input.now,
    };
    record(tx, access, exists).await?;
    let Some(released) = released else {
        return Ok(Err(AppError::PermissionDenied));
    };
    let mut citizen = citizen_sql::load_only(tx, &input.keys, &input.id, released)
        .await?
        .ok_or(StoreError::NotFound)?;
    citizen.details = citizen.details.only(released);
    Ok(Ok((citizen, released)))
}

/// Input of [`update`].
pub struct Update {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub id: String,
    pub expected_version: i64,
    /// The new values (only the parts `paths` name are used).
    pub details: Details,
    /// The paths of the update mask: a category, and a field inside it when the path names one.
    pub paths: Vec<(Category, Option<&'static str>)>,
    pub now: Timestamp,
}

/// Changes the fields of the mask, with an access event and the change notices it causes.
pub async fn update(tx: &mut Tx, input: &Update) -> Answer<(Citizen, Categories)> {
    let who = match acting(tx, &input.caller).await? {
        Ok(who) => who,
        Err(error) => return Ok(Err(error)),
    };
    let changing: Categories = input.paths.iter().map(|(c, _)| *c).collect();
    let exists = citizen_sql::exists(tx, &input.id).await?;
    let purpose = matches!(who, Acting::Agency(_)).then_some(Purpose::RecordMaintenance);
    let to = toward(tx, &who, &input.id, input.now).await?;
    let visible = visible(tx, &to, &input.id, purpose, input.now).await?;
    let allowed = exists && visible.is_some_and(|v| v.covers(changing));
    let access = Access {
        caller: &input.caller,
        representative: to.representative(),
        citizen_id: &input.id,
        action: Action::Update,
        purpose,
        categories: changing,
        outcome: Outcome::of(allowed),
        at: input.now,
    };
    if !allowed {
        record(tx, access, exists).await?;
        return Ok(Err(AppError::PermissionDenied));
    }
    let old = citizen_sql::load(tx, &input.keys, &input.id)
        .await?
        .ok_or(StoreError::NotFound)?;
    if old.version != input.expected_version {
        return Ok(Err(AppError::EtagMismatch {
            name: format!("citizens/{}", input.id),
        }));
    }
    let mut new = old.clone();
    for (category, field) in &input.paths {
        new.details.take_field(&input.details, *category, *field);
    }
    new.version = old.version + 1;
    new.updated = input.now;
    if !citizen_sql::save(tx, &input.keys, &new, old.version).await? {
        return Ok(Err(AppError::EtagMismatch {
            name: format!("citizens/{}", input.id),
        }));
    }
    notify(tx, &old, &new, input.now).await?;
    record(tx, access, true).await?;
    let view = visible.unwrap_or_default();
    let mut answer = new;
    answer.details = answer.details.only(view);
    Ok(Ok((answer, view)))
}

/// Records a change notice for every agency with a live notify-of-changes consent covering what
/// changed. Nothing after a deceased date, except the notice of the death itself.
pub(crate) async fn notify(
    tx: &mut Tx,
    old: &Citizen,
    new: &Citizen,
    now: Timestamp,
) -> StoreResult<()> {
    let (o, n) = (&old.details, &new.details);
    if o.identity.deceased_date.is_some() {
        return Ok(());
    }
    let mut changes = Vec::new();
    if n.identity.deceased_date.is_some() {
        changes.push((ChangeKind::Deceased, Category::Identity));
    }
    if o.contact != n.contact {
        changes.push((ChangeKind::Contact, Category::Contact));
    }
    if o.addresses != n.addresses {
        changes.push((ChangeKind::Address, Category::Address));
    }
    if changes.is_empty() {
        return Ok(());
    }
    let purpose = Purpose::NotifyOfChanges;
    let grants = consent_sql::grants_for(tx, &new.id, purpose).await?;
    let agencies: std::collections::BTreeSet<&str> =
        grants.iter().map(|g| g.grantee.as_str()).collect();
    for agency in agencies {
        let covered = consent::covered(&grants, agency, purpose, now);
        for (kind, category) in &changes {
            if covered.contains(*category) {
                let notice = Notice {
                    id: super::new_id(),
                    agency: agency.to_owned(),
                    citizen_id: new.id.clone(),
                    kind: *kind,
                    at: now,
                    position: None,
                };
                notice_sql::insert(tx, &notice).await?;
            }
        }
    }
    Ok(())
}

/// Input of [`find`].
pub struct Find {
    pub caller: Caller,
    pub purpose: Purpose,
    pub query: Traits,
    pub now: Timestamp,
}

/// Most candidates FindCitizen returns.
pub const MAX_CANDIDATES: usize = 10;

/// Graded candidates for `query`, best first, each with an access event.
pub async fn find(tx: &mut Tx, input: &Find) -> Answer<Vec<(String, Grade)>> {
    match acting(tx, &input.caller).await? {
        Ok(Acting::Agency(_)) => {}
        Ok(_) => return Ok(Err(AppError::PermissionDenied)),
        Err(error) => return Ok(Err(error)),
    }
    let mut best: Vec<(String, Grade)> = Vec::new();
    for (id, traits) in citizen_sql::candidates(tx, &input.query, 1000).await? {
        if let Some(grade) = matching::grade(&input.query, &traits) {
            match best.iter_mut().find(|(i, _)| *i == id) {
                Some((_, g)) => *g = (*g).max(grade),
                None => best.push((id, grade)),
            }
        }
    }
    best.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    best.truncate(MAX_CANDIDATES);
    for (id, _) in &best {
        let access = Access {
            caller: &input.caller,
            representative: None,
            citizen_id: id,
            action: Action::Find,
            purpose: Some(input.purpose),
            categories: Categories::NONE,
            outcome: Outcome::Allowed,
            at: input.now,
        };
        record(tx, access, true).await?;
    }
    Ok(Ok(best))
}
