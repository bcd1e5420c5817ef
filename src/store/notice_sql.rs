//! Change notices' SQL, identical on both backends. Notices are written without a position by the
//! updates that cause them; [`sequence`] gives positions after commit (see `access_sql`), so a
//! reader resuming after a position never skips a notice that committed late.

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::domain::{codes::coded_enum, time::Timestamp};

coded_enum! {
    /// What a change notice says changed.
    pub enum ChangeKind { Contact => "contact", Address => "address", Deceased => "deceased" }
}

/// A change notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: String,
    pub agency: String,
    pub citizen_id: String,
    pub kind: ChangeKind,
    pub at: Timestamp,
    pub position: Option<i64>,
}

/// Records a notice, not yet positioned.
pub async fn insert(tx: &mut Tx, notice: &Notice) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query("INSERT INTO change_notices (id, agency, citizen_id, kind, at_unix_ms, position) VALUES ($1, $2, $3, $4, $5, NULL)")
            .bind(&notice.id).bind(&notice.agency).bind(&notice.citizen_id).bind(notice.kind.code()).bind(notice.at.unix_millis())
            .execute(conn).await?;
    });
    Ok(())
}

/// Positions the oldest unpositioned notices (at most `limit`) after the last position ever given
/// (kept apart from the notices, which retention deletes); how many.
/// Run it holding the sequencer's lock ([`Lock::ChangeNoticeSequencer`](crate::store::Lock::ChangeNoticeSequencer)).
pub async fn sequence(tx: &mut Tx, limit: i64) -> StoreResult<u64> {
    sequence_table(tx, "change_notices", limit).await
}

/// Positions the oldest unpositioned rows of `table` (an outbox with `id`, `at_unix_ms` and
/// `position` columns, named also in `sequencer_state`) after the last position ever given, in
/// one statement, and tells other replicas that it did; how many.
pub(super) async fn sequence_table(
    tx: &mut Tx,
    table: &'static str,
    limit: i64,
) -> StoreResult<u64> {
    let done = on_conn!(tx, conn, DB => {
        let top: Option<(i64,)> = sqlx::query_as("SELECT position FROM sequencer_state WHERE name = $1")
            .bind(table).fetch_optional(&mut *conn).await?;
        let top = top.map_or(0, |(p,)| p);
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET position = numbered.position FROM \
             (SELECT id, $1 + ROW_NUMBER() OVER (ORDER BY at_unix_ms, id) AS position FROM {table} \
              WHERE position IS NULL ORDER BY at_unix_ms, id LIMIT $2) AS numbered \
             WHERE {table}.id = numbered.id"
        )))
        .bind(top).bind(limit).execute(&mut *conn).await?.rows_affected();
        if done > 0 {
            sqlx::query("INSERT INTO sequencer_state (name, position) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET position = excluded.position")
                .bind(table).bind(top + done as i64).execute(&mut *conn).await?;
        }
        done
    });
    if done > 0 {
        tx.notify(super::FEEDS_CHANNEL, table).await?;
    }
    Ok(done)
}

/// Every agency's positioned notices after `after`, in order, at most `limit`.
pub async fn notices_after(tx: &mut Tx, after: i64, limit: i64) -> StoreResult<Vec<Notice>> {
    let rows: Vec<(String, String, String, String, i64, Option<i64>)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT id, agency, citizen_id, kind, at_unix_ms, position FROM change_notices \
                        WHERE position > $1 ORDER BY position LIMIT $2")
            .bind(after).bind(limit).fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}

/// The newest position retained, if any notice is.
pub async fn newest_position(tx: &mut Tx) -> StoreResult<Option<i64>> {
    let (newest,): (Option<i64>,) = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT MAX(position) FROM change_notices").fetch_one(conn).await?
    });
    Ok(newest)
}

fn decode(
    (id, agency, citizen_id, kind, at, position): (
        String,
        String,
        String,
        String,
        i64,
        Option<i64>,
    ),
) -> StoreResult<Notice> {
    Ok(Notice {
        kind: ChangeKind::from_code(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("change notice `{id}`: unreadable kind")))?,
        id,
        agency,
        citizen_id,
        at: Timestamp::from_unix_millis(at),
        position,
    })
}

/// The oldest position retained, if any notice is.
pub async fn oldest_position(tx: &mut Tx) -> StoreResult<Option<i64>> {
    let (oldest,): (Option<i64>,) = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT MIN(position) FROM change_notices").fetch_one(conn).await?
    });
    Ok(oldest)
}

/// `agency`'s positioned notices after `after`, in order, at most `limit`.
pub async fn list(tx: &mut Tx, agency: &str, after: i64, limit: i64) -> StoreResult<Vec<Notice>> {
    let rows: Vec<(String, String, String, String, i64, Option<i64>)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT id, agency, citizen_id, kind, at_unix_ms, position FROM change_notices \
                        WHERE agency = $1 AND position > $2 ORDER BY position LIMIT $3")
            .bind(agency).bind(after).bind(limit).fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}

/// Forgets positioned notices older than `before`; how many.
pub async fn forget_before(tx: &mut Tx, before: Timestamp) -> StoreResult<u64> {
    let done = on_conn!(tx, conn, DB => {
        sqlx::query("DELETE FROM change_notices WHERE position IS NOT NULL AND at_unix_ms < $1")
            .bind(before.unix_millis()).execute(conn).await?.rows_affected()
    });
    Ok(done)
}
