//! The traffic file: who calls when, what they press, how patient they are, and how
//! the managers behave. Read with spans so every mistake names its line and key; checked
//! against each plan before a run; expanded into a list of [`Arrival`]s by a seeded
//! generator. The key-by-key reference is `docs/simulate.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use toml::Spanned;

use super::TrafficError;
use super::model::{Arrival, ManagerModel, MenuChoice, PriorManager, Traffic};
use super::rng::{Dist, SimRng};
use crate::config::DialPlan;
use crate::config::diagnostic::did_you_mean;

type Text = Spanned<String>;

/// Stream salt for the seeded history of known callers.
const HISTORY_STREAM: u64 = 0x4849_5354_4F52_5921;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraffic {
    seed: Option<u64>,
    date: Text,
    timezone: Option<Text>,
    start: Option<Text>,
    end: Option<Text>,
    arrivals: RawArrivals,
    #[serde(default)]
    numbers: BTreeMap<Text, Spanned<f64>>,
    #[serde(default)]
    callers: RawCallers,
    #[serde(default)]
    ivr: RawIvr,
    #[serde(default)]
    menus: BTreeMap<Text, BTreeMap<Text, Spanned<f64>>>,
    patience: Option<Spanned<Dist>>,
    #[serde(default = "no_defaults")]
    manager_defaults: Spanned<RawManager>,
    #[serde(default)]
    managers: BTreeMap<Text, Spanned<RawManager>>,
    #[serde(default)]
    callbacks: RawCallbacks,
}

/// `[callbacks]`: how queued callers use the callback offer, how dial-backs go.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCallbacks {
    share: Option<Spanned<f64>>,
    after_secs: Option<f64>,
    reach: Option<Spanned<f64>>,
    answer_secs: Option<f64>,
    talk_time: Option<Dist>,
}

fn no_defaults() -> Spanned<RawManager> {
    Spanned::new(0..0, RawManager::default())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArrivals {
    mode: Option<Text>,
    per_hour: Spanned<PerHour>,
    total: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PerHour {
    List(Vec<f64>),
    Ranges(BTreeMap<String, f64>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCallers {
    pool: Option<u64>,
    returning_share: Option<Spanned<f64>>,
    max_history_age_days: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIvr {
    menu_secs: Option<f64>,
    play_secs: Option<f64>,
    message_secs: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManager {
    answer_probability: Option<f64>,
    answer_delay: Option<Dist>,
    talk_time: Option<Dist>,
    shifts: Option<Vec<String>>,
}

/// A parsed, self-consistent traffic file, not yet checked against a plan.
#[derive(Debug)]
pub struct TrafficFile {
    path: PathBuf,
    text: String,
    raw: RawTraffic,
    /// Simulated time zero: `start` on `date` in `timezone`.
    origin: Timestamp,
    end: Timestamp,
    tz: TimeZone,
    date: Date,
    /// Arrivals per hour for each local hour 0..24.
    rates: [f64; 24],
    even: bool,
}

impl TrafficFile {
    /// Reads and parses a traffic file.
    pub fn load(path: &Path) -> Result<TrafficFile, TrafficError> {
        let text = std::fs::read_to_string(path).map_err(|source| TrafficError::ReadTraffic {
            path: path.to_path_buf(),
            source,
        })?;
        TrafficFile::parse(&text, path)
    }

    /// Parses traffic text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<TrafficFile, TrafficError> {
        let err = |span: Option<std::ops::Range<usize>>, key: &str, message: String| {
            TrafficError::Traffic {
                path: path.to_path_buf(),
                line: span.map_or(0, |s| line_of(text, s.start)),
                key: key.to_string(),
                message,
            }
        };
        let raw: RawTraffic = toml::from_str(text).map_err(|e| {
            err(
                e.span(),
                "",
                e.message().replace("field", "key").replace('`', "\""),
            )
        })?;
        let tz = match &raw.timezone {
            None => TimeZone::UTC,
            Some(name) => TimeZone::get(name.get_ref()).map_err(|_| {
                err(
                    Some(name.span()),
                    "timezone",
                    format!(
                        "\"{}\" is not a time zone; use an IANA name like \"Europe/Berlin\"",
                        name.get_ref()
                    ),
                )
            })?,
        };
        let date: Date = raw.date.get_ref().parse().map_err(|_| {
            err(
                Some(raw.date.span()),
                "date",
                format!(
                    "\"{}\" is not a date; write it like \"2026-12-01\"",
                    raw.date.get_ref()
                ),
            )
        })?;
        let clock = |v: &Option<Text>, key: &str, default: u32| -> Result<u32, TrafficError> {
            match v {
                None => Ok(default),
                Some(t) => parse_clock(t.get_ref()).ok_or_else(|| {
                    err(
                        Some(t.span()),
                        key,
                        format!("\"{}\" is not a time; write it like \"08:30\"", t.get_ref()),
                    )
                }),
            }
        };
        let start = clock(&raw.start, "start", 0)?;
        let end = clock(&raw.end, "end", 86_400)?;
        if end <= start {
            return Err(err(
                raw.end.as_ref().map(Spanned::span),
                "end",
                "end must be later than start".into(),
            ));
        }
        let local = |secs: u32| local_time(&tz, date, secs);
        let (origin, end_ts) = (local(start), local(end));

        let span = Some(raw.arrivals.per_hour.span());
        let mut rates = [0.0; 24];
        match raw.arrivals.per_hour.get_ref() {
            PerHour::List(list) => {
                if list.len() != 24 {
                    return Err(err(
                        span,
                        "arrivals.per_hour",
                        format!(
                            "needs 24 values (one per hour from 00:00), found {}; or write ranges \
                             like {{ \"09-12\" = 60 }}",
                            list.len()
                        ),
                    ));
                }
                rates.iter_mut().zip(list).for_each(|(r, v)| *r = *v);
            }
            PerHour::Ranges(ranges) => {
                for (k, v) in ranges {
                    let Some((a, b)) = parse_hour_range(k) else {
                        return Err(err(
                            span,
                            "arrivals.per_hour",
                            format!(
                                "\"{k}\" is not an hour range; write \"09-12\" (from 09:00 to \
                                 12:00)"
                            ),
                        ));
                    };
                    rates.iter_mut().take(b).skip(a).for_each(|r| *r = *v);
                }
            }
        }
        if rates.iter().any(|r| !r.is_finite() || *r < 0.0) {
            return Err(err(
                span,
                "arrivals.per_hour",
                "arrival rates must be 0 or more calls per hour".into(),
            ));
        }
        if let Some(total) = &raw.arrivals.total {
            let expected = expected_calls(&rates, start, end);
            if expected <= 0.0 || *total.get_ref() < 0.0 {
                return Err(err(
                    Some(total.span()),
                    "arrivals.total",
                    "cannot scale to a total: the per_hour profile has no calls between start \
                     and end"
                        .into(),
                ));
            }
            let k = total.get_ref() / expected;
            rates.iter_mut().for_each(|r| *r *= k);
        }
        let even = match raw
            .arrivals
            .mode
            .as_ref()
            .map(|m| (m, m.get_ref().as_str()))
        {
            None | Some((_, "poisson")) => false,
            Some((_, "even")) => true,
            Some((m, other)) => {
                return Err(err(
                    Some(m.span()),
                    "arrivals.mode",
                    format!("\"{other}\" is not a mode; use \"poisson\" or \"even\""),
                ));
            }
        };
        if raw.numbers.is_empty() {
            return Err(err(
                None,
                "numbers",
                "add a [numbers] table with the dialled numbers and their shares, like \
                 \"+15551000\" = 1.0"
                    .into(),
            ));
        }
        for (k, v) in &raw.numbers {
            if !(v.get_ref().is_finite() && *v.get_ref() >= 0.0) {
                return Err(err(
                    Some(v.span()),
                    &format!("numbers.\"{}\"", k.get_ref()),
                    "a share must be 0 or more".into(),
                ));
            }
        }
        for (menu, keys) in &raw.menus {
            for (k, v) in keys {
                let key = format!("menus.{}.\"{}\"", menu.get_ref(), k.get_ref());
                if MenuChoice::parse(k.get_ref()).is_none() {
                    return Err(err(
                        Some(v.span()),
                        &key,
                        "a menu choice is one key (0-9, *, #, A-D), \"timeout\" or \"hangup\""
                            .into(),
                    ));
                }
                if !(v.get_ref().is_finite() && *v.get_ref() >= 0.0) {
                    return Err(err(
                        Some(v.span()),
                        &key,
                        "a share must be 0 or more".into(),
                    ));
                }
            }
        }
        for (value, key) in [
            (&raw.callbacks.share, "callbacks.share"),
            (&raw.callbacks.reach, "callbacks.reach"),
        ] {
            if let Some(v) = value
                && !(0.0..=1.0).contains(v.get_ref())
            {
                return Err(err(
                    Some(v.span()),
                    key,
                    format!("{} is not a share; use 0 to 1", v.get_ref()),
                ));
            }
        }
        if let Some(r) = &raw.callers.returning_share
            && !(0.0..=1.0).contains(r.get_ref())
        {
            return Err(err(
                Some(r.span()),
                "callers.returning_share",
                "a share must be between 0 and 1".into(),
            ));
        }
        if let Some(p) = &raw.patience
            && let Some(problem) = p.get_ref().problem()
        {
            return Err(err(Some(p.span()), "patience", problem));
        }
        let mut all = vec![("manager_defaults".to_string(), &raw.manager_defaults)];
        all.extend(
            raw.managers
                .iter()
                .map(|(k, v)| (format!("managers.{}", k.get_ref()), v)),
        );
        for (key, m) in all {
            let e = |msg: String| err(Some(m.span()), &key, msg);
            let m = m.get_ref();
            if let Some(p) = m.answer_probability
                && !(0.0..=1.0).contains(&p)
            {
                return Err(e("answer_probability must be between 0 and 1".into()));
            }
            for (what, d) in [
                ("answer_delay", &m.answer_delay),
                ("talk_time", &m.talk_time),
            ] {
                if let Some(problem) = d.as_ref().and_then(Dist::problem) {
                    return Err(e(format!("{what}: {problem}")));
                }
            }
            for s in m.shifts.iter().flatten() {
                if parse_range(s).is_none() {
                    return Err(e(format!(
                        "shift \"{s}\" is not a time range; write \"09:00-17:30\""
                    )));
                }
            }
        }
        Ok(TrafficFile {
            path: path.to_path_buf(),
            text: text.to_string(),
            raw,
            origin,
            end: end_ts,
            tz,
            date,
            rates,
            even,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seed written in the file (overridden by `--seed`).
    pub fn seed(&self) -> Option<u64> {
        self.raw.seed
    }

    fn error(&self, span: std::ops::Range<usize>, key: String, message: String) -> TrafficError {
        TrafficError::Traffic {
            path: self.path.clone(),
            line: line_of(&self.text, span.start),
            key,
            message,
        }
    }

    /// Checks that the traffic fits every plan: each number is routed by every plan,
    /// each menu and manager named exists in at least one plan (so plans that add a
    /// menu or a person can be compared on the same traffic), and each menu key exists
    /// in every plan that has that menu. Returns warnings (menus a plan has that the
    /// traffic gives no choices for: callers pick among their options evenly).
    pub fn check(&self, plans: &[(&str, &DialPlan)]) -> Result<Vec<String>, TrafficError> {
        let mut warnings = Vec::new();
        for (number, share) in &self.raw.numbers {
            for (name, plan) in plans {
                if plan.number_route(number.get_ref()).is_none() {
                    return Err(self.error(
                        share.span(),
                        format!("numbers.\"{}\"", number.get_ref()),
                        format!(
                            "number \"{}\" is not in plan {name} and it has no catch-all (\"*\") \
                             entry; use one of the plan's numbers",
                            number.get_ref()
                        ),
                    ));
                }
            }
        }
        for (menu, keys) in &self.raw.menus {
            let having: Vec<_> = plans
                .iter()
                .filter_map(|(n, p)| p.menus.get(menu.get_ref()).map(|m| (n, m)))
                .collect();
            if having.is_empty() {
                let names: Vec<&str> = plans
                    .iter()
                    .flat_map(|(_, p)| p.menus.keys().map(String::as_str))
                    .collect();
                return Err(self.error(
                    menu.span(),
                    format!("menus.{}", menu.get_ref()),
                    format!(
                        "menu \"{}\" is not in any plan{}",
                        menu.get_ref(),
                        did_you_mean(menu.get_ref(), names)
                    ),
                ));
            }
            for (key, share) in keys {
                let Some(MenuChoice::Key(c)) = MenuChoice::parse(key.get_ref()) else {
                    continue;
                };
                for (plan_name, m) in &having {
                    if !m.options.contains_key(&c) {
                        let options: Vec<String> = m.options.keys().map(char::to_string).collect();
                        return Err(self.error(
                            share.span(),
                            format!("menus.{}.\"{}\"", menu.get_ref(), key.get_ref()),
                            format!(
                                "menu \"{}\" in plan {plan_name} has no option \"{c}\" (its \
                                 options: {})",
                                menu.get_ref(),
                                options.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        for (name, m) in &self.raw.managers {
            if !plans
                .iter()
                .any(|(_, p)| p.managers.contains_key(name.get_ref()))
            {
                let names: Vec<&str> = plans
                    .iter()
                    .flat_map(|(_, p)| p.managers.keys().map(String::as_str))
                    .collect();
                return Err(self.error(
                    m.span(),
                    format!("managers.{}", name.get_ref()),
                    format!(
                        "manager \"{}\" is not in any plan{}",
                        name.get_ref(),
                        did_you_mean(name.get_ref(), names)
                    ),
                ));
            }
        }
        for (plan_name, plan) in plans {
            for menu in plan.menus.keys() {
                if !self.raw.menus.keys().any(|k| k.get_ref() == menu) {
                    warnings.push(format!(
                        "{}: no [menus.{menu}] choices for plan {plan_name}; callers there \
                         press one of its options at random",
                        self.path.display()
                    ));
                }
            }
        }
        Ok(warnings)
    }

    /// Expands the file into arrivals with the generator seeded by `seed`.
    pub fn generate(&self, seed: u64) -> Traffic {
        let mut rng = SimRng::seed_from_u64(seed);
        let numbers: Vec<(&str, f64)> = self
            .raw
            .numbers
            .iter()
            .map(|(k, v)| (k.get_ref().as_str(), *v.get_ref()))
            .collect();
        let weights: Vec<f64> = numbers.iter().map(|(_, w)| *w).collect();
        let pool = self.raw.callers.pool.unwrap_or(10_000).max(1);
        let returning = self
            .raw
            .callers
            .returning_share
            .as_ref()
            .map_or(0.0, |r| *r.get_ref());
        let known = ((pool as f64 * returning).round() as u64).min(pool);
        let max_age_days = self.raw.callers.max_history_age_days.unwrap_or(7).max(1);
        let patience = self
            .raw
            .patience
            .as_ref()
            .map_or(Dist::Never, |p| *p.get_ref());

        let mut arrivals = Vec::new();
        let total_ms = ms_between(self.origin, self.end);
        let mut next_even: u64 = 0;
        for hour in 0..24u32 {
            let lo = ms_between(self.origin, local_time(&self.tz, self.date, hour * 3600));
            let hi = ms_between(
                self.origin,
                local_time(&self.tz, self.date, (hour + 1) * 3600),
            )
            .min(total_ms);
            let rate = self.rates.get(hour as usize).copied().unwrap_or(0.0);
            let hour_end = local_time(&self.tz, self.date, (hour + 1) * 3600);
            if hour_end <= self.origin || lo >= total_ms {
                continue;
            }
            if rate <= 0.0 {
                next_even = next_even.max(hi);
                continue;
            }
            let gap = 3_600_000.0 / rate;
            let mut t = if self.even { next_even.max(lo) } else { lo };
            loop {
                if !self.even {
                    t += (rng.exponential(gap)).round() as u64;
                }
                if t >= hi {
                    break;
                }
                arrivals.push(t);
                if self.even {
                    t += gap.round().max(1.0) as u64;
                }
            }
            next_even = t;
        }

        let arrivals: Vec<Arrival> = arrivals
            .into_iter()
            .enumerate()
            .map(|(i, at_ms)| {
                let mut call_rng = SimRng::stream(seed, i as u64);
                let dialled = numbers
                    .get(rng.weighted(&weights))
                    .map_or("", |(n, _)| n)
                    .to_string();
                let from_known = known > 0 && (known == pool || rng.chance(returning));
                let id = if from_known {
                    rng.below(known as usize) as u64
                } else {
                    known + rng.below((pool - known) as usize) as u64
                };
                Arrival {
                    at_ms,
                    dialled,
                    caller: caller_number(id),
                    patience_secs: patience.sample(&mut call_rng),
                    keys: None,
                    record: None,
                    script: None,
                }
            })
            .collect();

        let prior = (0..known)
            .map(|id| {
                let mut r = SimRng::stream(seed ^ HISTORY_STREAM, id);
                let age_ms = r.below((max_age_days * 86_400_000) as usize) as i64 + 86_400_000;
                let at = self
                    .origin
                    .checked_sub(SignedDuration::from_millis(age_ms))
                    .unwrap_or(self.origin);
                (caller_number(id), (PriorManager::Pick(r.next_u64()), at))
            })
            .collect();

        let model = |m: &RawManager, base: &ManagerModel| -> ManagerModel {
            ManagerModel {
                answer_probability: m.answer_probability.unwrap_or(base.answer_probability),
                answer_delay: m.answer_delay.unwrap_or(base.answer_delay),
                talk_time: m.talk_time.unwrap_or(base.talk_time),
                shifts: match &m.shifts {
                    None => base.shifts.clone(),
                    Some(list) => Some(
                        list.iter()
                            .filter_map(|s| parse_range(s))
                            .map(|(a, b)| {
                                let t =
                                    |s| ms_between(self.origin, local_time(&self.tz, self.date, s));
                                (t(a), t(b))
                            })
                            .collect(),
                    ),
                },
            }
        };
        let default = model(
            self.raw.manager_defaults.get_ref(),
            &ManagerModel::default(),
        );
        let managers = self
            .raw
            .managers
            .iter()
            .map(|(k, v)| (k.get_ref().clone(), model(v.get_ref(), &default)))
            .collect();
        let menus = self
            .raw
            .menus
            .iter()
            .map(|(k, keys)| {
                let choices = keys
                    .iter()
                    .filter_map(|(c, w)| MenuChoice::parse(c.get_ref()).map(|c| (c, *w.get_ref())))
                    .collect();
                (k.get_ref().clone(), choices)
            })
            .collect();
        Traffic {
            origin: self.origin,
            window_ms: total_ms,
            seed,
            arrivals,
            menus,
            default_manager: default,
            managers,
            menu_secs: self.raw.ivr.menu_secs.unwrap_or(8.0).max(0.0),
            play_secs: self.raw.ivr.play_secs.unwrap_or(3.0).max(0.0),
            message_secs: self.raw.ivr.message_secs.unwrap_or(20.0).max(0.0),
            patience,
            prior,
            callbacks: {
                let c = &self.raw.callbacks;
                let d = super::model::CallbackModel::default();
                super::model::CallbackModel {
                    share: c.share.as_ref().map_or(d.share, |v| *v.get_ref()),
                    after_secs: c.after_secs.unwrap_or(d.after_secs).max(0.0),
                    reach: c.reach.as_ref().map_or(d.reach, |v| *v.get_ref()),
                    answer_secs: c.answer_secs.unwrap_or(d.answer_secs).max(0.0),
                    talk_time: c.talk_time.unwrap_or(d.talk_time),
                }
            },
        }
    }
}

/// Caller IDs of the generated pool: `+1999` and a seven-digit index.
fn caller_number(id: u64) -> String {
    format!("+1999{id:07}")
}

/// Expected calls between `start` and `end` (seconds of day) for a per-hour profile.
fn expected_calls(rates: &[f64; 24], start: u32, end: u32) -> f64 {
    rates
        .iter()
        .enumerate()
        .map(|(h, r)| {
            let (lo, hi) = (h as u32 * 3600, (h as u32 + 1) * 3600);
            let overlap = hi.min(end).saturating_sub(lo.max(start));
            r * f64::from(overlap) / 3600.0
        })
        .sum()
}

/// Milliseconds from `a` to `b`, 0 if `b` is earlier.
pub fn ms_between(a: Timestamp, b: Timestamp) -> u64 {
    u64::try_from(b.duration_since(a).as_millis()).unwrap_or(0)
}

/// `secs` after local midnight of `date` (86 400 is the next midnight), in civil time so
/// 09:00 stays 09:00 on a daylight-saving day.
fn local_time(tz: &TimeZone, date: Date, secs: u32) -> Timestamp {
    date.to_datetime(jiff::civil::Time::midnight())
        .checked_add(SignedDuration::from_secs(i64::from(secs)))
        .ok()
        .and_then(|c| tz.to_timestamp(c).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `"08:30"` → seconds of day; `"24:00"` allowed.
fn parse_clock(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 3600 + m * 60)
}

/// `"09:00-17:30"` → seconds of day.
fn parse_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (parse_clock(a)?, parse_clock(b)?);
    (a < b).then_some((a, b))
}

/// `"09-12"` → hours 9, 10, 11.
fn parse_hour_range(s: &str) -> Option<(usize, usize)> {
    let (a, b) = s.split_once('-')?;
    let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a < b && b <= 24).then_some((a, b))
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.bytes().filter(|b| *b == b'\n').count())
        + 1
}

impl MenuChoice {
    /// A key of a `[menus.NAME]` table.
    pub fn parse(s: &str) -> Option<MenuChoice> {
        match s {
            "timeout" => Some(MenuChoice::Timeout),
            "hangup" => Some(MenuChoice::Hangup),
            _ => {
                let mut chars = s.chars();
                let c = chars.next()?.to_ascii_uppercase();
                let ok = c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D');
                (chars.next().is_none() && ok).then_some(MenuChoice::Key(c))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_and_ranges() {
        assert_eq!(parse_clock("08:30"), Some(30_600));
        assert_eq!(parse_clock("24:00"), Some(86_400));
        assert_eq!(parse_clock("24:01"), None);
        assert_eq!(parse_range("09:00-17:30"), Some((32_400, 63_000)));
        assert_eq!(parse_range("17:00-09:00"), None);
        assert_eq!(parse_hour_range("09-12"), Some((9, 12)));
        assert_eq!(line_of("a\nb\nc", 2), 2);
    }

    #[test]
    fn expected_calls_counts_partial_hours() {
        let mut rates = [0.0; 24];
        rates[9] = 60.0;
        assert_eq!(expected_calls(&rates, 9 * 3600 + 1800, 86_400), 30.0);
    }
}
