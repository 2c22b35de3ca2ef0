//! What a user sends to create or change evidence, and its validation. Every error names its
//! field; nothing is stored until all of it is valid.

use attest_types::Classification;
use time::{Date, Duration, OffsetDateTime};

use super::EvidenceError;

/// Longest title, in characters.
pub const MAX_TITLE: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 10_000;
/// Most tags on one record.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG: usize = 40;
/// Longest link, in characters.
pub const MAX_LINK: usize = 2_000;

/// A record's fields. Only these exist (SEC-37).
#[derive(Debug, Clone, Default)]
pub struct EvidenceInput {
    /// Title.
    pub title: String,
    /// Plain-text description.
    pub description: String,
    /// Classification name (default `high`).
    pub classification: Option<String>,
    /// New owner (compliance managers and above).
    pub owner: Option<String>,
    /// Tags, separated by commas.
    pub tags: Option<String>,
}

/// A version's fields: the period it shows, and a link when there is no file.
#[derive(Debug, Clone, Default)]
pub struct VersionInput {
    /// `YYYY-MM-DD`: the date the evidence shows, or the start of its observation period
    /// (default: today).
    pub effective_from: Option<String>,
    /// `YYYY-MM-DD`: the end of the observation period.
    pub effective_to: Option<String>,
    /// An external link (`https://…`), instead of a file.
    pub link: Option<String>,
}

pub(super) fn invalid(field: &'static str, code: &'static str, message: &str) -> EvidenceError {
    EvidenceError::Invalid {
        field,
        code,
        message: message.to_owned(),
    }
}

pub(super) fn title(text: &str) -> Result<String, EvidenceError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > MAX_TITLE || t.chars().any(char::is_control) {
        return Err(invalid(
            "title",
            "invalid_title",
            "Enter a title of 1 to 200 characters, on one line.",
        ));
    }
    Ok(t.to_owned())
}

pub(super) fn description(text: &str) -> Result<String, EvidenceError> {
    let d = text.trim();
    if d.chars().count() > MAX_DESCRIPTION
        || d.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(
            "description",
            "invalid_description",
            "The description must be plain text of at most 10,000 characters.",
        ));
    }
    Ok(d.replace("\r\n", "\n"))
}

pub(super) fn classification(text: Option<&str>) -> Result<Classification, EvidenceError> {
    match text.map(str::trim) {
        None | Some("") => Ok(Classification::High),
        Some(t) => t.parse().map_err(|_| {
            invalid(
                "classification",
                "invalid_classification",
                "Choose critical, high, moderate, low or public.",
            )
        }),
    }
}

/// Tags: trimmed, duplicates (ignoring case) dropped, sorted.
pub(super) fn tags(text: Option<&str>) -> Result<Vec<String>, EvidenceError> {
    let mut out: Vec<String> = Vec::new();
    for raw in text.unwrap_or_default().split(',') {
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        let ok = t.chars().count() <= MAX_TAG
            && t.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | ':' | '/'));
        if !ok {
            return Err(invalid(
                "tags",
                "invalid_tag",
                "Tags are up to 40 letters, digits, spaces or - _ . : /, separated by commas.",
            ));
        }
        if !out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
            out.push(t.to_owned());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(invalid("tags", "too_many_tags", "Use at most 20 tags."));
    }
    out.sort();
    Ok(out)
}

/// A single tag for a filter (the same rules, one tag).
pub(super) fn filter_tag(text: Option<&str>) -> Result<Option<String>, EvidenceError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => {
            let mut one = tags(Some(t))
                .map_err(|_| invalid("tag", "invalid_tag", "The tag filter is not a valid tag."))?;
            if one.len() == 1 {
                Ok(one.pop())
            } else {
                Err(invalid(
                    "tag",
                    "invalid_tag",
                    "Filter by one tag at a time.",
                ))
            }
        }
    }
}

/// A `YYYY-MM-DD` date.
pub(super) fn date(field: &'static str, text: &str) -> Result<Date, EvidenceError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text.trim(), format).map_err(|_| {
        invalid(
            field,
            "invalid_date",
            "Enter the date as YYYY-MM-DD, for example 2026-03-31.",
        )
    })
}

/// The effective date or observation period of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Period {
    pub from: Date,
    pub to: Option<Date>,
}

/// The earliest effective date accepted.
const EARLIEST: Date = time::macros::date!(1990 - 01 - 01);

pub(super) fn period(v: &VersionInput, now: OffsetDateTime) -> Result<Period, EvidenceError> {
    let today = now.date();
    let latest = today + Duration::days(366);
    let from = match v.effective_from.as_deref().map(str::trim) {
        None | Some("") => today,
        Some(t) => date("effective_from", t)?,
    };
    if from < EARLIEST || from > latest {
        return Err(invalid(
            "effective_from",
            "date_out_of_range",
            "The effective date must lie between 1990 and a year from today.",
        ));
    }
    let to = match v.effective_to.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) => Some(date("effective_to", t)?),
    };
    if let Some(to) = to
        && (to < from || to > latest)
    {
        return Err(invalid(
            "effective_to",
            "date_out_of_range",
            "The end of the period must not be before its start, nor more than a year from today.",
        ));
    }
    Ok(Period { from, to })
}

/// An external link: `https://` (or `http://`) with a host, one line, at most 2,000
/// characters. Anything else (`javascript:`, `data:`, `file:`) is refused.
pub(super) fn link(text: &str) -> Result<String, EvidenceError> {
    let bad = || {
        invalid(
            "link",
            "invalid_link",
            "Enter a web address starting with https://, of at most 2,000 characters.",
        )
    };
    let t = text.trim();
    if t.chars().count() > MAX_LINK || t.chars().any(char::is_control) {
        return Err(bad());
    }
    let parsed = url::Url::parse(t).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "https" | "http")
        || parsed.host_str().is_none_or(str::is_empty)
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(bad());
    }
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn tags_are_cleaned_and_bounded() {
        assert_eq!(
            tags(Some(" soc2, ISO 27001 ,soc2,SOC2, ,q3/2026")).ok(),
            Some(vec![
                "ISO 27001".to_owned(),
                "q3/2026".to_owned(),
                "soc2".to_owned()
            ])
        );
        assert!(tags(Some("<script>")).is_err());
        let many = (0..21)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(tags(Some(&many)).is_err());
        assert_eq!(filter_tag(Some("soc2")).ok(), Some(Some("soc2".to_owned())));
        assert!(filter_tag(Some("a,b")).is_err());
    }

    #[test]
    fn periods_default_to_today_and_must_make_sense() {
        let now = datetime!(2026-11-23 09:00 UTC);
        let p = period(&VersionInput::default(), now).ok();
        assert_eq!(p.map(|p| p.from), Some(now.date()));
        let v = |from: &str, to: &str| VersionInput {
            effective_from: Some(from.to_owned()),
            effective_to: Some(to.to_owned()),
            link: None,
        };
        assert!(period(&v("2026-01-01", "2026-03-31"), now).is_ok());
        for (from, to) in [
            ("2026-03-31", "2026-01-01"),
            ("1899-01-01", ""),
            ("9999-12-31", ""),
            ("2026-02-30", ""),
            ("31/03/2026", ""),
            ("2026-01-01", "2099-01-01"),
        ] {
            assert!(period(&v(from, to), now).is_err(), "{from}..{to}");
        }
    }

    #[test]
    fn links_must_be_web_addresses() {
        assert!(link("https://drive.example.com/folder?id=1").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "not a link",
            "https://",
        ] {
            assert!(link(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn titles_and_descriptions_are_bounded() {
        assert!(title("  Q3 access review export ").is_ok());
        assert!(title("").is_err());
        assert!(title("a\nb").is_err());
        assert!(description("line one\r\nline two").is_ok_and(|d| d == "line one\nline two"));
        assert!(description("bell\u{7}").is_err());
    }
}
