//! Prometheus metrics: small helpers the driver calls, and the text `/metrics` serves.
//!
//! The recorder is installed process-wide on first use (the `metrics` facade has one
//! global recorder). If something else installed a recorder first, these helpers still
//! work but `/metrics` renders only what reached ours (nothing); that is logged once.
//!
//! Metric names (all prefixed `switchboard_`):
//!
//! | name | type | labels | set by |
//! |---|---|---|---|
//! | `calls_total` | counter | `outcome` | [`record_call_outcome`] |
//! | `active_calls` | gauge | | [`set_active_calls`] |
//! | `answer_seconds` | histogram | | [`observe_answer_time`] |
//! | `ivr_seconds` | histogram | | [`observe_ivr_time`] |
//! | `sip_requests_total` | counter | `method`, `direction` | [`count_sip_message`] |
//! | `sip_responses_total` | counter | `status`, `direction` | [`count_sip_message`] |
//! | `rtp_packets_total` | counter | `kind` = sent/received/late/lost | [`add_rtp_packets`] |
//! | `alerts_active` | gauge | `kind` | [`set_alerts_active`] |
//! | `menu_choices_total` | counter | | the driver (`io::count_event`) |
//! | `sip_guard_total` | counter | `event` (see [`add_guard_stats`]) | [`add_guard_stats`] |
//! | `sip_banned_sources` | gauge | | [`set_guard_gauges`] |
//! | `sip_transactions` | gauge | | [`set_guard_gauges`] |
//! | `tcp_connections` | gauge | | [`set_tcp_connections`] |
//! | `tcp_closed_total` | counter | `reason` | [`count_tcp_closed`] |
//! | `rtp_foreign_dropped_total` | counter | | [`add_rtp_latch`] |
//! | `rtp_relatched_total` | counter | | [`add_rtp_latch`] |
//! | `queue_waiting`, `queue_callbacks_waiting`, `queue_signed_in` | gauge | `department` | [`set_queue`] |
//! | `service_level_offered_total`, `service_level_answered_total` | counter | `department` | [`count_service_level`] |
//! | `service_level_ratio` | gauge | `department` | [`count_service_level`] (today's share) |
//! | `callbacks_requested_total` | counter | | [`count_callback_requested`] |
//! | `dialback_attempts_total` | counter | `outcome` | [`count_dialback_attempt`] |
//! | `managers` | gauge | `state` | [`set_managers`] |
//! | `lookups_total` | counter | `result` = answered/unknown/cached/timeout/error | [`count_lookup`] |
//! | `call_events_total` | counter | `event` | [`count_call_event`] |
//! | `emails_total` | counter | `result` = sent/failed | [`count_email`] |
//! | `memory_bytes` | gauge | `kind` = heap/resident | [`render`] (the allocator's statistics) |

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::store::CallOutcome;

/// Histogram buckets in seconds: answer and IVR times are seconds to a few minutes.
const TIME_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (once) and returns the handle that renders it.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        // Only fails for an empty bucket list, which TIME_BUCKETS is not; the fallback
        // renders the histograms as summaries instead.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), TIME_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be empty");
        }
        handle
    })
}

/// Counts a CRM lookup (`[lookup]`) by how it ended.
pub fn count_lookup(result: &'static str) {
    handle();
    metrics::counter!("switchboard_lookups_total", "result" => result).increment(1);
}

/// Counts a call event published (webhook outbox and/or the SSE stream).
pub fn count_call_event(event: &'static str) {
    handle();
    metrics::counter!("switchboard_call_events_total", "event" => event).increment(1);
}

/// Counts a notification email by its delivery attempt's result.
pub fn count_email(result: &'static str) {
    handle();
    metrics::counter!("switchboard_emails_total", "result" => result).increment(1);
}

/// Counts a finished call by its final outcome.
pub fn record_call_outcome(outcome: CallOutcome) {
    handle();
    metrics::counter!("switchboard_calls_total", "outcome" => outcome.as_str()).increment(1);
}

/// Sets the number of calls in progress.
pub fn set_active_calls(n: usize) {
    handle();
    metrics::gauge!("switchboard_active_calls").set(n as f64);
}

/// Time from the start of a call to its answer.
pub fn observe_answer_time(secs: f64) {
    handle();
    metrics::histogram!("switchboard_answer_seconds").record(secs);
}

/// Time a caller spent in the menus.
pub fn observe_ivr_time(secs: f64) {
    handle();
    metrics::histogram!("switchboard_ivr_seconds").record(secs);
}

/// Counts a SIP request on the wire, by method (`INVITE`, `BYE`, …) and direction
/// (`in`/`out`; retransmissions count, they are traffic too).
pub fn count_sip_request(method: &str, direction: &'static str) {
    handle();
    metrics::counter!("switchboard_sip_requests_total", "method" => method.to_owned(), "direction" => direction).increment(1);
}

/// Counts a SIP response on the wire, by status code and direction.
pub fn count_sip_response(status: u16, direction: &'static str) {
    handle();
    metrics::counter!("switchboard_sip_responses_total", "status" => status.to_string(), "direction" => direction)
        .increment(1);
}

/// Counts one SIP message from its first line, without parsing the rest: cheap
/// enough for every datagram. Keepalives and garbage are not counted.
pub fn count_sip_message(bytes: &[u8], direction: &'static str) {
    let line = bytes.split(|b| *b == b' ').next().unwrap_or_default();
    if line == b"SIP/2.0" {
        let status = bytes
            .get(8..11)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| d.parse::<u16>().ok());
        if let Some(code) = status {
            count_sip_response(code, direction);
        }
    } else if !line.is_empty() && line.len() <= 16 && line.iter().all(|b| b.is_ascii_uppercase()) {
        count_sip_request(&String::from_utf8_lossy(line), direction);
    }
}

/// Alerts currently raised, by kind (`callback_overdue`, `manager_missed_calls`).
pub fn set_alerts_active(kind: &'static str, n: usize) {
    handle();
    metrics::gauge!("switchboard_alerts_active", "kind" => kind).set(n as f64);
}

/// Adds RTP packet counts (call it with deltas, e.g. once per second per call plane).
pub fn add_rtp_packets(sent: u64, received: u64, late: u64, lost: u64) {
    handle();
    for (kind, n) in [
        ("sent", sent),
        ("received", received),
        ("late", late),
        ("lost", lost),
    ] {
        if n > 0 {
            metrics::counter!("switchboard_rtp_packets_total", "kind" => kind).increment(n);
        }
    }
}

/// RTP packets dropped because they came from someone other than the call's peer,
/// and streams that followed their peer to a new address (NAT rebinding).
pub fn add_rtp_latch(foreign_dropped: u64, relatched: u64) {
    handle();
    if foreign_dropped > 0 {
        metrics::counter!("switchboard_rtp_foreign_dropped_total").increment(foreign_dropped);
    }
    if relatched > 0 {
        metrics::counter!("switchboard_rtp_relatched_total").increment(relatched);
    }
}

/// The admission guards' counters (issue 11), as `switchboard_sip_guard_total{event}`:
/// `banned_dropped`, `bans`, `invite_refused_answered`, `invite_refused_silent`,
/// `shed`, `in_dialog_refused`, `auth_failures`, `auth_locked_refused`, `lockouts`.
pub fn add_guard_stats(s: &crate::guard::GuardStats) {
    handle();
    for (event, n) in [
        ("banned_dropped", s.banned_dropped),
        ("bans", s.bans),
        ("invite_refused_answered", s.invites_refused_answered),
        ("invite_refused_silent", s.invites_refused_silent),
        ("shed", s.shed),
        ("in_dialog_refused", s.in_dialog_refused),
        ("auth_failures", s.auth_failures),
        ("auth_locked_refused", s.auth_locked_refused),
        ("lockouts", s.lockouts),
    ] {
        if n > 0 {
            metrics::counter!("switchboard_sip_guard_total", "event" => event).increment(n);
        }
    }
}

/// Sources banned now and open SIP transactions.
pub fn set_guard_gauges(banned: usize, transactions: usize) {
    handle();
    metrics::gauge!("switchboard_sip_banned_sources").set(banned as f64);
    metrics::gauge!("switchboard_sip_transactions").set(transactions as f64);
}

/// RTP ports no call holds now and that may be given to the next (retired ports, held
/// by another program, are not counted). At 0 a new call is refused with 503.
pub fn set_rtp_ports_free(n: usize) {
    handle();
    metrics::gauge!("switchboard_rtp_ports_free").set(n as f64);
}

/// SIP/TCP connections open now.
pub fn set_tcp_connections(n: usize) {
    handle();
    metrics::gauge!("switchboard_tcp_connections").set(n as f64);
}

/// A SIP/TCP or SIP/TLS connection closed or refused by a limit: `idle`,
/// `message_timeout`, `too_large`, `per_source_limit`, `total_limit`, `bad_framing`,
/// `handshake_timeout`.
pub fn count_tcp_closed(reason: &'static str) {
    handle();
    metrics::counter!("switchboard_tcp_closed_total", "reason" => reason).increment(1);
}

/// A TLS handshake, inbound or outbound: `ok`, `failed` (a peer that does not trust
/// us, a certificate we refused) or `timeout` (`tls_handshake_secs`).
pub fn count_tls_handshake(result: &'static str) {
    handle();
    metrics::counter!("switchboard_tls_handshakes_total", "result" => result).increment(1);
}

/// SRTP packets dropped by a call leg: `auth` (tampered, or another key), `replay`,
/// `malformed`.
pub fn add_srtp_dropped(auth: u64, replay: u64, malformed: u64) {
    handle();
    for (reason, n) in [("auth", auth), ("replay", replay), ("malformed", malformed)] {
        if n > 0 {
            metrics::counter!("switchboard_srtp_dropped_total", "reason" => reason).increment(n);
        }
    }
}

/// The Prometheus text exposition of everything recorded so far.
#[must_use]
pub fn render() -> String {
    // The recorder first: gauges set before it is installed would go nowhere.
    let h = handle();
    set_memory_gauges();
    h.run_upkeep();
    h.render()
}

/// The router's memory as its allocator (jemalloc) counts it, read at each scrape:
/// `heap` is what live objects hold, `resident` what the allocator keeps in RAM for
/// them (the heap plus its caches, metadata and pages not yet returned). A heap that
/// climbs while the number of calls stays flat is a leak; a resident figure far above
/// the heap is freed memory the allocator has not handed back yet (it does within
/// seconds). Both leave out thread stacks and the binary, which the process's RSS counts.
fn set_memory_gauges() {
    use tikv_jemalloc_ctl::{epoch, stats};
    // The statistics are a snapshot refreshed by advancing the epoch.
    if epoch::advance().is_err() {
        return;
    }
    if let (Ok(heap), Ok(resident)) = (stats::allocated::read(), stats::resident::read()) {
        metrics::gauge!("switchboard_memory_bytes", "kind" => "heap").set(heap as f64);
        metrics::gauge!("switchboard_memory_bytes", "kind" => "resident").set(resident as f64);
    }
}

// ---- queues, callbacks and managers' states (issue 13) --------------------------------
//
// | `queue_waiting` | gauge | `department` | callers waiting (on the line or to be called back) |
// | `queue_callbacks_waiting` | gauge | `department` | of which hung up to be called back |
// | `queue_signed_in` | gauge | `department` | members who can take its calls now |
// | `service_level_offered_total` | counter | `department` | calls handed to its people |
// | `service_level_answered_total` | counter | `department` | of which answered within its `service_level_secs` |
// | `service_level_ratio` | gauge | `department` | today's share (the server's local day) |
// | `callbacks_requested_total` | counter | | callers who hung up to be called back |
// | `dialback_attempts_total` | counter | `outcome` | dial-outs to customers by outcome |
// | `managers` | gauge | `state` | managers by state (free, paused, dnd, …) |

/// One department's queue now.
pub fn set_queue(department: &str, waiting: usize, callbacks: usize, signed_in: u32) {
    handle();
    let d = department.to_owned();
    metrics::gauge!("switchboard_queue_waiting", "department" => d.clone()).set(waiting as f64);
    metrics::gauge!("switchboard_queue_callbacks_waiting", "department" => d.clone())
        .set(callbacks as f64);
    metrics::gauge!("switchboard_queue_signed_in", "department" => d).set(f64::from(signed_in));
}

/// A call handed to a department's people ended; `within`: answered within its
/// service-level threshold. `today` is the day's share so far.
pub fn count_service_level(department: &str, within: bool, today: f64) {
    handle();
    let d = department.to_owned();
    metrics::counter!("switchboard_service_level_offered_total", "department" => d.clone())
        .increment(1);
    if within {
        metrics::counter!("switchboard_service_level_answered_total", "department" => d.clone())
            .increment(1);
    }
    metrics::gauge!("switchboard_service_level_ratio", "department" => d).set(today);
}

/// A caller hung up to be called back.
pub fn count_callback_requested() {
    handle();
    metrics::counter!("switchboard_callbacks_requested_total").increment(1);
}

/// One dial-out to a customer ended (`answered`, `busy`, `no_answer`, …).
pub fn count_dialback_attempt(outcome: &'static str) {
    handle();
    metrics::counter!("switchboard_dialback_attempts_total", "outcome" => outcome).increment(1);
}

/// Managers by state now.
pub fn set_managers(state: &'static str, n: usize) {
    handle();
    metrics::gauge!("switchboard_managers", "state" => state).set(n as f64);
}

#[cfg(test)]
mod tests {
    /// The allocator's figures reach `/metrics`: a live heap of some size, and a resident
    /// figure at least as large.
    #[test]
    fn render_reports_the_allocators_memory() {
        let _keep = vec![0u8; 1 << 20];
        let text = super::render();
        let value = |kind: &str| -> f64 {
            let key = format!("switchboard_memory_bytes{{kind=\"{kind}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(key.as_str()))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        let (heap, resident) = (value("heap"), value("resident"));
        assert!(heap >= f64::from(1u32 << 20), "heap {heap} in:\n{text}");
        assert!(resident >= heap, "resident {resident} < heap {heap}");
    }
}
