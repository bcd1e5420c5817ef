//! Units of work on definitions: create a form, edit its draft, publish and retire versions,
//! adopt a form for a service, and read them.

use std::sync::Arc;

use super::{manages, not_found};
use crate::{
    catalog::Snapshot,
    domain::{
        form::{Definition, FormVersion, Link, VersionState, check, version_name},
        principal::Principal,
        time::Timestamp,
    },
    error::{AppError, FieldViolation},
    records::{Caller, Idempotency, Written, citizens::Answer, recall, remember},
    secrets::Keyring,
    store::{
        StoreError, StoreResult, Tx,
        form_sql::{self, FormRow},
    },
};

/// A version as read, with its form's row and links.
#[derive(Debug, Clone)]
pub struct View {
    pub version: FormVersion,
    pub form: FormRow,
    pub links: Vec<Link>,
}

/// Whether `principal` may link `service` of the catalogue: its owner or one of its delivery
/// partners (administrators: any service); `owner` narrows it to that agency's services.
pub fn may_link(snapshot: &Snapshot, principal: &Principal, service: &str, owner: &str) -> bool {
    let Some(s) = snapshot.service(service) else {
        return false;
    };
    let serves =
        |agency: &str| s.agency == agency || s.delivery_partners.iter().any(|p| p == agency);
    match principal {
        Principal::Administrator { .. } => serves(owner),
        Principal::Agency { agency, .. } => agency == owner && serves(agency),
        _ => false,
    }
}

/// The services in `services` the caller may not link for `owner`, as violations of `field`.
pub fn check_links(
    snapshot: &Snapshot,
    principal: &Principal,
    owner: &str,
    services: &[String],
    field: &str,
) -> Vec<FieldViolation> {
    services
        .iter()
        .enumerate()
        .filter(|(_, s)| !may_link(snapshot, principal, s, owner))
        .map(|(i, s)| {
            FieldViolation::new(
                format!("{field}[{i}]"),
                format!("services/{s} is not a service of agencies/{owner} (its owner or a delivery partner)"),
            )
        })
        .collect()
}

/// The problems of `definition` as violations.
pub fn definition_violations(definition: &Definition, prefix: &str) -> Vec<FieldViolation> {
    match check::check(definition, prefix) {
        Ok(_) => Vec::new(),
        Err(problems) => problems
            .into_iter()
            .map(|(f, d)| FieldViolation::new(f, d))
            .collect(),
    }
}

/// Input of [`create`]: the first version and the answer, made before the unit runs.
pub struct Create {
    pub caller: Caller,
    pub keys: Arc<Keyring>,
    pub version: FormVersion,
    pub links: Vec<Link>,
    pub response: Vec<u8>,
    pub idempotency: Idempotency,
}

/// Creates a form with its first version as a draft.
pub async fn create(tx: &mut Tx, input: &Create) -> Answer<Written> {
    match recall(tx, &input.keys, &input.idempotency).await? {
        Ok(Some(bytes)) => return Ok(Ok(Written::Replay(bytes))),
        Ok(None) => {}
        Err(error) => return Ok(Err(error)),
    }
    let v = &input.version;
    if form_sql::form(tx, &v.form_id).await?.is_some() {
        return Ok(Err(AppError::AlreadyExists {
            name: format!("forms/{}", v.form_id),
        }));
    }
    let row = FormRow {
        id: v.form_id.clone(),
        owner: v.owner.clone(),
        latest_version: v.number,
        latest_published: None,
        created: v.created,
    };
    form_sql::insert_form(tx, &row).await.map_err(taken)?;
    form_sql::insert_version(tx, v).await?;
    for link in &input.links {
        form_sql::link(tx, &v.form_id, link).await?;
    }
    remember(
        tx,
        &input.keys,
        &input.idempotency,
        &input.response,
        v.created,
    )
    .await?;
    Ok(Ok(Written::New))
}

/// A form id taken by a concurrent call: retried, and the retry answers ALREADY_EXISTS.
fn taken(error: StoreError) -> StoreError {
    match error {
        StoreError::UniqueViolation { .. } => StoreError::Conflict(sqlx::Error::Protocol(
            "a concurrent call created the same form".to_owned(),
        )),
        other => other,
    }
}

/// What an edit changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mask {
    pub title: bool,
    pub description: bool,
    pub fields: bool,
    pub services: bool,
}

/// Input of [`update`].
pub struct Update {
    pub caller: Caller,
    pub snapshot: Arc<Snapshot>,
    pub form_id: String,
    /// The etag sent: the latest version's number and revision.
    pub expected: (i64, i64),
    pub mask: Mask,
    pub definition: Definition,
    pub services: Vec<String>,
    pub now: Timestamp,
}

/// The form's row and its latest version, if the caller may manage it.
async fn managed(
    tx: &mut Tx,
    caller: &Caller,
    form_id: &str,
) -> StoreResult<Result<(FormRow, FormVersion), AppError>> {
    let name = format!("forms/{form_id}");
    let Some(row) = form_sql::form(tx, form_id).await? else {
        return Ok(Err(not_found(&name)));
    };
    if !manages(&caller.principal, &row.owner) {
        // Whether it exists is no secret (published forms are public), but its drafts are.
        return Ok(Err(AppError::PermissionDenied));
    }
    let latest = form_sql::version(tx, form_id, row.latest_version)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(Ok((row, latest)))
}

/// Edits the draft (starting the next one when the latest version is published).
pub async fn update(tx: &mut Tx, input: &Update) -> Answer<View> {
    let (row, latest) = match managed(tx, &input.caller, &input.form_id).await? {
        Ok(found) => found,
        Err(error) => return Ok(Err(error)),
    };
    if (latest.number, latest.revision) != input.expected {
        return Ok(Err(AppError::EtagMismatch {
            name: latest.name(),
        }));
    }
    let mut next = latest.clone();
    let d = &mut next.definition;
    if input.mask.title {
        d.title = input.definition.title.clone();
    }
    if input.mask.description {
        d.description = input.definition.description.clone();
    }
    if input.mask.fields {
        d.fields = input.definition.fields.clone();
    }
    let mut violations = definition_violations(&next.definition, "form");
    if input.mask.services {
        violations.extend(check_links(
            &input.snapshot,
            &input.caller.principal,
            &row.owner,
            &input.services,
            "form.services",
        ));
    }
    if !violations.is_empty() {
        return Ok(Err(AppError::InvalidArgument(violations)));
    }
    next.updated = input.now;
    if latest.state == VersionState::Draft {
        next.revision = latest.revision + 1;
        if !form_sql::replace_draft(tx, &next, latest.revision).await? {
            return Ok(Err(AppError::EtagMismatch {
                name: latest.name(),
            }));
        }
    } else {
        next.number = latest.number + 1;
        next.state = VersionState::Draft;
        next.replacement = None;
        next.revision = 1;
        next.created = input.now;
        next.published = None;
        if !form_sql::set_pointers(
            tx,
            &row.id,
            latest.number,
            (next.number, row.latest_published),
        )
        .await?
        {
            return Ok(Err(AppError::EtagMismatch {
                name: latest.name(),
            }));
        }
        form_sql::insert_version(tx, &next).await?;
    }
    if input.mask.services {
        form_sql::unlink_others(tx, &row.id, &row.owner, &input.services).await?;
        for service in &input.services {
            let link = Link {
                service: service.clone(),
                agency: row.owner.clone(),
                at: input.now,
            };
            form_sql::link(tx, &row.id, &link).await?;
        }
    }
    let form = form_sql::form(tx, &row.id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let links = form_sql::links(tx, &row.id).await?;
    Ok(Ok(View {
        version: next,
        form,
        links,
    }))
}

/// Input of [`publish`] and [`retire`].
pub struct Change {
    pub caller: Caller,
    pub form_id: String,
    pub number: i64,
    /// The version's revision, from its etag.
    pub revision: i64,
    /// For a retirement: the version to use instead.
    pub replacement: Option<i64>,
    pub now: Timestamp,
}

fn precondition(name: String, description: &str) -> AppError {
    AppError::FailedPrecondition {
        condition: "FORM_VERSION_STATE",
        subject: name,
        description: description.to_owned(),
    }
}

/// The version `input` names, if the caller may manage it and its etag is current.
async fn changing(
    tx: &mut Tx,
    input: &Change,
) -> StoreResult<Result<(FormRow, FormVersion), AppError>> {
    let (row, _) = match managed(tx, &input.caller, &input.form_id).await? {
        Ok(found) => found,
        Err(error) => return Ok(Err(error)),
    };
    let name = version_name(&input.form_id, input.number);
    let Some(version) = form_sql::version(tx, &input.form_id, input.number).await? else {
        return Ok(Err(not_found(&name)));
    };
    if version.revision != input.revision {
        return Ok(Err(AppError::EtagMismatch { name }));
    }
    Ok(Ok((row, version)))
}

/// Publishes a draft.
pub async fn publish(tx: &mut Tx, input: &Change) -> Answer<View> {
    let (row, mut version) = match changing(tx, input).await? {
        Ok(found) => found,
        Err(error) => return Ok(Err(error)),
    };
    if version.state != VersionState::Draft {
        return Ok(Err(precondition(
            version.name(),
            "is already published; published versions never change",
        )));
    }
    version.state = VersionState::Published;
    version.revision += 1;
    version.updated = input.now;
    version.published = Some(input.now);
    if !form_sql::set_state(tx, &version, input.revision).await?
        || !form_sql::set_pointers(
            tx,
            &row.id,
            row.latest_version,
            (row.latest_version, Some(version.number)),
        )
        .await?
    {
        return Ok(Err(AppError::EtagMismatch {
            name: version.name(),
        }));
    }
    view(tx, version).await.map(Ok)
}

/// Retires a published version in favour of another.
pub async fn retire(tx: &mut Tx, input: &Change) -> Answer<View> {
    let (row, mut version) = match changing(tx, input).await? {
        Ok(found) => found,
        Err(error) => return Ok(Err(error)),
    };
    if version.state != VersionState::Published {
        let why = match version.state {
            VersionState::Draft => "is a draft: only a published version can be retired",
            _ => "is already retired",
        };
        return Ok(Err(precondition(version.name(), why)));
    }
    let replacement = input.replacement.unwrap_or_default();
    let usable = match form_sql::version(tx, &row.id, replacement).await? {
        Some(r) => r.state == VersionState::Published && r.number != version.number,
        None => false,
    };
    if !usable {
        return Ok(Err(AppError::invalid(
            "replacement",
            format!("must be another published version of forms/{}", row.id),
        )));
    }
    version.state = VersionState::Retired;
    version.replacement = Some(replacement);
    version.revision += 1;
    version.updated = input.now;
    let latest_published = match row.latest_published {
        Some(n) if n == version.number => {
            Some(replacement.max(newest_published(tx, &row, version.number).await?))
        }
        other => other,
    };
    if !form_sql::set_state(tx, &version, input.revision).await?
        || !form_sql::set_pointers(
            tx,
            &row.id,
            row.latest_version,
            (row.latest_version, latest_published),
        )
        .await?
    {
        return Ok(Err(AppError::EtagMismatch {
            name: version.name(),
        }));
    }
    view(tx, version).await.map(Ok)
}

/// The newest published version other than `except` (0 when none).
async fn newest_published(tx: &mut Tx, row: &FormRow, except: i64) -> StoreResult<i64> {
    for n in (1..=row.latest_version).rev() {
        if n == except {
            continue;
        }
        if let Some(v) = form_sql::version(tx, &row.id, n).await?
            && v.state == VersionState::Published
        {
            return Ok(n);
        }
    }
    Ok(0)
}

async fn view(tx: &mut Tx, version: FormVersion) -> StoreResult<View> {
    let form = form_sql::form(tx, &version.form_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let links = form_sql::links(tx, &version.form_id).await?;
    Ok(View {
        version,
        form,
        links,
    })
}

/// Input of [`adopt`].
pub struct Adopt {
    pub caller: Caller,
    pub snapshot: Arc<Snapshot>,
    pub form_id: String,
    pub service: String,
    pub now: Timestamp,
}

/// Links a published form to one of the caller's services.
pub async fn adopt(tx: &mut Tx, input: &Adopt) -> Answer<View> {
    let name = format!("forms/{}", input.form_id);
    let Some(row) = form_sql::form(tx, &input.form_id).await? else {
        return Ok(Err(not_found(&name)));
    };
    let Some(published) = row.latest_published else {
        return Ok(Err(not_found(&name)));
    };
    let agency = match &input.caller.principal {
        Principal::Agency { agency, .. } => agency.clone(),
        Principal::Administrator { .. } => match input.snapshot.service(&input.service) {
            Some(s) => s.agency.clone(),
            None => String::new(),
        },
        _ => return Ok(Err(AppError::PermissionDenied)),
    };
    if !may_link(
        &input.snapshot,
        &input.caller.principal,
        &input.service,
        &agency,
    ) {
        return Ok(Err(AppError::invalid(
            "service",
            format!(
                "services/{} is not a service of the calling agency",
                input.service
            ),
        )));
    }
    let link = Link {
        service: input.service.clone(),
        agency,
        at: input.now,
    };
    form_sql::link(tx, &row.id, &link).await?;
    let version = form_sql::version(tx, &row.id, published)
        .await?
        .ok_or(StoreError::NotFound)?;
    view(tx, version).await.map(Ok)
}

/// Input of [`get`].
pub struct Get {
    pub caller: Caller,
    pub form_id: String,
    /// `None`: the latest published version.
    pub number: Option<i64>,
}

/// A version the caller may see: any published or retired one; a draft only its managers.
pub async fn get(tx: &mut Tx, input: &Get) -> Answer<View> {
    let name = match input.number {
        Some(n) => version_name(&input.form_id, n),
        None => format!("forms/{}", input.form_id),
    };
    let Some(row) = form_sql::form(tx, &input.form_id).await? else {
        return Ok(Err(not_found(&name)));
    };
    let Some(number) = input.number.or(row.latest_published) else {
        return Ok(Err(not_found(&name)));
    };
    let Some(version) = form_sql::version(tx, &row.id, number).await? else {
        return Ok(Err(not_found(&name)));
    };
    if version.state == VersionState::Draft && !manages(&input.caller.principal, &row.owner) {
        return Ok(Err(not_found(&name)));
    }
    view(tx, version).await.map(Ok)
}

/// Input of [`list`].
pub struct List {
    pub caller: Caller,
    pub owners: Vec<String>,
    pub services: Vec<String>,
    pub after: String,
    pub limit: i64,
}

/// Forms by id after `after`: each its latest published version, or its draft for its managers.
/// Reads one row more than `limit` when there are more; forms the caller may not see are skipped.
pub async fn list(tx: &mut Tx, input: &List) -> StoreResult<Vec<View>> {
    let mut out = Vec::new();
    let mut after = input.after.clone();
    while out.len() as i64 <= input.limit {
        let rows =
            form_sql::list(tx, &input.owners, &input.services, &after, input.limit + 1).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id.clone();
        let exhausted = (rows.len() as i64) <= input.limit;
        for row in rows {
            let number = match row.latest_published {
                Some(n) => n,
                None if manages(&input.caller.principal, &row.owner) => row.latest_version,
                None => continue,
            };
            let version = form_sql::version(tx, &row.id, number)
                .await?
                .ok_or(StoreError::NotFound)?;
            let links = form_sql::links(tx, &row.id).await?;
            out.push(View {
                version,
                form: row,
                links,
            });
            if out.len() as i64 > input.limit {
                return Ok(out);
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(out)
}
