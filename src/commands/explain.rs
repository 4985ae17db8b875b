//! `switchboard explain`: the path a call would take, decided by the same engine with
//! the same inputs the router uses — the caller's history and the phones signed in,
//! both read from the router's database.

use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::config::{DialPlan, LoadedConfig};
use crate::registrar::Registrar;
use crate::routing::{self, CallContext, ManagerState, ManagerStates, PreviousInteraction};
use crate::store::{Registration, SqliteStore, Store};

/// The time zone a `--at` without offset is read in, and why: the dialled number's
/// `hours` schedule (what decides "after hours" for that call); else the zone every
/// schedule of the plan shares; else the system's.
pub fn time_zone_for(plan: &DialPlan, dialled: &str) -> (TimeZone, String) {
    if let Some(name) = plan.number_route(dialled).and_then(|r| r.hours.as_ref())
        && let Some(s) = plan.hours.get(name)
    {
        return (
            s.timezone.clone(),
            format!("the time zone of the number's hours \"{name}\""),
        );
    }
    let mut zones = plan.hours.values().map(|s| &s.timezone);
    match zones.next() {
        Some(first) if zones.all(|z| z == first) => (
            first.clone(),
            "the time zone of the plan's hours".to_string(),
        ),
        _ => (TimeZone::system(), "the system's time zone".to_string()),
    }
}

/// `--at`: `2026-12-01T21:30` (local time in `tz`), `2026-12-01T21:30+01:00` or
/// `…Z` (an explicit offset), `2026-12-01T21:30[Europe/Rome]` (an explicit zone).
pub fn parse_at(at: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    if let Ok(z) = at.parse::<jiff::ZonedDateTime>() {
        return Ok(z.timestamp());
    }
    if let Ok(ts) = at.parse::<Timestamp>() {
        return Ok(ts);
    }
    at.parse::<jiff::civil::DateTime>()
        .and_then(|dt| tz.to_timestamp(dt))
        .map_err(|e| {
            format!(
                "--at \"{at}\": not a date and time like 2026-12-01T21:30 or \
                 2026-12-01T21:30+01:00 ({e})"
            )
        })
}

/// Managers whose phones are signed in at `now`, from the stored bindings, decided by
/// the registrar exactly as the running router does.
pub fn signed_in(plan: &DialPlan, registrations: Vec<Registration>, now: Timestamp) -> Vec<String> {
    let mut registrar = Registrar::new([0; 32], "explain", plan.login_users());
    registrar.load(registrations);
    registrar.registered_managers(now)
}

fn history_since(plan: &DialPlan, now: Timestamp) -> Timestamp {
    let lookback =
        jiff::SignedDuration::try_from(plan.history.lookback).unwrap_or(jiff::SignedDuration::ZERO);
    now.checked_sub(lookback).unwrap_or(Timestamp::MIN)
}

/// `explain --lookup`: asks the CRM of `[lookup]` now, as a call would, and says what
/// it answered (or why it failed) and what the answer changes in the route.
fn crm_lookup(
    plan: &DialPlan,
    to: &str,
    from: &str,
    out: &mut String,
) -> Result<Option<crate::model::CrmAnswer>, String> {
    let Some(policy) = plan.integrations.lookup.clone() else {
        return Err(
            "--lookup: the config has no [lookup] table, so calls are routed without a CRM".into(),
        );
    };
    let host = policy
        .url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)))
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let started = std::time::Instant::now();
    let (result, _) = rt.block_on(async {
        crate::io::lookup::Crm::new()
            .lookup(&policy, "explain", from, to)
            .await
    });
    let ms = started.elapsed().as_millis();
    match result {
        Ok(a) if a.is_empty() => {
            out.push_str(&format!(
                "CRM lookup ({host}, timeout {} ms): answered in {ms} ms: the CRM does not know \
                 this caller\n",
                policy.timeout.as_millis()
            ));
            Ok(Some(a))
        }
        Ok(a) => {
            let show = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "CRM lookup ({host}, timeout {} ms): answered in {ms} ms:\n  owner: {}\n  \
                 department: {}\n  priority: {}\n  display name: {}\n  tags: {}\n",
                policy.timeout.as_millis(),
                show(a.owner.clone()),
                show(a.department.clone()),
                show(a.priority.map(|p| p.to_string())),
                show(a.display_name.clone()),
                if a.tags.is_empty() {
                    "-".into()
                } else {
                    a.tags.join(", ")
                },
            ));
            Ok(Some(a))
        }
        Err(e) => {
            out.push_str(&format!(
                "CRM lookup ({host}, timeout {} ms) failed after {ms} ms: {e}; a call would \
                 be routed without it\n",
                policy.timeout.as_millis()
            ));
            Ok(None)
        }
    }
}

/// What `explain` prints.
pub fn explain(
    loaded: &LoadedConfig,
    data_dir: &Path,
    to: &str,
    from: &str,
    at: Option<&str>,
    digits: &str,
) -> Result<String, String> {
    explain_with_lookup(loaded, data_dir, to, from, at, digits, false)
}

/// [`explain`], with `lookup`: the CRM asked as a call would ask it (`--lookup`).
pub fn explain_with_lookup(
    loaded: &LoadedConfig,
    data_dir: &Path,
    to: &str,
    from: &str,
    at: Option<&str>,
    digits: &str,
    lookup: bool,
) -> Result<String, String> {
    let plan = &loaded.plan;
    let (tz, why) = time_zone_for(plan, to);
    let wall_now = Timestamp::now();
    let now = match at {
        Some(at) => parse_at(at, &tz)?,
        None => wall_now,
    };
    let mut out = format!(
        "Call to {to} from {from} at {} ({}, {why})\n",
        now.to_zoned_datetime(tz.clone())
            .strftime("%a %Y-%m-%d %H:%M"),
        tz.iana_name().unwrap_or("local time"),
    );
    let db = super::db_path(data_dir);
    let mut states = ManagerStates::default();
    let mut history: Option<PreviousInteraction> = None;
    let store: Option<(Box<dyn Store>, String)> = match &loaded.store.url {
        Some(url) => Some((
            super::open_store(loaded, data_dir)?,
            crate::store::postgres::redact_url(url),
        )),
        None if db.exists() => Some((
            Box::new(SqliteStore::open(&db).map_err(|e| e.to_string())?),
            db.display().to_string(),
        )),
        None => None,
    };
    if let Some((store, place)) = store {
        let regs = store.registrations().map_err(|e| e.to_string())?;
        // Presence is what the database says now: a phone's registration does not
        // predict whether it will be signed in at another time.
        let phones = signed_in(plan, regs, wall_now);
        out.push_str(&format!(
            "Phones signed in now (from {}): {}\n",
            place,
            if phones.is_empty() {
                "none".to_string()
            } else {
                phones.join(", ")
            }
        ));
        for m in phones {
            states.set(
                &m,
                ManagerState {
                    registered: true,
                    ..ManagerState::default()
                },
            );
        }
        if plan.history.enabled {
            history = store
                .last_interaction(from, history_since(plan, now))
                .map_err(|e| e.to_string())?;
        }
    } else {
        out.push_str(&format!(
            "No database at {}: no phones signed in and no call history considered\n",
            db.display()
        ));
    }
    let ctx = CallContext::new(to, from, now).with_digits(digits);
    let crm = if lookup {
        crm_lookup(plan, to, from, &mut out)?
    } else {
        None
    };
    if let Some(answer) = crm.as_ref().filter(|a| !a.is_empty()) {
        let without = routing::explain(plan, &ctx, &states, history.as_ref());
        let with = routing::explain_with(plan, &ctx, &states, history.as_ref(), Some(answer));
        let first = |e: &routing::Explanation| e.decisions.first().map(|d| d.step.to_string());
        let changed = first(&without) != first(&with);
        out.push_str(&if changed {
            format!(
                "What it changes: without it the call would go to {}; with it: {}\n",
                first(&without).unwrap_or_default(),
                first(&with).unwrap_or_default()
            )
        } else {
            "What it changes: not the route (the phones still see its name, tags and \
             priority)\n"
                .to_string()
        });
        if let Some(p) = answer.priority.filter(|p| *p > 0) {
            out.push_str(&format!(
                "  queue priority {p}: served before callers of lower priority\n"
            ));
        }
    }
    out.push('\n');
    let ex = routing::explain_with(plan, &ctx, &states, history.as_ref(), crm.as_ref());
    // Every prompt the caller hears on the way, as a live call plays it.
    let shared = std::sync::Arc::new(plan.clone());
    out.push_str(&crate::call::heard::render(&shared, &ex, now));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_is_local_time_unless_an_offset_or_zone_is_given() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        let local = parse_at("2026-12-01T21:30", &berlin).unwrap();
        assert_eq!(local.to_string(), "2026-12-01T20:30:00Z");
        let offset = parse_at("2026-12-01T21:30+00:00", &berlin).unwrap();
        assert_eq!(offset.to_string(), "2026-12-01T21:30:00Z");
        let zulu = parse_at("2026-12-01T21:30Z", &berlin).unwrap();
        assert_eq!(zulu, offset);
        let zoned = parse_at("2026-12-01T21:30[America/New_York]", &berlin).unwrap();
        assert_eq!(zoned.to_string(), "2026-12-02T02:30:00Z");
        assert!(parse_at("tomorrow", &berlin).is_err());
    }
}
