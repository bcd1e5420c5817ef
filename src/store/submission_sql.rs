//! Form submissions' SQL, identical on both backends: the submission, its answers (one row each,
//! identifier and bank account values sealed and bound to the submission and path, never in
//! clear) and the write-backs it caused.

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::{
    domain::{catalog::Channel, codes::coded_enum, time::Timestamp},
    secrets::{Keyring, Sealed},
};

coded_enum! {
    /// What became of one write-back.
    pub enum WriteBackOutcome { Written => "written", Unchanged => "unchanged", NotPermitted => "not-permitted" }
}

/// One kept answer: its path, its field's ordinal in the version, and its stored text.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub path: String,
    pub ordinal: i64,
    pub value: String,
    /// Whether the value is sealed at rest.
    pub sealed: bool,
}

impl std::fmt::Debug for StoredAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAnswer")
            .field("path", &self.path)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// A write-back of one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteBackRecord {
    pub path: String,
    pub record_field: String,
    pub outcome: WriteBackOutcome,
}

/// A stored submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionRecord {
    pub id: String,
    pub form_id: String,
    pub version: i64,
    pub citizen_id: String,
    pub service_id: String,
    pub recipient: String,
    pub submitted_by: String,
    /// The submitting agency; empty for a portal.
    pub submitter_agency: String,
    pub channel: Channel,
    pub request_id: Option<String>,
    pub submitted: Timestamp,
    pub answers: Vec<StoredAnswer>,
    pub write_backs: Vec<WriteBackRecord>,
}

/// What a sealed answer is bound to.
fn binding(submission_id: &str, path: &str) -> Vec<u8> {
    format!("submissions/{submission_id}/answers/{path}").into_bytes()
}

/// Stores a submission with its answers and write-backs.
pub async fn insert(tx: &mut Tx, keys: &Keyring, s: &SubmissionRecord) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query("INSERT INTO form_submissions (id, form_id, version, citizen_id, service_id, recipient, submitted_by, \
                     submitter_agency, channel, request_id, submitted_at_unix_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(&s.id).bind(&s.form_id).bind(s.version).bind(&s.citizen_id).bind(&s.service_id).bind(&s.recipient)
            .bind(&s.submitted_by).bind(&s.submitter_agency).bind(s.channel.code()).bind(s.request_id.as_deref())
            .bind(s.submitted.unix_millis())
            .execute(&mut *conn).await?;
        for (position, a) in s.answers.iter().enumerate() {
            let sealed = a.sealed.then(|| keys.seal(a.value.as_bytes(), &binding(&s.id, &a.path)));
            sqlx::query("INSERT INTO submission_answers (submission_id, position, path, ordinal, value, key_id, nonce, ciphertext) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(&s.id).bind(position as i64).bind(&a.path).bind(a.ordinal)
                .bind((!a.sealed).then_some(a.value.as_str()))
                .bind(sealed.as_ref().map(|x| x.key_id.as_str()))
                .bind(sealed.as_ref().map(|x| x.nonce.clone()))
                .bind(sealed.as_ref().map(|x| x.ciphertext.clone()))
                .execute(&mut *conn).await?;
        }
        for (position, w) in s.write_backs.iter().enumerate() {
            sqlx::query("INSERT INTO submission_write_backs (submission_id, position, path, record_field, outcome) \
                         VALUES ($1, $2, $3, $4, $5)")
                .bind(&s.id).bind(position as i64).bind(&w.path).bind(&w.record_field).bind(w.outcome.code())
                .execute(&mut *conn).await?;
        }
    });
    Ok(())
}

type Row = (
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
);

const COLUMNS: &str = "id, form_id, version, citizen_id, service_id, recipient, submitted_by, submitter_agency, \
                       channel, request_id, submitted_at_unix_ms";

fn decode(row: Row) -> StoreResult<SubmissionRecord> {
    let (
        id,
        form_id,
        version,
        citizen_id,
        service_id,
        recipient,
        submitted_by,
        submitter_agency,
        channel,
        request_id,
        at,
    ) = row;
    Ok(SubmissionRecord {
        channel: Channel::from_code(&channel)
            .ok_or_else(|| StoreError::Corrupt(format!("submission `{id}`: unreadable channel")))?,
        id,
        form_id,
        version,
        citizen_id,
        service_id,
        recipient,
        submitted_by,
        submitter_agency,
        request_id,
        submitted: Timestamp::from_unix_millis(at),
        answers: Vec::new(),
        write_backs: Vec::new(),
    })
}

/// A submission of `form_id` with its answers (opened) and write-backs, if it exists.
pub async fn get(
    tx: &mut Tx,
    keys: &Keyring,
    form_id: &str,
    id: &str,
) -> StoreResult<Option<SubmissionRecord>> {
    let row: Option<Row> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM form_submissions WHERE id = $1 AND form_id = $2")))
            .bind(id).bind(form_id).fetch_optional(conn).await?
    });
    let Some(row) = row else {
        return Ok(None);
    };
    let mut s = decode(row)?;
    type AnswerRow = (
        String,
        i64,
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let (answers, write_backs): (Vec<AnswerRow>, Vec<(String, String, String)>) = on_conn!(tx, conn, DB => {
        let answers = sqlx::query_as("SELECT path, ordinal, value, key_id, nonce, ciphertext FROM submission_answers \
                                      WHERE submission_id = $1 ORDER BY position")
            .bind(id).fetch_all(&mut *conn).await?;
        let write_backs = sqlx::query_as("SELECT path, record_field, outcome FROM submission_write_backs \
                                          WHERE submission_id = $1 ORDER BY position")
            .bind(id).fetch_all(&mut *conn).await?;
        (answers, write_backs)
    });
    let corrupt = |what: &str| StoreError::Corrupt(format!("submission `{id}`: {what}"));
    for (path, ordinal, value, key_id, nonce, ciphertext) in answers {
        let (value, sealed) = match (value, key_id, nonce, ciphertext) {
            (Some(value), None, None, None) => (value, false),
            (None, Some(key_id), Some(nonce), Some(ciphertext)) => {
                let opened = keys
                    .open(
                        &Sealed {
                            key_id,
                            nonce,
                            ciphertext,
                        },
                        &binding(id, &path),
                    )
                    .map_err(|_| corrupt("a sealed answer does not open"))?;
                (
                    String::from_utf8(opened)
                        .map_err(|_| corrupt("a sealed answer is not text"))?,
                    true,
                )
            }
            _ => return Err(corrupt("an answer is neither clear nor sealed")),
        };
        s.answers.push(StoredAnswer {
            path,
            ordinal,
            value,
            sealed,
        });
    }
    for (path, record_field, outcome) in write_backs {
        s.write_backs.push(WriteBackRecord {
            path,
            record_field,
            outcome: WriteBackOutcome::from_code(&outcome)
                .ok_or_else(|| corrupt("unreadable write-back outcome"))?,
        });
    }
    Ok(Some(s))
}

/// Which submissions a list reads.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// One form's (`None`: every form's).
    pub form_id: Option<String>,
    pub citizen_id: Option<String>,
    /// Any of these services (empty: every service).
    pub services: Vec<String>,
    pub request_id: Option<String>,
    /// Only those an agency may read (it submitted them or owns their service).
    pub agency: Option<String>,
    /// Only those of these citizens (a portal's own and those it represents); `None`: no limit.
    pub citizens: Option<Vec<String>>,
}

/// Submissions matching `filter`, newest first, after the (time, id) cursor, at most `limit`,
/// without their answers.
pub async fn list(
    tx: &mut Tx,
    filter: &Filter,
    after: Option<(i64, String)>,
    limit: i64,
) -> StoreResult<Vec<SubmissionRecord>> {
    let mut sql = format!("SELECT {COLUMNS} FROM form_submissions WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    let bind = |value: &str, binds: &mut Vec<String>| {
        binds.push(value.to_owned());
        format!("${}", binds.len())
    };
    if let Some(form) = &filter.form_id {
        sql.push_str(&format!(" AND form_id = {}", bind(form, &mut binds)));
    }
    if let Some(citizen) = &filter.citizen_id {
        sql.push_str(&format!(" AND citizen_id = {}", bind(citizen, &mut binds)));
    }
    if !filter.services.is_empty() {
        let marks: Vec<String> = filter
            .services
            .iter()
            .map(|s| bind(s, &mut binds))
            .collect();
        sql.push_str(&format!(" AND service_id IN ({})", marks.join(", ")));
    }
    if let Some(request) = &filter.request_id {
        sql.push_str(&format!(" AND request_id = {}", bind(request, &mut binds)));
    }
    if let Some(agency) = &filter.agency {
        let a = bind(agency, &mut binds);
        let b = bind(agency, &mut binds);
        sql.push_str(&format!(" AND (recipient = {a} OR submitter_agency = {b})"));
    }
    if let Some(citizens) = &filter.citizens {
        if citizens.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = citizens.iter().map(|c| bind(c, &mut binds)).collect();
        sql.push_str(&format!(" AND citizen_id IN ({})", marks.join(", ")));
    }
    let n = binds.len();
    if after.is_some() {
        sql.push_str(&format!(
            " AND (submitted_at_unix_ms < ${} OR (submitted_at_unix_ms = ${} AND id < ${}))",
            n + 1,
            n + 1,
            n + 2
        ));
    }
    let limit_mark = n + if after.is_some() { 3 } else { 1 };
    sql.push_str(&format!(
        " ORDER BY submitted_at_unix_ms DESC, id DESC LIMIT ${limit_mark}"
    ));
    let rows: Vec<Row> = on_conn!(tx, conn, DB => {
        let mut query = sqlx::query_as::<DB, Row>(sqlx::AssertSqlSafe(sql));
        for value in &binds {
            query = query.bind(value);
        }
        if let Some((at, id)) = &after {
            query = query.bind(*at).bind(id);
        }
        query.bind(limit).fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}
