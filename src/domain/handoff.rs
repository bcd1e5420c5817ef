//! A leg of a request (a handoff to one agency): the one state machine that owns every step, and
//! the leg's clock, which runs from the offer and stops while the agency waits on the citizen.
//!
//! States follow FHIR Task's: offered (requested), accepted, in progress, waiting on the citizen
//! (on hold), and four ends: completed, declined (rejected), withdrawn (cancelled) and abandoned (a
//! wait on the citizen that outlasted its limit). A leg that has not ended can always be withdrawn,
//! so no leg is a dead end.

use std::fmt;

use super::{codes::coded_enum, time::Timestamp};

coded_enum! {
    /// Where a leg stands.
    pub enum LegState {
        Offered => "offered",
        Accepted => "accepted",
        InProgress => "in-progress",
        WaitingOnCitizen => "waiting-on-citizen",
        Completed => "completed",
        Declined => "declined",
        Withdrawn => "withdrawn",
        Abandoned => "abandoned",
    }
}

impl LegState {
    /// Whether the leg has ended: completed, declined, withdrawn or abandoned.
    pub fn ended(self) -> bool {
        matches!(
            self,
            LegState::Completed | LegState::Declined | LegState::Withdrawn | LegState::Abandoned
        )
    }

    /// Whether the receiving agency holds the leg (it accepted and has not ended it): only such a
    /// leg may hand part of the work onward to another agency.
    pub fn held(self) -> bool {
        matches!(
            self,
            LegState::Accepted | LegState::InProgress | LegState::WaitingOnCitizen
        )
    }
}

coded_enum! {
    /// A step on a leg.
    pub enum Step {
        Accept => "accept",
        Decline => "decline",
        Start => "start",
        WaitOnCitizen => "wait-on-citizen",
        Resume => "resume",
        Complete => "complete",
        Withdraw => "withdraw",
        Abandon => "abandon",
    }
}

/// A step the leg's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalStep {
    pub state: LegState,
    pub step: Step,
}

impl fmt::Display for IllegalStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a leg that is {} cannot {}",
            self.state.code(),
            self.step.code()
        )
    }
}

/// The state `step` moves `state` to: the whole transition table.
pub fn next(state: LegState, step: Step) -> Result<LegState, IllegalStep> {
    use LegState as S;
    use Step as T;
    Ok(match (state, step) {
        (S::Offered, T::Accept) => S::Accepted,
        (S::Offered, T::Decline) => S::Declined,
        (S::Accepted, T::Start) | (S::WaitingOnCitizen, T::Resume) => S::InProgress,
        (S::Accepted | S::InProgress, T::WaitOnCitizen) => S::WaitingOnCitizen,
        (S::Accepted | S::InProgress, T::Complete) => S::Completed,
        (S::WaitingOnCitizen, T::Abandon) => S::Abandoned,
        (S::Offered | S::Accepted | S::InProgress | S::WaitingOnCitizen, T::Withdraw) => {
            S::Withdrawn
        }
        _ => return Err(IllegalStep { state, step }),
    })
}

/// A leg's clock: it runs from the offer to the end, except while waiting on the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegClock {
    pub offered: Timestamp,
    /// Since when the clock is paused, if it is.
    pub paused_since: Option<Timestamp>,
    /// Milliseconds paused in completed pauses.
    pub paused_millis: i64,
    pub ended: Option<Timestamp>,
    /// The latest instant any step happened at: steps never go back in time.
    pub last: Timestamp,
}

impl LegClock {
    /// A clock started by the offer at `at`.
    pub fn offered(at: Timestamp) -> Self {
        Self {
            offered: at,
            paused_since: None,
            paused_millis: 0,
            ended: None,
            last: at,
        }
    }

    /// Milliseconds the leg has run at `now`: wall time from the offer to its end (or `now`), less
    /// every pause (the current one up to `now`). Never negative.
    pub fn elapsed_millis(&self, now: Timestamp) -> i64 {
        let until = self.ended.unwrap_or(now.max(self.last)).unix_millis();
        (until - self.offered.unix_millis() - self.paused_millis_at(now)).max(0)
    }

    /// Milliseconds paused at `now`, the current pause included.
    pub fn paused_millis_at(&self, now: Timestamp) -> i64 {
        let current = self.paused_since.map_or(0, |since| {
            let until = self.ended.unwrap_or(now.max(self.last));
            (until.unix_millis() - since.unix_millis()).max(0)
        });
        self.paused_millis + current
    }
}

/// A leg's state and clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    pub state: LegState,
    pub clock: LegClock,
}

impl Leg {
    /// A leg offered at `at`.
    pub fn offered(at: Timestamp) -> Self {
        Self {
            state: LegState::Offered,
            clock: LegClock::offered(at),
        }
    }

    /// The leg after `step` at `at` (an instant before the last step counts as the last step's).
    pub fn apply(self, step: Step, at: Timestamp) -> Result<Leg, IllegalStep> {
        let state = next(self.state, step)?;
        let at = at.max(self.clock.last);
        let mut clock = self.clock;
        clock.last = at;
        if step == Step::WaitOnCitizen {
            clock.paused_since = Some(at);
        }
        if let Some(since) = clock.paused_since
            && state != LegState::WaitingOnCitizen
        {
            clock.paused_millis += at.unix_millis() - since.unix_millis();
            clock.paused_since = None;
        }
        if state.ended() {
            clock.ended = Some(at);
        }
        Ok(Leg { state, clock })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_millis(seconds * 1000)
    }

    #[test]
    fn a_wait_on_the_citizen_pauses_the_clock() {
        let leg = Leg::offered(at(0))
            .apply(Step::Accept, at(10))
            .and_then(|l| l.apply(Step::Start, at(20)))
            .and_then(|l| l.apply(Step::WaitOnCitizen, at(30)))
            .expect("legal");
        assert_eq!(
            leg.clock.elapsed_millis(at(100)),
            30_000,
            "paused from 30 s"
        );
        let leg = leg
            .apply(Step::Resume, at(130))
            .and_then(|l| l.apply(Step::Complete, at(150)))
            .expect("legal");
        assert_eq!(leg.state, LegState::Completed);
        assert_eq!(leg.clock.elapsed_millis(at(999)), 50_000);
        assert_eq!(leg.clock.paused_millis_at(at(999)), 100_000);
    }

    #[test]
    fn illegal_steps_name_the_state() {
        let error = Leg::offered(at(0))
            .apply(Step::Complete, at(1))
            .expect_err("not accepted yet");
        assert_eq!(error.state, LegState::Offered);
        assert_eq!(error.to_string(), "a leg that is offered cannot complete");
        let declined = Leg::offered(at(0))
            .apply(Step::Decline, at(1))
            .expect("legal");
        for step in Step::ALL {
            assert!(
                declined.apply(*step, at(2)).is_err(),
                "{step:?} after an end"
            );
        }
    }

    fn steps() -> impl Strategy<Value = Vec<(Step, i64)>> {
        prop::collection::vec(
            (prop::sample::select(Step::ALL.to_vec()), -5_000i64..100_000),
            0..40,
        )
    }

    proptest! {
        #[test]
        fn any_sequence_keeps_the_invariants(sequence in steps()) {
            let mut leg = Leg::offered(at(1_000));
            let mut now = at(1_000);
            for (step, delta) in sequence {
                now = Timestamp::from_unix_millis(now.unix_millis() + delta);
                let before = leg;
                match leg.apply(step, now) {
                    Ok(after) => {
                        prop_assert!(!before.state.ended(), "an ended leg moved");
                        leg = after;
                    }
                    Err(e) => prop_assert_eq!(e.state, before.state),
                }
                let probe = now.max(leg.clock.last);
                let wall = leg.clock.ended.unwrap_or(probe).unix_millis() - leg.clock.offered.unix_millis();
                let elapsed = leg.clock.elapsed_millis(probe);
                let paused = leg.clock.paused_millis_at(probe);
                prop_assert!(elapsed >= 0 && paused >= 0);
                prop_assert_eq!(elapsed + paused, wall, "paused time is excluded, nothing else");
                prop_assert_eq!(leg.clock.paused_since.is_some(), leg.state == LegState::WaitingOnCitizen);
                prop_assert_eq!(leg.clock.ended.is_some(), leg.state.ended());
                if !leg.state.ended() {
                    prop_assert!(next(leg.state, Step::Withdraw).is_ok(), "no dead end");
                }
            }
        }
    }
}
