//! What a crash (kill -9, power loss) leaves behind, put right on the next start.
//!
//! - Calls still `in_progress` in the database were cut off: they are closed with the
//!   outcome `interrupted` at their last known time, so reports and the dashboard
//!   agree and nothing stays "live" forever ([`close_interrupted`]).
//! - Voicemail WAVs on disk with no callback request are callers who would never be
//!   called back: each becomes a request, flagged `recovered` (or `recovered_empty`
//!   when nothing was recorded) ([`file_orphan_recordings`]). The driver repairs the
//!   files' headers first (`io::recovery`).
//!
//! Recording file names are unique by construction and name their call:
//! `recordings/DAY/HHMMSS-TAG-N-MAILBOX.wav`, where TAG is 16 hex digits of the
//! SHA-256 of the call record's id (its Call-ID) and N the recording's number within
//! the call, so two calls never share a file (`collide@x` and `collide_x` once did)
//! and a recovered file finds its call record again.

use std::collections::HashSet;

use jiff::Timestamp;

use super::{CallOutcome, CallRecord, CallbackReason, NewCallback, Side, Store, StoreError};

pub use crate::model::recording::{call_tag, parse_recording_file_name, recording_file_name};

/// The last moment the record says anything happened on the call.
#[must_use]
pub fn last_known_time(call: &CallRecord) -> Timestamp {
    let mut t = call.started_at;
    for at in call
        .answered_at
        .iter()
        .copied()
        .chain(call.menu_path.iter().map(|m| m.at))
        .chain(call.transfers.iter().map(|x| x.at))
    {
        t = t.max(at);
    }
    t
}

/// Closes every call left `in_progress` as `interrupted` at its last known time.
/// Returns how many.
pub fn close_interrupted(store: &mut dyn Store) -> Result<usize, StoreError> {
    let calls = store.calls_in_progress()?;
    for mut call in calls.iter().cloned() {
        call.ended_at = Some(last_known_time(&call));
        call.outcome = CallOutcome::Interrupted;
        call.hangup_side = Some(Side::System);
        store.upsert_call(&call)?;
    }
    Ok(calls.len())
}

/// A voicemail file found on disk, after its header was checked.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundRecording {
    /// As it will be written into the request (what the admin opens).
    pub path: String,
    pub file_name: String,
    /// The day folder it is in (`YYYY-MM-DD`, the call's start day in UTC).
    pub day: String,
    /// Seconds of audio; 0 for an empty file.
    pub secs: f64,
    /// Nothing was recorded (the file was empty or shorter than a header).
    pub empty: bool,
}

/// What [`file_orphan_recordings`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OrphanReport {
    /// Requests filed for recordings nobody referenced.
    pub filed: usize,
    /// Recordings left unreferenced: the caller's unfinished request already has a
    /// (newer) message, or the name is not ours.
    pub skipped: Vec<String>,
}

/// Files a callback request (flagged `recovered`, or `recovered_empty`) for every
/// recording no request references. The caller and number come from the call record
/// the file name points to; the department is the mailbox in the name.
pub fn file_orphan_recordings(
    store: &mut dyn Store,
    found: &[FoundRecording],
    now: Timestamp,
) -> Result<OrphanReport, StoreError> {
    let requests = store.list_callbacks(None, None)?;
    let referenced: HashSet<String> = requests
        .iter()
        .filter_map(|r| r.recording_path.as_deref())
        .filter_map(|p| std::path::Path::new(p).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let mut report = OrphanReport::default();
    let mut orphans: Vec<&FoundRecording> = found
        .iter()
        .filter(|f| !referenced.contains(&f.file_name))
        .collect();
    // Oldest first, so of one caller's messages the newest ends up in the request.
    orphans.sort_by(|a, b| (&a.day, &a.file_name).cmp(&(&b.day, &b.file_name)));
    for f in orphans {
        let Some((tag, mailbox)) = parse_recording_file_name(&f.file_name) else {
            report.skipped.push(f.path.clone());
            continue;
        };
        let call = find_call(store, &f.day, tag)?;
        let caller = call.as_ref().map_or("unknown", |c| c.caller.as_str());
        let busy = store
            .list_callbacks(Some(mailbox), None)?
            .into_iter()
            .any(|r| {
                r.caller == caller
                    && r.status != super::CallbackStatus::Done
                    && r.recording_path.is_some()
            });
        if busy {
            report.skipped.push(f.path.clone());
            continue;
        }
        let request = NewCallback {
            department: mailbox.to_owned(),
            caller: caller.to_owned(),
            dialled: call.as_ref().map(|c| c.dialled.clone()).unwrap_or_default(),
            source: call.as_ref().map(|c| c.source.clone()).unwrap_or_default(),
            at: call.as_ref().map_or(now, |c| c.started_at),
            menu_path: call
                .as_ref()
                .map(|c| c.menu_path.clone())
                .unwrap_or_default(),
            reason: CallbackReason::Missed,
            recording_path: Some(f.path.clone()),
            recording_secs: Some(f.secs),
            recording_flag: Some(
                if f.empty {
                    "recovered_empty"
                } else {
                    "recovered"
                }
                .into(),
            ),
        };
        store.add_or_update_callback(&request)?;
        report.filed += 1;
    }
    Ok(report)
}

/// The call record of `day` (or the day after, for calls around midnight) whose id
/// hashes to `tag`.
fn find_call(store: &dyn Store, day: &str, tag: &str) -> Result<Option<CallRecord>, StoreError> {
    let Ok(date) = day.parse::<jiff::civil::Date>() else {
        return Ok(None);
    };
    let Ok(from) = date
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
    else {
        return Ok(None);
    };
    let to = from + jiff::SignedDuration::from_hours(48);
    let from = from - jiff::SignedDuration::from_hours(24);
    Ok(store
        .calls_between(from, to)?
        .into_iter()
        .find(|c| call_tag(&c.call_id) == tag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CallbackStatus, MemoryStore};

    fn call(id: &str, caller: &str, at: Timestamp) -> CallRecord {
        CallRecord {
            call_id: id.into(),
            started_at: at,
            answered_at: None,
            ended_at: None,
            dialled: "2000".into(),
            source: "ads".into(),
            caller: caller.into(),
            caller_name: None,
            menu_path: vec![crate::store::MenuStep {
                menu: "main".into(),
                digits: "3".into(),
                at: at + jiff::SignedDuration::from_secs(7),
            }],
            decision: String::new(),
            reason: String::new(),
            department: Some("sales".into()),
            answered_by: None,
            outcome: CallOutcome::InProgress,
            hangup_side: None,
            transfers: Vec::new(),
            recording: None,
        }
    }

    #[test]
    fn colliding_call_ids_get_different_files_and_names_parse_back() {
        let t: Timestamp = "2026-03-02T10:11:12Z".parse().unwrap();
        let a = recording_file_name(t, "collide@x", 1, "sales");
        let b = recording_file_name(t, "collide_x", 1, "sales");
        assert_ne!(a, b);
        assert!(a.starts_with("101112-"), "{a}");
        let (tag, mailbox) = parse_recording_file_name(&a).unwrap();
        assert_eq!((tag, mailbox), (call_tag("collide@x").as_str(), "sales"));
        let other = recording_file_name(t, "c", 2, "after-hours");
        let (_, mailbox) = parse_recording_file_name(&other).unwrap();
        assert_eq!(mailbox, "after-hours");
        assert_eq!(parse_recording_file_name("abc@10.0.0.1-sales.wav"), None);
    }

    #[test]
    fn crashed_calls_close_as_interrupted_at_their_last_known_time() {
        let mut store = MemoryStore::default();
        let t: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        store.upsert_call(&call("c1", "5551", t)).unwrap();
        let mut done = call("c2", "5552", t);
        done.outcome = CallOutcome::Answered;
        store.upsert_call(&done).unwrap();
        assert_eq!(close_interrupted(&mut store).unwrap(), 1);
        let c1 = store.get_call("c1").unwrap().unwrap();
        assert_eq!(c1.outcome, CallOutcome::Interrupted);
        assert_eq!(c1.ended_at, Some(t + jiff::SignedDuration::from_secs(7)));
        assert_eq!(
            store.get_call("c2").unwrap().unwrap().outcome,
            CallOutcome::Answered
        );
        assert_eq!(close_interrupted(&mut store).unwrap(), 0, "idempotent");
    }

    #[test]
    fn unreferenced_recordings_become_recovered_requests_once() {
        let mut store = MemoryStore::default();
        let t: Timestamp = "2026-03-02T10:00:00Z".parse().unwrap();
        store.upsert_call(&call("v1", "5551", t)).unwrap();
        let name = recording_file_name(t, "v1", 1, "sales");
        let empty_name = recording_file_name(t, "gone", 1, "support");
        let found = vec![
            FoundRecording {
                path: format!("/data/recordings/2026-03-02/{name}"),
                file_name: name.clone(),
                day: "2026-03-02".into(),
                secs: 4.5,
                empty: false,
            },
            FoundRecording {
                path: format!("/data/recordings/2026-03-02/{empty_name}"),
                file_name: empty_name,
                day: "2026-03-02".into(),
                secs: 0.0,
                empty: true,
            },
        ];
        let report = file_orphan_recordings(&mut store, &found, t).unwrap();
        assert_eq!(report.filed, 2);
        let reqs = store
            .list_callbacks(None, Some(CallbackStatus::Open))
            .unwrap();
        let sales = reqs.iter().find(|r| r.department == "sales").unwrap();
        assert_eq!(sales.caller, "5551");
        assert_eq!(sales.recording_flag.as_deref(), Some("recovered"));
        assert_eq!(sales.recording_secs, Some(4.5));
        let support = reqs.iter().find(|r| r.department == "support").unwrap();
        assert_eq!(support.caller, "unknown");
        assert_eq!(support.recording_flag.as_deref(), Some("recovered_empty"));
        // Run again: everything is referenced now.
        assert_eq!(
            file_orphan_recordings(&mut store, &found, t).unwrap().filed,
            0
        );
    }
}
