//! Idempotent writes (AIP-155 `request_id`): within a unit of work, [`recall`] what an earlier
//! call with the same key answered, and [`remember`] this call's answer in the same transaction
//! as its effects, so that the answer is kept exactly when the effects are.
//!
//! A key is (caller, method, request id): request ids are scoped to the principal that sent them.
//! Concurrent first calls with one key: one commits; the other conflicts (its [`remember`] finds
//! the key taken, or PostgreSQL reports a serialization failure; the entry point retries both; on
//! SQLite the single writer runs them one after the other) and then recalls the first one's
//! answer.

use super::{
    StoreError, StoreResult,
    tx::{Tx, on_conn},
};
use crate::domain::time::Timestamp;

/// What identifies one idempotent call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The principal's name.
    pub caller: String,
    /// `/package.Service/Method`.
    pub method: String,
    pub request_id: String,
}

/// What an earlier call with the same key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recalled {
    /// No call with this key: do the work, then [`remember`] its answer.
    New,
    /// The same request was answered: return this encoded answer, do nothing.
    Replay(Vec<u8>),
    /// The key was used for another request: refuse (ALREADY_EXISTS).
    Reused,
}

/// The earlier call with `key`, compared with this request's digest.
pub async fn recall(
    tx: &mut Tx,
    key: &IdempotencyKey,
    request_sha256: &[u8; 32],
) -> StoreResult<Recalled> {
    let row: Option<(Vec<u8>, Vec<u8>)> = on_conn!(tx, conn, DB => {
        sqlx::query_as(
            "SELECT request_sha256, response FROM idempotent_requests \
             WHERE caller = $1 AND method = $2 AND request_id = $3",
        )
        .bind(&key.caller)
        .bind(&key.method)
        .bind(&key.request_id)
        .fetch_optional(conn)
        .await?
    });
    Ok(match row {
        None => Recalled::New,
        Some((digest, response)) if digest == request_sha256 => Recalled::Replay(response),
        Some(_) => Recalled::Reused,
    })
}

/// Keeps `response` as the answer to `key`; commits with the caller's unit of work. When a
/// concurrent call with the same key committed first, `Conflict`: the entry point runs the unit
/// again, and its [`recall`] then replays that call's answer.
pub async fn remember(
    tx: &mut Tx,
    key: &IdempotencyKey,
    request_sha256: &[u8; 32],
    response: &[u8],
    now: Timestamp,
) -> StoreResult<()> {
    let inserted = on_conn!(tx, conn, DB => {
        sqlx::query(
            "INSERT INTO idempotent_requests \
             (caller, method, request_id, request_sha256, response, created_at_unix_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (caller, method, request_id) DO NOTHING",
        )
        .bind(&key.caller)
        .bind(&key.method)
        .bind(&key.request_id)
        .bind(request_sha256.as_slice())
        .bind(response)
        .bind(now.unix_millis())
        .execute(conn)
        .await?
        .rows_affected()
    });
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(sqlx::Error::Protocol(
            "a concurrent call with the same request_id committed first".to_owned(),
        )))
    }
}

/// Forgets the answers kept since before `before` (the end of their retention); how many.
pub async fn forget_before(tx: &mut Tx, before: Timestamp) -> StoreResult<u64> {
    let done = on_conn!(tx, conn, DB => {
        sqlx::query("DELETE FROM idempotent_requests WHERE created_at_unix_ms < $1")
            .bind(before.unix_millis())
            .execute(conn)
            .await?
            .rows_affected()
    });
    Ok(done)
}
