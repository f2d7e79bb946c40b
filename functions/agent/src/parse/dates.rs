//! Dates as printed, in any common format.

use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};
use regex::Regex;

use super::locale::DateOrder;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

pub(crate) static YMD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{4})\s?[-/.]\s?(\d{1,2})\s?[-/.]\s?(\d{1,2})\b").unwrap());
pub(crate) static DMY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,2})\s?([-/.])\s?(\d{1,2})\s?([-/.])\s?(\d{4}|0\d{2}|\d{2})\b").unwrap()
});
/// A label run into its date (`Date10/01/2018`).
pub(crate) static LABEL_THEN_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(DATE|TARIKH|:)(\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})").unwrap());
/// A slashed date with a four-digit year, even run into the digits
/// before it (`#0934-000105/01/2018`).
pub(crate) static SLASHED_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{2})/(\d{2})/((?:19|20)\d{2})").unwrap());
pub(crate) static D_MON_Y: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(\d{1,2})(?:ST|ND|RD|TH)?[\s\-/.]*(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*[\s\-/.,']*(\d{4}|\d{2})\b")
        .unwrap()
});
pub(crate) static MON_D_Y: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)[A-Z]*[\s\-/.]*(\d{1,2})(?:ST|ND|RD|TH)?[\s,]+(\d{4})\b")
        .unwrap()
});

pub(crate) static YEAR_THEN_TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([-/.\sA-Za-z](?:19|20)\d{2})([0-2]?\d:[0-5]\d)").unwrap());
/// A two-digit year run into the time after it (`02/03/1805:16PM`).
pub(crate) static SHORT_YEAR_THEN_TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d[-/.]\d{2})(\d{2}:[0-5]\d)").unwrap());

static SHORT_YEAR_GLUED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{1,2}[-/.]\d{1,2}[-/.])(\d{2})([0-2]\d:[0-5]\d)").unwrap());

/// A year as printed: two digits or four.
pub(crate) fn full_year(y: u32) -> i32 {
    match y {
        0..=69 => 2000 + y as i32,
        70..=99 => 1900 + y as i32,
        _ => y as i32,
    }
}

pub(crate) fn month_of(name: &str) -> Option<u32> {
    let up = name.to_ascii_uppercase();
    MONTHS
        .iter()
        .position(|m| up.starts_with(m))
        .map(|i| i as u32 + 1)
}

/// Day first, unless that is impossible.
pub(crate) fn day_first(a: u32, b: u32, y: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, b, a).or_else(|| NaiveDate::from_ymd_opt(y, a, b))
}

/// In the given order, unless that is impossible.
fn in_order(a: u32, b: u32, y: i32, order: DateOrder) -> Option<NaiveDate> {
    match order {
        DateOrder::DayFirst => day_first(a, b, y),
        DateOrder::MonthFirst => day_first(b, a, y),
    }
}

/// The numeric dates on a line (`25/12/2018`, `12-01-19`), added to
/// `found` with their start unless one starts there already.
fn numeric_dates(line: &str, order: DateOrder, found: &mut Vec<(usize, NaiveDate)>) {
    // Matches may overlap ("#19- 18/01/2018"): after one that is not a
    // date, look again from the next character.
    let mut pos = 0;
    while let Some(c) = DMY.captures_at(line, pos) {
        let m = c.get(0).unwrap();
        let start = m.start();
        let (a, b) = (c[1].parse().unwrap_or(0), c[3].parse().unwrap_or(0));
        // Three digits: OCR lost the year's leading 2 (`22/12/017`).
        let y = if c[5].len() == 3 {
            2000 + c[5].parse::<i32>().unwrap_or(0)
        } else {
            full_year(c[5].parse().unwrap_or(0))
        };
        // A date keeps one separator (`06- 5/40` is two codes).
        let one_separator = c[2] == c[4];
        match in_order(a, b, y, order) {
            Some(date)
                if one_separator
                    && !found
                        .iter()
                        .any(|(s, _)| (*s as isize - start as isize).abs() < 6) =>
            {
                found.push((start, date));
                pos = m.end();
            }
            _ => {
                pos = line[start..]
                    .char_indices()
                    .nth(1)
                    .map_or(line.len(), |(i, _)| start + i)
            }
        }
        if pos >= line.len() {
            break;
        }
    }
}

/// Dates on a line, day first unless that is impossible.
pub fn dates(line: &str) -> Vec<NaiveDate> {
    dates_in(line, DateOrder::DayFirst)
}

/// Dates on a line, in any common format (`25/12/2018`, `12-01-19`,
/// `10 MAR 2018`, `2018-12-25`, `Dec 25, 2018`), in order of appearance;
/// a numeric date's day and month in `order`, unless that is impossible.
pub fn dates_in(line: &str, order: DateOrder) -> Vec<NaiveDate> {
    // A two-digit year run into the time after it, which reads like a
    // four-digit year (`18.05.2009:50` is 18.05.20 09:50): no year is
    // followed by a colon.
    let parted = SHORT_YEAR_GLUED.replace_all(line, "$1$2 $3");
    // A year run into the time after it (`25/12/201808:13`): part them.
    let parted = YEAR_THEN_TIME.replace_all(&parted, "$1 $2");
    let parted = SHORT_YEAR_THEN_TIME.replace_all(&parted, |c: &regex::Captures| {
        let year = &c[1][c[1].len() - 2..];
        if year == "19" || year == "20" {
            // `…/2018:…` is a four-digit year, not a short one.
            c[0].to_owned()
        } else {
            format!("{} {}", &c[1], &c[2])
        }
    });
    let parted = LABEL_THEN_DATE.replace_all(&parted, "$1 $2");
    let line: &str = &parted;
    let mut found: Vec<(usize, NaiveDate)> = Vec::new();
    for c in YMD.captures_iter(line) {
        let (y, m, d) = (
            c[1].parse().unwrap_or(0),
            c[2].parse().unwrap_or(0),
            c[3].parse().unwrap_or(0),
        );
        if let Some(date) = NaiveDate::from_ymd_opt(y, m, d) {
            found.push((c.get(0).unwrap().start(), date));
        }
    }
    numeric_dates(line, order, &mut found);
    for c in D_MON_Y.captures_iter(line) {
        let (d, y) = (
            c[1].parse().unwrap_or(0),
            full_year(c[3].parse().unwrap_or(0)),
        );
        if let Some(date) = month_of(&c[2]).and_then(|m| NaiveDate::from_ymd_opt(y, m, d)) {
            found.push((c.get(0).unwrap().start(), date));
        }
    }
    for c in MON_D_Y.captures_iter(line) {
        let (d, y) = (c[2].parse().unwrap_or(0), c[3].parse().unwrap_or(0));
        if let Some(date) = month_of(&c[1]).and_then(|m| NaiveDate::from_ymd_opt(y, m, d)) {
            found.push((c.get(0).unwrap().start(), date));
        }
    }
    if found.is_empty()
        && let Some(c) = SLASHED_DATE.captures(line)
        && let Some(date) = in_order(
            c[1].parse().unwrap_or(0),
            c[2].parse().unwrap_or(0),
            c[3].parse().unwrap_or(0),
            order,
        )
    {
        found.push((c.get(0).unwrap().start(), date));
    }
    found.sort_by_key(|(s, _)| *s);
    found.into_iter().map(|(_, d)| d).collect()
}

pub(crate) static GLUED_DM_Y: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(\d{2})(\d{2})\s?[-/.]\s?(\d{4})\b").unwrap());

/// A date whose first separator OCR lost (`1202/2018`); only trusted on a
/// line that says DATE.
pub(crate) fn glued_date(line: &str) -> Option<NaiveDate> {
    let c = GLUED_DM_Y.captures(line)?;
    day_first(c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?)
}

/// A date printed without separators (`27032018`), day first: only
/// believed when its year is a recent one, since long numbers abound on
/// receipts (invoice, registration and card numbers).
pub(crate) fn unseparated_date(line: &str, today: NaiveDate) -> Option<NaiveDate> {
    static DDMMYYYY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?:^|[^\d])(\d{2})(\d{2})((?:19|20)\d{2})(?:[^\d]|$)").unwrap()
    });
    DDMMYYYY.captures_iter(line).find_map(|c| {
        let d =
            NaiveDate::from_ymd_opt(c[3].parse().ok()?, c[2].parse().ok()?, c[1].parse().ok()?)?;
        (plausible_date(d, today) && d.year() + 15 >= today.year()).then_some(d)
    })
}

/// A date written any common way, as a date (for labels and single values).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    dates(s).into_iter().next()
}

pub fn plausible_date(d: NaiveDate, today: NaiveDate) -> bool {
    d.year() >= 1990 && d <= today + chrono::Duration::days(1)
}
