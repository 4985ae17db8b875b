//! Opening hours. Ranges are local wall-clock time in the schedule's time zone, so the
//! instant is converted to local time first: on a daylight-saving day "09:00" is still
//! 09:00 on the office clock, whatever the UTC offset.

use jiff::Timestamp;

use crate::config::{Schedule, TimeRange};

/// Is the schedule open at `at`? Holidays close the whole day; a special date replaces
/// that weekday's ranges; otherwise the weekday's ranges apply. Ranges are half-open:
/// `09:00-18:00` is open at 09:00:00 and closed at 18:00:00.
pub fn is_open(schedule: &Schedule, at: Timestamp) -> bool {
    ranges_at(schedule, at)
        .0
        .iter()
        .any(|r| r.contains(second_of_day(schedule, at)))
}

/// The ranges in force on the local date of `at`, and why ("holiday", "special date",
/// or the weekday name), for explanations.
pub fn ranges_at(schedule: &Schedule, at: Timestamp) -> (&[TimeRange], &'static str) {
    let local = schedule.timezone.to_datetime(at);
    let date = local.date();
    if schedule.holidays.contains(&date) {
        return (&[], "a holiday");
    }
    if let Some(r) = schedule.special.get(&date) {
        return (r, "a special date");
    }
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let idx = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
    let ranges = schedule.weekly.get(idx).map(Vec::as_slice).unwrap_or(&[]);
    (ranges, DAYS.get(idx).copied().unwrap_or("today"))
}

fn second_of_day(schedule: &Schedule, at: Timestamp) -> u32 {
    let t = schedule.timezone.to_datetime(at).time();
    let secs = i32::from(t.hour()) * 3600 + i32::from(t.minute()) * 60 + i32::from(t.second());
    u32::try_from(secs).unwrap_or(0)
}

/// `closed (a holiday in Europe/Berlin)` / `open (Monday 09:00-13:00, 14:00-18:00 in
/// Europe/Berlin)`: a phrase for decision reasons.
pub fn describe(schedule: &Schedule, at: Timestamp) -> String {
    let (ranges, why) = ranges_at(schedule, at);
    let tz = schedule.timezone.iana_name().unwrap_or("local time");
    let local = schedule.timezone.to_datetime(at);
    let clock = format!("{:02}:{:02}", local.hour(), local.minute());
    let state = if is_open(schedule, at) {
        "open"
    } else {
        "closed"
    };
    if ranges.is_empty() {
        return format!("{state} at {clock} {tz} ({why}, closed all day)");
    }
    let list: Vec<String> = ranges.iter().map(TimeRange::to_string).collect();
    format!("{state} at {clock} {tz} ({why} hours {})", list.join(", "))
}
