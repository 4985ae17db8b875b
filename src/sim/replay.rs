//! Arrivals from recorded calls: replay last week through a changed plan. Each
//! recorded call becomes an arrival with its dialled number, caller, start time and the
//! keys it pressed; callers who spoke with someone before the window keep that history.
//! How managers answer and talk is estimated from the recorded calls and ring attempts
//! unless a traffic file supplies it.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::model::{
    Arrival, ManagerModel, MenuChoice, PriorManager, Reaction, RecordedRoute, Script, Traffic,
};
use super::rng::{Dist, SimRng};
use super::traffic::ms_between;
use crate::store::{CallOutcome, RingOutcome, Side, Store, StoreError};

/// The window to replay and how far back history counts.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub from: Timestamp,
    pub to: Timestamp,
    /// History older than this before `from` is not loaded (the plan's lookback).
    pub lookback: Duration,
    pub seed: u64,
}

/// Builds traffic from the calls that started in `[from, to)`. `base` (a generated
/// traffic file) supplies menu timing, patience and manager behaviour; without it they
/// are estimated from the records.
pub fn replay(
    store: &dyn Store,
    opts: &ReplayOptions,
    base: Option<&Traffic>,
) -> Result<Traffic, StoreError> {
    let records = store.calls_between(opts.from, opts.to)?;
    let patience = base.map_or(Dist::Never, |b| b.patience);
    let scripts = scripts(store, opts, &records)?;
    let arrivals = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let keys = r
                .menu_path
                .iter()
                .map(|s| {
                    s.digits
                        .chars()
                        .next()
                        .map_or(MenuChoice::Timeout, MenuChoice::Key)
                })
                .collect();
            let mut rng = SimRng::stream(opts.seed ^ 0x5245_504C_4159, i as u64);
            Arrival {
                at_ms: ms_between(opts.from, r.started_at),
                dialled: r.dialled.clone(),
                caller: r.caller.clone(),
                patience_secs: patience.sample(&mut rng),
                keys: Some(keys),
                record: Some(RecordedRoute {
                    call_id: r.call_id.clone(),
                    department: r.department.clone(),
                    menus: r.menu_path.iter().map(|s| s.menu.clone()).collect(),
                    outcome: r.outcome,
                    answered_by: r.answered_by.clone(),
                }),
                script: scripts.get(&r.call_id).cloned(),
            }
        })
        .collect();

    let lookback = SignedDuration::try_from(opts.lookback).unwrap_or(SignedDuration::ZERO);
    let since = opts.from.checked_sub(lookback).unwrap_or(Timestamp::MIN);
    let mut prior = BTreeMap::new();
    for r in store.calls_between(since, opts.from)? {
        if let (Some(m), Some(at)) = (&r.answered_by, r.answered_at) {
            prior.insert(r.caller.clone(), (PriorManager::Named(m.clone()), at));
        }
    }

    let (default_manager, managers) = match base {
        Some(b) => (b.default_manager.clone(), b.managers.clone()),
        None => (
            ManagerModel::default(),
            estimate_managers(store, opts, &records)?,
        ),
    };
    Ok(Traffic {
        origin: opts.from,
        window_ms: ms_between(opts.from, opts.to),
        seed: opts.seed,
        arrivals,
        menus: base.map(|b| b.menus.clone()).unwrap_or_default(),
        default_manager,
        managers,
        menu_secs: base.map_or(8.0, |b| b.menu_secs),
        play_secs: base.map_or(3.0, |b| b.play_secs),
        message_secs: base.map_or(20.0, |b| b.message_secs),
        patience,
        prior,
        callbacks: base.map(|b| b.callbacks.clone()).unwrap_or_default(),
    })
}

/// What each recorded call's phones and caller did: every ring attempt in order with
/// its outcome and how long it rang, the conversation's length, and when an
/// unanswered caller hung up. Replayed through the same plan, the simulated calls ring
/// the same people and end the same way.
fn scripts(
    store: &dyn Store,
    opts: &ReplayOptions,
    records: &[crate::store::CallRecord],
) -> Result<BTreeMap<String, Script>, StoreError> {
    let ms = |a: Timestamp, b: Timestamp| {
        u64::try_from(b.as_millisecond() - a.as_millisecond()).unwrap_or(0)
    };
    let mut out: BTreeMap<String, Script> = records
        .iter()
        .map(|r| {
            let talk_ms = match (r.answered_at, r.ended_at) {
                (Some(a), Some(e)) => Some(ms(a, e)),
                _ => None,
            };
            let hangup_after_ms = match (r.hangup_side, r.ended_at, r.answered_at) {
                (Some(Side::Caller), Some(e), None) => Some(ms(r.started_at, e)),
                _ => None,
            };
            let script = Script {
                rings: Vec::new(),
                talk_ms,
                hangup_after_ms,
            };
            (r.call_id.clone(), script)
        })
        .collect();
    // Rings that started up to a day after the window still belong to its calls.
    let until = opts
        .to
        .checked_add(SignedDuration::from_hours(24))
        .unwrap_or(opts.to);
    for ring in store.ring_attempts_between(opts.from, until)? {
        let Some(script) = out.get_mut(&ring.call_id) else {
            continue;
        };
        let after = ms(ring.started_at, ring.ended_at);
        let reaction = match ring.outcome {
            RingOutcome::Answered => Reaction::Answer(after),
            RingOutcome::Busy | RingOutcome::Declined | RingOutcome::Failed => {
                Reaction::Reject(ring.outcome, after)
            }
            RingOutcome::NoAnswer | RingOutcome::Cancelled => Reaction::NoAnswer,
        };
        script.rings.push((ring.manager, reaction));
    }
    Ok(out)
}

/// Per manager: answer probability and delay from ring attempts, talk time (mean of
/// answered calls, exponential) from the call records.
fn estimate_managers(
    store: &dyn Store,
    opts: &ReplayOptions,
    records: &[crate::store::CallRecord],
) -> Result<BTreeMap<String, ManagerModel>, StoreError> {
    #[derive(Default)]
    struct Acc {
        talk: Vec<f64>,
        rung: u32,
        answered: u32,
        delay: Vec<f64>,
    }
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    let secs = |a: Timestamp, b: Timestamp| b.duration_since(a).as_secs_f64().max(0.0);
    for r in records {
        if let (CallOutcome::Answered, Some(m), Some(a), Some(e)) =
            (r.outcome, &r.answered_by, r.answered_at, r.ended_at)
        {
            acc.entry(m.clone()).or_default().talk.push(secs(a, e));
        }
    }
    for ring in store.ring_attempts_between(opts.from, opts.to)? {
        if ring.outcome == RingOutcome::Cancelled {
            continue;
        }
        let a = acc.entry(ring.manager.clone()).or_default();
        a.rung += 1;
        if ring.outcome == RingOutcome::Answered {
            a.answered += 1;
            a.delay.push(secs(ring.started_at, ring.ended_at));
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let base = ManagerModel::default();
    Ok(acc
        .into_iter()
        .map(|(name, a)| {
            let model = ManagerModel {
                answer_probability: if a.rung == 0 {
                    base.answer_probability
                } else {
                    f64::from(a.answered) / f64::from(a.rung)
                },
                answer_delay: mean(&a.delay).map_or(base.answer_delay, |secs| Dist::Fixed { secs }),
                talk_time: mean(&a.talk)
                    .filter(|m| *m > 0.0)
                    .map_or(base.talk_time, |mean| Dist::Exponential { mean }),
                shifts: None,
            };
            (name, model)
        })
        .collect())
}
