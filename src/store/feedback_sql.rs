//! Feedback's SQL, identical on both backends: survey subjects (every ended leg and request, with
//! its invitation), responses (which name no citizen), and the aggregates reports read. Codes are
//! the domain's text codes, '' where a part is not known; times are Unix milliseconds.

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::{
    domain::{
        catalog::Channel,
        citizen::{Province, record::Circumstance, record::Language},
        feedback::{
            AccessibilityStatus, AgeBand, Driver, Scores, Segment, StandardResult, SubjectKind,
        },
        report::{Dimension, Tally},
        time::Timestamp,
    },
    secrets::Sealed,
};

/// An ended leg or request, as it stood when it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRecord {
    pub id: String,
    pub citizen_id: String,
    pub request_id: String,
    /// The leg's number; 0 for the request.
    pub number: i64,
    pub kind: SubjectKind,
    /// How it ended (a leg state or request status code).
    pub ended_as: String,
    pub invited: bool,
    pub agency: String,
    pub team: String,
    pub officer: String,
    pub service_id: String,
    pub channel: Channel,
    pub from_agency: String,
    pub entry_agency: String,
    pub standard: Option<StandardResult>,
    pub quarter: String,
    pub ended: Timestamp,
    pub expires: Timestamp,
    pub responded: bool,
}

/// A response, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseRecord {
    pub id: String,
    pub respondent_key: Vec<u8>,
    pub kind: SubjectKind,
    pub agency: String,
    pub team: String,
    pub officer: String,
    pub service_id: String,
    pub channel: Channel,
    pub from_agency: String,
    pub standard: Option<StandardResult>,
    pub quarter: String,
    pub segment: Segment,
    pub survey_channel: Channel,
    pub contacts: i64,
    pub scores: Scores,
    pub comment: Option<Sealed>,
    pub recorded_on: Timestamp,
}

#[derive(sqlx::FromRow)]
struct SubjectRow {
    id: String,
    citizen_id: String,
    request_id: String,
    handoff_number: i64,
    kind: String,
    ended_as: String,
    invited: bool,
    agency: String,
    team: String,
    officer: String,
    service_id: String,
    channel: String,
    from_agency: String,
    entry_agency: String,
    standard: String,
    quarter: String,
    ended_at_unix_ms: i64,
    expires_at_unix_ms: i64,
    responded: bool,
}

const SUBJECT_COLUMNS: &str = "id, citizen_id, request_id, handoff_number, kind, ended_as, invited, \
     agency, team, officer, service_id, channel, from_agency, entry_agency, standard, quarter, \
     ended_at_unix_ms, expires_at_unix_ms, responded";

fn standard_code(standard: Option<StandardResult>) -> &'static str {
    standard.map_or("", StandardResult::code)
}

fn decode_subject(row: SubjectRow) -> StoreResult<SubjectRecord> {
    let corrupt =
        |what: &str| StoreError::Corrupt(format!("survey subject `{}`: unreadable {what}", row.id));
    Ok(SubjectRecord {
        kind: SubjectKind::from_code(&row.kind).ok_or_else(|| corrupt("kind"))?,
        channel: Channel::from_code(&row.channel).ok_or_else(|| corrupt("channel"))?,
        standard: match row.standard.as_str() {
            "" => None,
            code => Some(StandardResult::from_code(code).ok_or_else(|| corrupt("standard"))?),
        },
        id: row.id,
        citizen_id: row.citizen_id,
        request_id: row.request_id,
        number: row.handoff_number,
        ended_as: row.ended_as,
        invited: row.invited,
        agency: row.agency,
        team: row.team,
        officer: row.officer,
        service_id: row.service_id,
        from_agency: row.from_agency,
        entry_agency: row.entry_agency,
        quarter: row.quarter,
        ended: Timestamp::from_unix_millis(row.ended_at_unix_ms),
        expires: Timestamp::from_unix_millis(row.expires_at_unix_ms),
        responded: row.responded,
    })
}

/// Stores an ended subject. A subject already stored for the same leg or request is left as it is.
pub async fn insert_subject(tx: &mut Tx, s: &SubjectRecord) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query(
            "INSERT INTO survey_subjects (id, citizen_id, request_id, handoff_number, kind, ended_as, \
             invited, agency, team, officer, service_id, channel, from_agency, entry_agency, standard, \
             quarter, ended_at_unix_ms, expires_at_unix_ms, responded) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
             ON CONFLICT (request_id, handoff_number) DO NOTHING",
        )
        .bind(&s.id).bind(&s.citizen_id).bind(&s.request_id).bind(s.number).bind(s.kind.code())
        .bind(&s.ended_as).bind(s.invited).bind(&s.agency).bind(&s.team).bind(&s.officer)
        .bind(&s.service_id).bind(s.channel.code()).bind(&s.from_agency).bind(&s.entry_agency)
        .bind(standard_code(s.standard)).bind(&s.quarter).bind(s.ended.unix_millis())
        .bind(s.expires.unix_millis()).bind(s.responded)
        .execute(conn).await?;
    });
    Ok(())
}

/// The subject of leg `number` of request `request_id` (0: the request), if it has ended.
pub async fn subject(
    tx: &mut Tx,
    request_id: &str,
    number: i64,
) -> StoreResult<Option<SubjectRecord>> {
    let row: Option<SubjectRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBJECT_COLUMNS} FROM survey_subjects WHERE request_id = $1 AND handoff_number = $2"
        )))
        .bind(request_id).bind(number)
        .fetch_optional(conn).await?
    });
    row.map(decode_subject).transpose()
}

/// Marks subject `id` as responded to.
pub async fn mark_responded(tx: &mut Tx, id: &str) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query("UPDATE survey_subjects SET responded = TRUE WHERE id = $1")
            .bind(id).execute(conn).await?;
    });
    Ok(())
}

/// Which invitations of a citizen to list.
#[derive(Debug, Clone)]
pub struct InvitationQuery<'a> {
    pub citizen_id: &'a str,
    /// Only those an agency served or opened.
    pub agency: Option<&'a str>,
    /// Also answered ones and ones past their window (else only those open at `now`).
    pub include_closed: bool,
    pub now: Timestamp,
    /// After this (ended time, id) in newest-first order.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// A citizen's invitations, newest first.
pub async fn invitations(tx: &mut Tx, q: &InvitationQuery<'_>) -> StoreResult<Vec<SubjectRecord>> {
    let (after_at, after_id) = q.after.clone().unwrap_or((i64::MAX, String::new()));
    let rows: Vec<SubjectRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SUBJECT_COLUMNS} FROM survey_subjects WHERE citizen_id = $1 AND invited \
             AND ($2 = '' OR agency = $2 OR entry_agency = $2) \
             AND ($3 OR (NOT responded AND expires_at_unix_ms > $4)) \
             AND (ended_at_unix_ms < $5 OR (ended_at_unix_ms = $5 AND id < $6)) \
             ORDER BY ended_at_unix_ms DESC, id DESC LIMIT $7"
        )))
        .bind(q.citizen_id).bind(q.agency.unwrap_or("")).bind(q.include_closed)
        .bind(q.now.unix_millis()).bind(after_at).bind(after_id).bind(q.limit)
        .fetch_all(conn).await?
    });
    rows.into_iter().map(decode_subject).collect()
}

/// Whether a response with `key` exists.
pub async fn response_taken(tx: &mut Tx, key: &[u8]) -> StoreResult<bool> {
    let row: Option<(String,)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT id FROM survey_responses WHERE respondent_key = $1")
            .bind(key).fetch_optional(conn).await?
    });
    Ok(row.is_some())
}

/// Stores a response; `Conflict` when its respondent key is taken (a concurrent response).
pub async fn insert_response(tx: &mut Tx, r: &ResponseRecord) -> StoreResult<()> {
    let s = &r.segment;
    let score = |d: Driver| i64::from(r.scores.get(d).unwrap_or(0));
    let (key_id, nonce, ciphertext) = match &r.comment {
        Some(c) => (
            Some(c.key_id.as_str()),
            Some(c.nonce.as_slice()),
            Some(c.ciphertext.as_slice()),
        ),
        None => (None, None, None),
    };
    let outcome: StoreResult<()> = on_conn!(tx, conn, DB => {
        sqlx::query(
            "INSERT INTO survey_responses (id, respondent_key, kind, agency, team, officer, service_id, \
             channel, from_agency, standard, quarter, age_band, province, language, accessibility, \
             client_group, survey_channel, contacts, satisfaction, trust, effectiveness, ease, \
             efficiency, transparency, employees, value, comment_key_id, comment_nonce, \
             comment_ciphertext, recorded_on_unix_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)",
        )
        .bind(&r.id).bind(&r.respondent_key).bind(r.kind.code()).bind(&r.agency).bind(&r.team)
        .bind(&r.officer).bind(&r.service_id).bind(r.channel.code()).bind(&r.from_agency)
        .bind(standard_code(r.standard)).bind(&r.quarter)
        .bind(s.age_band.map_or("", AgeBand::code)).bind(s.province.map_or("", Province::code))
        .bind(s.language.map_or("", Language::code))
        .bind(s.accessibility.map_or("", AccessibilityStatus::code))
        .bind(s.client_group.map_or("", Circumstance::code))
        .bind(r.survey_channel.code()).bind(r.contacts)
        .bind(score(Driver::Satisfaction)).bind(score(Driver::Trust))
        .bind(score(Driver::Effectiveness)).bind(score(Driver::Ease))
        .bind(score(Driver::Efficiency)).bind(score(Driver::Transparency))
        .bind(score(Driver::Employees)).bind(score(Driver::Value))
        .bind(key_id).bind(nonce).bind(ciphertext).bind(r.recorded_on.unix_millis())
        .execute(conn).await.map(drop).map_err(StoreError::from)
    });
    outcome.map_err(|error| match error {
        StoreError::UniqueViolation { .. } => StoreError::Conflict(sqlx::Error::Protocol(
            "a concurrent response took the respondent's key".to_owned(),
        )),
        other => other,
    })
}

/// What a report reads: the subject kind, the dimensions to group by, and optionally one agency
/// (its rows only; never for pair groupings, whose suppression spans agencies).
#[derive(Debug, Clone)]
pub struct TallyQuery<'a> {
    pub kind: SubjectKind,
    pub dimensions: &'a [Dimension],
    pub agency: Option<&'a str>,
}

/// The condition on one agency, written only when there is one, so that the planner uses the
/// `(agency, quarter)` index (a generic `$2 = '' OR agency = $2` keeps PostgreSQL from it).
fn agency_filter(agency: Option<&str>) -> &'static str {
    if agency.is_some() {
        " AND agency = $2"
    } else {
        ""
    }
}

fn group_columns(dimensions: &[Dimension]) -> String {
    dimensions
        .iter()
        .map(|d| d.code())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The responses' tallies per group: responses, every driver's distribution and the contacts.
pub async fn response_tallies(
    tx: &mut Tx,
    q: &TallyQuery<'_>,
) -> StoreResult<Vec<(Vec<String>, Tally)>> {
    let columns = group_columns(q.dimensions);
    let mut sums = Vec::new();
    for d in Driver::ALL {
        for score in 1..=5 {
            sums.push(format!(
                "CAST(SUM(CASE WHEN {} = {score} THEN 1 ELSE 0 END) AS BIGINT)",
                d.code()
            ));
        }
    }
    let sql = format!(
        "SELECT {columns}, COUNT(*), CAST(SUM(contacts) AS BIGINT), \
         CAST(SUM(CASE WHEN contacts > 0 THEN 1 ELSE 0 END) AS BIGINT), {} \
         FROM survey_responses WHERE kind = $1{} GROUP BY {columns}",
        sums.join(", "),
        agency_filter(q.agency)
    );
    let rows = grouped(tx, sql, q).await?;
    Ok(rows
        .into_iter()
        .map(|(key, v)| {
            let mut tally = Tally {
                responses: v[0],
                contacts: v[1],
                contacts_said: v[2],
                ..Tally::default()
            };
            for (d, counts) in tally.distribution.iter_mut().enumerate() {
                for (s, count) in counts.iter_mut().enumerate() {
                    *count = v[3 + d * 5 + s];
                }
            }
            (key, tally)
        })
        .collect())
}

/// Runs a grouped aggregate `sql` of `q` (its kind bound as `$1`, its agency as `$2` when it has
/// one) whose columns are the dimensions' keys then integers: each row's key and integers.
async fn grouped(
    tx: &mut Tx,
    sql: String,
    q: &TallyQuery<'_>,
) -> StoreResult<Vec<(Vec<String>, Vec<i64>)>> {
    let n = q.dimensions.len();
    let rows = on_conn!(tx, conn, DB => {
        use sqlx::Row as _;
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(q.kind.code());
        if let Some(agency) = q.agency {
            query = query.bind(agency);
        }
        let rows = query.fetch_all(conn).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut key = Vec::with_capacity(n);
            for i in 0..n {
                key.push(row.try_get::<String, _>(i)?);
            }
            let mut values = Vec::with_capacity(row.len() - n);
            for i in n..row.len() {
                values.push(row.try_get::<i64, _>(i)?);
            }
            out.push((key, values));
        }
        out
    });
    Ok(rows)
}

/// The subjects' tallies per group (never by a segment): ended, invited, with a standard, met.
pub async fn subject_tallies(
    tx: &mut Tx,
    q: &TallyQuery<'_>,
) -> StoreResult<Vec<(Vec<String>, Tally)>> {
    let columns = group_columns(q.dimensions);
    let sql = format!(
        "SELECT {columns}, COUNT(*), CAST(SUM(CASE WHEN invited THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN standard <> '' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN standard = 'met' THEN 1 ELSE 0 END) AS BIGINT) \
         FROM survey_subjects WHERE kind = $1{} GROUP BY {columns}",
        agency_filter(q.agency)
    );
    let rows = grouped(tx, sql, q).await?;
    Ok(rows
        .into_iter()
        .map(|(key, v)| {
            let tally = Tally {
                ended: v[0],
                offered: v[1],
                with_standard: v[2],
                met: v[3],
                ..Tally::default()
            };
            (key, tally)
        })
        .collect())
}

/// Which responses key drivers read: one kind, optionally one agency, service and quarter.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub kind: SubjectKind,
    pub agency: Option<&'a str>,
    pub service_id: Option<&'a str>,
    pub quarter: Option<&'a str>,
}

/// The responses in `scope`, and each driver's sums with satisfaction and with value (value's own
/// sums with value left empty).
pub async fn driver_sums(
    tx: &mut Tx,
    scope: &Scope<'_>,
) -> StoreResult<(i64, Vec<crate::domain::drivers::DriverSums>)> {
    use crate::domain::drivers::{DriverSums, PairSums};
    let drivers: Vec<Driver> = Driver::ALL
        .iter()
        .copied()
        .filter(|d| *d != Driver::Satisfaction)
        .collect();
    let mut columns = Vec::new();
    for d in &drivers {
        for outcome in [Driver::Satisfaction, Driver::Value] {
            let (x, y) = (d.code(), outcome.code());
            let both = format!("{x} > 0 AND {y} > 0");
            for expr in [
                "1",
                x,
                y,
                &format!("{x} * {x}"),
                &format!("{y} * {y}"),
                &format!("{x} * {y}"),
            ] {
                columns.push(format!(
                    "CAST(SUM(CASE WHEN {both} THEN {expr} ELSE 0 END) AS BIGINT)"
                ));
            }
        }
    }
    let sql = format!(
        "SELECT COUNT(*), {} FROM survey_responses WHERE kind = $1 AND ($2 = '' OR agency = $2) \
         AND ($3 = '' OR service_id = $3) AND ($4 = '' OR quarter = $4)",
        columns.join(", ")
    );
    let (agency, service, quarter) = (
        scope.agency.unwrap_or(""),
        scope.service_id.unwrap_or(""),
        scope.quarter.unwrap_or(""),
    );
    let values: Vec<i64> = on_conn!(tx, conn, DB => {
        use sqlx::Row as _;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scope.kind.code()).bind(agency).bind(service).bind(quarter)
            .fetch_one(conn).await?;
        let mut values = Vec::with_capacity(1 + columns.len());
        for i in 0..=columns.len() {
            values.push(row.try_get::<Option<i64>, _>(i)?.unwrap_or(0));
        }
        values
    });
    let pair = |at: usize| PairSums {
        n: values[at],
        sx: values[at + 1],
        sy: values[at + 2],
        sxx: values[at + 3],
        syy: values[at + 4],
        sxy: values[at + 5],
    };
    let sums = drivers
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let at = 1 + i * 12;
            DriverSums {
                driver: *d,
                with_satisfaction: pair(at),
                with_value: if *d == Driver::Value {
                    PairSums::default()
                } else {
                    pair(at + 6)
                },
            }
        })
        .collect();
    Ok((values[0], sums))
}

/// Per agency, service and quarter (of `quarters`), every driver's moments (count, sum, sum of
/// squares of the scores given), over leg responses.
pub async fn driver_moments(
    tx: &mut Tx,
    quarters: [&str; 2],
) -> StoreResult<
    Vec<(
        (String, String, String),
        Vec<crate::domain::warnings::Moments>,
    )>,
> {
    use crate::domain::warnings::Moments;
    let mut columns = Vec::new();
    for d in Driver::ALL {
        let x = d.code();
        columns.push(format!(
            "CAST(SUM(CASE WHEN {x} > 0 THEN 1 ELSE 0 END) AS BIGINT), CAST(SUM({x}) AS BIGINT), \
             CAST(SUM({x} * {x}) AS BIGINT)"
        ));
    }
    let sql = format!(
        "SELECT agency, service_id, quarter, {} FROM survey_responses \
         WHERE kind = 'handoff' AND quarter IN ($1, $2) GROUP BY agency, service_id, quarter",
        columns.join(", ")
    );
    let rows = on_conn!(tx, conn, DB => {
        use sqlx::Row as _;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(quarters[0]).bind(quarters[1])
            .fetch_all(conn).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let key = (row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?, row.try_get::<String, _>(2)?);
            let mut moments = Vec::with_capacity(Driver::ALL.len());
            for d in 0..Driver::ALL.len() {
                moments.push(Moments {
                    n: row.try_get(3 + d * 3)?,
                    sum: row.try_get(4 + d * 3)?,
                    sum_sq: row.try_get(5 + d * 3)?,
                });
            }
            out.push((key, moments));
        }
        out
    });
    Ok(rows)
}

/// Per (from-agency, to-agency), the legs of `quarter` that were answered (completed or declined)
/// and of those the declined.
pub async fn pair_declines(
    tx: &mut Tx,
    quarter: &str,
) -> StoreResult<Vec<(String, String, i64, i64)>> {
    let rows: Vec<(String, String, i64, i64)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT from_agency, agency, COUNT(*), \
             CAST(SUM(CASE WHEN ended_as = 'declined' THEN 1 ELSE 0 END) AS BIGINT) \
             FROM survey_subjects WHERE kind = 'handoff' AND quarter = $1 \
             AND ended_as IN ('completed', 'declined') GROUP BY from_agency, agency",
        )
        .bind(quarter)
        .fetch_all(conn).await?
    });
    Ok(rows)
}

/// The first and last opening time of the requests (of `service`, by their first leg), if any.
pub async fn request_span(tx: &mut Tx, service: Option<&str>) -> StoreResult<Option<(i64, i64)>> {
    let row: (Option<i64>, Option<i64>) = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT MIN(r.created_at_unix_ms), MAX(r.created_at_unix_ms) FROM requests r \
             JOIN handoffs h ON h.request_id = r.id AND h.number = 1 \
             WHERE ($1 = '' OR h.service_id = $1)",
        )
        .bind(service.unwrap_or(""))
        .fetch_one(conn).await?
    });
    Ok(row.0.zip(row.1))
}

/// Requests per (service of the first leg, entry channel, quarter), where `quarters` are
/// (label, first instant, end) spans that the opening times fall in.
pub async fn request_channels(
    tx: &mut Tx,
    service: Option<&str>,
    quarters: &[(String, i64, i64)],
) -> StoreResult<Vec<(String, String, String, i64)>> {
    if quarters.is_empty() {
        return Ok(Vec::new());
    }
    let cases: String = quarters
        .iter()
        .filter(|(label, _, _)| label.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|(label, from, to)| {
            format!("WHEN r.created_at_unix_ms >= {from} AND r.created_at_unix_ms < {to} THEN '{label}' ")
        })
        .collect();
    let sql = format!(
        "SELECT service_id, entry_channel, quarter, COUNT(*) FROM (SELECT h.service_id, r.entry_channel, \
         CASE {cases}ELSE '' END AS quarter FROM requests r \
         JOIN handoffs h ON h.request_id = r.id AND h.number = 1 \
         WHERE ($1 = '' OR h.service_id = $1)) q GROUP BY service_id, entry_channel, quarter"
    );
    let rows: Vec<(String, String, String, i64)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(service.unwrap_or(""))
            .fetch_all(conn).await?
    });
    Ok(rows)
}
