//! The transaction entry point: every read and write of the store runs as a unit of work, a
//! function over an open transaction, that [`Store::read`](super::Store::read) or
//! [`Store::write`](super::Store::write) runs inside a transaction they control.
//!
//! The entry point owns BEGIN (isolation, locks, the call's deadline), COMMIT, ROLLBACK and, on
//! PostgreSQL, the retries after a serialization failure. Units of work never begin or commit; they may run many
//! statements on many aggregates, all committed together or not at all. A unit of work may run
//! more than once (after a conflict), so it must not have effects outside the transaction.

use std::pin::Pin;

use sqlx::{Postgres, Sqlite};

use super::StoreResult;

/// A boxed future, as units of work return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An open transaction, handed to a unit of work. Aggregate SQL runs on it.
pub struct Tx {
    pub(super) conn: TxConn,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.conn {
            TxConn::Sqlite(_) => "sqlite",
            TxConn::Postgres(_) => "postgres",
        };
        f.debug_struct("Tx").field("backend", &backend).finish()
    }
}

/// The backend's transaction.
pub(super) enum TxConn {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// What a transaction may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reads only, from one consistent snapshot.
    Read,
    /// Reads and writes, serialisable: SQLite takes the write lock at BEGIN (`BEGIN IMMEDIATE`);
    /// PostgreSQL runs `SERIALIZABLE` and the entry point retries serialization failures.
    Write,
    /// Reads and writes at `READ COMMITTED` on PostgreSQL (each statement sees what committed
    /// before it), for units whose every conflict is caught by a conditional update, a row lock
    /// or a unique key, and reported as [`StoreError::Conflict`](super::StoreError::Conflict) so
    /// the entry point retries them: the hot, many-caller aggregates, which serialisable
    /// predicate locks would abort on false conflicts. On SQLite, the same as `Write`.
    Committed,
    /// `Committed`, holding `Lock` from BEGIN to the end: for work one process at a time may do
    /// (sequencers). On SQLite, the same as `Write` (the writer is already alone).
    Locked(Lock),
}

/// Locks a unit of work can take for the rest of its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// Serialises catalogue imports across processes and replicas.
    CatalogImport,
    /// Serialises the access log's sequencer (one tree, positions without gaps).
    AccessLogSequencer,
    /// Serialises the change notices' sequencer.
    ChangeNoticeSequencer,
    /// Serialises the request events' sequencer.
    RequestEventSequencer,
    /// Serialises the sweep that ends waits past their limit.
    WaitSweep,
    /// Serialises the early warnings job.
    EarlyWarnings,
}

impl Lock {
    /// The PostgreSQL advisory lock key.
    pub(super) fn key(self) -> i64 {
        match self {
            Lock::CatalogImport => 0x5357_4341_5441_4c47, // "SWCATALG"
            Lock::AccessLogSequencer => 0x5357_4143_4c4f_4753, // "SWACLOGS"
            Lock::ChangeNoticeSequencer => 0x5357_4e4f_5449_4345, // "SWNOTICE"
            Lock::RequestEventSequencer => 0x5357_5245_5145_5654, // "SWREQEVT"
            Lock::WaitSweep => 0x5357_5741_4954_5357,     // "SWWAITSW"
            Lock::EarlyWarnings => 0x5357_5741_524e_494e, // "SWWARNIN"
        }
    }
}

impl Tx {
    /// Takes `lock` until the transaction ends. On SQLite a write transaction already holds the
    /// database's write lock, so this only matters on PostgreSQL (an advisory transaction lock).
    pub async fn lock(&mut self, lock: Lock) -> StoreResult<()> {
        match &mut self.conn {
            TxConn::Sqlite(_) => Ok(()),
            TxConn::Postgres(tx) => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock.key())
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }
    }

    /// Tells every process listening on `channel` (other replicas' feeds) `payload` when the
    /// transaction commits; nothing on SQLite, whose readers are all in this process.
    pub async fn notify(&mut self, channel: &str, payload: &str) -> StoreResult<()> {
        match &mut self.conn {
            TxConn::Sqlite(_) => Ok(()),
            TxConn::Postgres(tx) => {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(channel)
                    .bind(payload)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }
    }

    pub(super) async fn commit(self) -> StoreResult<()> {
        match self.conn {
            TxConn::Sqlite(tx) => tx.commit().await?,
            TxConn::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Runs `$body` with `$conn` bound to the transaction's connection and `$db` to its database
/// type, whichever the backend, so that SQL shared by both backends is written once.
macro_rules! on_conn {
    ($tx:expr, $conn:ident, $db:ident => $body:expr) => {
        match &mut $tx.conn {
            $crate::store::tx::TxConn::Sqlite(t) => {
                #[allow(dead_code)]
                type $db = sqlx::Sqlite;
                let $conn: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::store::tx::TxConn::Postgres(t) => {
                #[allow(dead_code)]
                type $db = sqlx::Postgres;
                let $conn: &mut sqlx::PgConnection = &mut **t;
                $body
            }
        }
    };
}
pub(super) use on_conn;
