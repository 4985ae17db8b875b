//! After hours and missed calls on the virtual clock (issue 5): the confirmation,
//! the voicemail greeting and recording, and the callback request filed exactly once
//! per call — with the message, or without one when the caller hangs up early.
mod flows;

use std::path::PathBuf;
use std::time::Duration;

use flows::*;
use switchboard::call::{CallKey, MediaCommand, MediaEvent, RecordEnd};
use switchboard::store::CallbackReason;

/// The harness clock reads Monday 2026-11-23 10:00 UTC: sales is closed (Tuesdays
/// only), support is open.
const PLAN: &str = r#"
[[numbers]]
number = "3000"
source = "night-line"
action = "department:sales"

[[numbers]]
number = "4000"
source = "web"
action = "department:support"

[departments.sales]
members = ["andrew"]
hours = "tuesdays"
after_hours = "voicemail:sales"

[departments.support]
members = ["andrew"]

[hours.tuesdays]
timezone = "UTC"
tuesday = ["09:00-17:00"]

[managers.andrew]
extension = "101"
contact = "sip:101@10.0.0.5:5060"

[voicemail.sales]
greeting = "voicemail_greeting"
max_secs = 60
"#;

fn record_command(h: &H) -> (u32, PathBuf, Duration, String) {
    h.media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Record {
                record_id,
                path,
                max,
                stop_digits,
                ..
            } => Some((*record_id, path.clone(), *max, stop_digits.clone())),
            _ => None,
        })
        .expect("a Record command")
}

/// The media plane reports message `id` of `key` closed (`MediaEvent::RecordingFinished`).
fn message_closed(
    h: &mut H,
    key: CallKey,
    id: u32,
    path: PathBuf,
    duration: Duration,
    ended_by: RecordEnd,
    silent: bool,
) {
    let closed = MediaEvent::RecordingFinished {
        record_id: id,
        path,
        duration,
        ended_by,
        silent,
        error: None,
    };
    h.ep.handle_media_event(h.now, h.wall, key, closed);
    h.drain();
}

/// After hours: confirmation, greeting, beep, recording started.
fn into_voicemail(h: &mut H) -> (u32, PathBuf) {
    h.caller_answered("3000");
    let (play, prompts) = h.last_play().unwrap();
    assert_eq!(
        prompts,
        vec!["callback_confirm", "voicemail_greeting", "beep"]
    );
    assert!(
        h.media
            .iter()
            .all(|m| !matches!(m, MediaCommand::Record { .. })),
        "no recording during the greeting"
    );
    h.finish_play(play);
    let (id, path, max, stop) = record_command(h);
    assert_eq!(max, Duration::from_secs(60));
    assert_eq!(stop, "#");
    // Named after the call record (its id's hash) and the recording, never the
    // Call-ID itself (issue 11).
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(path.parent().unwrap().ends_with("recordings/2026-11-23"));
    assert_eq!(
        name,
        switchboard::store::recovery::recording_file_name(
            "2026-11-23T10:00:00Z".parse().unwrap(),
            "caller-1",
            id,
            "sales"
        )
    );
    (id, path)
}

#[test]
fn after_hours_the_caller_leaves_a_message_and_lands_in_the_callback_queue() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (id, path) = into_voicemail(&mut h);
    assert!(h.callbacks.is_empty(), "filed once, with the message");
    let key = h.caller_key();
    message_closed(
        &mut h,
        key,
        id,
        path.clone(),
        Duration::from_millis(3200),
        RecordEnd::Digit('#'),
        false,
    );
    assert_eq!(h.callbacks.len(), 1);
    let cb = &h.callbacks[0];
    assert_eq!(cb.department, "sales");
    assert_eq!(cb.reason, CallbackReason::AfterHours);
    assert_eq!(cb.caller, "5551234");
    assert_eq!(cb.dialled, "3000");
    assert_eq!(cb.source, "night-line");
    assert_eq!(cb.recording_path.as_deref(), Some(path.to_str().unwrap()));
    assert_eq!(cb.recording_secs, Some(3.2));
    assert_eq!(cb.recording_flag, None);
    // Goodbye, then we hang up.
    let (play, prompts) = h.last_play().unwrap();
    assert_eq!(prompts, vec!["goodbye"]);
    h.finish_play(play);
    let bye = h.request_to(TRUNK, "BYE");
    h.sip_from(TRUNK, &reply(&bye, "200 OK", "t1", None));
    assert_eq!(h.callbacks.len(), 1);
    h.assert_clean();
}

#[test]
fn a_silent_or_very_short_message_is_kept_but_flagged() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (id, path) = into_voicemail(&mut h);
    let key = h.caller_key();
    message_closed(
        &mut h,
        key,
        id,
        path,
        Duration::from_millis(900),
        RecordEnd::Silence,
        true,
    );
    assert_eq!(h.callbacks[0].recording_flag.as_deref(), Some("silent"));
}

#[test]
fn hanging_up_during_the_greeting_files_a_missed_request() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.caller_answered("3000");
    let bye = h.caller_request("BYE", 2, "");
    h.sip_from(TRUNK, &bye);
    assert_eq!(h.callbacks.len(), 1);
    // The call is missed (no message), and the request says why the caller reached
    // voicemail: after hours.
    assert_eq!(h.callbacks[0].reason, CallbackReason::AfterHours);
    let outcome = h.events.iter().find_map(|e| match e {
        switchboard::call::CallEvent::Ended { outcome, .. } => Some(outcome.outcome),
        _ => None,
    });
    assert_eq!(outcome, Some(switchboard::store::CallOutcome::Missed));
    assert_eq!(h.callbacks[0].department, "sales");
    assert_eq!(h.callbacks[0].recording_path, None);
    h.assert_clean();
}

#[test]
fn hanging_up_mid_message_keeps_the_message() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (id, path) = into_voicemail(&mut h);
    let key = h.caller_key();
    let bye = h.caller_request("BYE", 2, "");
    h.sip_from(TRUNK, &bye);
    assert!(h.media.contains(&MediaCommand::StopRecording { call: key }));
    assert!(h.callbacks.is_empty(), "waits for the file to be closed");
    // The media plane closes the file after the call is gone.
    message_closed(
        &mut h,
        key,
        id,
        path,
        Duration::from_secs(7),
        RecordEnd::Stopped,
        false,
    );
    assert_eq!(h.callbacks.len(), 1);
    assert_eq!(h.callbacks[0].recording_secs, Some(7.0));
    assert_eq!(h.callbacks[0].reason, CallbackReason::AfterHours);
    h.assert_clean();
}

#[test]
fn a_stop_mid_message_keeps_the_message_and_waits_for_the_file() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (id, path) = into_voicemail(&mut h);
    let key = h.caller_key();
    h.take_to(TRUNK);
    h.ep.handle_stop(h.now, h.wall, switchboard::endpoint::StopMode::Drain);
    h.drain();
    let bye = h.request_to(TRUNK, "BYE");
    h.sip_from(TRUNK, &reply(&bye, "200 OK", "t1", None));
    assert!(h.media.contains(&MediaCommand::StopRecording { call: key }));
    assert!(!h.ep.is_stopped(), "waits for the file to be closed");
    message_closed(
        &mut h,
        key,
        id,
        path,
        Duration::from_secs(4),
        RecordEnd::Stopped,
        false,
    );
    assert_eq!(h.callbacks.len(), 1);
    assert_eq!(h.callbacks[0].recording_secs, Some(4.0));
    assert_eq!(h.callbacks[0].reason, CallbackReason::AfterHours);
    assert!(h.ep.is_stopped());
}

#[test]
fn a_recording_that_never_reports_back_still_files_the_request() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    let _ = into_voicemail(&mut h);
    let bye = h.caller_request("BYE", 2, "");
    h.sip_from(TRUNK, &bye);
    h.advance(Duration::from_secs(6));
    assert_eq!(h.callbacks.len(), 1);
    assert!(h.callbacks[0].recording_path.is_some());
    assert_eq!(h.callbacks[0].recording_secs, None);
}

#[test]
fn hanging_up_while_managers_ring_files_an_abandoned_request() {
    let mut h = H::new("10.0.0.0/8", PLAN);
    h.caller_calls("4000");
    let invite = h.request_to(ANDREW, "INVITE");
    h.sip_from(ANDREW, &reply(&invite, "180 Ringing", "a1", None));
    let bye = h.caller_request("BYE", 2, "");
    h.sip_from(TRUNK, &bye);
    assert_eq!(h.callbacks.len(), 1);
    assert_eq!(h.callbacks[0].reason, CallbackReason::AbandonedWaiting);
    assert_eq!(h.callbacks[0].department, "support");
}

/// Every prompt of the live call, in order, with the recording where it happens.
fn heard_live(h: &H) -> Vec<String> {
    h.media
        .iter()
        .flat_map(|m| match m {
            MediaCommand::Play { prompts, .. } => prompts.clone(),
            MediaCommand::Record { .. } => vec!["[records]".to_string()],
            _ => vec![],
        })
        .collect()
}

#[test]
fn explain_lists_exactly_the_prompts_an_after_hours_call_plays() {
    // Issue 19: `explain` left out the confirmation that plays before voicemail.
    let mut h = H::new("10.0.0.0/8", PLAN);
    let (id, path) = into_voicemail(&mut h);
    let key = h.caller_key();
    message_closed(
        &mut h,
        key,
        id,
        path,
        Duration::from_millis(3200),
        RecordEnd::Digit('#'),
        false,
    );
    let live = heard_live(&h);

    let ctx = switchboard::routing::CallContext::new("3000", "5551234", h.wall);
    let ex = switchboard::routing::explain(
        &h.plan,
        &ctx,
        &switchboard::routing::ManagerStates::default(),
        None,
    );
    let text = switchboard::call::heard::render(&h.plan, &ex, h.wall);
    let explained: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("caller hears: "))
        .flat_map(|l| l.split(", "))
        .map(|p| {
            if p.starts_with("[records") {
                "[records]".to_string()
            } else {
                p.to_string()
            }
        })
        .collect();
    assert_eq!(
        live,
        vec![
            "callback_confirm",
            "voicemail_greeting",
            "beep",
            "[records]",
            "goodbye"
        ]
    );
    assert_eq!(explained, live, "explain:\n{text}");
}
