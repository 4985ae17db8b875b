//! Output formats: an aligned text table for people, CSV for spreadsheets, JSON for
//! programs. Table and CSV are rendered from the same [`Table`] values so they can
//! never disagree.

use std::fmt::Write as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::store::CallbackRequest;

use super::compute::Report;

/// How to print a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "unknown format \"{other}\"; use table, csv or json"
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// One titled table: the unit of both the text and the CSV output.
#[derive(Debug, Clone)]
pub struct Table {
    /// Section name: printed as a heading, and as `# name` above the CSV header.
    pub title: String,
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: impl Into<String>, columns: &[(&'static str, Align)]) -> Self {
        Self {
            title: title.into(),
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Columns padded to their widest cell, numbers right-aligned.
    pub fn write_text(&self, out: &mut String) {
        let mut widths: Vec<usize> = self.columns.iter().map(|(h, _)| h.len()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let _ = writeln!(out, "{}", self.title);
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (((_, align), w), cell) in self.columns.iter().zip(&widths).zip(cells) {
                if !text.is_empty() {
                    text.push_str("  ");
                }
                let pad = w.saturating_sub(cell.chars().count());
                match align {
                    Align::Left => {
                        text.push_str(cell);
                        text.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        text.extend(std::iter::repeat_n(' ', pad));
                        text.push_str(cell);
                    }
                }
            }
            let _ = writeln!(out, "  {}", text.trim_end());
        };
        line(out, &mut self.columns.iter().map(|(h, _)| *h));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(out, &mut rule.iter().map(String::as_str));
        if self.rows.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for row in &self.rows {
            line(out, &mut row.iter().map(String::as_str));
        }
    }

    /// RFC 4180 CSV: `# title`, header line, rows.
    pub fn write_csv(&self, out: &mut String) {
        let _ = writeln!(out, "# {}", self.title);
        let header: Vec<&str> = self.columns.iter().map(|(h, _)| *h).collect();
        let _ = writeln!(out, "{}", header.join(","));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| csv_field(c)).collect();
            let _ = writeln!(out, "{}", cells.join(","));
        }
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// `12345` ms → `12.345` (exact, for CSV).
fn secs_exact(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// `12345` ms → `12.3s` (for people).
fn secs_short(ms: u64) -> String {
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

/// `3723000` ms → `1:02:03`.
fn hms(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn local_minute(ts: Timestamp, tz: &TimeZone) -> String {
    ts.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

/// The report's sections as tables. `human` picks the readable duration style
/// (`12.3s`, `1:02:03`) over exact seconds (`12.345`).
#[must_use]
pub fn report_tables(report: &Report, human: bool) -> Vec<Table> {
    use Align::{Left as L, Right as R};
    let dur = |ms: Option<u64>| match ms {
        None => "-".to_owned(),
        Some(ms) if human => secs_short(ms),
        Some(ms) => secs_exact(ms),
    };
    let t = &report.totals;

    let mut totals = Table::new(
        "totals",
        &[
            ("calls", R),
            ("answered", R),
            ("completed_in_ivr", R),
            ("abandoned_in_ivr", R),
            ("abandoned_ringing", R),
            ("voicemail", R),
            ("missed", R),
            ("failed", R),
            ("interrupted", R),
            ("in_progress", R),
            ("callback_queued", R),
        ],
    );
    totals.row(
        [
            t.calls,
            t.answered,
            t.completed_in_ivr,
            t.abandoned_in_ivr,
            t.abandoned_ringing,
            t.voicemail,
            t.missed,
            t.failed,
            t.interrupted,
            t.in_progress,
            t.callback_queued,
        ]
        .iter()
        .map(u64::to_string)
        .collect(),
    );

    let mut days = Table::new(
        "calls per day",
        &[("date", L), ("calls", R), ("answered", R)],
    );
    for d in &report.per_day {
        days.row(vec![
            d.date.to_string(),
            d.calls.to_string(),
            d.answered.to_string(),
        ]);
    }

    let mut sources = Table::new(
        "calls per source",
        &[("source", L), ("calls", R), ("answered", R)],
    );
    for s in &report.per_source {
        sources.row(vec![
            s.source.clone(),
            s.calls.to_string(),
            s.answered.to_string(),
        ]);
    }

    let mut managers = Table::new(
        "managers",
        &[
            ("manager", L),
            ("offered", R),
            ("answered", R),
            ("missed", R),
            ("answer_median_s", R),
            ("answer_p90_s", R),
            (if human { "talk_time" } else { "talk_s" }, R),
            (if human { "paused" } else { "paused_s" }, R),
        ],
    );
    let paused_ms = |name: &str| -> u64 {
        report
            .manager_states
            .iter()
            .filter(|s| s.manager == name && s.state == crate::store::AgentStateKind::Paused)
            .map(|s| s.ms)
            .sum()
    };
    for m in &report.per_manager {
        managers.row(vec![
            m.manager.clone(),
            m.offered.to_string(),
            m.answered.to_string(),
            m.missed.to_string(),
            dur(m.answer_ms_median),
            dur(m.answer_ms_p90),
            if human {
                hms(m.talk_ms)
            } else {
                secs_exact(m.talk_ms)
            },
            if human {
                hms(paused_ms(&m.manager))
            } else {
                secs_exact(paused_ms(&m.manager))
            },
        ]);
    }
    // Managers who only paused (no calls) still show their paused time.
    let mut pausers: Vec<&str> = report
        .manager_states
        .iter()
        .filter(|s| s.state == crate::store::AgentStateKind::Paused)
        .map(|s| s.manager.as_str())
        .filter(|n| !report.per_manager.iter().any(|m| m.manager == *n))
        .collect();
    pausers.dedup();
    for n in pausers {
        let zero = if human {
            "0:00:00".to_owned()
        } else {
            secs_exact(0)
        };
        managers.row(vec![
            n.to_owned(),
            "0".into(),
            "0".into(),
            "0".into(),
            "-".into(),
            "-".into(),
            zero,
            if human {
                hms(paused_ms(n))
            } else {
                secs_exact(paused_ms(n))
            },
        ]);
    }

    let mut states = Table::new(
        "managers' time paused, on do-not-disturb, signed out",
        &[
            ("manager", L),
            ("state", L),
            ("reason_or_queue", L),
            (if human { "time" } else { "time_s" }, R),
        ],
    );
    for st in &report.manager_states {
        states.row(vec![
            st.manager.clone(),
            st.state.to_string(),
            if st.detail.is_empty() {
                "-".to_owned()
            } else {
                st.detail.clone()
            },
            if human { hms(st.ms) } else { secs_exact(st.ms) },
        ]);
    }

    let mut levels = Table::new(
        "service level (answered within the department's target)",
        &[
            ("department", L),
            ("date", L),
            ("target_s", R),
            ("offered", R),
            ("answered_within", R),
            ("service_level", R),
        ],
    );
    for l in &report.service_level {
        levels.row(vec![
            l.department.clone(),
            l.date.to_string(),
            l.threshold_secs.to_string(),
            l.offered.to_string(),
            l.answered_within.to_string(),
            match l.share {
                None => "-".to_owned(),
                Some(v) if human => format!("{:.1}%", v * 100.0),
                Some(v) => format!("{v:.4}"),
            },
        ]);
    }

    let mut depts = Table::new(
        "departments",
        &[
            ("department", L),
            ("calls", R),
            ("answered", R),
            ("abandoned_in_ivr", R),
            ("abandoned_ringing", R),
            ("abandonment_rate", R),
            ("wait_median_s", R),
            ("wait_p90_s", R),
        ],
    );
    for d in &report.per_department {
        depts.row(vec![
            d.department.clone().unwrap_or_else(|| "(none)".to_owned()),
            d.calls.to_string(),
            d.answered.to_string(),
            d.abandoned_in_ivr.to_string(),
            d.abandoned_ringing.to_string(),
            if human {
                format!("{:.1}%", d.abandonment_rate * 100.0)
            } else {
                format!("{:.4}", d.abandonment_rate)
            },
            dur(d.wait_ms_median),
            dur(d.wait_ms_p90),
        ]);
    }

    let mut missed = Table::new(
        "missed calls not called back",
        &[
            ("time", L),
            ("caller", L),
            ("source", L),
            ("department", L),
            ("outcome", L),
            ("callback", L),
            ("claimed_by", L),
            ("call_id", L),
        ],
    );
    for m in &report.missed_not_called_back {
        missed.row(vec![
            if human {
                m.started_local.clone()
            } else {
                m.started_at.to_string()
            },
            m.caller.clone(),
            m.source.clone(),
            m.department.clone().unwrap_or_default(),
            m.outcome.to_string(),
            match (m.callback_id, m.callback_status) {
                (Some(id), Some(st)) => format!("#{id} {st}"),
                _ => "none".to_owned(),
            },
            m.claimed_by.clone().unwrap_or_default(),
            m.call_id.clone(),
        ]);
    }

    vec![
        totals, days, sources, managers, depts, levels, states, missed,
    ]
}

/// Renders a report in `format`.
#[must_use]
pub fn render_report(report: &Report, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            out = serde_json::to_string_pretty(report)
                .unwrap_or_else(|e| format!("{{\"error\": \"cannot encode the report: {e}\"}}"));
            out.push('\n');
        }
        Format::Csv => {
            for (i, table) in report_tables(report, false).iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                table.write_csv(&mut out);
            }
        }
        Format::Table => {
            let p = &report.period;
            let _ = writeln!(
                out,
                "Switchboard report {} .. {} ({})\n",
                p.from, p.to, p.time_zone
            );
            for table in report_tables(report, true) {
                table.write_text(&mut out);
                out.push('\n');
            }
        }
    }
    out
}

/// The callback queue as an aligned table (times in `tz`).
#[must_use]
pub fn callbacks_table(list: &[CallbackRequest], tz: &TimeZone) -> String {
    use Align::{Left as L, Right as R};
    let mut t = Table::new(
        "callback requests",
        &[
            ("id", R),
            ("status", L),
            ("department", L),
            ("caller", L),
            ("source", L),
            ("reason", L),
            ("last_call", L),
            ("calls", R),
            ("recording", L),
            ("claimed_by", L),
            ("outcome", L),
        ],
    );
    for cb in list {
        let recording = match (&cb.recording_path, cb.recording_secs) {
            (None, _) => String::new(),
            (Some(_), secs) => {
                let mut r = format!("{:.1}s", secs.unwrap_or(0.0));
                if let Some(flag) = &cb.recording_flag {
                    let _ = write!(r, " ({flag})");
                }
                r
            }
        };
        t.row(vec![
            cb.id.to_string(),
            cb.status.to_string(),
            cb.department.clone(),
            cb.caller.clone(),
            cb.source.clone(),
            cb.reason.to_string(),
            local_minute(cb.updated_at, tz),
            cb.call_count.to_string(),
            recording,
            cb.claimed_by.clone().unwrap_or_default(),
            cb.outcome.clone().unwrap_or_default(),
        ]);
    }
    let mut out = String::new();
    t.write_text(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_exactly() {
        assert_eq!(secs_exact(12_345), "12.345");
        assert_eq!(secs_exact(5), "0.005");
        assert_eq!(secs_short(12_399), "12.3s");
        assert_eq!(hms(3_723_999), "1:02:03");
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn text_table_aligns_columns() {
        let mut t = Table::new("t", &[("name", Align::Left), ("n", Align::Right)]);
        t.row(vec!["andrew".into(), "7".into()]);
        t.row(vec!["el".into(), "12".into()]);
        let mut out = String::new();
        t.write_text(&mut out);
        assert_eq!(
            out,
            "t\n  name     n\n  ------  --\n  andrew   7\n  el      12\n"
        );
    }
}
