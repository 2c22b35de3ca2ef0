//! When an activity's runs fall: its periods (weekly, monthly, quarterly, yearly or every
//! *n* days from its first day), each due on its last day, moved off a weekend when the
//! activity says so. Pure: the calendar, no clock.

use time::{Date, Duration, Month, Weekday};

/// The earliest first day a schedule may have.
pub const EARLIEST: Date = time::macros::date!(2000 - 01 - 01);
/// The latest first day a schedule may have.
pub const LATEST: Date = time::macros::date!(2099 - 12 - 31);

/// A `YYYY-MM-DD` day.
#[must_use]
pub fn parse_day(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text.trim(), format).ok()
}
/// The longest custom interval, in days.
pub const MAX_DAYS: i64 = 366;

/// How often an activity recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// Every week.
    Weekly,
    /// Every calendar month (from the first day's day of the month, clamped to short months).
    Monthly,
    /// Every three months.
    Quarterly,
    /// Every year.
    Yearly,
    /// Every this many days (1 to [`MAX_DAYS`]).
    EveryDays(u16),
}

impl Frequency {
    /// The stored name (`custom` for [`Frequency::EveryDays`]).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
            Self::Quarterly => "quarterly",
            Self::Yearly => "yearly",
            Self::EveryDays(_) => "custom",
        }
    }

    /// The custom interval, if any.
    #[must_use]
    pub const fn days(self) -> Option<u16> {
        match self {
            Self::EveryDays(d) => Some(d),
            _ => None,
        }
    }

    /// From the stored or submitted name and, for `custom`, the interval in days.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(name: &str, days: Option<i64>) -> Result<Self, &'static str> {
        Ok(match name.trim() {
            "weekly" => Self::Weekly,
            "monthly" => Self::Monthly,
            "quarterly" => Self::Quarterly,
            "yearly" => Self::Yearly,
            "custom" => match days {
                Some(d) if (1..=MAX_DAYS).contains(&d) => {
                    Self::EveryDays(u16::try_from(d).map_err(|_| "too many days")?)
                }
                _ => return Err("A custom frequency needs an interval of 1 to 366 days."),
            },
            _ => return Err("The frequency is weekly, monthly, quarterly, yearly or custom."),
        })
    }

    /// What people read.
    #[must_use]
    pub fn label(self) -> String {
        match self {
            Self::EveryDays(1) => "every day".to_owned(),
            Self::EveryDays(d) => format!("every {d} days"),
            other => other.as_str().to_owned(),
        }
    }
}

/// What happens to a due date on a Saturday or Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeekendRule {
    /// It stays.
    Keep,
    /// It moves to the Friday before.
    Before,
    /// It moves to the Monday after.
    After,
}

impl WeekendRule {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Before => "before",
            Self::After => "after",
        }
    }

    /// From the stored or submitted name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.trim() {
            "keep" | "" => Self::Keep,
            "before" => Self::Before,
            "after" => Self::After,
            _ => return None,
        })
    }

    /// Applies the rule to a date.
    #[must_use]
    pub fn apply(self, d: Date) -> Date {
        let back = match (self, d.weekday()) {
            (Self::Before, Weekday::Saturday) => -1,
            (Self::Before, Weekday::Sunday) => -2,
            (Self::After, Weekday::Saturday) => 2,
            (Self::After, Weekday::Sunday) => 1,
            _ => 0,
        };
        d.checked_add(Duration::days(back)).unwrap_or(d)
    }
}

/// One period of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Its first day.
    pub start: Date,
    /// Its last day.
    pub end: Date,
    /// When its run is due.
    pub due: Date,
}

/// An activity's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// The first day of the first period.
    pub starts_on: Date,
    /// How often.
    pub frequency: Frequency,
    /// Weekend due dates.
    pub weekends: WeekendRule,
}

/// `d` moved by `months` calendar months, the day clamped to the month's length.
fn add_months(d: Date, months: i64) -> Option<Date> {
    let total = i64::from(d.year()) * 12 + i64::from(u8::from(d.month())) - 1 + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).ok()?).ok()?;
    let day = d.day().min(time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day).ok()
}

impl Schedule {
    /// Checks a schedule's first day.
    ///
    /// # Errors
    /// A message when it lies outside 2000–2099.
    pub fn new(
        starts_on: Date,
        frequency: Frequency,
        weekends: WeekendRule,
    ) -> Result<Self, &'static str> {
        if !(EARLIEST..=LATEST).contains(&starts_on) {
            return Err("The first day must lie between 2000 and 2099.");
        }
        Ok(Self {
            starts_on,
            frequency,
            weekends,
        })
    }

    /// The first day of period `n` (0-based).
    fn start_of(&self, n: i64) -> Option<Date> {
        match self.frequency {
            Frequency::Weekly => self.starts_on.checked_add(Duration::weeks(n)),
            Frequency::Monthly => add_months(self.starts_on, n),
            Frequency::Quarterly => add_months(self.starts_on, n.checked_mul(3)?),
            Frequency::Yearly => add_months(self.starts_on, n.checked_mul(12)?),
            Frequency::EveryDays(d) => self
                .starts_on
                .checked_add(Duration::days(n.checked_mul(i64::from(d))?)),
        }
    }

    /// Period `n` (0-based).
    #[must_use]
    pub fn period(&self, n: i64) -> Option<Period> {
        let start = self.start_of(n)?;
        let end = self.start_of(n + 1)?.previous_day()?;
        Some(Period {
            start,
            end,
            due: self.weekends.apply(end),
        })
    }

    /// Every period that starts on or before `until`, from the first one that ends on or after
    /// `from`: the runs a schedule wants between two days. At most `limit` of them.
    #[must_use]
    pub fn periods_between(&self, from: Date, until: Date, limit: usize) -> Vec<Period> {
        let mut out = Vec::new();
        let mut n = self.index_before(from);
        while out.len() < limit {
            let Some(p) = self.period(n) else { break };
            if p.start > until {
                break;
            }
            if p.end >= from {
                out.push(p);
            }
            n += 1;
        }
        out
    }
}

impl Schedule {
    /// The number of a period that starts on or before `day` and at most two periods before
    /// the one containing it (0 when `day` is before the first): where a walk to `day` can
    /// begin without counting every period since the schedule started.
    fn index_before(&self, day: Date) -> i64 {
        match self.frequency {
            Frequency::Weekly => (day - self.starts_on).whole_weeks() - 1,
            Frequency::EveryDays(d) => (day - self.starts_on).whole_days() / i64::from(d) - 1,
            Frequency::Monthly => month_gap(self.starts_on, day) - 1,
            Frequency::Quarterly => month_gap(self.starts_on, day) / 3 - 1,
            Frequency::Yearly => month_gap(self.starts_on, day) / 12 - 1,
        }
        .max(0)
    }

    /// The first day of the first period that starts after `day`; `None` past 2099's range
    /// of dates.
    #[must_use]
    pub fn first_start_after(&self, day: Date) -> Option<Date> {
        let mut n = self.index_before(day);
        loop {
            let start = self.start_of(n)?;
            if start > day {
                return Some(start);
            }
            n = n.checked_add(1)?;
        }
    }
}

fn month_gap(a: Date, b: Date) -> i64 {
    (i64::from(b.year()) - i64::from(a.year())) * 12 + i64::from(u8::from(b.month()))
        - i64::from(u8::from(a.month()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn sched(start: Date, f: Frequency, w: WeekendRule) -> Schedule {
        Schedule::new(start, f, w).unwrap()
    }

    #[test]
    fn the_first_start_after_a_day_is_the_next_periods_first_day() {
        let m = sched(date!(2026 - 01 - 31), Frequency::Monthly, WeekendRule::Keep);
        assert_eq!(
            m.first_start_after(date!(2026 - 01 - 30)),
            Some(date!(2026 - 01 - 31))
        );
        assert_eq!(
            m.first_start_after(date!(2026 - 01 - 31)),
            Some(date!(2026 - 02 - 28))
        );
        assert_eq!(
            m.first_start_after(date!(2026 - 03 - 30)),
            Some(date!(2026 - 03 - 31))
        );
        let w = sched(date!(2026 - 11 - 02), Frequency::Weekly, WeekendRule::Keep);
        assert_eq!(
            w.first_start_after(date!(2027 - 02 - 01)),
            Some(date!(2027 - 02 - 08))
        );
        let d = sched(
            date!(2026 - 11 - 01),
            Frequency::EveryDays(10),
            WeekendRule::Keep,
        );
        assert_eq!(
            d.first_start_after(date!(2026 - 11 - 11)),
            Some(date!(2026 - 11 - 21))
        );
        // Every start after the day is later than the one found, and none in between.
        for f in [Frequency::Quarterly, Frequency::Yearly] {
            let s = sched(date!(2024 - 05 - 15), f, WeekendRule::Keep);
            let day = date!(2026 - 12 - 01);
            let next = s.first_start_after(day).unwrap();
            let all = s.periods_between(date!(2024 - 05 - 15), next, 100);
            assert!(
                all.iter().all(|p| p.start <= day || p.start == next),
                "{f:?}"
            );
            assert!(next > day);
        }
    }

    #[test]
    fn monthly_periods_clamp_to_short_months_and_come_back() {
        let s = sched(date!(2026 - 01 - 31), Frequency::Monthly, WeekendRule::Keep);
        let p: Vec<Period> = (0..4).filter_map(|n| s.period(n)).collect();
        assert_eq!(p[0].start, date!(2026 - 01 - 31));
        assert_eq!(p[0].end, date!(2026 - 02 - 27));
        assert_eq!(p[1].start, date!(2026 - 02 - 28));
        assert_eq!(p[1].end, date!(2026 - 03 - 30));
        assert_eq!(p[2].start, date!(2026 - 03 - 31));
        assert_eq!(p[3].start, date!(2026 - 04 - 30));
    }

    #[test]
    fn quarters_years_weeks_and_custom_intervals_tile_the_calendar() {
        for f in [
            Frequency::Weekly,
            Frequency::Monthly,
            Frequency::Quarterly,
            Frequency::Yearly,
            Frequency::EveryDays(1),
            Frequency::EveryDays(10),
        ] {
            let s = sched(date!(2024 - 02 - 29), f, WeekendRule::Keep);
            let ps = s.periods_between(date!(2024 - 01 - 01), date!(2030 - 01 - 01), 10_000);
            assert!(!ps.is_empty(), "{f:?}");
            assert_eq!(ps[0].start, date!(2024 - 02 - 29), "{f:?}");
            for w in ps.windows(2) {
                assert_eq!(
                    w[0].end.next_day(),
                    Some(w[1].start),
                    "{f:?}: no gap, no overlap"
                );
                assert!(w[0].start <= w[0].end);
            }
        }
        let q = sched(
            date!(2026 - 01 - 01),
            Frequency::Quarterly,
            WeekendRule::Keep,
        );
        assert_eq!(q.period(0).unwrap().end, date!(2026 - 03 - 31));
        assert_eq!(q.period(3).unwrap().end, date!(2026 - 12 - 31));
        let y = sched(date!(2026 - 07 - 01), Frequency::Yearly, WeekendRule::Keep);
        assert_eq!(y.period(0).unwrap().end, date!(2027 - 06 - 30));
    }

    #[test]
    fn weekend_due_dates_move_to_the_friday_before_or_the_monday_after() {
        // 2026-01-31 is a Saturday, 2026-05-31 a Sunday.
        assert_eq!(
            WeekendRule::Before.apply(date!(2026 - 01 - 31)),
            date!(2026 - 01 - 30)
        );
        assert_eq!(
            WeekendRule::After.apply(date!(2026 - 01 - 31)),
            date!(2026 - 02 - 02)
        );
        assert_eq!(
            WeekendRule::Before.apply(date!(2026 - 05 - 31)),
            date!(2026 - 05 - 29)
        );
        assert_eq!(
            WeekendRule::After.apply(date!(2026 - 05 - 31)),
            date!(2026 - 06 - 01)
        );
        assert_eq!(
            WeekendRule::Keep.apply(date!(2026 - 05 - 31)),
            date!(2026 - 05 - 31)
        );
        assert_eq!(
            WeekendRule::After.apply(date!(2026 - 06 - 03)),
            date!(2026 - 06 - 03)
        );
        let s = sched(
            date!(2026 - 01 - 01),
            Frequency::Monthly,
            WeekendRule::Before,
        );
        assert_eq!(s.period(0).unwrap().due, date!(2026 - 01 - 30));
    }

    #[test]
    fn periods_between_skips_ahead_and_stops_at_the_limit() {
        let s = sched(
            date!(2000 - 01 - 03),
            Frequency::EveryDays(1),
            WeekendRule::Keep,
        );
        let ps = s.periods_between(date!(2026 - 06 - 01), date!(2026 - 06 - 10), 100);
        assert_eq!(ps.len(), 10);
        assert_eq!(ps[0].start, date!(2026 - 06 - 01));
        assert_eq!(
            s.periods_between(date!(2026 - 06 - 01), date!(2027 - 06 - 10), 5)
                .len(),
            5
        );
        let m = sched(date!(2026 - 03 - 15), Frequency::Monthly, WeekendRule::Keep);
        let ps = m.periods_between(date!(2026 - 06 - 01), date!(2026 - 07 - 20), 10);
        let starts: Vec<Date> = ps.iter().map(|p| p.start).collect();
        assert_eq!(
            starts,
            [
                date!(2026 - 05 - 15),
                date!(2026 - 06 - 15),
                date!(2026 - 07 - 15)
            ]
        );
        // Nothing before the first day.
        assert!(
            m.periods_between(date!(2020 - 01 - 01), date!(2026 - 03 - 01), 10)
                .is_empty()
        );
    }

    #[test]
    fn schedules_that_make_no_sense_are_refused() {
        assert!(Frequency::parse("custom", None).is_err());
        assert!(Frequency::parse("custom", Some(0)).is_err());
        assert!(Frequency::parse("custom", Some(367)).is_err());
        assert!(Frequency::parse("fortnightly", None).is_err());
        assert_eq!(
            Frequency::parse("custom", Some(14)),
            Ok(Frequency::EveryDays(14))
        );
        assert!(
            Schedule::new(date!(1999 - 12 - 31), Frequency::Weekly, WeekendRule::Keep).is_err()
        );
        assert!(
            Schedule::new(date!(2100 - 01 - 01), Frequency::Weekly, WeekendRule::Keep).is_err()
        );
        assert_eq!(WeekendRule::parse("sometimes"), None);
    }
}
