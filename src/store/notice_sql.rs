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
    let done = on_conn!(tx, conn, DB => {
        let top: Option<(i64,)> = sqlx::query_as("SELECT position FROM sequencer_state WHERE name = 'change_notices'").fetch_optional(&mut *conn).await?;
        let top = top.map_or(0, |(p,)| p);
        let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM change_notices WHERE position IS NULL ORDER BY at_unix_ms, id LIMIT $1")
            .bind(limit).fetch_all(&mut *conn).await?;
        for (offset, (id,)) in ids.iter().enumerate() {
            sqlx::query("UPDATE change_notices SET position = $2 WHERE id = $1")
                .bind(id).bind(top + 1 + offset as i64).execute(&mut *conn).await?;
        }
        if !ids.is_empty() {
            sqlx::query("INSERT INTO sequencer_state (name, position) VALUES ('change_notices', $1) \
                         ON CONFLICT (name) DO UPDATE SET position = excluded.position")
                .bind(top + ids.len() as i64).execute(&mut *conn).await?;
        }
        ids.len() as u64
    });
    Ok(done)
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
    rows.into_iter()
        .map(|(id, agency, citizen_id, kind, at, position)| {
            Ok(Notice {
                kind: ChangeKind::from_code(&kind).ok_or_else(|| {
                    StoreError::Corrupt(format!("change notice `{id}`: unreadable kind"))
                })?,
                id,
                agency,
                citizen_id,
                at: Timestamp::from_unix_millis(at),
                position,
            })
        })
        .collect()
}

/// Forgets positioned notices older than `before`; how many.
pub async fn forget_before(tx: &mut Tx, before: Timestamp) -> StoreResult<u64> {
    let done = on_conn!(tx, conn, DB => {
        sqlx::query("DELETE FROM change_notices WHERE position IS NOT NULL AND at_unix_ms < $1")
            .bind(before.unix_millis()).execute(conn).await?.rows_affected()
    });
    Ok(done)
}
