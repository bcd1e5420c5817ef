//! The access log's and change notices' SQL, identical on both backends.
//!
//! Events are written by the calls that cause them, in their transactions, without a number or a
//! position. The sequencer ([`sequence_events`]) later numbers and positions them in one
//! transaction that holds its lock (an advisory lock on PostgreSQL, the single writer on SQLite),
//! after they committed: a position is never given to a row that a concurrent transaction could
//! still commit before it, so readers that resume after a position never skip a row.

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::{
    audit::merkle::Frontier,
    domain::{
        access::{AccessEvent, Action, Actor, Outcome},
        consent::{Categories, Purpose},
        time::Timestamp,
    },
};

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    citizen_id: String,
    number: Option<i64>,
    leaf_index: Option<i64>,
    actor: String,
    officer: String,
    representative: String,
    action: String,
    purpose: String,
    categories: String,
    outcome: String,
    at_unix_ms: i64,
    request_id: String,
}

const EVENT_COLUMNS: &str = "id, citizen_id, number, leaf_index, actor, officer, representative, \
     action, purpose, categories, outcome, at_unix_ms, request_id";

fn decode(row: EventRow) -> StoreResult<AccessEvent> {
    let corrupt = |what: &str| {
        StoreError::Corrupt(format!(
            "access event `{}` of `{}`: unreadable {what}",
            row.id, row.citizen_id
        ))
    };
    Ok(AccessEvent {
        action: Action::from_code(&row.action).ok_or_else(|| corrupt("action"))?,
        purpose: match row.purpose.as_str() {
            "" => None,
            code => Some(Purpose::from_code(code).ok_or_else(|| corrupt("purpose"))?),
        },
        categories: Categories::from_codes(&row.categories).ok_or_else(|| corrupt("categories"))?,
        outcome: Outcome::from_code(&row.outcome).ok_or_else(|| corrupt("outcome"))?,
        id: row.id,
        citizen_id: row.citizen_id,
        number: row.number.unwrap_or(0),
        leaf_index: row.leaf_index,
        actor: Actor {
            principal: row.actor,
            officer: row.officer,
            representative: row.representative,
        },
        at: Timestamp::from_unix_millis(row.at_unix_ms),
        request_id: row.request_id,
    })
}

/// Appends `event` (by its id), not yet numbered nor sequenced: one insert, which conflicts with
/// nothing.
pub async fn append(tx: &mut Tx, event: &AccessEvent) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO access_events ({EVENT_COLUMNS}) VALUES ($1, $2, NULL, NULL, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )))
        .bind(&event.id)
        .bind(&event.citizen_id)
        .bind(&event.actor.principal)
        .bind(&event.actor.officer)
        .bind(&event.actor.representative)
        .bind(event.action.code())
        .bind(event.purpose.map_or("", Purpose::code))
        .bind(event.categories.codes())
        .bind(event.outcome.code())
        .bind(event.at.unix_millis())
        .bind(&event.request_id)
        .execute(conn)
        .await?;
    });
    Ok(())
}

/// Records in the service's own audit trail an access that concerns no existing citizen.
pub async fn audit_trail(
    tx: &mut Tx,
    id: &str,
    actor: &Actor,
    action: Action,
    target: &str,
    at: Timestamp,
    request_id: &str,
) -> StoreResult<()> {
    audit(
        tx,
        id,
        (actor, action, Outcome::Denied),
        target,
        at,
        request_id,
    )
    .await
}

/// Records in the service's audit trail that `actor` did `action` on `target` with `outcome`
/// (reads that concern no citizen, such as an auditor's unsuppressed report).
pub async fn audit(
    tx: &mut Tx,
    id: &str,
    (actor, action, outcome): (&Actor, Action, Outcome),
    target: &str,
    at: Timestamp,
    request_id: &str,
) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query(
            "INSERT INTO service_audit (id, at_unix_ms, actor, officer, action, target, outcome, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id).bind(at.unix_millis()).bind(&actor.principal).bind(&actor.officer)
        .bind(action.code()).bind(target).bind(outcome.code()).bind(request_id)
        .execute(conn).await?;
    });
    Ok(())
}

/// A citizen's numbered events after number `after`, in order, at most `limit`.
pub async fn list(
    tx: &mut Tx,
    citizen_id: &str,
    after: i64,
    limit: i64,
) -> StoreResult<Vec<AccessEvent>> {
    let rows: Vec<EventRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM access_events WHERE citizen_id = $1 AND number > $2 \
             ORDER BY number LIMIT $3"
        )))
        .bind(citizen_id).bind(after).bind(limit).fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}

/// Every sequenced event from leaf index `from`, in leaf order, at most `limit` (an auditor's
/// export of the whole log).
pub async fn list_sequenced(tx: &mut Tx, from: i64, limit: i64) -> StoreResult<Vec<AccessEvent>> {
    let rows: Vec<EventRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM access_events WHERE leaf_index >= $1 \
             ORDER BY leaf_index LIMIT $2"
        )))
        .bind(from).bind(limit).fetch_all(conn).await?
    });
    rows.into_iter().map(decode).collect()
}

/// The tree's leaf hashes, in order (the whole tree).
pub async fn leaves(tx: &mut Tx) -> StoreResult<Vec<[u8; 32]>> {
    let rows: Vec<(i64, Vec<u8>)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT leaf_index, leaf_hash FROM access_log_leaves ORDER BY leaf_index")
            .fetch_all(conn).await?
    });
    rows.into_iter()
        .enumerate()
        .map(|(i, (index, hash))| {
            if index != i as i64 {
                return Err(StoreError::Corrupt(format!(
                    "access log leaf {i} is missing"
                )));
            }
            <[u8; 32]>::try_from(hash.as_slice())
                .map_err(|_| StoreError::Corrupt(format!("access log leaf {i} is not a hash")))
        })
        .collect()
}

/// The tree's frontier as stored, rebuilt from the leaves when it is missing or disagrees with
/// them.
async fn frontier(tx: &mut Tx) -> StoreResult<Frontier> {
    let (size, stored): ((i64,), Option<(i64, Vec<u8>)>) = on_conn!(tx, conn, DB => {
        let size: (i64,) = sqlx::query_as("SELECT COALESCE(MAX(leaf_index) + 1, 0) FROM access_log_leaves").fetch_one(&mut *conn).await?;
        let stored: Option<(i64, Vec<u8>)> = sqlx::query_as("SELECT tree_size, roots FROM access_log_frontier WHERE id = 1").fetch_optional(&mut *conn).await?;
        (size, stored)
    });
    match stored.and_then(|(n, roots)| Frontier::from_parts(n as u64, &roots)) {
        Some(f) if f.size() == size.0 as u64 => Ok(f),
        _ => Ok(Frontier::of(&leaves(tx).await?)),
    }
}

/// Numbers the oldest unsequenced events (at most `limit`) after their citizen's last, gives them
/// the next leaf indexes in the same order (by time, then id), and stores their leaf hashes from
/// `hash` and the tree's new frontier. Run it holding the sequencer's lock
/// ([`Lock::AccessLogSequencer`](crate::store::Lock::AccessLogSequencer)). Returns the tree's
/// size and root after.
pub async fn sequence_events(
    tx: &mut Tx,
    limit: i64,
    hash: impl Fn(&AccessEvent) -> [u8; 32],
) -> StoreResult<(i64, [u8; 32])> {
    let mut frontier = frontier(tx).await?;
    let rows: Vec<EventRow> = on_conn!(tx, conn, DB => {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM access_events WHERE leaf_index IS NULL \
             ORDER BY at_unix_ms, id LIMIT $1"
        )))
        .bind(limit).fetch_all(&mut *conn).await?
    });
    if rows.is_empty() {
        return Ok((frontier.size() as i64, frontier.root()));
    }
    let mut numbers: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for row in rows {
        let mut event = decode(row)?;
        let number = match numbers.get(&event.citizen_id) {
            Some(n) => n + 1,
            None => {
                let (last,): (i64,) = on_conn!(tx, conn, DB => {
                    sqlx::query_as("SELECT COALESCE(MAX(number), 0) FROM access_events WHERE citizen_id = $1")
                        .bind(&event.citizen_id).fetch_one(conn).await?
                });
                last + 1
            }
        };
        numbers.insert(event.citizen_id.clone(), number);
        event.number = number;
        let leaf = hash(&event);
        let index = frontier.size() as i64;
        on_conn!(tx, conn, DB => {
            sqlx::query("UPDATE access_events SET number = $2, leaf_index = $3 WHERE id = $1")
                .bind(&event.id).bind(number).bind(index).execute(&mut *conn).await?;
            sqlx::query("INSERT INTO access_log_leaves (leaf_index, leaf_hash) VALUES ($1, $2)")
                .bind(index).bind(leaf.as_slice()).execute(&mut *conn).await?;
        });
        frontier.push(leaf);
    }
    on_conn!(tx, conn, DB => {
        sqlx::query("INSERT INTO access_log_frontier (id, tree_size, roots) VALUES (1, $1, $2) \
                     ON CONFLICT (id) DO UPDATE SET tree_size = excluded.tree_size, roots = excluded.roots")
            .bind(frontier.size() as i64).bind(frontier.to_bytes()).execute(conn).await?;
    });
    Ok((frontier.size() as i64, frontier.root()))
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tree_size: i64,
    pub root_hash: [u8; 32],
    pub note: String,
}

/// The checkpoint of the largest tree, if any.
pub async fn latest_checkpoint(tx: &mut Tx) -> StoreResult<Option<StoredCheckpoint>> {
    let row: Option<(i64, Vec<u8>, String)> = on_conn!(tx, conn, DB => {
        sqlx::query_as("SELECT tree_size, root_hash, note FROM access_log_checkpoints ORDER BY tree_size DESC LIMIT 1")
            .fetch_optional(conn).await?
    });
    row.map(|(tree_size, root, note)| {
        Ok(StoredCheckpoint {
            tree_size,
            root_hash: <[u8; 32]>::try_from(root.as_slice())
                .map_err(|_| StoreError::Corrupt("checkpoint root is not a hash".to_owned()))?,
            note,
        })
    })
    .transpose()
}

/// Stores a signed checkpoint.
pub async fn insert_checkpoint(
    tx: &mut Tx,
    checkpoint: &StoredCheckpoint,
    now: Timestamp,
) -> StoreResult<()> {
    on_conn!(tx, conn, DB => {
        sqlx::query("INSERT INTO access_log_checkpoints (tree_size, root_hash, note, created_at_unix_ms) VALUES ($1, $2, $3, $4)")
            .bind(checkpoint.tree_size).bind(checkpoint.root_hash.as_slice()).bind(&checkpoint.note).bind(now.unix_millis())
            .execute(conn).await?;
    });
    Ok(())
}
