//! Early warnings: the rules that raise them, computed from stored figures only, so the same data
//! always raises the same warnings.
//! - Score drop: a driver's mean (overall satisfaction's included) this quarter is lower than last
//!   quarter's by at least the threshold, with at least the minimum responses in both, and Welch's
//!   one-sided t-test gives p below the significance level.
//! - Standard below target: this quarter's legs against a standard met it less often than its
//!   published target, over at least the minimum legs.
//! - Decline rate: of the legs one agency handed another this quarter that were answered
//!   (completed or declined), more than the threshold were declined, over at least the minimum.
//! - At-risk backlog: an agency's open legs at risk or breached today are at least the minimum
//!   and grew by more than the threshold against the sample a week before.

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::codes::coded_enum;

coded_enum! {
    /// What a warning is about.
    pub enum WarningKind {
        ScoreDrop => "score-drop",
        StandardBelowTarget => "standard-below-target",
        DeclineRate => "decline-rate",
        AtRiskBackLog => "at-risk-backlog",
    }
}

coded_enum! {
    /// Where a warning stands.
    pub enum WarningState { Open => "open", Acknowledged => "acknowledged", Resolved => "resolved" }
}

/// The thresholds of the rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarningSettings {
    /// Fewest responses in each quarter for a score drop.
    pub min_responses: i64,
    /// Smallest drop of a mean score, in points.
    pub drop: f64,
    /// The significance level of the t-test.
    pub significance: f64,
    /// Highest decline rate before a warning.
    pub decline_rate: f64,
    /// Fewest legs for a decline rate, a standard's performance, or a backlog.
    pub min_legs: i64,
    /// Growth of a backlog over a week before a warning (0.5: half as large again).
    pub backlog_growth: f64,
}

impl Default for WarningSettings {
    fn default() -> Self {
        Self {
            min_responses: 30,
            drop: 0.3,
            significance: 0.05,
            decline_rate: 0.25,
            min_legs: 20,
            backlog_growth: 0.5,
        }
    }
}

/// The count, sum and sum of squares of scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moments {
    pub n: i64,
    pub sum: i64,
    pub sum_sq: i64,
}

impl Moments {
    /// Adds `other`.
    pub fn add(&mut self, other: Moments) {
        self.n += other.n;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
    }

    /// The mean (0 without scores).
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum as f64 / self.n as f64
        }
    }

    /// The sample variance (0 with fewer than two scores).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            return 0.0;
        }
        let n = self.n as f64;
        ((self.sum_sq as f64 - (self.sum as f64).powi(2) / n) / (n - 1.0)).max(0.0)
    }
}

/// Welch's one-sided p-value that `after`'s mean is below `before`'s.
pub fn drop_p_value(before: Moments, after: Moments) -> f64 {
    let (m1, m2) = (before.mean(), after.mean());
    let (a, b) = (
        before.variance() / before.n.max(1) as f64,
        after.variance() / after.n.max(1) as f64,
    );
    let se = (a + b).sqrt();
    if se == 0.0 {
        return if m2 < m1 { 0.0 } else { 1.0 };
    }
    let t = (m1 - m2) / se;
    let df = (a + b).powi(2)
        / (a.powi(2) / (before.n - 1).max(1) as f64 + b.powi(2) / (after.n - 1).max(1) as f64);
    match StudentsT::new(0.0, 1.0, df.max(1.0)) {
        Ok(dist) => 1.0 - dist.cdf(t),
        Err(_) => 1.0,
    }
}

/// Whether a score dropped from `before` to `after` (see the module); its p-value when it did.
pub fn score_drop(before: Moments, after: Moments, s: &WarningSettings) -> Option<f64> {
    if before.n < s.min_responses || after.n < s.min_responses {
        return None;
    }
    if before.mean() - after.mean() < s.drop {
        return None;
    }
    let p = drop_p_value(before, after);
    (p < s.significance).then_some(p)
}

/// Whether `declined` of `answered` legs is a decline rate to warn of.
pub fn decline_rate(declined: i64, answered: i64, s: &WarningSettings) -> bool {
    answered >= s.min_legs && declined as f64 / answered as f64 > s.decline_rate
}

/// Whether `met` of `completed` legs is under `target`.
pub fn below_target(met: i64, completed: i64, target: f64, s: &WarningSettings) -> bool {
    completed >= s.min_legs && (met as f64 / completed as f64) < target
}

/// Whether a backlog of `now` against `week_before` is growing beyond the threshold.
pub fn backlog_growing(now: i64, week_before: i64, s: &WarningSettings) -> bool {
    now >= s.min_legs && now as f64 > week_before as f64 * (1.0 + s.backlog_growth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(scores: &[i64]) -> Moments {
        Moments {
            n: scores.len() as i64,
            sum: scores.iter().sum(),
            sum_sq: scores.iter().map(|s| s * s).sum(),
        }
    }

    #[test]
    fn welch_p_values_match_a_reference() {
        // scipy.stats.ttest_ind([5,4,5,4,5,4], [3,2,3,2,3,2], equal_var=False,
        // alternative='greater') gives t = 6.325 (df 10), p = 4.3e-05.
        let p = drop_p_value(moments(&[5, 4, 5, 4, 5, 4]), moments(&[3, 2, 3, 2, 3, 2]));
        assert!((p - 4.3e-5).abs() < 0.2e-5, "{p}");
        let same = drop_p_value(moments(&[4, 3, 5, 4]), moments(&[4, 3, 5, 4]));
        assert!((same - 0.5).abs() < 1e-9, "{same}");
        assert_eq!(drop_p_value(moments(&[4, 4]), moments(&[3, 3])), 0.0);
    }

    #[test]
    fn a_planted_drop_warns_and_noise_does_not() {
        let s = WarningSettings {
            min_responses: 10,
            ..WarningSettings::default()
        };
        let before = moments(&[5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4]);
        let dropped = moments(&[2, 1, 2, 3, 2, 1, 2, 3, 2, 2, 1, 2]);
        assert!(score_drop(before, dropped, &s).is_some());
        let noise = moments(&[4, 5, 4, 4, 5, 4, 5, 4, 4, 5, 4, 4]);
        assert!(
            score_drop(before, noise, &s).is_none(),
            "a 0.17 dip is noise"
        );
        let few = moments(&[1, 1, 1]);
        assert!(score_drop(before, few, &s).is_none(), "too few responses");
        let wide = moments(&[5, 1, 5, 1, 5, 1, 5, 1, 5, 1, 4, 4]);
        assert!(
            score_drop(moments(&[5, 2, 5, 2, 5, 2, 5, 2, 5, 2, 5, 4]), wide, &s).is_none(),
            "a drop within the spread is not significant"
        );
        assert!(decline_rate(6, 20, &WarningSettings::default()));
        assert!(
            !decline_rate(5, 20, &WarningSettings::default()),
            "exactly the threshold"
        );
        assert!(
            !decline_rate(19, 19, &WarningSettings::default()),
            "too few legs"
        );
        assert!(below_target(17, 20, 0.9, &WarningSettings::default()));
        assert!(backlog_growing(31, 20, &WarningSettings::default()));
        assert!(!backlog_growing(30, 20, &WarningSettings::default()));
    }
}
