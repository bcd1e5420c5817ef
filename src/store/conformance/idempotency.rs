//! The contract of idempotent writes: a retry replays, a reused id is refused, ids are per
//! caller, concurrent first calls apply once, and old answers are forgotten.

use crate::{
    domain::time::Timestamp,
    store::{
        SchemaStore as _, Store, StoreResult,
        idempotency_sql::{self, IdempotencyKey, Recalled},
        tx::{Tx, on_conn},
    },
};

fn key(caller: &str, request_id: &str) -> IdempotencyKey {
    IdempotencyKey {
        caller: caller.to_owned(),
        method: "/singlewindow.v1.Test/Create".to_owned(),
        request_id: request_id.to_owned(),
    }
}

/// A create: replays an earlier answer, or counts one more effect and remembers its answer.
async fn create(tx: &mut Tx, input: &(IdempotencyKey, [u8; 32])) -> StoreResult<Recalled> {
    let (key, digest) = input;
    let earlier = idempotency_sql::recall(tx, key, digest).await?;
    if earlier != Recalled::New {
        return Ok(earlier);
    }
    on_conn!(tx, conn, DB => sqlx::query("INSERT INTO conformance_effects (n) VALUES (1)")
        .execute(conn)
        .await
        .map(drop))?;
    let answer = format!("created for {}", key.request_id).into_bytes();
    idempotency_sql::remember(tx, key, digest, &answer, Timestamp::from_unix_millis(1_000)).await?;
    Ok(Recalled::New)
}

/// Migrates `store` and creates the table that counts effects.
async fn prepare(store: &Store) {
    store.migrate().await.expect("migrate");
    store
        .write((), |tx, ()| {
            Box::pin(async move {
                on_conn!(tx, conn, DB => sqlx::query(
                    "CREATE TABLE conformance_effects (n BIGINT NOT NULL)"
                )
                .execute(conn)
                .await
                .map(drop))?;
                Ok(())
            })
        })
        .await
        .expect("create the effects table");
}

async fn effects(store: &Store) -> i64 {
    store
        .read((), |tx, ()| {
            Box::pin(async move {
                Ok(on_conn!(tx, conn, DB => sqlx::query_scalar("SELECT COUNT(*) FROM conformance_effects")
                    .fetch_one(conn)
                    .await?))
            })
        })
        .await
        .expect("count effects")
}

/// A retry replays the first answer and changes nothing; the same id with another request is
/// refused; another caller's same id is its own.
pub async fn a_retried_request_id_replays_and_a_reused_one_is_refused(store: &Store) {
    prepare(store).await;
    let first = (key("agencies/cic", "r-1"), [1u8; 32]);
    let call = |input: (IdempotencyKey, [u8; 32])| {
        store.write(input, |tx, input| Box::pin(create(tx, input)))
    };
    assert_eq!(call(first.clone()).await.expect("first"), Recalled::New);
    assert_eq!(
        call(first.clone()).await.expect("retry"),
        Recalled::Replay(b"created for r-1".to_vec())
    );
    assert_eq!(effects(store).await, 1, "the retry changed nothing");
    let reused = (first.0.clone(), [2u8; 32]);
    assert_eq!(call(reused).await.expect("reused"), Recalled::Reused);
    let other_caller = (key("agencies/cra-arc", "r-1"), [2u8; 32]);
    assert_eq!(
        call(other_caller).await.expect("other caller"),
        Recalled::New
    );
    assert_eq!(effects(store).await, 2);
    let forgotten = store
        .write((), |tx, ()| {
            Box::pin(idempotency_sql::forget_before(
                tx,
                Timestamp::from_unix_millis(2_000),
            ))
        })
        .await
        .expect("forget");
    assert_eq!(forgotten, 2);
}

/// Concurrent first calls with one request id apply once, and all get the same answer.
pub async fn concurrent_first_calls_with_one_request_id_apply_once(store: &Store) {
    prepare(store).await;
    let input = (key("portals/p", "same"), [5u8; 32]);
    let outcomes: Vec<_> = (0..8)
        .map(|_| {
            let (store, input) = (store.clone(), input.clone());
            tokio::spawn(async move {
                store
                    .write(input, |tx, input| Box::pin(create(tx, input)))
                    .await
            })
        })
        .collect();
    let mut new = 0;
    for outcome in outcomes {
        match outcome
            .await
            .expect("task")
            .expect("every call is answered")
        {
            Recalled::New => new += 1,
            Recalled::Replay(answer) => assert_eq!(answer, b"created for same"),
            Recalled::Reused => panic!("the same request is not a reuse"),
        }
    }
    assert_eq!(new, 1, "exactly one call did the work");
    assert_eq!(effects(store).await, 1);
}
