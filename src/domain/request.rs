//! A request (the citizen's case) and the rules over its legs: who owns it, where it goes after a
//! decline, and when it has ended. The leg's own steps are [`super::handoff`]'s; this module
//! decides everything that involves more than one leg, over a [`Case`] loaded whole, so the store
//! only persists what it decided.
//!
//! - The owner is the receiver of the latest primary leg; there is always exactly one.
//! - A declined primary leg is followed by a leg to the next stored candidate not yet offered
//!   whose eligibility did not fail, or else by an escalation to the escalation agency (the entry
//!   agency, or for a portal the owner of the first candidate). An escalation cannot be declined,
//!   so a request never dead-ends and never bounces to the citizen.
//! - A request has ended when all its legs and child requests have.

use super::{
    codes::coded_enum,
    handoff::{IllegalStep, Leg, LegState, Step},
    routing::Status as Eligibility,
    time::Timestamp,
};

coded_enum! {
    /// Why a leg goes to its agency.
    pub enum HandoffReason {
        Direct => "direct",
        WrongDoor => "wrong-door",
        Referral => "referral",
        DeliveryPartner => "delivery-partner",
        LifeEvent => "life-event",
        Escalation => "escalation",
    }
}

coded_enum! {
    /// Where a request stands.
    pub enum RequestStatus {
        Open => "open",
        Completed => "completed",
        Withdrawn => "withdrawn",
        Abandoned => "abandoned",
    }
}

coded_enum! {
    /// Why an agency declined a leg.
    pub enum DeclineReason {
        NotOurMandate => "not-our-mandate",
        NotEligible => "not-eligible",
        OutsideJurisdiction => "outside-jurisdiction",
        Duplicate => "duplicate",
        InsufficientInformation => "insufficient-information",
        Other => "other",
    }
}

coded_enum! {
    /// How a completed leg ended for the citizen.
    pub enum Outcome {
        Delivered => "delivered",
        Refused => "refused",
        InformationProvided => "information-provided",
        CitizenDeclined => "citizen-declined",
    }
}

/// A candidate of the ranking stored with a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub service: String,
    pub agency: String,
    pub score: f64,
    /// `None`: no structured rules.
    pub eligibility: Option<Eligibility>,
}

/// A leg as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseLeg {
    /// 1, 2, 3... in order of offer.
    pub number: i64,
    pub from: Option<String>,
    pub to: String,
    pub service: String,
    pub reason: HandoffReason,
    pub primary: bool,
    pub leg: Leg,
}

/// A new leg the rules decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLeg {
    pub from: Option<String>,
    pub to: String,
    pub service: String,
    pub reason: HandoffReason,
    pub primary: bool,
    pub referred_from: Option<i64>,
}

/// A request with its legs, loaded whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub entry_agency: Option<String>,
    /// Where an exhausted ranking escalates to.
    pub escalation_agency: String,
    pub ranking: Vec<Ranked>,
    pub legs: Vec<CaseLeg>,
    pub withdrawn: bool,
    /// For a life-event parent: its children's statuses.
    pub children: Vec<RequestStatus>,
}

/// A step the rules refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The leg's state does not allow the step.
    Illegal(IllegalStep),
    /// An escalation cannot be declined.
    EscalationDeclined,
    /// The request has ended.
    Ended(RequestStatus),
}

impl Case {
    /// The owner: the receiver of the latest primary leg, else (a life-event parent) the
    /// escalation agency.
    pub fn owner(&self) -> &str {
        self.legs
            .iter()
            .rev()
            .find(|l| l.primary)
            .map_or(&self.escalation_agency, |l| &l.to)
    }

    /// The latest primary leg.
    pub fn primary(&self) -> Option<&CaseLeg> {
        self.legs.iter().rev().find(|l| l.primary)
    }

    /// Where the request stands.
    pub fn status(&self) -> RequestStatus {
        let open = self.legs.iter().any(|l| !l.leg.state.ended())
            || self.children.contains(&RequestStatus::Open);
        if open {
            return RequestStatus::Open;
        }
        if self.withdrawn {
            return RequestStatus::Withdrawn;
        }
        match self.primary() {
            Some(leg) => match leg.leg.state {
                LegState::Completed => RequestStatus::Completed,
                LegState::Withdrawn => RequestStatus::Withdrawn,
                _ => RequestStatus::Abandoned,
            },
            None if self.children.contains(&RequestStatus::Completed) => RequestStatus::Completed,
            None if !self.children.is_empty()
                && self.children.iter().all(|c| *c == RequestStatus::Withdrawn) =>
            {
                RequestStatus::Withdrawn
            }
            None => RequestStatus::Abandoned,
        }
    }

    /// Whether an escalation waits for attention (offered and not yet answered).
    pub fn needs_attention(&self) -> bool {
        self.legs
            .iter()
            .any(|l| l.reason == HandoffReason::Escalation && l.leg.state == LegState::Offered)
    }

    /// Whether `(service, agency)` was offered a leg already.
    pub fn offered(&self, service: &str, agency: &str) -> bool {
        self.legs
            .iter()
            .any(|l| l.service == service && l.to == agency)
    }

    /// Applies `step` to leg `number` at `at`; returns the new leg it calls for, if any (after a
    /// decline of a primary leg). The case is unchanged when refused.
    pub fn step(
        &mut self,
        number: i64,
        step: Step,
        at: Timestamp,
    ) -> Result<Option<NewLeg>, Refused> {
        let index = self
            .legs
            .iter()
            .position(|l| l.number == number)
            .expect("the caller found the leg");
        let current = &self.legs[index];
        if step == Step::Decline && current.reason == HandoffReason::Escalation {
            return Err(Refused::EscalationDeclined);
        }
        let leg = current.leg.apply(step, at).map_err(Refused::Illegal)?;
        self.legs[index].leg = leg;
        let declined = &self.legs[index];
        if step != Step::Decline || !declined.primary {
            return Ok(None);
        }
        let from = Some(declined.to.clone());
        let next = self
            .ranking
            .iter()
            .find(|r| {
                r.eligibility != Some(Eligibility::Failed) && !self.offered(&r.service, &r.agency)
            })
            .map(|r| NewLeg {
                from: from.clone(),
                to: r.agency.clone(),
                service: r.service.clone(),
                reason: HandoffReason::WrongDoor,
                primary: true,
                referred_from: None,
            });
        Ok(Some(next.unwrap_or_else(|| NewLeg {
            from,
            to: self.escalation_agency.clone(),
            service: self.legs[index].service.clone(),
            reason: HandoffReason::Escalation,
            primary: true,
            referred_from: None,
        })))
    }

    /// Adds `new` as the next leg, offered at `at`; its number.
    pub fn add(&mut self, new: &NewLeg, at: Timestamp) -> i64 {
        let number = self.legs.last().map_or(1, |l| l.number + 1);
        self.legs.push(CaseLeg {
            number,
            from: new.from.clone(),
            to: new.to.clone(),
            service: new.service.clone(),
            reason: new.reason,
            primary: new.primary,
            leg: Leg::offered(at),
        });
        number
    }

    /// Withdraws the request at `at`: every open leg ends as withdrawn; the legs it ended.
    pub fn withdraw(&mut self, at: Timestamp) -> Result<Vec<i64>, Refused> {
        match self.status() {
            RequestStatus::Open => {}
            ended => return Err(Refused::Ended(ended)),
        }
        self.withdrawn = true;
        let mut ended = Vec::new();
        for l in &mut self.legs {
            if !l.leg.state.ended() {
                l.leg = l.leg.apply(Step::Withdraw, at).map_err(Refused::Illegal)?;
                ended.push(l.number);
            }
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ranked(service: &str, agency: &str, eligibility: Option<Eligibility>) -> Ranked {
        Ranked {
            service: service.to_owned(),
            agency: agency.to_owned(),
            score: 1.0,
            eligibility,
        }
    }

    /// A case opened at `entry`, offered to the first candidate.
    fn opened(entry: &str, ranking: Vec<Ranked>) -> Case {
        let mut case = Case {
            entry_agency: Some(entry.to_owned()),
            escalation_agency: entry.to_owned(),
            ranking,
            legs: Vec::new(),
            withdrawn: false,
            children: Vec::new(),
        };
        let first = &case.ranking[0];
        let new = NewLeg {
            from: Some(entry.to_owned()),
            to: first.agency.clone(),
            service: first.service.clone(),
            reason: HandoffReason::WrongDoor,
            primary: true,
            referred_from: None,
        };
        case.add(&new, Timestamp::from_unix_millis(0));
        case
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    #[test]
    fn declines_follow_the_ranking_skip_failed_candidates_then_escalate_to_the_entry_agency() {
        let mut case = opened(
            "cra-arc",
            vec![
                ranked("1", "esdc-edsc", None),
                ranked("2", "cic", Some(Eligibility::Failed)),
                ranked("3", "tbs-sct", Some(Eligibility::Unknown)),
            ],
        );
        let next = case
            .step(1, Step::Decline, at(1))
            .expect("legal")
            .expect("a leg");
        assert_eq!((next.to.as_str(), next.service.as_str()), ("tbs-sct", "3"));
        assert_eq!(next.reason, HandoffReason::WrongDoor);
        case.add(&next, at(1));
        assert_eq!(case.owner(), "tbs-sct");
        let next = case
            .step(2, Step::Decline, at(2))
            .expect("legal")
            .expect("a leg");
        assert_eq!(next.reason, HandoffReason::Escalation);
        assert_eq!(next.to, "cra-arc");
        case.add(&next, at(2));
        assert!(case.needs_attention());
        assert_eq!(
            case.step(3, Step::Decline, at(3)),
            Err(Refused::EscalationDeclined)
        );
        assert_eq!(case.status(), RequestStatus::Open);
    }

    #[test]
    fn a_withdrawal_ends_every_open_leg_and_only_once() {
        let mut case = opened("cra-arc", vec![ranked("1", "esdc-edsc", None)]);
        case.step(1, Step::Accept, at(1)).expect("legal");
        let onward = NewLeg {
            from: Some("esdc-edsc".to_owned()),
            to: "cic".to_owned(),
            service: "9".to_owned(),
            reason: HandoffReason::Referral,
            primary: false,
            referred_from: Some(1),
        };
        case.add(&onward, at(2));
        assert_eq!(
            case.owner(),
            "esdc-edsc",
            "an onward leg does not move the ownership"
        );
        assert_eq!(case.withdraw(at(3)), Ok(vec![1, 2]));
        assert_eq!(case.status(), RequestStatus::Withdrawn);
        assert_eq!(
            case.withdraw(at(4)),
            Err(Refused::Ended(RequestStatus::Withdrawn))
        );
    }

    #[derive(Debug, Clone)]
    enum Action {
        Step(usize, Step),
        Onward(usize),
        Withdraw,
    }

    fn actions() -> impl Strategy<Value = Vec<Action>> {
        let action = prop_oneof![
            6 => (0usize..8, prop::sample::select(Step::ALL.to_vec())).prop_map(|(i, s)| Action::Step(i, s)),
            1 => (0usize..8).prop_map(Action::Onward),
            1 => Just(Action::Withdraw),
        ];
        prop::collection::vec(action, 0..60)
    }

    proptest! {
        #[test]
        fn random_steps_keep_one_owner_and_never_dead_end(
            actions in actions(),
            failed in prop::collection::vec(any::<bool>(), 4),
        ) {
            let agencies = ["a", "b", "c", "d"];
            let ranking = agencies
                .iter()
                .zip(&failed)
                .enumerate()
                .map(|(i, (a, f))| ranked(&i.to_string(), a, f.then_some(Eligibility::Failed)))
                .collect();
            let mut case = opened("entry", ranking);
            for (t, action) in actions.into_iter().enumerate() {
                let now = at(t as i64 + 1);
                let before = case.clone();
                match action {
                    Action::Step(i, step) => {
                        let number = case.legs[i % case.legs.len()].number;
                        match case.step(number, step, now) {
                            Ok(Some(new)) => { case.add(&new, now); }
                            Ok(None) => {}
                            Err(_) => prop_assert_eq!(&case, &before, "a refused step changed the case"),
                        }
                    }
                    Action::Onward(i) => {
                        let leg = &case.legs[i % case.legs.len()];
                        if leg.leg.state.held() {
                            let new = NewLeg {
                                from: Some(leg.to.clone()),
                                to: "onward".to_owned(),
                                service: "x".to_owned(),
                                reason: HandoffReason::Referral,
                                primary: false,
                                referred_from: Some(leg.number),
                            };
                            case.add(&new, now);
                        }
                    }
                    Action::Withdraw => { let _ = case.withdraw(now); }
                }
                let primaries_open = case.legs.iter().filter(|l| l.primary && !l.leg.state.ended()).count();
                prop_assert!(primaries_open <= 1, "two primary legs open");
                let last = case.primary().expect("a primary leg");
                prop_assert_eq!(case.owner(), last.to.as_str());
                prop_assert!(last.leg.state != LegState::Declined, "the latest primary leg is never a decline");
                if case.status() == RequestStatus::Open {
                    prop_assert!(case.legs.iter().any(|l| !l.leg.state.ended()), "open with nothing open");
                }
                for l in &case.legs {
                    prop_assert!(l.leg.clock.elapsed_millis(now) >= 0);
                }
            }
        }
    }
}
