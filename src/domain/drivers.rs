//! Key drivers: which drivers move overall satisfaction (and value for money), and which to fix
//! first. The method, as answers name it:
//! - Importance is Pearson's correlation between the driver's score and overall satisfaction,
//!   over the responses that scored both (and, beside it, with value for money).
//! - Performance is the driver's mean score.
//! - Quadrants split at the medians of importance and performance over the drivers ranked:
//!   important (at or above the median) and low-scoring (at or below it) is fix first; important
//!   and high, maintain; less important and low, monitor; less important and high, lower.
//! - Drivers are ordered by opportunity, `importance x (5 - mean) / 4`, highest first.
//! - A driver scored by fewer responses than the minimum is not ranked.

use super::{codes::coded_enum, feedback::Driver};

/// The method in words, for answers.
pub const METHOD: &str = "Importance: Pearson's correlation of the driver's score with overall \
satisfaction over the responses that scored both. Performance: the driver's mean score. Quadrants \
split at the medians of importance and performance over the ranked drivers (important and \
low-scoring: fix first). Ordered by opportunity = importance x (5 - mean) / 4. Drivers scored by \
fewer responses than the minimum are not ranked.";

/// The sums Pearson's correlation of `x` with `y` needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairSums {
    pub n: i64,
    pub sx: i64,
    pub sy: i64,
    pub sxx: i64,
    pub syy: i64,
    pub sxy: i64,
}

impl PairSums {
    /// Adds one pair.
    pub fn add(&mut self, x: i64, y: i64) {
        self.n += 1;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.syy += y * y;
        self.sxy += x * y;
    }

    /// The correlation; `None` with fewer than two pairs or no variance on a side.
    pub fn correlation(&self) -> Option<f64> {
        let n = self.n as f64;
        let cov = n * self.sxy as f64 - self.sx as f64 * self.sy as f64;
        let vx = n * self.sxx as f64 - (self.sx as f64).powi(2);
        let vy = n * self.syy as f64 - (self.sy as f64).powi(2);
        (self.n >= 2 && vx > 0.0 && vy > 0.0).then(|| (cov / (vx * vy).sqrt()).clamp(-1.0, 1.0))
    }

    /// The mean of `x`.
    pub fn mean_x(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sx as f64 / self.n as f64
        }
    }
}

/// A driver's sums: with satisfaction, and with value for money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverSums {
    pub driver: Driver,
    pub with_satisfaction: PairSums,
    pub with_value: PairSums,
}

coded_enum! {
    /// A driver's quadrant.
    pub enum Priority {
        FixFirst => "fix-first",
        Maintain => "maintain",
        Monitor => "monitor",
        Lower => "lower",
    }
}

/// A driver's part in satisfaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Importance {
    pub driver: Driver,
    pub answered: i64,
    pub mean: f64,
    pub with_satisfaction: f64,
    pub with_value: f64,
    pub answered_with_value: i64,
    /// `None` when too few responses scored it.
    pub priority: Option<Priority>,
    pub opportunity: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Ranks `sums` (see the module), ranked drivers first by opportunity, then the unranked.
pub fn rank(sums: &[DriverSums], minimum: i64) -> Vec<Importance> {
    let mut out: Vec<Importance> = sums
        .iter()
        .map(|s| {
            let r = s.with_satisfaction.correlation().unwrap_or(0.0);
            let mean = s.with_satisfaction.mean_x();
            Importance {
                driver: s.driver,
                answered: s.with_satisfaction.n,
                mean,
                with_satisfaction: r,
                with_value: s.with_value.correlation().unwrap_or(0.0),
                answered_with_value: s.with_value.n,
                priority: None,
                opportunity: r * (5.0 - mean) / 4.0,
            }
        })
        .collect();
    let ranked = |i: &Importance| i.answered >= minimum.max(2);
    let importance = median(
        out.iter()
            .filter(|i| ranked(i))
            .map(|i| i.with_satisfaction)
            .collect(),
    );
    let performance = median(out.iter().filter(|i| ranked(i)).map(|i| i.mean).collect());
    for i in out.iter_mut().filter(|i| i.answered >= minimum.max(2)) {
        i.priority = Some(
            match (i.with_satisfaction >= importance, i.mean <= performance) {
                (true, true) => Priority::FixFirst,
                (true, false) => Priority::Maintain,
                (false, true) => Priority::Monitor,
                (false, false) => Priority::Lower,
            },
        );
    }
    out.sort_by(|a, b| {
        b.priority
            .is_some()
            .cmp(&a.priority.is_some())
            .then(b.opportunity.total_cmp(&a.opportunity))
            .then(a.driver.cmp(&b.driver))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_matches_the_textbook_values() {
        let mut perfect = PairSums::default();
        let mut inverse = PairSums::default();
        for x in 1..=5 {
            perfect.add(x, x);
            inverse.add(x, 6 - x);
        }
        assert!((perfect.correlation().expect("r") - 1.0).abs() < 1e-12);
        assert!((inverse.correlation().expect("r") + 1.0).abs() < 1e-12);
        let mut flat = PairSums::default();
        flat.add(3, 1);
        flat.add(3, 5);
        assert_eq!(flat.correlation(), None, "no variance");
        let mut known = PairSums::default();
        for (x, y) in [(1, 2), (2, 1), (3, 4), (4, 3), (5, 5)] {
            known.add(x, y);
        }
        assert!((known.correlation().expect("r") - 0.8).abs() < 1e-12);
    }

    #[test]
    fn the_important_low_scoring_driver_comes_first() {
        // Ease follows satisfaction closely and scores low; employees score high and barely
        // matter; timeliness is noise.
        let satisfaction = [1, 2, 2, 3, 3, 4, 4, 5, 5, 1, 2, 3];
        let ease = [1, 2, 1, 2, 3, 3, 3, 4, 3, 1, 1, 2];
        let employees = [5, 4, 5, 5, 4, 5, 5, 4, 5, 5, 4, 5];
        let efficiency = [3, 1, 5, 2, 4, 3, 1, 5, 2, 4, 3, 3];
        let sums = |scores: &[i64]| {
            let mut s = PairSums::default();
            for (x, y) in scores.iter().zip(satisfaction) {
                s.add(*x, y);
            }
            DriverSums {
                driver: Driver::Ease,
                with_satisfaction: s,
                with_value: PairSums::default(),
            }
        };
        let mut all = vec![sums(&ease), sums(&employees), sums(&efficiency)];
        all[1].driver = Driver::Employees;
        all[2].driver = Driver::Efficiency;
        let ranked = rank(&all, 5);
        assert_eq!(ranked[0].driver, Driver::Ease);
        assert_eq!(ranked[0].priority, Some(Priority::FixFirst));
        let employees = ranked
            .iter()
            .find(|i| i.driver == Driver::Employees)
            .expect("ranked");
        assert!(matches!(
            employees.priority,
            Some(Priority::Lower | Priority::Maintain)
        ));
        let few = rank(&all, 100);
        assert!(
            few.iter().all(|i| i.priority.is_none()),
            "too few responses"
        );
    }
}
