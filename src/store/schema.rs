//! Comparing the migrations a database has applied with the ones this binary embeds.

use std::fmt;

use sqlx::migrate::Migrator;

/// Where a database's schema stands against this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    /// Every embedded migration is applied and nothing else.
    Current,
    /// No migration was ever applied.
    Empty,
    /// Some embedded migrations are not applied yet.
    Behind { missing: Vec<i64> },
    /// The database has migrations this binary does not know: it was migrated by a newer release.
    Ahead { unknown: Vec<i64> },
    /// A migration started and did not finish.
    Dirty { version: i64 },
}

impl SchemaStatus {
    /// Compares `applied` (version, finished) with the migrations of `migrator`.
    pub(crate) fn compare(migrator: &Migrator, applied: &[(i64, bool)]) -> Self {
        if let Some((version, _)) = applied.iter().find(|(_, ok)| !ok) {
            return SchemaStatus::Dirty { version: *version };
        }
        let known: Vec<i64> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .collect();
        let unknown: Vec<i64> = applied
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| !known.contains(v))
            .collect();
        if !unknown.is_empty() {
            return SchemaStatus::Ahead { unknown };
        }
        if applied.is_empty() {
            return SchemaStatus::Empty;
        }
        let missing: Vec<i64> = known
            .into_iter()
            .filter(|v| !applied.iter().any(|(a, _)| a == v))
            .collect();
        if missing.is_empty() {
            SchemaStatus::Current
        } else {
            SchemaStatus::Behind { missing }
        }
    }
}

impl fmt::Display for SchemaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaStatus::Current => f.write_str("the database schema is current"),
            SchemaStatus::Empty => {
                f.write_str("the database has no schema: run `single-window migrate` first")
            }
            SchemaStatus::Behind { missing } => write!(
                f,
                "the database schema is older than this binary (missing migrations {missing:?}): run `single-window migrate` first"
            ),
            SchemaStatus::Ahead { unknown } => write!(
                f,
                "the database schema is newer than this binary (unknown migrations {unknown:?}): upgrade single-window; it will not run on a schema it does not know"
            ),
            SchemaStatus::Dirty { version } => write!(
                f,
                "migration {version} did not finish: repair the database, then run `single-window migrate`"
            ),
        }
    }
}
