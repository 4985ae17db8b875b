//! The period a report covers: whole local days in one time zone.
//!
//! A manager thinks in calendar days ("this week", "1 to 7 March"), not in UTC instants,
//! so a period is a range of civil dates plus the zone they are read in. It is turned
//! into the half-open instant range `[start of first day, start of the day after the
//! last)` once, at construction, which is what the store's range queries take.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Why a period could not be built from the user's input.
#[derive(Debug, thiserror::Error)]
pub enum PeriodError {
    #[error("{flag} \"{value}\" is not a date like 2026-03-02 ({source})")]
    BadDate {
        flag: &'static str,
        value: String,
        source: jiff::Error,
    },
    #[error("the period ends ({to}) before it starts ({from}); swap --from and --to")]
    Inverted { from: Date, to: Date },
    #[error("\"{name}\" is not a known time zone ({source}); use an IANA name like Europe/Rome")]
    BadZone { name: String, source: jiff::Error },
    #[error("the dates {from}..{to} cannot be placed in time zone {zone} ({source})")]
    OutOfRange {
        from: Date,
        to: Date,
        zone: String,
        source: jiff::Error,
    },
    #[error("give both --from and --to (inclusive dates), or --week")]
    HalfOpen,
}

/// Inclusive civil dates in a time zone, with the matching instant range.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    from: Date,
    to: Date,
    tz: TimeZone,
    start: Timestamp,
    end: Timestamp,
}

impl Period {
    /// The ISO week (Monday to Sunday, ISO 8601 §3.2.2) that contains `now` in `tz`.
    pub fn week_of(now: Timestamp, tz: TimeZone) -> Result<Self, PeriodError> {
        let today = now.to_zoned_datetime(tz.clone()).date();
        let week = today.iso_week_date();
        let range_err = |source| PeriodError::OutOfRange {
            from: today,
            to: today,
            zone: zone_name(&tz),
            source,
        };
        let monday = week.first_of_week().map_err(range_err)?.date();
        let sunday = week.last_of_week().map_err(range_err)?.date();
        Self::dates(monday, sunday, tz)
    }

    /// `from..=to` in `tz`.
    pub fn dates(from: Date, to: Date, tz: TimeZone) -> Result<Self, PeriodError> {
        if to < from {
            return Err(PeriodError::Inverted { from, to });
        }
        let range_err = |source| PeriodError::OutOfRange {
            from,
            to,
            zone: zone_name(&tz),
            source,
        };
        // Midnight may not exist on a DST day; jiff's compatible disambiguation then
        // picks the first instant of the day, which is what "start of day" means.
        let start = from
            .to_zoned_datetime(tz.clone())
            .map_err(range_err)?
            .timestamp();
        let end = to
            .tomorrow()
            .and_then(|d| d.to_zoned_datetime(tz.clone()))
            .map_err(range_err)?
            .timestamp();
        Ok(Self {
            from,
            to,
            tz,
            start,
            end,
        })
    }

    /// Parses `--from`/`--to` text (`YYYY-MM-DD`).
    pub fn parse_dates(from: &str, to: &str, tz: TimeZone) -> Result<Self, PeriodError> {
        let parse = |flag: &'static str, value: &str| {
            value
                .trim()
                .parse::<Date>()
                .map_err(|source| PeriodError::BadDate {
                    flag,
                    value: value.to_owned(),
                    source,
                })
        };
        Self::dates(parse("--from", from)?, parse("--to", to)?, tz)
    }

    /// The period asked for on a command line or in a query string: both dates, or
    /// the week containing `now` when neither is given.
    pub fn from_args(
        from: Option<&str>,
        to: Option<&str>,
        now: Timestamp,
        tz: TimeZone,
    ) -> Result<Self, PeriodError> {
        match (from, to) {
            (Some(f), Some(t)) => Self::parse_dates(f, t, tz),
            (None, None) => Self::week_of(now, tz),
            _ => Err(PeriodError::HalfOpen),
        }
    }

    /// First day, inclusive.
    #[must_use]
    pub fn from(&self) -> Date {
        self.from
    }

    /// Last day, inclusive.
    #[must_use]
    pub fn to(&self) -> Date {
        self.to
    }

    #[must_use]
    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The first instant of the period.
    #[must_use]
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The first instant *after* the period (exclusive end).
    #[must_use]
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Whether `ts` falls inside `[start, end)`.
    #[must_use]
    pub fn contains(&self, ts: Timestamp) -> bool {
        self.start <= ts && ts < self.end
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> impl Iterator<Item = Date> + '_ {
        std::iter::successors(Some(self.from), |d| d.tomorrow().ok()).take_while(|d| *d <= self.to)
    }

    /// The local date of an instant in the period's zone.
    #[must_use]
    pub fn local_date(&self, ts: Timestamp) -> Date {
        ts.to_zoned_datetime(self.tz.clone()).date()
    }
}

/// Resolves `--tz NAME` (IANA name), or the system zone when absent.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, PeriodError> {
    match name {
        None => Ok(TimeZone::system()),
        Some(n) => TimeZone::get(n).map_err(|source| PeriodError::BadZone {
            name: n.to_owned(),
            source,
        }),
    }
}

/// A printable name for a zone: its IANA name, or its fixed offset.
#[must_use]
pub fn zone_name(tz: &TimeZone) -> String {
    match tz.iana_name() {
        Some(n) => n.to_owned(),
        None => tz
            .to_fixed_offset()
            .map(|o| o.to_string())
            .unwrap_or_else(|_| "local".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn week_is_monday_to_sunday_in_zone() {
        let tz = TimeZone::get("Europe/Rome").unwrap();
        // 22:30 UTC on Sunday 2026-03-08 is 23:30 in Rome: still that week.
        let now: Timestamp = "2026-03-08T22:30:00Z".parse().unwrap();
        let p = Period::week_of(now, tz.clone()).unwrap();
        assert_eq!((p.from(), p.to()), (date(2026, 3, 2), date(2026, 3, 8)));
        assert_eq!(p.start().to_string(), "2026-03-01T23:00:00Z");
        assert_eq!(p.end().to_string(), "2026-03-08T23:00:00Z");
        assert_eq!(p.days().count(), 7);
        // 23:30 UTC is Monday 00:30 in Rome: the next week.
        let now: Timestamp = "2026-03-08T23:30:00Z".parse().unwrap();
        let p = Period::week_of(now, tz).unwrap();
        assert_eq!(p.from(), date(2026, 3, 9));
    }

    #[test]
    fn dst_day_is_23_hours() {
        let tz = TimeZone::get("Europe/Rome").unwrap();
        let p = Period::parse_dates("2026-03-29", "2026-03-29", tz).unwrap();
        assert_eq!(p.end().as_second() - p.start().as_second(), 23 * 3600);
    }

    #[test]
    fn bad_input_is_explained() {
        let e = Period::parse_dates("2026-03-09", "2026-03-02", TimeZone::UTC).unwrap_err();
        assert!(e.to_string().contains("swap --from and --to"), "{e}");
        let e = Period::parse_dates("March", "2026-03-02", TimeZone::UTC).unwrap_err();
        assert!(e.to_string().starts_with("--from \"March\""), "{e}");
        assert!(time_zone(Some("Mars/Olympus")).is_err());
        assert!(matches!(
            Period::from_args(
                Some("2026-01-01"),
                None,
                Timestamp::UNIX_EPOCH,
                TimeZone::UTC
            ),
            Err(PeriodError::HalfOpen)
        ));
    }
}
