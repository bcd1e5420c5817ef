//! Units of work on change notices: positions after commit, and reads from a position.

use super::{Acting, Caller, acting, citizens::Answer};
use crate::{
    error::AppError,
    store::{
        StoreResult, Tx,
        notice_sql::{self, Notice},
    },
};

/// Most notices one sequencer run positions.
pub const SEQUENCE_BATCH: i64 = 10_000;

/// Positions committed notices; how many.
pub async fn sequence(tx: &mut Tx, _input: &()) -> StoreResult<u64> {
    notice_sql::sequence(tx, SEQUENCE_BATCH).await
}

/// Input of [`list`].
pub struct List {
    pub caller: Caller,
    pub after: i64,
    pub limit: i64,
}

/// The calling agency's notices after a position. FAILED_PRECONDITION when the position is older
/// than the oldest retained (some notices after it are gone).
pub async fn list(tx: &mut Tx, input: &List) -> Answer<Vec<Notice>> {
    let agency = match acting(tx, &input.caller).await? {
        Ok(Acting::Agency(agency)) => agency,
        Ok(_) => return Ok(Err(AppError::PermissionDenied)),
        Err(error) => return Ok(Err(error)),
    };
    if input.after > 0
        && let Some(oldest) = notice_sql::oldest_position(tx).await?
        && input.after < oldest - 1
    {
        return Ok(Err(AppError::FailedPrecondition {
            condition: "RETENTION",
            subject: "after_position".to_owned(),
            description: format!(
                "notices after position {} are no longer retained; the oldest is {oldest} (resume with after_position {})",
                input.after,
                oldest - 1
            ),
        }));
    }
    Ok(Ok(
        notice_sql::list(tx, &agency, input.after, input.limit).await?
    ))
}
