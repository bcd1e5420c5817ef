//! What the simulation draws: a seeded random source, citizens, and the scores a citizen gives a
//! leg. The score model plants what reports should find: ease drives satisfaction most, a
//! declined leg (a wrong door) and a missed standard score lower, each agency has its own level,
//! and one agency slips in the latest quarter.

use crate::proto::v1 as pb;

/// SplitMix64: small, fast, and the same numbers for the same seed on every machine and version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5EED_5EED_5EED_5EED)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Whether an event of probability `p` happens.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `[low, high)`.
    pub fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const GIVEN: &[&str] = &[
    "Amélie", "Jordan", "Priya", "Mohammed", "Sophie", "Liam", "Chloé", "Noah", "Mei", "Olivia",
    "Félix", "Aisha", "Lucas", "Emma", "Raj", "Zoé", "Ethan", "Fatima", "Gabriel", "Hannah",
];
const FAMILY: &[&str] = &[
    "Tremblay",
    "Okafor",
    "Singh",
    "Gagnon",
    "Nguyen",
    "Roy",
    "Smith",
    "Côté",
    "Martin",
    "Chen",
    "Bouchard",
    "Wilson",
    "Pelletier",
    "Ahmed",
    "MacDonald",
    "Lavoie",
    "Brown",
    "Fortin",
];
/// (province, a city, a postal code in it), weighted roughly by population.
const PLACES: &[(&str, &str, &str)] = &[
    ("ON", "Toronto", "M5V 3L9"),
    ("ON", "Ottawa", "K1P 5G3"),
    ("ON", "Hamilton", "L8P 4R5"),
    ("QC", "Montréal", "H2X 1Y4"),
    ("QC", "Québec", "G1R 4P5"),
    ("BC", "Vancouver", "V6B 1A1"),
    ("AB", "Calgary", "T2P 1J9"),
    ("AB", "Edmonton", "T5J 0N3"),
    ("MB", "Winnipeg", "R3C 4T3"),
    ("SK", "Regina", "S4P 3Y2"),
    ("NS", "Halifax", "B3J 3K5"),
    ("NB", "Moncton", "E1C 4M3"),
    ("NL", "St. John's", "A1C 5M2"),
    ("PE", "Charlottetown", "C1A 7N8"),
];

/// A new citizen record: names, a date of birth (18 to 90 years before `year`), an address,
/// a language, sometimes accessibility needs and circumstances.
pub fn citizen(rng: &mut Rng, year: i32) -> pb::Citizen {
    let (province, city, postal) = *rng.pick(PLACES);
    let french = province == "QC" && rng.chance(0.8) || province != "QC" && rng.chance(0.08);
    let born = year - 18 - rng.below(72) as i32;
    let mut needs = Vec::new();
    if rng.chance(0.12) {
        needs.push(*rng.pick(&[
            pb::AccessibilityNeed::ScreenReader,
            pb::AccessibilityNeed::LargePrint,
            pb::AccessibilityNeed::HearingAssistance,
            pb::AccessibilityNeed::Mobility,
            pb::AccessibilityNeed::PlainLanguage,
        ]) as i32);
    }
    let mut circumstances = Vec::new();
    if year - born >= 65 {
        circumstances.push(pb::Circumstance::Senior as i32);
    } else if rng.chance(0.25) {
        circumstances.push(*rng.pick(&[
            pb::Circumstance::Student,
            pb::Circumstance::Newcomer,
            pb::Circumstance::Veteran,
            pb::Circumstance::Caregiver,
            pb::Circumstance::Disability,
        ]) as i32);
    }
    pb::Citizen {
        identity: Some(pb::Identity {
            given_name: (*rng.pick(GIVEN)).to_owned(),
            family_name: (*rng.pick(FAMILY)).to_owned(),
            date_of_birth: format!(
                "{born:04}-{:02}-{:02}",
                1 + rng.below(12),
                1 + rng.below(28)
            ),
            ..Default::default()
        }),
        addresses: vec![pb::Address {
            kind: pb::AddressKind::Residential as i32,
            line1: format!("{} {} Street", 10 + rng.below(990), rng.pick(FAMILY)),
            city: city.to_owned(),
            province: province.to_owned(),
            postal_code: postal.to_owned(),
            ..Default::default()
        }],
        preferences: Some(pb::Preferences {
            language: if french {
                pb::Language::French
            } else {
                pb::Language::English
            } as i32,
            preferred_channel: 0,
        }),
        accessibility: Some(pb::Accessibility {
            needs,
            note: String::new(),
        }),
        circumstances: Some(pb::Circumstances {
            declared: circumstances,
        }),
        ..Default::default()
    }
}

/// What is true of a leg when the citizen rates it.
#[derive(Debug, Clone, Copy)]
pub struct Experience {
    /// The agency's own level, about 3.4 to 4.4.
    pub level: f64,
    pub declined: bool,
    pub missed: bool,
    /// The planted slip of the latest quarter.
    pub slipping: bool,
}

fn clamp_score(x: f64) -> i32 {
    x.round().clamp(1.0, 5.0) as i32
}

/// The scores of a response, and the contacts it took.
pub fn scores(rng: &mut Rng, e: Experience) -> (pb::Scores, i32) {
    let mut level = e.level;
    if e.declined {
        level -= 1.6;
    }
    if e.missed {
        level -= 0.7;
    }
    if e.slipping {
        level -= 1.1;
    }
    let ease = level + 0.9 * rng.normal();
    let efficiency = level + if e.missed { -0.6 } else { 0.2 } + 0.8 * rng.normal();
    let employees = e.level + 0.4 + 0.6 * rng.normal();
    let satisfaction = 0.55 * ease + 0.25 * efficiency + 0.2 * employees + 0.35 * rng.normal();
    let trust = 0.6 * satisfaction + 0.4 * e.level + 0.5 * rng.normal();
    let effectiveness = if e.declined { 1.5 } else { satisfaction + 0.3 } + 0.6 * rng.normal();
    let transparency = 0.5 * satisfaction + 0.5 * e.level + 0.6 * rng.normal();
    let value = 0.6 * satisfaction + 0.4 * efficiency + 0.6 * rng.normal();
    let optional = |rng: &mut Rng, x: f64| if rng.chance(0.85) { clamp_score(x) } else { 0 };
    let given = pb::Scores {
        satisfaction: clamp_score(satisfaction),
        trust: clamp_score(trust),
        effectiveness: optional(rng, effectiveness),
        ease: optional(rng, ease),
        efficiency: optional(rng, efficiency),
        transparency: optional(rng, transparency),
        employees: optional(rng, employees),
        value: optional(rng, value),
    };
    let contacts = 1 + i32::from(e.declined) + i32::from(rng.chance(0.3)) + i32::from(e.missed);
    (given, contacts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_numbers() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(8).next_u64(), xs[0]);
        let mut r = Rng::new(1);
        let mean: f64 = (0..10_000).map(|_| r.normal()).sum::<f64>() / 10_000.0;
        assert!(mean.abs() < 0.05, "{mean}");
    }

    #[test]
    fn wrong_doors_score_lower_than_good_service() {
        let mut rng = Rng::new(3);
        let good = Experience {
            level: 4.2,
            declined: false,
            missed: false,
            slipping: false,
        };
        let wrong = Experience {
            declined: true,
            ..good
        };
        let mean = |rng: &mut Rng, e| {
            (0..400)
                .map(|_| scores(rng, e).0.satisfaction as f64)
                .sum::<f64>()
                / 400.0
        };
        let (g, w) = (mean(&mut rng, good), mean(&mut rng, wrong));
        assert!(g - w > 0.8, "{g} vs {w}");
        let c = citizen(&mut rng, 2026);
        assert!(c.identity.is_some() && c.addresses.len() == 1);
    }
}
