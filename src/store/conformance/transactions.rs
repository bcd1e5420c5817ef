//! The transaction entry point's contract: all or nothing, unique keys, retries, deadlines and
//! cancellation, checked on a scratch table each check creates.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    task::Poll,
    time::Duration,
};

use tokio::time::Instant;

use crate::{
    deadline,
    store::{
        Backend, BoxFuture, Store, StoreError, StoreResult,
        tx::{Tx, TxConn, on_conn},
    },
};

async fn create_scratch(store: &Store) {
    store
        .write((), |tx, ()| {
            Box::pin(async move {
                on_conn!(tx, conn, DB => sqlx::query(
                    "CREATE TABLE IF NOT EXISTS conformance_scratch (k TEXT PRIMARY KEY, v BIGINT NOT NULL)",
                )
                .execute(conn)
                .await
                .map(drop))?;
                Ok(())
            })
        })
        .await
        .expect("create the scratch table");
}

async fn insert(tx: &mut Tx, key: &str, value: i64) -> StoreResult<()> {
    on_conn!(tx, conn, DB => sqlx::query("INSERT INTO conformance_scratch (k, v) VALUES ($1, $2)")
        .bind(key)
        .bind(value)
        .execute(conn)
        .await
        .map(drop))?;
    Ok(())
}

async fn value(tx: &mut Tx, key: &str) -> StoreResult<Option<i64>> {
    Ok(
        on_conn!(tx, conn, DB => sqlx::query_scalar("SELECT v FROM conformance_scratch WHERE k = $1")
        .bind(key)
        .fetch_optional(conn)
        .await)?,
    )
}

async fn stored(store: &Store, key: &str) -> Option<i64> {
    store
        .read(key.to_owned(), |tx, key| Box::pin(value(tx, key)))
        .await
        .expect("read the scratch table")
}

/// Polls `future` until it has been woken `steps` times, then drops it (cancels it) unless it
/// completed first. Each wake-up is a real step of progress, not a busy poll.
pub(crate) async fn cancel_after<F: Future>(steps: usize, future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut polls = 0;
    std::future::poll_fn(|cx| {
        if polls == steps {
            return Poll::Ready(None);
        }
        polls += 1;
        future.as_mut().poll(cx).map(Some)
    })
    .await
}

/// A failing unit of work leaves nothing behind; a succeeding one commits every statement.
pub async fn a_unit_of_work_commits_all_or_nothing(store: &Store) {
    create_scratch(store).await;
    let failed = store
        .write((), |tx, ()| {
            Box::pin(async move {
                insert(tx, "a", 1).await?;
                insert(tx, "b", 2).await?;
                Err::<(), _>(StoreError::NotFound)
            })
        })
        .await;
    assert!(matches!(failed, Err(StoreError::NotFound)), "{failed:?}");
    assert_eq!(
        stored(store, "a").await,
        None,
        "a failed unit wrote nothing"
    );
    store
        .write((), |tx, ()| {
            Box::pin(async move {
                insert(tx, "a", 1).await?;
                insert(tx, "b", 2).await
            })
        })
        .await
        .expect("commit");
    assert_eq!(
        (stored(store, "a").await, stored(store, "b").await),
        (Some(1), Some(2))
    );
}

/// A second row with the same key is a `UniqueViolation`, not a driver error.
pub async fn unique_keys_are_reported_as_unique_violations(store: &Store) {
    create_scratch(store).await;
    let write = || store.write((), |tx, ()| Box::pin(insert(tx, "same", 1)));
    write().await.expect("first insert");
    let second = write().await;
    assert!(
        matches!(second, Err(StoreError::UniqueViolation { .. })),
        "{second:?}"
    );
}

/// Two writers that read and update one row concurrently both commit, one after a retry: the
/// entry point re-runs the loser (PostgreSQL serialization failure; SQLite serialises at BEGIN).
pub async fn a_serialization_conflict_is_retried_until_both_commit(store: &Store) {
    create_scratch(store).await;
    store
        .write((), |tx, ()| Box::pin(insert(tx, "counter", 0)))
        .await
        .expect("seed");
    let attempts = Arc::new(AtomicU32::new(0));
    // On PostgreSQL both first attempts read before either writes, so one must fail to serialise.
    let barrier =
        (store.backend() == Backend::Postgres).then(|| Arc::new(tokio::sync::Barrier::new(2)));
    let increment = || {
        let input = (attempts.clone(), barrier.clone());
        store.write(input, |tx, (attempts, barrier)| {
            Box::pin(async move {
                let first = attempts.fetch_add(1, Ordering::SeqCst) < 2;
                let current = value(tx, "counter").await?.unwrap_or_default();
                if let (true, Some(barrier)) = (first, barrier) {
                    barrier.wait().await;
                }
                on_conn!(tx, conn, DB => sqlx::query("UPDATE conformance_scratch SET v = $1 WHERE k = 'counter'")
                    .bind(current + 1)
                    .execute(conn)
                    .await
                    .map(drop))?;
                Ok(())
            })
        })
    };
    let (a, b) = tokio::join!(increment(), increment());
    a.expect("first writer");
    b.expect("second writer");
    assert_eq!(stored(store, "counter").await, Some(2), "no lost update");
    if store.backend() == Backend::Postgres {
        assert!(
            attempts.load(Ordering::SeqCst) >= 3,
            "the loser was retried"
        );
    }
}

/// A unit of work that only records that it ran.
fn flag_ran<'t>(_: &'t mut Tx, ran: &'t Arc<AtomicBool>) -> BoxFuture<'t, StoreResult<()>> {
    ran.store(true, Ordering::SeqCst);
    Box::pin(async { Ok(()) })
}

/// Runs [`flag_ran`], as a write or a read, under a deadline that has passed.
async fn under_a_passed_deadline(
    store: &Store,
    write: bool,
    ran: Arc<AtomicBool>,
) -> StoreResult<()> {
    deadline::scope(Instant::now(), async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        if write {
            store.write(ran, flag_ran).await
        } else {
            store.read(ran, flag_ran).await
        }
    })
    .await
}

/// A call whose deadline has passed gets `DeadlineExceeded` and its work never runs, for reads
/// and for writes.
pub async fn a_passed_deadline_refuses_work_before_it_starts(store: &Store) {
    let ran = Arc::new(AtomicBool::new(false));
    for write in [true, false] {
        let result = under_a_passed_deadline(store, write, ran.clone()).await;
        assert!(
            matches!(result, Err(StoreError::DeadlineExceeded)),
            "write {write}: {result:?}"
        );
    }
    assert!(!ran.load(Ordering::SeqCst), "no work ran");
}

/// A statement still running at the deadline is stopped by the database (not merely abandoned),
/// the call gets `DeadlineExceeded`, and the connection serves the next call.
pub async fn the_deadline_stops_a_long_statement_and_frees_its_connection(store: &Store) {
    let started = Instant::now();
    let result = deadline::scope(started + Duration::from_millis(300), async {
        store
            .read((), |tx, ()| {
                Box::pin(async move {
                    match &mut tx.conn {
                        TxConn::Postgres(t) => {
                            sqlx::query("SELECT pg_sleep(30)").execute(&mut **t).await?;
                        }
                        TxConn::Sqlite(t) => {
                            // Minutes of work for the virtual machine, interrupted at the deadline.
                            sqlx::query(
                                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 4000000000) SELECT count(*) FROM c",
                            )
                            .execute(&mut **t)
                            .await?;
                        }
                    }
                    Ok(())
                })
            })
            .await
    });
    let result = tokio::time::timeout(Duration::from_secs(25), result)
        .await
        .expect("the statement was stopped by the database, not left running");
    assert!(
        matches!(result, Err(StoreError::DeadlineExceeded)),
        "{result:?}"
    );
    store
        .ping()
        .await
        .expect("the connection serves the next call");
}

/// A write cancelled at any point leaves all of its work or none of it; and a caller cancelled
/// right after its unit wrote: on PostgreSQL the write is rolled back (the unit runs in the
/// caller's task), on SQLite the single writer finishes the unit and keeps its work (its outcome
/// is kept for a retry with the same request_id).
pub async fn a_unit_of_work_cancelled_after_writing_rolls_back(store: &Store) {
    create_scratch(store).await;
    for steps in 1..2000 {
        let work = store.write((), |tx, ()| {
            Box::pin(async move {
                insert(tx, "x", 1).await?;
                // Other work between statements, where a cancel can land mid-transaction.
                tokio::task::yield_now().await;
                insert(tx, "y", 2).await?;
                tokio::task::yield_now().await;
                value(tx, "x").await.map(drop)
            })
        });
        let completed = cancel_after(steps, work).await.is_some();
        match (stored(store, "x").await, stored(store, "y").await) {
            (Some(1), Some(2)) => break, // completed, or the cancel came too late
            (None, None) if !completed => {}
            other => panic!("a cancelled write left part of its work: {other:?}"),
        }
    }
    cancelled_right_after_writing(store).await;
}

async fn cancelled_right_after_writing(store: &Store) {
    type Signal = std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>;
    let (wrote, has_written) = tokio::sync::oneshot::channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let input: (Signal, Arc<tokio::sync::Notify>) = (Some(wrote).into(), release.clone());
    let work = store.write(input, |tx, (wrote, release)| {
        Box::pin(async move {
            insert(tx, "z", 1).await?;
            if let Some(wrote) = wrote.lock().expect("signal").take() {
                let _ = wrote.send(());
            }
            release.notified().await;
            Ok(())
        })
    });
    tokio::select! {
        _ = work => panic!("the unit finished before it was released"),
        _ = has_written => {} // the caller is dropped here, its unit having written
    }
    release.notify_one();
    match store.backend() {
        Backend::Postgres => {
            assert_eq!(
                stored(store, "z").await,
                None,
                "rolled back with its caller"
            );
        }
        Backend::Sqlite => {
            // The writer runs batches in turn: once a later write is answered, the abandoned
            // unit's batch has committed.
            store
                .write((), |tx, ()| Box::pin(insert(tx, "after", 1)))
                .await
                .expect("a later write");
            assert_eq!(stored(store, "z").await, Some(1), "kept by the writer");
        }
    }
    store.ping().await.expect("the store serves the next call");
}

/// Many writers at once all commit, each exactly once (on SQLite, in shared group commits).
pub async fn concurrent_writes_all_commit(store: &Store) {
    create_scratch(store).await;
    let writes =
        (0..50).map(|i| store.write(format!("w{i}"), move |tx, key| Box::pin(insert(tx, key, i))));
    for result in futures_join_all(writes).await {
        result.expect("every write commits");
    }
    for i in 0..50 {
        assert_eq!(stored(store, &format!("w{i}")).await, Some(i), "w{i}");
    }
}

/// A unit that fails, among concurrent ones, undoes only its own work.
pub async fn a_failing_unit_undoes_only_its_own_work(store: &Store) {
    create_scratch(store).await;
    store
        .write((), |tx, ()| Box::pin(insert(tx, "taken", 0)))
        .await
        .expect("a key to collide with");
    let good =
        (0..20).map(|i| store.write(format!("g{i}"), move |tx, key| Box::pin(insert(tx, key, i))));
    let bad = store.write((), |tx, ()| {
        Box::pin(async move {
            insert(tx, "bad", 1).await?;
            insert(tx, "taken", 99).await // a unique violation, after a write
        })
    });
    let (good, bad) = tokio::join!(futures_join_all(good), bad);
    assert!(
        matches!(bad, Err(StoreError::UniqueViolation { .. })),
        "{bad:?}"
    );
    assert_eq!(
        stored(store, "bad").await,
        None,
        "the failed unit's own write was undone"
    );
    for (i, result) in good.into_iter().enumerate() {
        result.expect("its neighbours commit");
        assert_eq!(stored(store, &format!("g{i}")).await, Some(i as i64));
    }
}

/// Awaits every future, concurrently, in order.
pub async fn futures_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => {
                        *result = Some(value);
                        *slot = None;
                    }
                    Poll::Pending => all = false,
                }
            }
        }
        if all { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    results.into_iter().map(|r| r.expect("completed")).collect()
}
