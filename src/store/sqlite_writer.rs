//! SQLite's single writer with group commit: callers' write units of work queue to one task,
//! which runs as many as are waiting (up to [`MAX_BATCH`]) in one transaction, and answers each
//! caller only after the commit. One fsync serves the whole batch.
//!
//! - Units first run without savepoints (fewer statements); if one fails, the whole batch is
//!   rolled back and runs again with a savepoint per unit, where a unit that fails rolls back to
//!   its savepoint: only its own work is undone, the batch goes on, and its caller gets its error.
//! - A unit whose deadline passed before its turn is dropped without running. Once running, its
//!   statements are not interrupted: SQLite rolls back the whole transaction on an interrupt,
//!   which would undo the other callers' work; write statements are short, and the busy timeout
//!   bounds the wait for the write lock.
//! - If the commit fails, every unit of the batch gets the failure; nothing of it was written.
//! - A caller that leaves (cancelled) before its batch starts is skipped. A caller that stops
//!   waiting once its batch started (cancelled, or its deadline passed) may find its work
//!   committed anyway: writes that must not repeat carry a `request_id`.

use std::{any::Any, sync::Arc};

use sqlx::SqlitePool;
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use super::{
    BoxFuture, StoreError, StoreResult,
    tx::{Tx, TxConn},
};

/// Units of work at most in one transaction.
pub const MAX_BATCH: usize = 64;
/// Units of work waiting at most before callers wait to queue.
const QUEUE: usize = 1024;

type Output = Box<dyn Any + Send>;
type Run = Box<dyn for<'t> Fn(&'t mut Tx) -> BoxFuture<'t, StoreResult<Output>> + Send + Sync>;

/// One caller's unit of work.
pub(super) struct Job {
    deadline: Option<Instant>,
    run: Run,
    reply: oneshot::Sender<StoreResult<Output>>,
}

/// The handle callers submit work through.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

fn erase<I, T, F>(input: I, work: F) -> Run
where
    I: Send + Sync + 'static,
    T: Send + 'static,
    F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>> + Send + Sync + 'static,
{
    let shared = Arc::new((input, work));
    Box::new(move |tx: &mut Tx| {
        let shared = shared.clone();
        Box::pin(async move {
            let (input, work) = &*shared;
            work(tx, input).await.map(|out| Box::new(out) as Output)
        })
    })
}

impl Writer {
    /// Starts the writer task over `pool`.
    pub(super) fn start(pool: SqlitePool) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, queue));
        Self { jobs }
    }

    /// Runs `work` in the next batch and returns its result once the batch committed.
    pub(super) async fn write<I, T, F>(&self, input: I, work: F) -> StoreResult<T>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        F: for<'t> Fn(&'t mut Tx, &'t I) -> BoxFuture<'t, StoreResult<T>> + Send + Sync + 'static,
    {
        let deadline = crate::deadline::current();
        let (reply, answer) = oneshot::channel();
        let job = Job {
            deadline,
            run: erase(input, work),
            reply,
        };
        let closed = || StoreError::Unavailable(sqlx::Error::PoolClosed);
        let wait = async {
            self.jobs.send(job).await.map_err(|_| closed())?;
            answer.await.map_err(|_| closed())?
        };
        let output = match deadline {
            Some(at) => tokio::time::timeout_at(at, wait)
                .await
                .map_err(|_| StoreError::DeadlineExceeded)??,
            None => wait.await?,
        };
        Ok(*output
            .downcast::<T>()
            .expect("a unit of work's answer has its own type"))
    }
}

async fn run(pool: SqlitePool, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&pool, batch).await;
    }
}

/// A copy of a batch-wide failure for each of its callers (driver errors are not `Clone`; the
/// copy keeps the kind, which is what callers act on).
fn for_each_caller(error: &StoreError) -> StoreError {
    let cause = std::error::Error::source(error).map_or_else(String::new, |s| format!(" ({s})"));
    let text = || sqlx::Error::Protocol(format!("{error}{cause}"));
    match error {
        StoreError::Unavailable(_) => StoreError::Unavailable(text()),
        StoreError::Busy(_) => StoreError::Busy(text()),
        StoreError::Full(_) => StoreError::Full(text()),
        StoreError::Conflict(_) => StoreError::Conflict(text()),
        StoreError::DeadlineExceeded => StoreError::DeadlineExceeded,
        _ => StoreError::Database(text()),
    }
}

async fn savepoint(tx: &mut Tx, sql: &'static str) -> StoreResult<()> {
    let TxConn::Sqlite(t) = &mut tx.conn else {
        unreachable!("the SQLite writer holds a SQLite transaction")
    };
    sqlx::query(sql).execute(&mut **t).await?;
    Ok(())
}

async fn commit_batch(pool: &SqlitePool, batch: Vec<Job>) {
    let live: Vec<Job> = batch.into_iter().filter_map(still_wanted).collect();
    if live.is_empty() {
        return;
    }
    // Optimistically without savepoints (two statements fewer per unit); if a unit fails, the
    // whole batch is rolled back and runs again, each unit under its own savepoint.
    if let Err(again) = run_batch(pool, live, false).await {
        let _ = run_batch(pool, again, true).await;
    }
}

/// Runs `jobs` in one transaction and answers them after the commit. With `savepoints`, each unit
/// runs under its own and a failing one undoes only its own work. Without, the first unit that
/// fails rolls the batch back, and the jobs are handed back to run again (units may run more than
/// once); nobody has been answered then but callers whose deadline passed.
async fn run_batch(pool: &SqlitePool, jobs: Vec<Job>, savepoints: bool) -> Result<(), Vec<Job>> {
    crate::telemetry::metrics::group_commit(jobs.len());
    let mut tx = match pool.begin_with("BEGIN IMMEDIATE").await {
        Ok(t) => Tx {
            conn: TxConn::Sqlite(t),
        },
        Err(error) => {
            let error = StoreError::from(error);
            for job in jobs {
                let _ = job.reply.send(Err(for_each_caller(&error)));
            }
            return Ok(());
        }
    };
    let mut done: Vec<(Job, Output)> = Vec::with_capacity(jobs.len());
    let mut pending = jobs.into_iter();
    while let Some(job) = pending.next() {
        let Some(job) = still_wanted(job) else {
            continue;
        };
        let outcome = if savepoints {
            run_one(&mut tx, &job).await
        } else {
            Ok((job.run)(&mut tx).await)
        };
        match outcome {
            Ok(Ok(output)) => done.push((job, output)),
            Ok(Err(_)) if !savepoints => {
                // Dropping `tx` rolls back every unit of the batch; run them again, carefully.
                drop(tx);
                let again = done.into_iter().map(|(j, _)| j);
                return Err(again.chain(std::iter::once(job)).chain(pending).collect());
            }
            Ok(Err(error)) => {
                let _ = job.reply.send(Err(error));
            }
            Err(broken) => {
                // The savepoint machinery itself failed: the transaction is unusable.
                let rest = done.into_iter().map(|(j, _)| j.reply);
                for reply in rest
                    .chain(std::iter::once(job.reply))
                    .chain(pending.map(|j| j.reply))
                {
                    let _ = reply.send(Err(for_each_caller(&broken)));
                }
                return Ok(());
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for (job, output) in done {
                let _ = job.reply.send(Ok(output));
            }
        }
        Err(error) => {
            for (job, _) in done {
                let _ = job.reply.send(Err(for_each_caller(&error)));
            }
        }
    }
    Ok(())
}

/// `job`, unless its caller left (it is dropped) or its deadline passed (it is answered so);
/// checked when the batch starts and again at the job's turn.
fn still_wanted(job: Job) -> Option<Job> {
    if job.reply.is_closed() {
        return None;
    }
    if job.deadline.is_some_and(|d| d <= Instant::now()) {
        let _ = job.reply.send(Err(StoreError::DeadlineExceeded));
        return None;
    }
    Some(job)
}

/// Runs one unit under its own savepoint: `Ok(result)` with its work kept or rolled back, or
/// `Err` when the savepoint statements fail.
async fn run_one(tx: &mut Tx, job: &Job) -> StoreResult<StoreResult<Output>> {
    savepoint(tx, "SAVEPOINT sw_unit").await?;
    let result = (job.run)(tx).await;
    if result.is_err() {
        savepoint(tx, "ROLLBACK TO SAVEPOINT sw_unit").await?;
    }
    savepoint(tx, "RELEASE SAVEPOINT sw_unit").await?;
    Ok(result)
}
