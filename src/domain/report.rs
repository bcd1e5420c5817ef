//! Satisfaction reports: the fixed groupings, a group's tally, and suppression.
//!
//! Suppression, the one mechanism every report uses:
//! 1. A group with fewer respondents than the minimum is suppressed (too few respondents).
//! 2. A published total is the sum of a slice of groups: the groups that share every dimension but
//!    some (for a grouping by agency, service and quarter: the agency's groups of one quarter, of
//!    one service, or all of them, which other groupings publish as their own groups). In every
//!    such slice, the respondents of the suppressed groups must add up to zero or to at least the
//!    minimum; otherwise the slice's smallest group still shown is suppressed too (complementary),
//!    until that holds. A slice never spans the agency dimension (no total across agencies is
//!    published), except the pair groupings' from-agency or to-agency alone.
//! 3. Suppression is decided over the whole table of a grouping (every agency, every quarter),
//!    then the caller's rows are picked: two callers, and two answers, agree on every group.

use std::collections::BTreeMap;

use super::{codes::coded_enum, feedback::Driver};

coded_enum! {
    /// A dimension a report groups by; the code is the column both tables hold it in.
    pub enum Dimension {
        Agency => "agency",
        Team => "team",
        Service => "service_id",
        Channel => "channel",
        Quarter => "quarter",
        FromAgency => "from_agency",
        AgeBand => "age_band",
        Province => "province",
        Language => "language",
        Accessibility => "accessibility",
        ClientGroup => "client_group",
    }
}

impl Dimension {
    /// Whether it names an agency.
    pub fn is_agency(self) -> bool {
        matches!(self, Dimension::Agency | Dimension::FromAgency)
    }

    /// Whether only responses carry it (not the ended legs).
    pub fn is_segment(self) -> bool {
        matches!(
            self,
            Dimension::AgeBand
                | Dimension::Province
                | Dimension::Language
                | Dimension::Accessibility
                | Dimension::ClientGroup
        )
    }
}

coded_enum! {
    /// The fixed set of groupings.
    pub enum Grouping {
        Agency => "agency",
        AgencyQuarter => "agency-quarter",
        Team => "team",
        Service => "service",
        ServiceQuarter => "service-quarter",
        ServiceChannel => "service-channel",
        Channel => "channel",
        AgencyPair => "agency-pair",
        AgencyPairQuarter => "agency-pair-quarter",
        AgeBand => "age-band",
        Province => "province",
        Language => "language",
        Accessibility => "accessibility",
        ClientGroup => "client-group",
    }
}

impl Grouping {
    /// Its dimensions, in key order.
    pub fn dimensions(self) -> &'static [Dimension] {
        use Dimension as D;
        match self {
            Grouping::Agency => &[D::Agency],
            Grouping::AgencyQuarter => &[D::Agency, D::Quarter],
            Grouping::Team => &[D::Agency, D::Team],
            Grouping::Service => &[D::Agency, D::Service],
            Grouping::ServiceQuarter => &[D::Agency, D::Service, D::Quarter],
            Grouping::ServiceChannel => &[D::Agency, D::Service, D::Channel],
            Grouping::Channel => &[D::Agency, D::Channel],
            Grouping::AgencyPair => &[D::FromAgency, D::Agency],
            Grouping::AgencyPairQuarter => &[D::FromAgency, D::Agency, D::Quarter],
            Grouping::AgeBand => &[D::Agency, D::AgeBand],
            Grouping::Province => &[D::Agency, D::Province],
            Grouping::Language => &[D::Agency, D::Language],
            Grouping::Accessibility => &[D::Agency, D::Accessibility],
            Grouping::ClientGroup => &[D::Agency, D::ClientGroup],
        }
    }

    /// Whether it groups agency pairs.
    pub fn is_pair(self) -> bool {
        self.dimensions().contains(&Dimension::FromAgency)
    }

    /// Whether it groups by a part of the respondents' segment.
    pub fn is_segmented(self) -> bool {
        self.dimensions().iter().any(|d| d.is_segment())
    }
}

/// The number of drivers.
pub const DRIVERS: usize = 8;

/// What a group counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Ended legs (or requests).
    pub ended: i64,
    /// Survey invitations.
    pub offered: i64,
    /// Ended legs with a standard, and of those the ones that met it.
    pub with_standard: i64,
    pub met: i64,
    /// Responses.
    pub responses: i64,
    /// Per driver (in [`Driver::ALL`]'s order), how many scored 1..5.
    pub distribution: [[i64; 5]; DRIVERS],
    /// The sum of contacts, and how many responses said.
    pub contacts: i64,
    pub contacts_said: i64,
}

impl Tally {
    /// Adds `other` into this tally.
    pub fn add(&mut self, other: &Tally) {
        self.ended += other.ended;
        self.offered += other.offered;
        self.with_standard += other.with_standard;
        self.met += other.met;
        self.responses += other.responses;
        for (mine, theirs) in self.distribution.iter_mut().zip(&other.distribution) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
        self.contacts += other.contacts;
        self.contacts_said += other.contacts_said;
    }

    /// How many scored `driver`, and their mean (0 when none did).
    pub fn mean(&self, driver: Driver) -> (i64, f64) {
        let counts = &self.distribution[driver as usize];
        let answered: i64 = counts.iter().sum();
        let sum: i64 = counts.iter().zip(1..).map(|(n, s)| n * s).sum();
        (answered, ratio(sum, answered))
    }

    /// The share of responses that scored satisfaction 4 or 5.
    pub fn share_satisfied(&self) -> f64 {
        let counts = &self.distribution[Driver::Satisfaction as usize];
        ratio(counts[3] + counts[4], self.responses)
    }
}

/// `part / whole`, 0 when `whole` is 0.
pub fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Why a group is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppressed {
    TooFewRespondents,
    Complementary,
}

/// A group of a report: its key (one value per dimension, in the grouping's order; empty where
/// not known) and its tally.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub key: Vec<String>,
    pub tally: Tally,
    pub suppressed: Option<Suppressed>,
}

/// The words [`suppress`] follows, for answers.
pub const METHOD: &str = "Groups with fewer respondents than the minimum are suppressed. \
Then, in every slice of groups whose total another answer publishes (the groups sharing all \
dimensions but some, never summed across agencies), the suppressed groups' respondents must add up \
to zero or to at least the minimum; otherwise the smallest group still shown in the slice is \
suppressed too. Suppression is decided over the whole table, before the caller's groups are picked.";

/// Suppresses the cells of a table over `dimensions` (see the module's rules). `cells` are the
/// whole table, in any order; the result does not depend on the order.
pub fn suppress(dimensions: &[Dimension], cells: &mut [Cell], minimum: i64) {
    cells.sort_by(|a, b| a.key.cmp(&b.key));
    for cell in cells.iter_mut() {
        cell.suppressed = (cell.tally.responses < minimum).then_some(Suppressed::TooFewRespondents);
    }
    let slices = slice_kinds(dimensions);
    loop {
        let mut changed = false;
        for summed in &slices {
            changed |= protect(cells, summed, minimum);
        }
        if !changed {
            break;
        }
    }
}

/// Every set of dimensions a published total sums over: each non-empty subset that does not hold
/// every agency dimension.
fn slice_kinds(dimensions: &[Dimension]) -> Vec<Vec<usize>> {
    let n = dimensions.len();
    let agencies: Vec<usize> = (0..n).filter(|&i| dimensions[i].is_agency()).collect();
    (1u32..(1 << n))
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect::<Vec<_>>())
        .filter(|set| !agencies.iter().all(|a| set.contains(a)))
        .collect()
}

/// Makes every slice summing over `summed` safe; whether it suppressed anything.
fn protect(cells: &mut [Cell], summed: &[usize], minimum: i64) -> bool {
    let mut slices: BTreeMap<Vec<&str>, Vec<usize>> = BTreeMap::new();
    for (i, cell) in cells.iter().enumerate() {
        let fixed: Vec<&str> = cell
            .key
            .iter()
            .enumerate()
            .filter(|(d, _)| !summed.contains(d))
            .map(|(_, v)| v.as_str())
            .collect();
        slices.entry(fixed).or_default().push(i);
    }
    let mut changed = false;
    let groups: Vec<Vec<usize>> = slices.into_values().collect();
    for members in groups {
        loop {
            let hidden: i64 = members
                .iter()
                .filter(|&&i| cells[i].suppressed.is_some())
                .map(|&i| cells[i].tally.responses)
                .sum();
            if hidden == 0 || hidden >= minimum {
                break;
            }
            let next = members
                .iter()
                .copied()
                .filter(|&i| cells[i].suppressed.is_none())
                .min_by_key(|&i| (cells[i].tally.responses, i));
            let Some(next) = next else { break };
            cells[next].suppressed = Some(Suppressed::Complementary);
            changed = true;
        }
    }
    changed
}

/// The total of `shown` (the groups an answer holds), and whether it must be withheld: too few
/// respondents, or suppressed groups among them whose respondents it would reveal.
pub fn total(shown: &[&Cell], minimum: i64) -> (Tally, Option<Suppressed>) {
    let mut sum = Tally::default();
    for cell in shown {
        sum.add(&cell.tally);
    }
    let hidden: i64 = shown
        .iter()
        .filter(|c| c.suppressed.is_some())
        .map(|c| c.tally.responses)
        .sum();
    let suppressed = if sum.responses < minimum {
        Some(Suppressed::TooFewRespondents)
    } else if hidden > 0 && hidden < minimum {
        Some(Suppressed::Complementary)
    } else {
        None
    };
    (sum, suppressed)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cell(key: &[&str], responses: i64) -> Cell {
        Cell {
            key: key.iter().map(|s| (*s).to_owned()).collect(),
            tally: Tally {
                responses,
                ..Tally::default()
            },
            suppressed: None,
        }
    }

    fn find<'a>(cells: &'a [Cell], key: &[&str]) -> &'a Cell {
        cells
            .iter()
            .find(|c| c.key.iter().map(String::as_str).eq(key.iter().copied()))
            .expect("cell")
    }

    #[test]
    fn a_lone_small_group_takes_its_smallest_neighbour_with_it() {
        let dims = Grouping::Service.dimensions();
        let mut cells = vec![
            cell(&["cra-arc", "1"], 50),
            cell(&["cra-arc", "2"], 30),
            cell(&["cra-arc", "3"], 3),
            cell(&["cic", "4"], 40),
        ];
        suppress(dims, &mut cells, 10);
        assert_eq!(
            find(&cells, &["cra-arc", "3"]).suppressed,
            Some(Suppressed::TooFewRespondents)
        );
        assert_eq!(
            find(&cells, &["cra-arc", "2"]).suppressed,
            Some(Suppressed::Complementary),
            "else the agency's total minus the rest gives it"
        );
        assert_eq!(find(&cells, &["cra-arc", "1"]).suppressed, None);
        assert_eq!(
            find(&cells, &["cic", "4"]).suppressed,
            None,
            "never across agencies"
        );
    }

    #[test]
    fn two_small_groups_that_add_up_to_the_minimum_protect_each_other() {
        let mut cells = vec![
            cell(&["a", "1"], 50),
            cell(&["a", "2"], 6),
            cell(&["a", "3"], 5),
        ];
        suppress(Grouping::Service.dimensions(), &mut cells, 10);
        assert_eq!(find(&cells, &["a", "1"]).suppressed, None);
        let mut cells = vec![
            cell(&["a", "1"], 50),
            cell(&["a", "2"], 4),
            cell(&["a", "3"], 5),
        ];
        suppress(Grouping::Service.dimensions(), &mut cells, 10);
        assert_eq!(
            find(&cells, &["a", "1"]).suppressed,
            Some(Suppressed::Complementary),
            "4 + 5 is under the minimum"
        );
    }

    #[test]
    fn a_total_that_would_reveal_a_suppressed_group_is_withheld() {
        let shown = [cell(&["a", "b"], 40), {
            let mut c = cell(&["a", "c"], 2);
            c.suppressed = Some(Suppressed::TooFewRespondents);
            c
        }];
        let refs: Vec<&Cell> = shown.iter().collect();
        assert_eq!(total(&refs, 10).1, Some(Suppressed::Complementary));
        assert_eq!(total(&refs[..1], 10).1, None);
        assert_eq!(total(&refs[..1], 41).1, Some(Suppressed::TooFewRespondents));
    }

    #[test]
    fn pair_slices_sum_over_one_side_only() {
        let kinds = slice_kinds(Grouping::AgencyPairQuarter.dimensions());
        assert!(kinds.contains(&vec![0]));
        assert!(kinds.contains(&vec![1, 2]));
        assert!(!kinds.contains(&vec![0, 1]), "never across every agency");
        assert!(!kinds.contains(&vec![0, 1, 2]));
        assert_eq!(
            slice_kinds(Grouping::Agency.dimensions()),
            Vec::<Vec<usize>>::new()
        );
    }

    #[test]
    fn every_grouping_has_distinct_dimensions_and_segments_are_responses_only() {
        for g in Grouping::ALL {
            let dims = g.dimensions();
            let mut sorted = dims.to_vec();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), dims.len(), "{g:?}");
            assert!(
                dims.contains(&Dimension::Agency),
                "{g:?} names the rated agency"
            );
        }
        assert!(Grouping::AgeBand.is_segmented() && !Grouping::Team.is_segmented());
        assert!(Grouping::AgencyPair.is_pair() && !Grouping::Service.is_pair());
    }

    proptest! {
        /// Whatever the table, no published slice total lets anyone recompute fewer than
        /// `minimum` suppressed respondents, and suppression does not depend on the row order.
        #[test]
        fn no_slice_reveals_fewer_than_the_minimum(
            counts in proptest::collection::vec(0i64..30, 1..24),
            minimum in 1i64..15,
            rotate in 0usize..24,
        ) {
            let dims = Grouping::ServiceQuarter.dimensions();
            let mut cells: Vec<Cell> = counts
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let service = (i % 4).to_string();
                    let quarter = format!("2026Q{}", i / 4 % 4 + 1);
                    let agency = if i >= 16 { "b" } else { "a" };
                    cell(&[agency, &service, &quarter], *n)
                })
                .collect();
            cells.sort_by(|a, b| a.key.cmp(&b.key));
            cells.dedup_by(|a, b| a.key == b.key);
            let mut other = cells.clone();
            let len = other.len();
            other.rotate_left(rotate % len);
            suppress(dims, &mut cells, minimum);
            suppress(dims, &mut other, minimum);
            prop_assert_eq!(&cells, &other);
            for summed in slice_kinds(dims) {
                // (hidden respondents, groups still shown) per slice
                let mut slices: BTreeMap<Vec<String>, (i64, usize)> = BTreeMap::new();
                for c in &cells {
                    let fixed: Vec<String> = c.key.iter().enumerate()
                        .filter(|(d, _)| !summed.contains(d)).map(|(_, v)| v.clone()).collect();
                    let slice = slices.entry(fixed).or_default();
                    if c.suppressed.is_some() { slice.0 += c.tally.responses } else { slice.1 += 1 }
                }
                for (hidden, shown) in slices.values() {
                    // A slice suppressed whole is a total under the minimum: its own group is
                    // suppressed wherever it is published.
                    prop_assert!(*hidden == 0 || *hidden >= minimum || *shown == 0);
                }
            }
            for c in &cells {
                if c.tally.responses < minimum {
                    prop_assert!(c.suppressed.is_some());
                }
            }
        }
    }
}
