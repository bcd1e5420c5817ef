//! Key drivers of a scope: the sums one aggregate query gives, ranked by
//! [`crate::domain::drivers`]; withheld when the scope has fewer respondents than the report
//! minimum.

use crate::{
    domain::{
        drivers::{self, Importance},
        feedback::{Quarter, SubjectKind},
    },
    store::{StoreResult, Tx, feedback_sql},
};

/// Input of [`get`].
#[derive(Debug, Clone)]
pub struct Get {
    pub kind: SubjectKind,
    pub agency: Option<String>,
    pub service_id: Option<String>,
    pub quarter: Option<Quarter>,
    pub minimum: i64,
}

/// The drivers of a scope, or none when it is withheld.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDrivers {
    pub responses: i64,
    pub suppressed: bool,
    pub drivers: Vec<Importance>,
}

/// Reads and ranks the drivers of `input`'s scope.
pub async fn get(tx: &mut Tx, input: &Get) -> StoreResult<KeyDrivers> {
    let quarter = input.quarter.map(|q| q.to_string());
    let scope = feedback_sql::Scope {
        kind: input.kind,
        agency: input.agency.as_deref(),
        service_id: input.service_id.as_deref(),
        quarter: quarter.as_deref(),
    };
    let (responses, sums) = feedback_sql::driver_sums(tx, &scope).await?;
    let suppressed = responses < input.minimum;
    Ok(KeyDrivers {
        responses: if suppressed { 0 } else { responses },
        suppressed,
        drivers: if suppressed {
            Vec::new()
        } else {
            drivers::rank(&sums, input.minimum)
        },
    })
}
