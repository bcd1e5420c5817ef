//! Per-principal quotas: each caller may make so many calls per second, with a burst, and the
//! calls past it are refused at once with RESOURCE_EXHAUSTED `QUOTA_EXCEEDED`, a `QuotaFailure`
//! naming the quota's subject and a `RetryInfo` saying when the next call would be admitted. One
//! caller's excess costs the others nothing: it is refused after authentication, before its
//! message is read or a slot of the process-wide concurrency limit is taken.
//!
//! The subject of a quota is the most specific name the principals file gives one: the team
//! (`agencies/{agency}/teams/{team}`), else its agency (`agencies/{agency}`: all its teams and
//! officers share it), else the portal, administrator or auditor; a principal the file gives no
//! quota of its own has one bucket of the default quota to itself. Anonymous callers are limited
//! per client address by the public quota. Without a quota for a caller, it is not limited (the
//! process-wide limits still apply).
//!
//! The limiters are GCRA (governor): one atomic word per subject, no timer, no queue.

use std::{
    collections::HashMap,
    net::IpAddr,
    num::NonZeroU32,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use governor::{
    DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota as Gcra, RateLimiter,
    clock::{Clock as _, DefaultClock},
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::principal::{AGENCIES, Principal},
    error::AppError,
};

/// One quota: a sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Calls admitted per second, sustained.
    pub calls_per_second: NonZeroU32,
    /// Calls admitted at once after a quiet spell (at least 1; defaults to one second's worth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<NonZeroU32>,
}

impl Quota {
    fn gcra(self) -> Gcra {
        Gcra::per_second(self.calls_per_second)
            .allow_burst(self.burst.unwrap_or(self.calls_per_second))
    }

    /// The text of a `QuotaFailure` violation.
    fn describe(self) -> String {
        format!(
            "at most {} calls per second (bursts of {})",
            self.calls_per_second,
            self.burst.unwrap_or(self.calls_per_second)
        )
    }
}

/// The `quotas` section of the principals file.
///
/// ```json
/// "quotas": {
///   "default": { "calls_per_second": 200, "burst": 400 },
///   "public": { "calls_per_second": 20, "burst": 40 },
///   "principals": {
///     "agencies/esdc-edsc": { "calls_per_second": 1000, "burst": 2000 },
///     "agencies/cic/teams/passports": { "calls_per_second": 50 }
///   }
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSettings {
    /// Each authenticated principal without a quota of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Quota>,
    /// Each client address calling without a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<Quota>,
    /// By principal name: an agency, one of its teams, a portal, an administrator or an auditor.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub principals: HashMap<String, Quota>,
}

impl QuotaSettings {
    /// Checks the principal names; an error names the first bad one.
    pub fn check(&self) -> anyhow::Result<()> {
        for name in self.principals.keys() {
            match Principal::parse(name, None) {
                Ok(Principal::Public) | Err(_) => {
                    anyhow::bail!("quotas.principals: `{name}` is not a principal name")
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }
}

/// Keyed limiters are pruned of subjects back at a full bucket (indistinguishable from new
/// ones) once they hold this many, checked every [`PRUNE_EVERY`] calls.
const PRUNE_ABOVE: usize = 10_000;
const PRUNE_EVERY: u32 = 4_096;

struct Keyed<K: std::hash::Hash + Eq + Clone> {
    quota: Quota,
    limiter: DefaultKeyedRateLimiter<K>,
    calls: AtomicU32,
}

impl<K: std::hash::Hash + Eq + Clone> Keyed<K> {
    fn new(quota: Quota) -> Self {
        Self {
            quota,
            limiter: RateLimiter::keyed(quota.gcra()),
            calls: AtomicU32::new(0),
        }
    }

    fn check(&self, key: &K) -> Result<(), Duration> {
        if self
            .calls
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PRUNE_EVERY)
            && self.limiter.len() > PRUNE_ABOVE
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The quotas in force, shared by every connection's call stack.
#[derive(Default)]
pub struct Quotas {
    named: HashMap<String, (Quota, DefaultDirectRateLimiter)>,
    default: Option<Keyed<String>>,
    public: Option<Keyed<IpAddr>>,
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("named", &self.named.len())
            .field("default", &self.default.as_ref().map(|k| k.quota))
            .field("public", &self.public.as_ref().map(|k| k.quota))
            .finish()
    }
}

impl Quotas {
    /// The limiters of `settings` (checked with [`QuotaSettings::check`]).
    pub fn new(settings: &QuotaSettings) -> Self {
        Self {
            named: settings
                .principals
                .iter()
                .map(|(name, quota)| (name.clone(), (*quota, RateLimiter::direct(quota.gcra()))))
                .collect(),
            default: settings.default.map(Keyed::new),
            public: settings.public.map(Keyed::new),
        }
    }

    /// Admits one call of `principal` (from `client`), or says when it may call again.
    pub fn admit(&self, principal: &Principal, client: Option<IpAddr>) -> Result<(), AppError> {
        let refused =
            |subject: String, quota: Quota, retry_after: Duration| AppError::QuotaExceeded {
                subject,
                description: quota.describe(),
                retry_after,
            };
        if let Principal::Public = principal {
            return match (&self.public, client) {
                (Some(keyed), Some(ip)) => keyed
                    .check(&ip)
                    .map_err(|wait| refused("anonymous".to_owned(), keyed.quota, wait)),
                _ => Ok(()),
            };
        }
        if self.named.is_empty() && self.default.is_none() {
            return Ok(());
        }
        let name = principal.name();
        let agency = match principal {
            Principal::Agency { agency, .. } => Some(format!("{AGENCIES}/{agency}")),
            _ => None,
        };
        for subject in std::iter::once(&name).chain(agency.as_ref()) {
            if let Some((quota, limiter)) = self.named.get(subject) {
                return limiter.check().map_err(|not_until| {
                    let wait = not_until.wait_time_from(DefaultClock::default().now());
                    refused(subject.clone(), *quota, wait)
                });
            }
        }
        match &self.default {
            Some(keyed) => keyed
                .check(&name)
                .map_err(|wait| refused(name.clone(), keyed.quota, wait)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(per_second: u32, burst: u32) -> Quota {
        Quota {
            calls_per_second: NonZeroU32::new(per_second).expect("non-zero"),
            burst: NonZeroU32::new(burst),
        }
    }

    fn agency(agency: &str, team: Option<&str>) -> Principal {
        Principal::Agency {
            agency: agency.to_owned(),
            team: team.map(str::to_owned),
            officer: None,
        }
    }

    fn admitted(quotas: &Quotas, principal: &Principal, calls: usize) -> usize {
        (0..calls)
            .filter(|_| quotas.admit(principal, None).is_ok())
            .count()
    }

    #[test]
    fn an_agencys_teams_share_its_quota_and_a_team_of_its_own_is_apart() {
        let settings = QuotaSettings {
            principals: HashMap::from([
                ("agencies/cic".to_owned(), quota(1, 5)),
                ("agencies/cic/teams/passports".to_owned(), quota(1, 2)),
            ]),
            ..QuotaSettings::default()
        };
        settings.check().expect("valid");
        let quotas = Quotas::new(&settings);
        let desk = agency("cic", Some("desk"));
        assert_eq!(admitted(&quotas, &agency("cic", None), 3), 3);
        assert_eq!(
            admitted(&quotas, &desk, 10),
            2,
            "the agency's burst of 5 is shared"
        );
        assert_eq!(admitted(&quotas, &agency("cic", Some("passports")), 10), 2);
    }

    #[test]
    fn a_refusal_names_the_subject_and_when_to_retry() {
        let settings = QuotaSettings {
            default: Some(quota(2, 1)),
            ..QuotaSettings::default()
        };
        let quotas = Quotas::new(&settings);
        let portal = Principal::Portal {
            portal: "p".to_owned(),
        };
        quotas.admit(&portal, None).expect("first call");
        match quotas.admit(&portal, None) {
            Err(AppError::QuotaExceeded {
                subject,
                retry_after,
                ..
            }) => {
                assert_eq!(subject, "portals/p");
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_millis(500));
            }
            other => panic!("{other:?}"),
        }
        let other = Principal::Portal {
            portal: "q".to_owned(),
        };
        assert!(
            quotas.admit(&other, None).is_ok(),
            "each principal has its own bucket"
        );
    }

    #[test]
    fn the_public_is_limited_per_address_and_unlimited_without_a_quota() {
        let quotas = Quotas::new(&QuotaSettings {
            public: Some(quota(1, 1)),
            ..QuotaSettings::default()
        });
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        assert!(quotas.admit(&Principal::Public, a).is_ok());
        assert!(quotas.admit(&Principal::Public, a).is_err());
        assert!(quotas.admit(&Principal::Public, b).is_ok());
        let none = Quotas::new(&QuotaSettings::default());
        assert_eq!(admitted(&none, &agency("cic", None), 1000), 1000);
    }

    #[test]
    fn settings_refuse_names_that_are_not_principals() {
        for bad in ["citizens/1", "anonymous", "agencies/", "agencies/cic/teams"] {
            let settings = QuotaSettings {
                principals: HashMap::from([(bad.to_owned(), quota(1, 1))]),
                ..QuotaSettings::default()
            };
            assert!(settings.check().is_err(), "{bad}");
        }
        let json = r#"{"default": {"calls_per_second": 0}}"#;
        assert!(serde_json::from_str::<QuotaSettings>(json).is_err());
    }
}
