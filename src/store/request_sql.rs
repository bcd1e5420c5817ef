//! Requests' SQL, identical on both backends: requests, their legs and steps, the stored ranking,
//! attachments, and the outbox of assignment events. Codes are the domain's text codes; times are
//! Unix milliseconds; an open end is NULL.
//!
//! Changes to a request or a leg are conditional on the version read (`version = $n`): a unit
//! that finds the row changed since it read it gets `Conflict`, and the entry point runs it again
//! (it then sees the new version and answers ABORTED for a stale etag).

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::domain::{
    catalog::{Channel, Text},
    consent::Categories,
    handoff::{LegClock, LegState},
    request::{DeclineReason, HandoffReason, Outcome, Ranked, RequestStatus},
    routing::{Residence, Status as Eligibility},
    time::Timestamp,
};

/// What the need of a request was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredNeed {
    Text(String),
    Service(String),
    LifeEvent(String),
}

/// A stored request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    pub id: String,
    pub citizen_id: String,
    pub parent_id: Option<String>,
    pub need: StoredNeed,
    pub entry_agency: Option<String>,
    pub entry_channel: Channel,
    pub opened_by: String,
    pub officer: String,
    pub note: String,
    pub shared: Categories,
    pub residence: Option<Residence>,
    pub owner_agency: String,
    pub escalation_agency: String,
    pub withdrawn: bool,
    pub status: RequestStatus,
    pub needs_attention: bool,
    pub standard_id: Option<String>,
    pub due_base: Option<Timestamp>,
    pub version: i64,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub ended: Option<Timestamp>,
}

/// A stored leg.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffRecord {
    pub request_id: String,
    pub number: i64,
    pub from_agency: Option<String>,
    pub to_agency: String,
    pub service_id: String,
    pub reason: HandoffReason,
    pub state: LegState,
    pub primary: bool,
    pub referred_from: Option<i64>,
    pub note: String,
    pub shared: Categories,
    pub decline_reason: Option<DeclineReason>,
    pub outcome: Option<Outcome>,
    pub needs_attention: bool,
    pub standard_id: Option<String>,
    pub due_base: Option<Timestamp>,
    pub time_zone: String,
    pub clock: LegClock,
    pub version: i64,
}

/// One step of a leg's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    pub request_id: String,
    pub number: i64,
    pub seq: i64,
    pub state: LegState,
    pub at: Timestamp,
    pub actor: String,
    pub officer: String,
    pub text: String,
}

/// A file given with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub filename: String,
    pub media_type: String,
    pub sha256: String,
    pub content: Vec<u8>,
}

/// A life event's service that was not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotOpenedRecord {
    pub service_id: String,
    pub reason: Text,
}

/// An event of the outbox: something an agency is told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: String,
    pub agency: String,
    pub request_id: String,
    pub handoff_number: i64,
    /// `offered` or `changed`.
    pub kind: String,
    pub state: LegState,
    pub at: Timestamp,
    pub position: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    id: String,
    citizen_id: String,
    parent_id: Option<String>,
    need_kind: String,
    need: String,
    entry_agency: Option<String>,
    entry_channel: String,
    opened_by: String,
    officer: String,
    note: String,
    shared_categories: String,
    residence: Option<String>,
    owner_agency: String,
    escalation_agency: String,
    withdrawn: bool,
    status: String,
    needs_attention: bool,
    standard_id: Option<String>,
    due_base_unix_ms: Option<i64>,
    version: i64,
    created_at_unix_ms: i64,
    updated_at_unix_ms: i64,
    ended_at_unix_ms: Option<i64>,
}

const REQUEST_COLUMNS: &str = "id, citizen_id, parent_id, need_kind, need, entry_agency, \
     entry_channel, opened_by, officer, note, shared_categories, residence, owner_agency, \
     escalation_agency, withdrawn, status, needs_attention, standard_id, due_base_unix_ms, version, created_at_unix_ms, \
     updated_at_unix_ms, ended_at_unix_ms";

#[derive(sqlx::FromRow)]
struct HandoffRow {
    request_id: String,
    number: i64,
    from_agency: Option<String>,
    to_agency: String,
    service_id: String,
    reason: String,
    state: String,
    is_primary: bool,
    referred_from: Option<i64>,
    note: String,
    shared_categories: String,
    decline_reason: Option<String>,
    outcome: Option<String>,
    needs_attention: bool,
    standard_id: Option<String>,
    due_base_unix_ms: Option<i64>,
    time_zone: String,
    offered_at_unix_ms: i64,
    paused_since_unix_ms: Option<i64>,
    paused_ms: i64,
    ended_at_unix_ms: Option<i64>,
    last_at_unix_ms: i64,
    version: i64,
}

const HANDOFF_COLUMNS: &str = "request_id, number, from_agency, to_agency, service_id, reason, \
     state, is_primary, referred_from, note, shared_categories, decline_reason, outcome, \
     needs_attention, standard_id, due_base_unix_ms, time_zone, offered_at_unix_ms, \
     paused_since_unix_ms, paused_ms, ended_at_unix_ms, last_at_unix_ms, version";

fn ms(t: Timestamp) -> i64 {
    t.unix_millis()
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn residence_code(r: Residence) -> &'static str {
    match r {
        Residence::InCanada => "in-canada",
        Residence::Abroad => "abroad",
    }
}

fn eligibility_code(e: Eligibility) -> &'static str {
    match e {
        Eligibility::Met => "met",
        Eligibility::Unknown => "unknown",
        Eligibility::Failed => "failed",
    }
}

fn decode_request(row: RequestRow) -> StoreResult<RequestRecord> {
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("request `{}`: unreadable {what}", row.id));
    let need = match row.need_kind.as_str() {
        "text" => StoredNeed::Text(row.need.clone()),
        "service" => StoredNeed::Service(row.need.clone()),
        "life-event" => StoredNeed::LifeEvent(row.need.clone()),
        _ => return Err(corrupt("need")),
    };
    let residence = match row.residence.as_deref() {
        None => None,
        Some("in-canada") => Some(Residence::InCanada),
        Some("abroad") => Some(Residence::Abroad),
        Some(_) => return Err(corrupt("residence")),
    };
    Ok(RequestRecord {
        entry_channel: Channel::from_code(&row.entry_channel).ok_or_else(|| corrupt("channel"))?,
        shared: Categories::from_codes(&row.shared_categories)
            .ok_or_else(|| corrupt("categories"))?,
        status: RequestStatus::from_code(&row.status).ok_or_else(|| corrupt("status"))?,
        need,
        residence,
        id: row.id,
        citizen_id: row.citizen_id,
        parent_id: row.parent_id,
        entry_agency: row.entry_agency,
        opened_by: row.opened_by,
        officer: row.officer,
        note: row.note,
        owner_agency: row.owner_agency,
        escalation_agency: row.escalation_agency,
        withdrawn: row.withdrawn,
        needs_attention: row.needs_attention,
        standard_id: row.standard_id,
        due_base: row.due_base_unix_ms.map(at),
        version: row.version,
        created: at(row.created_at_unix_ms),
        updated: at(row.updated_at_unix_ms),
        ended: row.ended_at_unix_ms.map(at),
    })
}

fn decode_handoff(row: HandoffRow) -> StoreResult<HandoffRecord> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(format!(
            "handoff {} of request `{}`: unreadable {what}",
            row.number, row.request_id
        ))
    };
    let decline_reason = match &row.decline_reason {
        None => None,
        Some(c) => Some(DeclineReason::from_code(c).ok_or_else(|| corrupt("decline reason"))?),
    };
    let outcome = match &row.outcome {
        None => None,
        Some(c) => Some(Outcome::from_code(c).ok_or_else(|| corrupt("outcome"))?),
    };
    Ok(HandoffRecord {
        reason: HandoffReason::from_code(&row.reason).ok_or_else(|| corrupt("reason"))?,
        state: LegState::from_code(&row.state).ok_or_else(|| corrupt("state"))?,
        shared: Categories::from_codes(&row.shared_categories)
            .ok_or_else(|| corrupt("categories"))?,
        decline_reason,
        outcome,
        clock: LegClock {
            offered: at(row.offered_at_unix_ms),
            paused_since: row.paused_since_unix_ms.map(at),
            paused_millis: row.paused_ms,
            ended: row.ended_at_unix_ms.map(at),
            last: at(row.last_at_unix_ms),
        },
        request_id: row.request_id,
        number: row.number,
        from_agency: row.from_agency,
        to_agency: row.to_agency,
        service_id: row.service_id,
        primary: row.is_primary,
        referred_from: row.referred_from,
        note: row.note,
        needs_attention: row.needs_attention,
        standard_id: row.standard_id,
        due_base: row.due_base_unix_ms.map(at),
        time_zone: row.time_zone,
        version: row.version,
    })
}

/// Stores a new request.
pub async fn insert_request(tx: &mut Tx, r: &RequestRecord) -> StoreResult<()> {
    let (kind, need) = match &r.need {
        StoredNeed::Text(t) => ("text", t),
        StoredNeed::Service(s) => ("service", s),
        StoredNeed::LifeEvent(e) => ("life-event", e),
    };
    on_conn!(tx, conn, DB => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO requests ({REQUEST_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        )))
        .bind(&r.id).bind(&r.citizen_id).bind(&r.parent_id).bind(kind).bind(need)
        .bind(&r.entry_agency).bind(r.entry_channel.code()).bind(&r.opened_by).bind(&r.officer)
        .bind(&r.note).bind(r.shared.codes()).bind(r.residence.map(residence_code))
        .bind(&r.owner_agency).bind(&r.escalation_agency).bind(r.withdrawn).bind(r.status.code())
        .bind(r.needs_attention).bind(&r.standard_id).bind(r.due_base.map(ms)).bind(r.version).bind(ms(r.created)).bind(ms(r.updated))
        .bind(r.ended.map(ms))
        .execute(conn).await?;
    });
    Ok(())
}

/// Saves the changing fields of `r` if the stored request is still at `r.version - 1`;
/// `Conflict` otherwise.
pub async fn update_request(tx: &mut Tx, r: &RequestRecord) -> StoreResult<()> {
    let done = on_conn!(tx, conn, DB => {
        sqlx::query(
            "UPDATE requests SET owner_agency = $2, status = $3, needs_attention = $4, \
             standard_id = $5, due_base_unix_ms = $6, version = $7, updated_at_unix_ms = $8, \
             ended_at_unix_ms = $9, withdrawn = $10 WHERE id = $1 AND version = $11",
        )
        .bind(&r.id).bind(&r.owner_agency).bind(r.status.code()).bind(r.needs_attention)
        .bind(&r.standard_id).bind(r.due_base.map(ms)).bind(r.version).bind(ms(r.updated))
        .bind(r.ended.map(ms)).bind(r.withdrawn).bind(r.version - 1)
        .execute(conn).await?.rows_affected()
    });
    changed(done, "request")
}

fn changed(rows: u64, what: &str) -> StoreResult<()> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(sqlx::Error::Protocol(format!(
            "the {what} changed since it was read"
        ))))
    }
}

/// The request `id`, if it exists.
pub async fn get_request(tx: &mut Tx, id: &str) -> StoreResult<Option<RequestRecord>> {
    let row: Option<RequestRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1")))
            .bind(id).fetch_optional(conn).await?
    });
    row.map(decode_request).transpose()
}

/// The requests with these ids, in order of id.
pub async fn get_requests(tx: &mut Tx, ids: &[String]) -> StoreResult<Vec<RequestRecord>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = get_request(tx, id).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The child requests of `parent`, in order of id.
pub async fn children(tx: &mut Tx, parent: &str) -> StoreResult<Vec<RequestRecord>> {
    let rows: Vec<RequestRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE parent_id = $1 ORDER BY id")))
            .bind(parent).fetch_all(conn).await?
    });
    rows.into_iter().map(decode_request).collect()
}

/// Stores a new leg.
pub async fn insert_handoff(tx: &mut Tx, h: &HandoffRecord) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO handoffs ({HANDOFF_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        )))
        .bind(&h.request_id).bind(h.number).bind(&h.from_agency).bind(&h.to_agency)
        .bind(&h.service_id).bind(h.reason.code()).bind(h.state.code()).bind(h.primary)
        .bind(h.referred_from).bind(&h.note).bind(h.shared.codes())
        .bind(h.decline_reason.map(DeclineReason::code)).bind(h.outcome.map(Outcome::code))
        .bind(h.needs_attention).bind(&h.standard_id).bind(h.due_base.map(ms)).bind(&h.time_zone)
        .bind(ms(h.clock.offered)).bind(h.clock.paused_since.map(ms)).bind(h.clock.paused_millis)
        .bind(h.clock.ended.map(ms)).bind(ms(h.clock.last)).bind(h.version)
        .execute(conn).await.map_err(StoreError::from).map_err(taken)?;
    });
    Ok(())
}

/// A leg's or step's number taken by a concurrent call: a conflict, which the entry point
/// retries (the retry numbers after it).
fn taken(error: StoreError) -> StoreError {
    match error {
        StoreError::UniqueViolation { .. } => StoreError::Conflict(sqlx::Error::Protocol(
            "a concurrent call took the leg's number".to_owned(),
        )),
        other => other,
    }
}

/// Saves the state, clock and answers of `h` if the stored leg is still at `h.version - 1`;
/// `Conflict` otherwise.
pub async fn update_handoff(tx: &mut Tx, h: &HandoffRecord) -> StoreResult<()> {
    let done = on_conn!(tx, conn, DB => {
        sqlx::query(
            "UPDATE handoffs SET state = $3, decline_reason = $4, outcome = $5, needs_attention = $6, \
             paused_since_unix_ms = $7, paused_ms = $8, ended_at_unix_ms = $9, last_at_unix_ms = $10, \
             version = $11 WHERE request_id = $1 AND number = $2 AND version = $12",
        )
        .bind(&h.request_id).bind(h.number).bind(h.state.code())
        .bind(h.decline_reason.map(DeclineReason::code)).bind(h.outcome.map(Outcome::code))
        .bind(h.needs_attention).bind(h.clock.paused_since.map(ms)).bind(h.clock.paused_millis)
        .bind(h.clock.ended.map(ms)).bind(ms(h.clock.last)).bind(h.version).bind(h.version - 1)
        .execute(conn).await?.rows_affected()
    });
    changed(done, "handoff")
}

/// The legs of a request, in order.
pub async fn handoffs(tx: &mut Tx, request_id: &str) -> StoreResult<Vec<HandoffRecord>> {
    let rows: Vec<HandoffRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE request_id = $1 ORDER BY number"
        )))
        .bind(request_id).fetch_all(conn).await?
    });
    rows.into_iter().map(decode_handoff).collect()
}

/// Every leg still open, of every request (for the at-risk backlog).
pub async fn open_handoffs(tx: &mut Tx) -> StoreResult<Vec<HandoffRecord>> {
    let rows: Vec<HandoffRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE ended_at_unix_ms IS NULL"
        )))
        .fetch_all(conn).await?
    });
    rows.into_iter().map(decode_handoff).collect()
}

/// Appends a step to a leg's history.
pub async fn insert_step(tx: &mut Tx, s: &StepRecord) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query(
            "INSERT INTO handoff_steps (request_id, number, seq, state, at_unix_ms, actor, officer, text) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&s.request_id).bind(s.number).bind(s.seq).bind(s.state.code()).bind(ms(s.at))
        .bind(&s.actor).bind(&s.officer).bind(&s.text)
        .execute(conn).await.map_err(StoreError::from).map_err(taken)?;
    });
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StepRow {
    request_id: String,
    number: i64,
    seq: i64,
    state: String,
    at_unix_ms: i64,
    actor: String,
    officer: String,
    text: String,
}

/// Every step of a request's legs, by leg then order.
pub async fn steps(tx: &mut Tx, request_id: &str) -> StoreResult<Vec<StepRecord>> {
    let rows: Vec<StepRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT request_id, number, seq, state, at_unix_ms, actor, officer, text FROM handoff_steps \
             WHERE request_id = $1 ORDER BY number, seq",
        )
        .bind(request_id).fetch_all(conn).await?
    });
    rows.into_iter()
        .map(|row| {
            Ok(StepRecord {
                state: LegState::from_code(&row.state).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "a step of request `{}`: unreadable state",
                        row.request_id
                    ))
                })?,
                request_id: row.request_id,
                number: row.number,
                seq: row.seq,
                at: at(row.at_unix_ms),
                actor: row.actor,
                officer: row.officer,
                text: row.text,
            })
        })
        .collect()
}

/// Stores the ranking of a new request, in one statement.
pub async fn insert_ranking(tx: &mut Tx, request_id: &str, ranking: &[Ranked]) -> StoreResult<()> {
    if ranking.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = (0..ranking.len())
        .map(|i| {
            let b = i * 6;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO request_candidates (request_id, rank, service_id, agency, score, eligibility) VALUES {}",
        values.join(", ")
    );
    on_conn!(tx, conn, DB => {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (rank, r) in ranking.iter().enumerate() {
            query = query
                .bind(request_id)
                .bind(rank as i64)
                .bind(&r.service)
                .bind(&r.agency)
                .bind(r.score)
                .bind(r.eligibility.map(eligibility_code));
        }
        query.execute(conn).await?;
    });
    Ok(())
}

/// The stored ranking of a request, in rank order.
pub async fn ranking(tx: &mut Tx, request_id: &str) -> StoreResult<Vec<Ranked>> {
    let rows: Vec<(String, String, f64, Option<String>)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT service_id, agency, score, eligibility FROM request_candidates \
             WHERE request_id = $1 ORDER BY rank",
        )
        .bind(request_id).fetch_all(conn).await?
    });
    rows.into_iter()
        .map(|(service, agency, score, eligibility)| {
            let eligibility = match eligibility.as_deref() {
                None => None,
                Some("met") => Some(Eligibility::Met),
                Some("unknown") => Some(Eligibility::Unknown),
                Some("failed") => Some(Eligibility::Failed),
                Some(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "the ranking of request `{request_id}`: unreadable eligibility"
                    )));
                }
            };
            Ok(Ranked {
                service,
                agency,
                score,
                eligibility,
            })
        })
        .collect()
}

/// Stores the files of a new request.
pub async fn insert_attachments(
    tx: &mut Tx,
    request_id: &str,
    files: &[AttachmentRecord],
) -> StoreResult<()> {
    for (number, f) in files.iter().enumerate() {
        on_conn!(tx, conn, DB => {
            sqlx::query(
                "INSERT INTO request_attachments (request_id, number, filename, media_type, sha256, content) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(request_id).bind(number as i64).bind(&f.filename).bind(&f.media_type)
            .bind(&f.sha256).bind(&f.content)
            .execute(conn).await?;
        });
    }
    Ok(())
}

/// The files of a request, in order.
pub async fn attachments(tx: &mut Tx, request_id: &str) -> StoreResult<Vec<AttachmentRecord>> {
    let rows: Vec<(String, String, String, Vec<u8>)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT filename, media_type, sha256, content FROM request_attachments \
             WHERE request_id = $1 ORDER BY number",
        )
        .bind(request_id).fetch_all(conn).await?
    });
    Ok(rows
        .into_iter()
        .map(|(filename, media_type, sha256, content)| AttachmentRecord {
            filename,
            media_type,
            sha256,
            content,
        })
        .collect())
}

/// Stores the services of a life event that were not opened.
pub async fn insert_not_opened(
    tx: &mut Tx,
    request_id: &str,
    skipped: &[NotOpenedRecord],
) -> StoreResult<()> {
    for s in skipped {
        on_conn!(tx, conn, DB => {
            sqlx::query(
                "INSERT INTO request_not_opened (request_id, service_id, reason_en, reason_fr) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(request_id).bind(&s.service_id).bind(&s.reason.en).bind(&s.reason.fr)
            .execute(conn).await?;
        });
    }
    Ok(())
}

/// The services of a life event that were not opened.
pub async fn not_opened(tx: &mut Tx, request_id: &str) -> StoreResult<Vec<NotOpenedRecord>> {
    let rows: Vec<(String, String, String)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT service_id, reason_en, reason_fr FROM request_not_opened \
             WHERE request_id = $1 ORDER BY service_id",
        )
        .bind(request_id).fetch_all(conn).await?
    });
    Ok(rows
        .into_iter()
        .map(|(service_id, en, fr)| NotOpenedRecord {
            service_id,
            reason: Text { en, fr },
        })
        .collect())
}

/// Records an event for an agency, not yet positioned.
pub async fn insert_event(tx: &mut Tx, e: &EventRecord) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query(
            "INSERT INTO request_events (id, agency, request_id, handoff_number, kind, state, at_unix_ms, position) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&e.id).bind(&e.agency).bind(&e.request_id).bind(e.handoff_number).bind(&e.kind)
        .bind(e.state.code()).bind(ms(e.at))
        .execute(conn).await?;
    });
    Ok(())
}

/// Which requests of an agency to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Requests with a leg offered to or held by the agency.
    Queue,
    /// Requests the agency is or was party to.
    All,
}

/// Whose requests a listing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose<'a> {
    /// An agency's, as `Party` says.
    Agency(&'a str, Party),
    /// A citizen's.
    Citizen(&'a str),
}

impl Whose<'_> {
    /// The ids the listing covers, as a subquery over `$1`.
    fn ids(self) -> &'static str {
        match self {
            Whose::Agency(_, Party::Queue) => {
                "SELECT request_id FROM handoffs WHERE to_agency = $1 \
                 AND state IN ('offered', 'accepted', 'in-progress', 'waiting-on-citizen')"
            }
            Whose::Agency(_, Party::All) => {
                "SELECT request_id FROM handoffs WHERE to_agency = $1 OR from_agency = $1 \
                 UNION SELECT id FROM requests WHERE entry_agency = $1"
            }
            Whose::Citizen(_) => "SELECT id FROM requests WHERE citizen_id = $1",
        }
    }

    fn bind(self) -> String {
        match self {
            Whose::Agency(agency, _) => agency.to_owned(),
            Whose::Citizen(citizen) => citizen.to_owned(),
        }
    }
}

/// The requests a listing covers, in order of id, with their legs (in order), in two queries.
pub async fn requests_of(
    tx: &mut Tx,
    whose: Whose<'_>,
) -> StoreResult<Vec<(RequestRecord, Vec<HandoffRecord>)>> {
    let ids = whose.ids();
    let key = whose.bind();
    let (requests, legs): (Vec<RequestRow>, Vec<HandoffRow>) = on_conn!(tx, conn, DB => {
        let requests: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE id IN ({ids}) ORDER BY id"
        )))
        .bind(&key).fetch_all(&mut *conn).await?;
        let legs: Vec<HandoffRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE request_id IN ({ids}) ORDER BY request_id, number"
        )))
        .bind(&key).fetch_all(&mut *conn).await?;
        (requests, legs)
    });
    let mut by_request: std::collections::HashMap<String, Vec<HandoffRecord>> =
        std::collections::HashMap::new();
    for leg in legs {
        let leg = decode_handoff(leg)?;
        by_request
            .entry(leg.request_id.clone())
            .or_default()
            .push(leg);
    }
    requests
        .into_iter()
        .map(|row| {
            let request = decode_request(row)?;
            let legs = by_request.remove(&request.id).unwrap_or_default();
            Ok((request, legs))
        })
        .collect()
}

/// Whether `agency` is or was party to request `id`: its entry agency, or a leg's sender or
/// receiver (of the request, or of its parent or children).
pub async fn is_party(tx: &mut Tx, id: &str, agency: &str) -> StoreResult<bool> {
    let row: Option<(i64,)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT CAST(1 AS BIGINT) FROM requests r WHERE (r.id = $1 OR r.parent_id = $1 OR r.id = (SELECT parent_id FROM requests WHERE id = $1)) \
             AND (r.entry_agency = $2 OR EXISTS (SELECT 1 FROM handoffs h WHERE h.request_id = r.id \
             AND (h.to_agency = $2 OR h.from_agency = $2))) LIMIT 1",
        )
        .bind(id).bind(agency).fetch_optional(conn).await?
    });
    Ok(row.is_some())
}

/// Legs waiting on the citizen since before `before` (request id, leg number), oldest first, at
/// most `limit`.
pub async fn waiting_since_before(
    tx: &mut Tx,
    before: Timestamp,
    limit: i64,
) -> StoreResult<Vec<(String, i64)>> {
    let rows: Vec<(String, i64)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT request_id, number FROM handoffs WHERE paused_since_unix_ms IS NOT NULL \
             AND paused_since_unix_ms < $1 ORDER BY paused_since_unix_ms LIMIT $2",
        )
        .bind(ms(before)).bind(limit).fetch_all(conn).await?
    });
    Ok(rows)
}

/// Positions the oldest unpositioned events (at most `limit`) after the last position ever given,
/// in one statement; how many. Run it holding
/// [`Lock::RequestEventSequencer`](crate::store::Lock::RequestEventSequencer).
pub async fn sequence_events(tx: &mut Tx, limit: i64) -> StoreResult<u64> {
    super::notice_sql::sequence_table(tx, "request_events", limit).await
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    agency: String,
    request_id: String,
    handoff_number: i64,
    kind: String,
    state: String,
    at_unix_ms: i64,
    position: Option<i64>,
}

fn decode_event(row: EventRow) -> StoreResult<EventRecord> {
    Ok(EventRecord {
        state: LegState::from_code(&row.state).ok_or_else(|| {
            StoreError::Corrupt(format!("request event `{}`: unreadable state", row.id))
        })?,
        id: row.id,
        agency: row.agency,
        request_id: row.request_id,
        handoff_number: row.handoff_number,
        kind: row.kind,
        at: at(row.at_unix_ms),
        position: row.position,
    })
}

const EVENT_COLUMNS: &str =
    "id, agency, request_id, handoff_number, kind, state, at_unix_ms, position";

/// Every agency's positioned events after `after`, in order, at most `limit`.
pub async fn events_after(tx: &mut Tx, after: i64, limit: i64) -> StoreResult<Vec<EventRecord>> {
    let rows: Vec<EventRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM request_events WHERE position > $1 ORDER BY position LIMIT $2"
        )))
        .bind(after).bind(limit).fetch_all(conn).await?
    });
    rows.into_iter().map(decode_event).collect()
}

/// `agency`'s positioned events in `(after, until]`, in order, at most `limit`.
pub async fn agency_events(
    tx: &mut Tx,
    agency: &str,
    (after, until): (i64, i64),
    limit: i64,
) -> StoreResult<Vec<EventRecord>> {
    let rows: Vec<EventRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM request_events WHERE agency = $1 AND position > $2 \
             AND position <= $3 ORDER BY position LIMIT $4"
        )))
        .bind(agency).bind(after).bind(until).bind(limit).fetch_all(conn).await?
    });
    rows.into_iter().map(decode_event).collect()
}

/// The oldest and newest positions retained, if any event is.
pub async fn event_positions(tx: &mut Tx) -> StoreResult<(Option<i64>, Option<i64>)> {
    let row: (Option<i64>, Option<i64>) = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT MIN(position), MAX(position) FROM request_events")
            .fetch_one(conn).await?
    });
    Ok(row)
}

/// Forgets positioned events older than `before`; how many.
pub async fn forget_events_before(tx: &mut Tx, before: Timestamp) -> StoreResult<u64> {
    let done = on_conn!(tx, conn, DB => {
        sqlx::query("DELETE FROM request_events WHERE position IS NOT NULL AND at_unix_ms < $1")
            .bind(ms(before)).execute(conn).await?.rows_affected()
    });
    Ok(done)
}

/// Each standard's performance over the legs that ran against it: (service, standard, figures).
/// A completed leg met its standard when it ended, pauses excluded, by its due time.
pub async fn standard_performance(
    tx: &mut Tx,
) -> StoreResult<Vec<(String, String, crate::domain::due::Performance)>> {
    standard_performance_since(tx, Timestamp::from_unix_millis(i64::MIN)).await
}

/// [`standard_performance`] over the legs that ended at `since` or later.
pub async fn standard_performance_since(
    tx: &mut Tx,
    since: Timestamp,
) -> StoreResult<Vec<(String, String, crate::domain::due::Performance)>> {
    let rows: Vec<(String, String, i64, i64, i64)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT service_id, standard_id, \
             CAST(SUM(CASE WHEN state = 'completed' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN state = 'completed' AND ended_at_unix_ms - paused_ms <= due_base_unix_ms THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN state = 'declined' THEN 1 ELSE 0 END) AS BIGINT) \
             FROM handoffs WHERE ended_at_unix_ms IS NOT NULL AND standard_id IS NOT NULL \
             AND due_base_unix_ms IS NOT NULL AND state IN ('completed', 'declined') \
             AND ended_at_unix_ms >= $1 GROUP BY service_id, standard_id",
        )
        .bind(since.unix_millis())
        .fetch_all(conn).await?
    });
    Ok(rows
        .into_iter()
        .map(|(service, standard, completed, met, declined)| {
            (
                service,
                standard,
                crate::domain::due::Performance {
                    completed,
                    met,
                    declined,
                },
            )
        })
        .collect())
}
