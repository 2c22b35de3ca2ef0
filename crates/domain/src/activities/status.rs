//! A control's effectiveness, computed from its activities' runs, never declared: effective
//! only when the latest run of each activity that is due was performed on time, approved,
//! found effective and carries evidence whose effective period covers the run's period.
//! Otherwise overdue or deficient, with the reasons. Pure: the caller passes today.

use time::Date;

use super::schedule::Period;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Waiting for its performer.
    Scheduled,
    /// Performed, waiting for its reviewer.
    Submitted,
    /// Sent back by the reviewer with remarks.
    Returned,
    /// Approved by a reviewer other than its performer.
    Approved,
}

impl RunState {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Submitted => "submitted",
            Self::Returned => "returned",
            Self::Approved => "approved",
        }
    }

    /// From the stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "scheduled" => Self::Scheduled,
            "submitted" => Self::Submitted,
            "returned" => Self::Returned,
            "approved" => Self::Approved,
            _ => return None,
        })
    }

    /// What people read.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Scheduled => "to do",
            Self::Submitted => "awaiting review",
            Self::Returned => "returned",
            Self::Approved => "approved",
        }
    }
}

/// What a performer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    /// The control worked.
    Effective,
    /// The control did not work.
    Deficient,
    /// The activity could not be done.
    NotPerformed,
}

impl RunResult {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Effective => "effective",
            Self::Deficient => "deficient",
            Self::NotPerformed => "not_performed",
        }
    }

    /// From the stored or submitted name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "effective" => Self::Effective,
            "deficient" => Self::Deficient,
            "not_performed" => Self::NotPerformed,
            _ => return None,
        })
    }

    /// What people read.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Effective => "effective",
            Self::Deficient => "deficient",
            Self::NotPerformed => "not performed",
        }
    }
}

/// Evidence linked to a run: the day it shows, or the period it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvidenceSpan {
    /// The day, or the period's first day.
    pub from: Date,
    /// The period's last day (none for a single day).
    pub to: Option<Date>,
}

impl EvidenceSpan {
    /// Whether it covers a run's period: a period of evidence must span it whole; evidence of
    /// one day must fall inside it (up to its due date, which a weekend rule may move past its
    /// last day).
    #[must_use]
    pub fn covers(&self, p: &Period) -> bool {
        match self.to {
            Some(to) => self.from <= p.start && to >= p.end,
            None => self.from >= p.start && self.from <= p.end.max(p.due),
        }
    }
}

/// One run as the computation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    /// Its period and due date.
    pub period: Period,
    /// Where it stands.
    pub state: RunState,
    /// What was found (once performed).
    pub result: Option<RunResult>,
    /// When it was last submitted.
    pub performed_on: Option<Date>,
    /// Its evidence.
    pub evidence: Vec<EvidenceSpan>,
}

/// An activity's runs, oldest period first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityFacts {
    /// Its title, for the reasons.
    pub title: String,
    /// Its runs.
    pub runs: Vec<RunFacts>,
}

/// A control's effectiveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effectiveness {
    /// No run of any activity has been due yet (or there are no activities).
    NotTested,
    /// Every activity's latest due run passed.
    Effective,
    /// A due run has not been performed and approved.
    Overdue,
    /// A run found the control deficient, was not performed, was late, or lacks evidence
    /// covering its period.
    Deficient,
}

impl Effectiveness {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotTested => "not_tested",
            Self::Effective => "effective",
            Self::Overdue => "overdue",
            Self::Deficient => "deficient",
        }
    }

    /// From the stored or submitted name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "not_tested" => Self::NotTested,
            "effective" => Self::Effective,
            "overdue" => Self::Overdue,
            "deficient" => Self::Deficient,
            _ => return None,
        })
    }

    /// What people read.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::NotTested => "not tested",
            Self::Effective => "effective",
            Self::Overdue => "overdue",
            Self::Deficient => "deficient",
        }
    }

    /// All of them, best first.
    pub const ALL: [Self; 4] = [
        Self::Effective,
        Self::NotTested,
        Self::Overdue,
        Self::Deficient,
    ];
}

/// The outcome: the state, why, and the first day on which the passing of time alone could
/// change it (when a run not yet approved falls due).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The state.
    pub state: Effectiveness,
    /// Why, one line per finding (empty when effective).
    pub reasons: Vec<String>,
    /// Recompute on this day at the latest.
    pub recheck_on: Option<Date>,
}

fn span(p: &Period) -> String {
    format!("{} to {}", p.start, p.end)
}

/// One activity's verdict.
fn assess_activity(
    today: Date,
    a: &ActivityFacts,
) -> (Effectiveness, Option<String>, Option<Date>) {
    // The latest run that counts: past its due date, or approved early.
    let latest = a
        .runs
        .iter()
        .rev()
        .find(|r| r.period.due < today || r.state == RunState::Approved);
    // Time changes things when the first run not yet approved that is not yet late becomes so.
    let recheck = a
        .runs
        .iter()
        .filter(|r| r.period.due >= today && r.state != RunState::Approved)
        .map(|r| r.period.due.next_day().unwrap_or(r.period.due))
        .min();
    let Some(r) = latest else {
        let first = a.runs.first().map(|r| r.period.due);
        return (
            Effectiveness::NotTested,
            Some(match first {
                Some(d) => format!("{}: the first run is due on {d}.", a.title),
                None => format!("{}: no run scheduled yet.", a.title),
            }),
            recheck,
        );
    };
    let p = &r.period;
    let verdict = match r.state {
        RunState::Scheduled => (
            Effectiveness::Overdue,
            format!(
                "{}: the run for {} was due on {} and has not been performed.",
                a.title,
                span(p),
                p.due
            ),
        ),
        RunState::Submitted => (
            Effectiveness::Overdue,
            format!(
                "{}: the run for {} was due on {} and is still awaiting review.",
                a.title,
                span(p),
                p.due
            ),
        ),
        RunState::Returned => (
            Effectiveness::Overdue,
            format!(
                "{}: the run for {} was returned by its reviewer and is overdue (due {}).",
                a.title,
                span(p),
                p.due
            ),
        ),
        RunState::Approved => match (r.result, r.performed_on) {
            (Some(RunResult::Deficient), _) => (
                Effectiveness::Deficient,
                format!(
                    "{}: the run for {} found the control deficient.",
                    a.title,
                    span(p)
                ),
            ),
            (Some(RunResult::NotPerformed) | None, _) => (
                Effectiveness::Deficient,
                format!("{}: the run for {} was not performed.", a.title, span(p)),
            ),
            (_, Some(done)) if done > p.due => (
                Effectiveness::Deficient,
                format!(
                    "{}: the run for {} was performed late, on {done} (due {}).",
                    a.title,
                    span(p),
                    p.due
                ),
            ),
            _ if r.evidence.is_empty() => (
                Effectiveness::Deficient,
                format!("{}: the run for {} has no evidence.", a.title, span(p)),
            ),
            _ if !r.evidence.iter().any(|e| e.covers(p)) => (
                Effectiveness::Deficient,
                format!(
                    "{}: no evidence of the run for {} covers that period.",
                    a.title,
                    span(p)
                ),
            ),
            _ => return (Effectiveness::Effective, None, recheck),
        },
    };
    (verdict.0, Some(verdict.1), recheck)
}

/// A control's effectiveness on `today` from its active activities.
#[must_use]
pub fn assess(today: Date, activities: &[ActivityFacts]) -> Assessment {
    if activities.is_empty() {
        return Assessment {
            state: Effectiveness::NotTested,
            reasons: vec!["No activity tests this control.".to_owned()],
            recheck_on: None,
        };
    }
    let verdicts: Vec<_> = activities
        .iter()
        .map(|a| assess_activity(today, a))
        .collect();
    let tested: Vec<Effectiveness> = verdicts
        .iter()
        .map(|v| v.0)
        .filter(|s| *s != Effectiveness::NotTested)
        .collect();
    let state = tested
        .iter()
        .copied()
        .max()
        .unwrap_or(Effectiveness::NotTested);
    // The reasons that explain the state: the failures, or why nothing is tested yet.
    let reasons = verdicts
        .iter()
        .filter(|v| {
            v.0 == state || (state == Effectiveness::NotTested && v.0 == Effectiveness::NotTested)
        })
        .filter_map(|v| v.1.clone())
        .collect();
    Assessment {
        state,
        reasons,
        recheck_on: verdicts.iter().filter_map(|v| v.2).min(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activities::schedule::{Frequency, Schedule, WeekendRule};
    use time::macros::date;

    fn quarter(n: i64) -> Period {
        Schedule::new(
            date!(2026 - 01 - 01),
            Frequency::Quarterly,
            WeekendRule::Keep,
        )
        .unwrap()
        .period(n)
        .unwrap()
    }

    fn run(
        n: i64,
        state: RunState,
        result: Option<RunResult>,
        done: Option<Date>,
        ev: &[EvidenceSpan],
    ) -> RunFacts {
        RunFacts {
            period: quarter(n),
            state,
            result,
            performed_on: done,
            evidence: ev.to_vec(),
        }
    }

    fn one(runs: Vec<RunFacts>) -> Vec<ActivityFacts> {
        vec![ActivityFacts {
            title: "Access review".to_owned(),
            runs,
        }]
    }

    const Q1: EvidenceSpan = EvidenceSpan {
        from: date!(2026 - 01 - 01),
        to: Some(date!(2026 - 03 - 31)),
    };

    #[test]
    fn an_approved_effective_run_on_time_with_covering_evidence_is_effective() {
        let a = one(vec![
            run(
                0,
                RunState::Approved,
                Some(RunResult::Effective),
                Some(date!(2026 - 03 - 30)),
                &[Q1],
            ),
            run(1, RunState::Scheduled, None, None, &[]),
        ]);
        let r = assess(date!(2026 - 04 - 10), &a);
        assert_eq!(r.state, Effectiveness::Effective);
        assert!(r.reasons.is_empty());
        // The next run falls due on 30 June: recheck the day after.
        assert_eq!(r.recheck_on, Some(date!(2026 - 07 - 01)));
        // On 1 July, the second quarter's run is overdue.
        let r = assess(date!(2026 - 07 - 01), &a);
        assert_eq!(r.state, Effectiveness::Overdue);
        assert!(
            r.reasons[0].contains("was due on 2026-06-30"),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn late_returned_unreviewed_and_failed_runs_are_not_effective() {
        let today = date!(2026 - 04 - 10);
        let cases = [
            (
                run(0, RunState::Scheduled, None, None, &[]),
                Effectiveness::Overdue,
                "has not been performed",
            ),
            (
                run(
                    0,
                    RunState::Submitted,
                    Some(RunResult::Effective),
                    Some(date!(2026 - 03 - 30)),
                    &[Q1],
                ),
                Effectiveness::Overdue,
                "awaiting review",
            ),
            (
                run(
                    0,
                    RunState::Returned,
                    Some(RunResult::Effective),
                    Some(date!(2026 - 03 - 30)),
                    &[Q1],
                ),
                Effectiveness::Overdue,
                "returned",
            ),
            (
                run(
                    0,
                    RunState::Approved,
                    Some(RunResult::Effective),
                    Some(date!(2026 - 04 - 02)),
                    &[Q1],
                ),
                Effectiveness::Deficient,
                "performed late",
            ),
            (
                run(
                    0,
                    RunState::Approved,
                    Some(RunResult::Deficient),
                    Some(date!(2026 - 03 - 30)),
                    &[Q1],
                ),
                Effectiveness::Deficient,
                "found the control deficient",
            ),
            (
                run(
                    0,
                    RunState::Approved,
                    Some(RunResult::NotPerformed),
                    Some(date!(2026 - 03 - 30)),
                    &[Q1],
                ),
                Effectiveness::Deficient,
                "not performed",
            ),
            (
                run(
                    0,
                    RunState::Approved,
                    Some(RunResult::Effective),
                    Some(date!(2026 - 03 - 30)),
                    &[],
                ),
                Effectiveness::Deficient,
                "no evidence",
            ),
        ];
        for (r, state, why) in cases {
            let a = assess(today, &one(vec![r.clone()]));
            assert_eq!(a.state, state, "{r:?}");
            assert!(a.reasons[0].contains(why), "{:?}", a.reasons);
        }
    }

    #[test]
    fn evidence_must_cover_the_period() {
        let today = date!(2026 - 04 - 10);
        let done = Some(date!(2026 - 03 - 30));
        let partial = EvidenceSpan {
            from: date!(2026 - 02 - 01),
            to: Some(date!(2026 - 03 - 31)),
        };
        let outside = EvidenceSpan {
            from: date!(2025 - 12 - 15),
            to: None,
        };
        let inside = EvidenceSpan {
            from: date!(2026 - 03 - 15),
            to: None,
        };
        let wider = EvidenceSpan {
            from: date!(2025 - 10 - 01),
            to: Some(date!(2026 - 06 - 30)),
        };
        for (ev, ok) in [
            (partial, false),
            (outside, false),
            (inside, true),
            (wider, true),
        ] {
            let a = assess(
                today,
                &one(vec![run(
                    0,
                    RunState::Approved,
                    Some(RunResult::Effective),
                    done,
                    &[ev],
                )]),
            );
            assert_eq!(a.state == Effectiveness::Effective, ok, "{ev:?}");
            if !ok {
                assert!(
                    a.reasons[0].contains("covers that period"),
                    "{:?}",
                    a.reasons
                );
            }
        }
        // One covering item among several is enough.
        let a = assess(
            today,
            &one(vec![run(
                0,
                RunState::Approved,
                Some(RunResult::Effective),
                done,
                &[partial, Q1],
            )]),
        );
        assert_eq!(a.state, Effectiveness::Effective);
    }

    #[test]
    fn nothing_due_yet_is_not_tested_and_the_worst_activity_decides() {
        let a = one(vec![run(0, RunState::Scheduled, None, None, &[])]);
        let r = assess(date!(2026 - 02 - 01), &a);
        assert_eq!(r.state, Effectiveness::NotTested);
        assert!(r.reasons[0].contains("first run is due on 2026-03-31"));
        assert_eq!(
            assess(date!(2026 - 02 - 01), &[]).state,
            Effectiveness::NotTested
        );
        // Due today is not yet late.
        assert_eq!(
            assess(date!(2026 - 03 - 31), &a).state,
            Effectiveness::NotTested
        );
        assert_eq!(
            assess(date!(2026 - 04 - 01), &a).state,
            Effectiveness::Overdue
        );
        // Approved early counts before it is due.
        let early = one(vec![run(
            0,
            RunState::Approved,
            Some(RunResult::Effective),
            Some(date!(2026 - 02 - 10)),
            &[EvidenceSpan {
                from: date!(2026 - 02 - 10),
                to: None,
            }],
        )]);
        assert_eq!(
            assess(date!(2026 - 02 - 11), &early).state,
            Effectiveness::Effective
        );
        // Two activities: one effective, one deficient → deficient, with that reason only.
        let mut both = early.clone();
        both.push(ActivityFacts {
            title: "Backup test".to_owned(),
            runs: vec![run(
                0,
                RunState::Approved,
                Some(RunResult::Deficient),
                Some(date!(2026 - 02 - 10)),
                &[],
            )],
        });
        let r = assess(date!(2026 - 02 - 11), &both);
        assert_eq!(r.state, Effectiveness::Deficient);
        assert_eq!(r.reasons.len(), 1);
        assert!(r.reasons[0].starts_with("Backup test"));
        // One effective and one not yet due → effective.
        let mut mixed = early;
        mixed.push(ActivityFacts {
            title: "Later".to_owned(),
            runs: vec![run(1, RunState::Scheduled, None, None, &[])],
        });
        assert_eq!(
            assess(date!(2026 - 02 - 11), &mixed).state,
            Effectiveness::Effective
        );
    }
}
