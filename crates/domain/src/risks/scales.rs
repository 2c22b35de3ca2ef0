//! A tenant's likelihood and impact scales (5 × 5 unless it sets others: 3 to 10 named levels
//! each), the band a score falls in, and the heat map's grid. Pure.

/// The fewest levels a scale may have.
pub const MIN_LEVELS: usize = 3;
/// The most levels a scale may have.
pub const MAX_LEVELS: usize = 10;

/// Likelihood and impact level names, lowest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scales {
    /// Likelihood levels.
    pub likelihood: Vec<String>,
    /// Impact levels.
    pub impact: Vec<String>,
}

impl Default for Scales {
    fn default() -> Self {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect();
        Self {
            likelihood: names(&["Rare", "Unlikely", "Possible", "Likely", "Almost certain"]),
            impact: names(&["Negligible", "Minor", "Moderate", "Major", "Severe"]),
        }
    }
}

/// Checks one scale's level names: 3 to 10, each 1 to 40 characters on one line, distinct.
///
/// # Errors
/// What is wrong.
pub fn check_levels(levels: &[String]) -> Result<Vec<String>, String> {
    let levels: Vec<String> = levels
        .iter()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    if !(MIN_LEVELS..=MAX_LEVELS).contains(&levels.len()) {
        return Err(format!(
            "A scale has {MIN_LEVELS} to {MAX_LEVELS} levels, one per line."
        ));
    }
    for (n, l) in levels.iter().enumerate() {
        if l.chars().count() > 40 || l.chars().any(char::is_control) {
            return Err(format!(
                "Level {}: at most 40 characters on one line.",
                n + 1
            ));
        }
        if levels[..n].iter().any(|o| o.eq_ignore_ascii_case(l)) {
            return Err(format!("Level {} repeats \"{l}\".", n + 1));
        }
    }
    Ok(levels)
}

impl Scales {
    /// The largest score.
    #[must_use]
    pub fn max_score(&self) -> i32 {
        i32::try_from(self.likelihood.len() * self.impact.len()).unwrap_or(i32::MAX)
    }

    /// The band of a score on these scales.
    #[must_use]
    pub fn band(&self, score: i32) -> Band {
        Band::of(score, self.max_score())
    }

    /// A likelihood level's name (1-based).
    #[must_use]
    pub fn likelihood_name(&self, level: i32) -> &str {
        name(&self.likelihood, level)
    }

    /// An impact level's name (1-based).
    #[must_use]
    pub fn impact_name(&self, level: i32) -> &str {
        name(&self.impact, level)
    }
}

fn name(levels: &[String], level: i32) -> &str {
    usize::try_from(level - 1)
        .ok()
        .and_then(|i| levels.get(i))
        .map_or("?", String::as_str)
}

/// How serious a score is, relative to the largest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    /// Under a fifth of the largest score.
    Low,
    /// Under two fifths.
    Medium,
    /// Under 64 %.
    High,
    /// The rest.
    Critical,
}

impl Band {
    /// The band of `score` out of `max`.
    #[must_use]
    pub fn of(score: i32, max: i32) -> Self {
        let max = max.max(1);
        // In hundredths, to stay in integers.
        let share = score.max(0) * 100 / max;
        match share {
            0..20 => Self::Low,
            20..40 => Self::Medium,
            40..64 => Self::High,
            _ => Self::Critical,
        }
    }

    /// Its name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// A heat map: how many risks sit at each (likelihood, impact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeatMap {
    /// The scales.
    pub scales: Scales,
    /// `counts[likelihood - 1][impact - 1]`.
    pub counts: Vec<Vec<i64>>,
}

impl HeatMap {
    /// A map from `(likelihood, impact, count)` rows; rows outside the scales are ignored.
    #[must_use]
    pub fn new(scales: Scales, rows: &[(i32, i32, i64)]) -> Self {
        let mut counts = vec![vec![0; scales.impact.len()]; scales.likelihood.len()];
        for (l, i, n) in rows {
            if let (Ok(l), Ok(i)) = (usize::try_from(*l - 1), usize::try_from(*i - 1))
                && let Some(cell) = counts.get_mut(l).and_then(|r| r.get_mut(i))
            {
                *cell += n;
            }
        }
        Self { scales, counts }
    }

    /// All risks on the map.
    #[must_use]
    pub fn total(&self) -> i64 {
        self.counts.iter().flatten().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_five_by_five_and_bands_grow_with_the_score() {
        let s = Scales::default();
        assert_eq!(
            (s.likelihood.len(), s.impact.len(), s.max_score()),
            (5, 5, 25)
        );
        assert_eq!(s.band(1), Band::Low);
        assert_eq!(s.band(6), Band::Medium);
        assert_eq!(s.band(12), Band::High);
        assert_eq!(s.band(16), Band::Critical);
        assert_eq!(s.band(25), Band::Critical);
        assert_eq!(s.likelihood_name(5), "Almost certain");
        assert_eq!(s.impact_name(0), "?");
    }

    #[test]
    fn scales_that_make_no_sense_are_refused() {
        let v = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(check_levels(&v(&["a", "b"])).is_err());
        assert!(check_levels(&v(&["a", "b", "A"])).is_err());
        assert!(check_levels(&v(&["a", "b", "c\u{7}"])).is_err());
        assert!(
            check_levels(&v(&[
                "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"
            ]))
            .is_err()
        );
        assert_eq!(
            check_levels(&v(&[" low ", "", "mid", "high"])).unwrap(),
            v(&["low", "mid", "high"])
        );
    }

    #[test]
    fn the_heat_map_counts_each_cell() {
        let m = HeatMap::new(
            Scales::default(),
            &[(1, 1, 2), (5, 5, 1), (6, 1, 9), (2, 3, 4)],
        );
        assert_eq!(m.counts[0][0], 2);
        assert_eq!(m.counts[4][4], 1);
        assert_eq!(m.counts[1][2], 4);
        assert_eq!(m.total(), 7);
    }
}
