//! Reports: how many calls came in, who took them and how fast, where callers waited
//! or gave up, and which missed calls still wait for a callback.
//!
//! The figures are a pure function ([`build`]) of call records, ring attempts and the
//! callback queue, so they can be tested exactly on hand-built records. [`generate`]
//! fetches those from any [`Store`] (the CLI opens the SQLite file directly; the admin
//! API runs it on the store thread) and [`render_report`] prints the result as a text
//! table, CSV or JSON. The same [`Report`] value backs all three and `GET /api/reports`.
//!
//! Definitions (also in `docs/admin.md`):
//! - A call belongs to the period when it *started* in it; days are local days in the
//!   period's time zone.
//! - Percentiles are nearest-rank ([`nearest_rank`]): always an observed value; the
//!   median of an even count is the lower middle value.
//! - Durations are whole milliseconds.

pub mod alerts;
mod compute;
mod period;
pub mod queueing;
mod render;

use jiff::Timestamp;

use crate::store::{Store, StoreError};

pub use compute::{
    DayRow, DepartmentRow, ManagerRow, MissedCall, PeriodInfo, Report, SourceRow, Totals, build,
    nearest_rank,
};
pub use period::{Period, PeriodError, time_zone, zone_name};
pub use render::{Format, Table, callbacks_table, render_report, report_tables};

/// Fetches what [`build`] needs from `store` and builds the report.
///
/// Calls are fetched from the start of the period up to `now` (or the period's end if
/// later), so a missed caller who was answered on a call *after* the period is not
/// listed as waiting for a callback.
pub fn generate(store: &dyn Store, period: &Period, now: Timestamp) -> Result<Report, StoreError> {
    generate_with(store, period, now, &queueing::ReportOptions::default())
}

/// [`generate`] with the plan's service-level thresholds; also fills the managers'
/// state times and the service levels.
pub fn generate_with(
    store: &dyn Store,
    period: &Period,
    now: Timestamp,
    opts: &queueing::ReportOptions,
) -> Result<Report, StoreError> {
    let until = now.max(period.end());
    let calls = store.calls_between(period.start(), until)?;
    let rings = store.ring_attempts_between(period.start(), until)?;
    let callbacks = store.list_callbacks(None, None)?;
    let mut report = build(period, &calls, &rings, &callbacks);
    let intervals = store.agent_intervals_between(period.start(), period.end())?;
    report.manager_states = queueing::manager_states(period, &intervals, now);
    report.service_level = queueing::service_levels(period, &calls, opts);
    Ok(report)
}
