//! Satisfaction per handoff as units of work: every ended leg and ended request becomes a survey
//! subject in the transaction that ends it ([`subjects`]), a citizen or an agency records a
//! response on it ([`record`]), the citizen's invitations are listed ([`invitations`]), and reports
//! are read with suppression ([`report`]).

pub mod channels;
pub mod drivers;
pub mod invitations;
pub mod public;
pub mod record;
pub mod report;
pub mod subjects;
pub mod warnings;

use std::time::Duration;

/// The fewest respondents a report group is shown with, unless configured.
pub const DEFAULT_MINIMUM_RESPONDENTS: i64 = 10;

/// How long an invitation stays open, unless configured.
pub const DEFAULT_SURVEY_WINDOW: Duration = Duration::from_secs(90 * 86_400);

/// How feedback behaves.
#[derive(Debug, Clone)]
pub struct FeedbackConfig {
    /// The fewest respondents a report group is shown with.
    pub minimum_respondents: i64,
    /// The time zone quarters are counted in.
    pub time_zone: String,
    /// The early warnings' thresholds.
    pub warnings: crate::domain::warnings::WarningSettings,
    /// How often the warnings job runs.
    pub warning_interval: Duration,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        Self {
            minimum_respondents: DEFAULT_MINIMUM_RESPONDENTS,
            time_zone: crate::domain::due::DEFAULT_TIME_ZONE.to_owned(),
            warnings: Default::default(),
            warning_interval: Duration::from_secs(300),
        }
    }
}
