//! The two-axis state model (design.md, "The service's state model") as pure functions, so every
//! transition is unit-tested without a database.
//!
//! Technical axis, per host: `exposed → vulnerable → compromised`, `patched`, `remediated`,
//! `verified_clean`. `compromised` is sticky: only a remediation record clears it. A host becomes
//! `verified_clean` only from `patched` or `remediated`, once a clean hunt report *and* a probe
//! showing a fixed build both carry evidence from at or after the fix (the evidence's own time,
//! never its arrival). A `patched`, `remediated` or
//! `verified_clean` host seen vulnerable or compromised again regresses and is flagged.
//!
//! Communication axis, per organisation: `not_contacted → notified → acknowledged`, or
//! `unreachable`.

use serde::{Deserialize, Serialize};

/// Technical state of a host (and, worst host first, of an organisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TechState {
    Exposed,
    Vulnerable,
    Compromised,
    Patched,
    Remediated,
    VerifiedClean,
}

impl TechState {
    pub const ALL: [TechState; 6] = [
        TechState::Compromised,
        TechState::Vulnerable,
        TechState::Exposed,
        TechState::Remediated,
        TechState::Patched,
        TechState::VerifiedClean,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TechState::Exposed => "exposed",
            TechState::Vulnerable => "vulnerable",
            TechState::Compromised => "compromised",
            TechState::Patched => "patched",
            TechState::Remediated => "remediated",
            TechState::VerifiedClean => "verified_clean",
        }
    }

    pub fn parse(s: &str) -> Option<TechState> {
        TechState::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// How bad: the organisation takes its worst host's state. A remediated host (was
    /// compromised, cleaned, not yet verified) ranks above a patched one.
    pub fn rank(self) -> i64 {
        match self {
            TechState::VerifiedClean => 0,
            TechState::Patched => 1,
            TechState::Remediated => 2,
            TechState::Exposed => 3,
            TechState::Vulnerable => 4,
            TechState::Compromised => 5,
        }
    }

    pub fn from_rank(rank: i64) -> Option<TechState> {
        TechState::ALL.into_iter().find(|t| t.rank() == rank)
    }

    /// States a host reaches by being fixed: a bad sighting from here is a regression.
    fn is_fixed(self) -> bool {
        matches!(self, TechState::Patched | TechState::Remediated | TechState::VerifiedClean)
    }
}

/// What one observation says about a host's technical state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// An Exchange server was seen; nothing about its flaws.
    Seen,
    /// A vulnerability tag, or a build the table calls vulnerable.
    Vulnerable,
    /// A web-shell tag, or a hunt report with the verdict `compromised`.
    Compromised,
    /// A probe showing a fixed build (all families fixed).
    FixedByProbe,
    /// A hunt report whose build is fixed for every family (the owner's word; a probe must confirm).
    FixedByReport,
    /// A hunt report with the verdict `clean`.
    CleanHunt,
    /// An analyst's record that the host was cleaned up.
    Remediation,
    /// Recorded, but says nothing about the state (unreachable probe, non-Exchange answer).
    None,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Seen => "seen",
            Signal::Vulnerable => "vulnerable",
            Signal::Compromised => "compromised",
            Signal::FixedByProbe => "fixed_by_probe",
            Signal::FixedByReport => "fixed_by_report",
            Signal::CleanHunt => "clean_hunt",
            Signal::Remediation => "remediation",
            Signal::None => "none",
        }
    }
}

/// A host's state and the facts the verification rule needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostState {
    pub state: Option<TechState>,
    /// Time of the last state event: events never go back in time, so "the state at D" is the
    /// last event at or before D even when files arrive out of order.
    pub state_at: Option<String>,
    pub regressed: bool,
    pub compromised_ever: bool,
    pub fixed_at: Option<String>,
    pub clean_hunt_at: Option<String>,
    pub clean_probe_at: Option<String>,
}

/// One change of technical state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Option<TechState>,
    pub to: TechState,
    pub at: String,
    pub regressed: bool,
    pub reason: String,
}

impl HostState {
    /// Applies one observation whose evidence dates from `at`; returns the state changes it
    /// caused (at most two: e.g. `remediated` then, with the evidence already present,
    /// `verified_clean`).
    ///
    /// Every change is dated by its evidence, never by its arrival. An observation older than
    /// the evidence behind the current state changes nothing (it stays in the host's history),
    /// so "the state at D = the last event at or before D" holds however late a file arrives.
    /// One exception: a compromise no remediation followed. An old web-shell sighting of a host
    /// never known compromised that is exposed, vulnerable or only patched still makes it
    /// compromised (a patch does not remove a web shell), dated at the current state's time and
    /// not counted as a regression.
    pub fn apply(&mut self, signal: Signal, at: &str) -> Vec<Transition> {
        let late = self.state_at.as_deref().is_some_and(|last| at < last);
        let known_compromised = self.compromised_ever;
        let mut out = Vec::new();
        let current = self.state;
        // The facts verification needs keep their own times, late or not.
        match signal {
            Signal::FixedByProbe => self.clean_probe_at = Some(latest(self.clean_probe_at.take(), at)),
            Signal::CleanHunt => self.clean_hunt_at = Some(latest(self.clean_hunt_at.take(), at)),
            Signal::Compromised => self.compromised_ever = true,
            _ => {}
        }
        if late {
            // Only for a host never known compromised: one that was has been remediated since
            // (the only way out of `compromised`), and an old sighting is then history.
            if signal == Signal::Compromised
                && !known_compromised
                && matches!(current, Some(TechState::Exposed | TechState::Vulnerable | TechState::Patched))
            {
                let since = self.state_at.clone().unwrap_or_else(|| at.to_string());
                let why =
                    format!("seen compromised on {at} (received after later evidence; nothing remediated it since)");
                self.change(&mut out, TechState::Compromised, &since, false, &why);
            }
            self.verify(&mut out);
            return out;
        }
        match signal {
            Signal::None => {}
            Signal::Seen => {
                if current.is_none() {
                    self.change(&mut out, TechState::Exposed, at, false, "Exchange server seen");
                }
            }
            Signal::Vulnerable => match current {
                None | Some(TechState::Exposed) => {
                    self.change(&mut out, TechState::Vulnerable, at, false, "seen vulnerable")
                }
                Some(s) if s.is_fixed() => {
                    self.change(&mut out, TechState::Vulnerable, at, true, "seen vulnerable again after being fixed")
                }
                _ => {}
            },
            Signal::Compromised => match current {
                Some(TechState::Compromised) => {}
                Some(s) if s.is_fixed() => {
                    self.change(&mut out, TechState::Compromised, at, true, "seen compromised again after being fixed")
                }
                _ => self.change(&mut out, TechState::Compromised, at, false, "seen compromised"),
            },
            Signal::FixedByProbe | Signal::FixedByReport => match current {
                None | Some(TechState::Exposed) | Some(TechState::Vulnerable) => {
                    self.fixed_at = Some(at.to_string());
                    let why = if signal == Signal::FixedByProbe {
                        "a probe shows a fixed build"
                    } else {
                        "the owner's hunt report shows a fixed build"
                    };
                    self.change(&mut out, TechState::Patched, at, false, why);
                }
                // Sticky: a patch does not undo a compromise.
                _ => {}
            },
            Signal::CleanHunt => {
                if current.is_none() {
                    self.change(&mut out, TechState::Exposed, at, false, "Exchange server known from a hunt report");
                }
            }
            Signal::Remediation => match current {
                Some(TechState::Remediated) | Some(TechState::VerifiedClean) => {}
                _ => {
                    self.fixed_at = Some(at.to_string());
                    self.change(&mut out, TechState::Remediated, at, false, "remediation recorded by an analyst");
                }
            },
        }
        self.verify(&mut out);
        out
    }

    /// `patched`/`remediated` → `verified_clean` once both independent checks have evidence
    /// from at or after the fix; dated when the later of the two was made.
    fn verify(&mut self, out: &mut Vec<Transition>) {
        let (Some(state), Some(fixed)) = (self.state, self.fixed_at.clone()) else { return };
        if !matches!(state, TechState::Patched | TechState::Remediated) {
            return;
        }
        let (Some(hunt), Some(probe)) = (self.clean_hunt_at.clone(), self.clean_probe_at.clone()) else { return };
        if hunt.as_str() >= fixed.as_str() && probe.as_str() >= fixed.as_str() {
            let mut at = crate::time::max(&hunt, &probe).to_string();
            if let Some(last) = &self.state_at {
                at = crate::time::max(&at, last).to_string();
            }
            self.change(out, TechState::VerifiedClean, &at, false, "a clean hunt report and a probe after the fix");
        }
    }

    fn change(&mut self, out: &mut Vec<Transition>, to: TechState, at: &str, regressed: bool, reason: &str) {
        out.push(Transition { from: self.state, to, at: at.to_string(), regressed, reason: reason.to_string() });
        self.state = Some(to);
        self.state_at = Some(at.to_string());
        if regressed {
            self.regressed = true;
        }
        if to == TechState::VerifiedClean {
            self.regressed = false;
        }
    }
}

/// The later of a recorded time and a new one.
fn latest(recorded: Option<String>, at: &str) -> String {
    match recorded {
        Some(r) if r.as_str() >= at => r,
        _ => at.to_string(),
    }
}

/// Communication state of an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommState {
    NotContacted,
    Notified,
    Acknowledged,
    Unreachable,
}

impl CommState {
    pub const ALL: [CommState; 4] =
        [CommState::NotContacted, CommState::Notified, CommState::Acknowledged, CommState::Unreachable];

    pub fn as_str(self) -> &'static str {
        match self {
            CommState::NotContacted => "not_contacted",
            CommState::Notified => "notified",
            CommState::Acknowledged => "acknowledged",
            CommState::Unreachable => "unreachable",
        }
    }

    pub fn parse(s: &str) -> Option<CommState> {
        CommState::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether `self → to` is a legal step. Re-notifying an unreachable or already notified
    /// organisation (a second letter) is allowed; nothing goes back to `not_contacted`.
    pub fn can_go_to(self, to: CommState) -> bool {
        use CommState::*;
        matches!(
            (self, to),
            (NotContacted, Notified)
                | (NotContacted, Unreachable)
                | (Notified, Notified)
                | (Notified, Acknowledged)
                | (Notified, Unreachable)
                | (Unreachable, Notified)
                | (Acknowledged, Notified)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::TechState::*;
    use super::*;

    fn run(signals: &[(Signal, &str)]) -> (HostState, Vec<Transition>) {
        let mut h = HostState::default();
        let mut all = Vec::new();
        for (s, at) in signals {
            all.extend(h.apply(*s, at));
        }
        (h, all)
    }

    fn states(t: &[Transition]) -> Vec<TechState> {
        t.iter().map(|t| t.to).collect()
    }

    #[test]
    fn seen_then_vulnerable_then_compromised() {
        let (h, t) = run(&[
            (Signal::Seen, "2021-03-01T00:00:00Z"),
            (Signal::Vulnerable, "2021-03-02T00:00:00Z"),
            (Signal::Compromised, "2021-03-03T00:00:00Z"),
        ]);
        assert_eq!(states(&t), vec![Exposed, Vulnerable, Compromised]);
        assert!(h.compromised_ever && !h.regressed);
    }

    #[test]
    fn compromised_is_sticky_against_patches_and_clean_reports() {
        let (h, t) = run(&[
            (Signal::Compromised, "2021-03-03T00:00:00Z"),
            (Signal::FixedByProbe, "2021-03-10T00:00:00Z"),
            (Signal::CleanHunt, "2021-03-11T00:00:00Z"),
            (Signal::Vulnerable, "2021-03-12T00:00:00Z"),
        ]);
        assert_eq!(states(&t), vec![Compromised]);
        assert_eq!(h.state, Some(Compromised));
    }

    #[test]
    fn remediation_then_both_checks_verify() {
        let (h, t) = run(&[
            (Signal::Compromised, "2021-03-03T00:00:00Z"),
            (Signal::Remediation, "2021-03-20T00:00:00Z"),
            (Signal::CleanHunt, "2021-03-21T00:00:00Z"),
        ]);
        assert_eq!(states(&t), vec![Compromised, Remediated]);
        let mut h = h;
        let t = h.apply(Signal::FixedByProbe, "2021-03-22T00:00:00Z");
        assert_eq!(states(&t), vec![VerifiedClean]);
    }

    #[test]
    fn checks_before_the_fix_do_not_verify() {
        let (h, t) = run(&[
            (Signal::Compromised, "2021-03-03T00:00:00Z"),
            (Signal::CleanHunt, "2021-03-05T00:00:00Z"),
            (Signal::FixedByProbe, "2021-03-06T00:00:00Z"),
            (Signal::Remediation, "2021-03-20T00:00:00Z"),
        ]);
        assert_eq!(states(&t), vec![Compromised, Remediated]);
        assert_eq!(h.state, Some(Remediated));
    }

    #[test]
    fn vulnerable_patched_by_probe_then_clean_hunt_verifies() {
        let (h, t) = run(&[
            (Signal::Vulnerable, "2021-03-02T00:00:00Z"),
            (Signal::FixedByProbe, "2021-03-09T00:00:00Z"),
            (Signal::CleanHunt, "2021-03-10T00:00:00Z"),
        ]);
        assert_eq!(states(&t), vec![Vulnerable, Patched, VerifiedClean]);
        assert_eq!(h.state, Some(VerifiedClean));
    }

    #[test]
    fn a_fixed_build_in_the_owners_report_needs_a_probe() {
        let (h, t) = run(&[
            (Signal::Vulnerable, "2021-03-02T00:00:00Z"),
            (Signal::FixedByReport, "2021-03-09T00:00:00Z"),
            (Signal::CleanHunt, "2021-03-10T00:00:00Z"),
        ]);
        assert_eq!(states(&t), vec![Vulnerable, Patched]);
        assert_eq!(h.state, Some(Patched));
    }

    #[test]
    fn regressions_are_flagged_and_cleared_by_verification() {
        let (mut h, t) = run(&[
            (Signal::Vulnerable, "2021-03-02T00:00:00Z"),
            (Signal::FixedByProbe, "2021-03-09T00:00:00Z"),
            (Signal::Vulnerable, "2021-04-01T00:00:00Z"),
        ]);
        assert_eq!(states(&t), vec![Vulnerable, Patched, Vulnerable]);
        assert!(t[2].regressed && h.regressed);
        let t = h.apply(Signal::FixedByProbe, "2021-04-02T00:00:00Z");
        assert_eq!(states(&t), vec![Patched]);
        assert!(h.regressed, "still flagged until verified");
        let t = h.apply(Signal::CleanHunt, "2021-04-03T00:00:00Z");
        assert_eq!(states(&t), vec![VerifiedClean]);
        assert!(!h.regressed);
        let t = h.apply(Signal::Compromised, "2021-05-01T00:00:00Z");
        assert_eq!(states(&t), vec![Compromised]);
        assert!(t[0].regressed);
    }

    #[test]
    fn events_never_go_back_in_time() {
        let (_, t) =
            run(&[(Signal::Vulnerable, "2021-03-10T00:00:00Z"), (Signal::Compromised, "2021-03-01T00:00:00Z")]);
        assert_eq!(t[1].at, "2021-03-10T00:00:00Z");
    }

    #[test]
    fn stale_checks_received_after_the_fix_do_not_verify() {
        let (mut h, _) =
            run(&[(Signal::Compromised, "2021-03-03T00:00:00Z"), (Signal::Remediation, "2021-03-20T00:00:00Z")]);
        // Both arrive after the remediation, but their evidence predates it.
        assert!(h.apply(Signal::CleanHunt, "2021-03-05T00:00:00Z").is_empty());
        assert!(h.apply(Signal::FixedByProbe, "2021-03-06T00:00:00Z").is_empty());
        assert_eq!(h.state, Some(Remediated));
        // Fresh evidence verifies, dated at the later of the two checks.
        assert!(h.apply(Signal::FixedByProbe, "2021-03-22T00:00:00Z").is_empty());
        let t = h.apply(Signal::CleanHunt, "2021-03-21T00:00:00Z");
        assert_eq!(states(&t), vec![VerifiedClean]);
        assert_eq!(t[0].at, "2021-03-22T00:00:00Z");
    }

    #[test]
    fn fresh_checks_verify_in_any_order_even_before_the_remediation_arrives() {
        let (h, t) = run(&[
            (Signal::Compromised, "2021-03-03T00:00:00Z"),
            (Signal::FixedByProbe, "2021-03-22T00:00:00Z"),
            (Signal::CleanHunt, "2021-03-21T00:00:00Z"),
            (Signal::Remediation, "2021-03-20T00:00:00Z"),
        ]);
        assert_eq!(states(&t), vec![Compromised, Remediated, VerifiedClean]);
        assert_eq!(t[2].at, "2021-03-22T00:00:00Z");
        assert_eq!(h.state, Some(VerifiedClean));
    }

    #[test]
    fn an_old_sighting_after_verification_is_history_not_a_regression() {
        let (mut h, _) = run(&[
            (Signal::Compromised, "2021-03-03T00:00:00Z"),
            (Signal::Remediation, "2021-03-10T00:00:00Z"),
            (Signal::CleanHunt, "2021-03-11T00:00:00Z"),
            (Signal::FixedByProbe, "2021-03-12T00:00:00Z"),
        ]);
        assert_eq!(h.state, Some(VerifiedClean));
        assert!(h.apply(Signal::Compromised, "2021-03-04T00:00:00Z").is_empty());
        assert!(h.apply(Signal::Vulnerable, "2021-03-09T00:00:00Z").is_empty());
        assert_eq!((h.state, h.regressed), (Some(VerifiedClean), false));
        // A sighting newer than the verification is a regression.
        let t = h.apply(Signal::Compromised, "2021-03-13T00:00:00Z");
        assert!(t[0].regressed && h.regressed);
    }

    #[test]
    fn an_old_compromise_of_a_merely_patched_host_still_counts() {
        let (h, t) = run(&[
            (Signal::Vulnerable, "2021-03-02T00:00:00Z"),
            (Signal::FixedByProbe, "2021-03-09T00:00:00Z"),
            (Signal::Compromised, "2021-03-04T00:00:00Z"),
        ]);
        assert_eq!(states(&t), vec![Vulnerable, Patched, Compromised]);
        assert_eq!(t[2].at, "2021-03-09T00:00:00Z", "never before the state it replaces");
        assert!(!t[2].regressed && h.compromised_ever);
        // A host remediated since (compromised, remediated, verified, then patched again after
        // a regression): an old sighting is history.
        let (mut h, _) = run(&[
            (Signal::Compromised, "2021-03-03T00:00:00Z"),
            (Signal::Remediation, "2021-03-10T00:00:00Z"),
            (Signal::CleanHunt, "2021-03-11T00:00:00Z"),
            (Signal::FixedByProbe, "2021-03-12T00:00:00Z"),
            (Signal::Vulnerable, "2021-04-01T00:00:00Z"),
            (Signal::FixedByProbe, "2021-04-05T00:00:00Z"),
        ]);
        assert_eq!(h.state, Some(Patched));
        assert!(h.apply(Signal::Compromised, "2021-03-04T00:00:00Z").is_empty());
        assert_eq!(h.state, Some(Patched));
    }

    #[test]
    fn ranks_round_trip_and_order() {
        for s in TechState::ALL {
            assert_eq!(TechState::from_rank(s.rank()), Some(s));
            assert_eq!(TechState::parse(s.as_str()), Some(s));
        }
        assert!(Compromised.rank() > Vulnerable.rank() && Vulnerable.rank() > Patched.rank());
    }

    #[test]
    fn communication_steps() {
        use CommState::*;
        assert!(NotContacted.can_go_to(Notified));
        assert!(Notified.can_go_to(Acknowledged));
        assert!(!NotContacted.can_go_to(Acknowledged));
        assert!(!Acknowledged.can_go_to(NotContacted));
        assert!(NotContacted.can_go_to(Unreachable));
    }
}
