//! Voicemail and the callback queue: nothing is lost (issue 5).
//!
//! A call that lands after hours, overflows, or that nobody answered becomes a
//! callback request in its department's queue, with or without a message. The request
//! is filed exactly once per call: when the message is recorded, or when the call ends
//! without one (hang-up during the greeting → `missed`, hang-up while ringing or
//! queued → `abandoned_waiting`). A caller who hangs up mid-message still gets the
//! message kept: the request is filed when the media plane has closed the WAV file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::calls::CallSlot;
use super::{Endpoint, Output};
use crate::call::{CallKey, MediaCommand, RecordEnd};
use crate::store::{CallbackReason, NewCallback, StoreWrite};

/// How long a hung-up call waits for its recording to be closed before the request is
/// filed without the message's length.
const RECORDING_GRACE: Duration = Duration::from_secs(5);
/// Messages shorter than this are kept but flagged `short`.
const SHORT_MESSAGE: Duration = Duration::from_secs(2);

/// A message being recorded.
#[derive(Debug, Clone)]
pub(super) struct Recording {
    pub record_id: u32,
    pub mailbox: String,
    pub path: PathBuf,
}

/// A request waiting for its recording to close after the caller hung up.
#[derive(Debug)]
pub(super) struct PendingRecording {
    pub request: NewCallback,
    pub deadline: Instant,
}

/// `a84b@10.0.0.1` → `a84b_10.0.0.1`: Call-IDs come off the wire, file names must not
/// climb out of the recordings folder.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect::<String>()
        .trim_start_matches('.')
        .to_string()
}

impl Endpoint {
    /// The greeting has played: record the caller.
    pub(super) fn start_recording(
        &mut self,
        slot: &mut CallSlot,
        mailbox: String,
        max: Duration,
        silence: Duration,
    ) {
        slot.wait_plays = slot.wait_plays.wrapping_add(1);
        let record_id = slot.wait_plays;
        let day = slot.info.started_at.strftime("%Y-%m-%d").to_string();
        let path = self
            .cfg
            .server
            .data_dir
            .join("recordings")
            .join(day)
            // Unique by construction (the call record's id and the recording's
            // number), never the Call-ID itself: see store::recovery.
            .join(crate::store::recovery::recording_file_name(
                slot.info.started_at,
                &slot.info.call_id,
                record_id,
                &file_safe(&mailbox),
            ));
        tracing::info!("recording a message for {mailbox} into {}", path.display());
        self.outputs.push_back(Output::Media(MediaCommand::Record {
            call: slot.key,
            record_id,
            path: path.clone(),
            max,
            silence,
            stop_digits: "#".into(),
        }));
        if slot.callback.is_none() {
            // Voicemail chosen in a menu: the caller still expects a call back.
            slot.callback = Some((mailbox.clone(), CallbackReason::Missed));
        }
        slot.recording = Some(Recording {
            record_id,
            mailbox,
            path,
        });
    }

    /// The message is in its file: file the request, then goodbye.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn recording_finished(
        &mut self,
        slot: &mut CallSlot,
        now: Instant,
        record_id: u32,
        duration: Duration,
        ended_by: RecordEnd,
        silent: bool,
        error: Option<String>,
    ) {
        let Some(rec) = slot.recording.take_if(|r| r.record_id == record_id) else {
            return;
        };
        tracing::info!(
            "message recorded: {:.1} s, ended by {ended_by:?}{}",
            duration.as_secs_f64(),
            if silent { " (silent)" } else { "" }
        );
        let mut request = self.callback_request(slot, CallbackReason::Missed, &rec.mailbox);
        set_recording(&mut request, &rec.path, duration, silent, error);
        self.file_callback(slot, request);
        slot.ivr.handle_recording_finished(now);
    }

    /// The call is ending: file its callback request if it needs one.
    pub(super) fn callback_on_end(&mut self, slot: &mut CallSlot, now: Instant, answered: bool) {
        if slot.callback_filed || answered {
            return;
        }
        if let Some(rec) = slot.recording.take() {
            // Hung up mid-message: keep it, file when the file is closed.
            self.outputs
                .push_back(Output::Media(MediaCommand::StopRecording {
                    call: slot.key,
                }));
            let mut request = self.callback_request(slot, CallbackReason::Missed, &rec.mailbox);
            request.recording_path = Some(rec.path.display().to_string());
            slot.callback_filed = true;
            self.pending_recordings.insert(
                slot.key,
                (
                    rec.record_id,
                    PendingRecording {
                        request,
                        deadline: now + RECORDING_GRACE,
                    },
                ),
            );
            return;
        }
        let request = if slot.ivr.in_voicemail() {
            // Hung up during the greeting: a missed call, still called back.
            let mailbox = slot.ivr.greeting_mailbox().unwrap_or_default().to_string();
            let mut r = self.callback_request(slot, CallbackReason::Missed, &mailbox);
            r.reason = CallbackReason::Missed;
            Some(r)
        } else if slot.callback.is_some() {
            Some(self.callback_request(slot, CallbackReason::Missed, ""))
        } else if let Some(c) = &slot.connect {
            // Hung up while managers rang or in the queue.
            let dept = match &c.target {
                crate::call::ConnectTarget::Department(d) => d.clone(),
                crate::call::ConnectTarget::Manager { name, .. } => name.clone(),
            };
            slot.callback = Some((dept.clone(), CallbackReason::AbandonedWaiting));
            Some(self.callback_request(slot, CallbackReason::AbandonedWaiting, &dept))
        } else {
            None
        };
        if let Some(r) = request {
            self.file_callback(slot, r);
        }
    }

    /// A recording of a call that already ended is closed.
    pub(super) fn orphan_recording_finished(
        &mut self,
        call: CallKey,
        record_id: u32,
        duration: Duration,
        silent: bool,
        error: Option<String>,
    ) {
        let Some((id, mut pending)) = self.pending_recordings.remove(&call) else {
            return;
        };
        if id != record_id {
            self.pending_recordings.insert(call, (id, pending));
            return;
        }
        let path = pending.request.recording_path.clone().unwrap_or_default();
        set_recording(
            &mut pending.request,
            &PathBuf::from(path),
            duration,
            silent,
            error,
        );
        self.push_callback(pending.request);
    }

    /// Requests whose recording never reported back: file them as they are.
    pub(super) fn expire_pending_recordings(&mut self, now: Instant) {
        let due: Vec<CallKey> = self
            .pending_recordings
            .iter()
            .filter(|(_, (_, p))| p.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            if let Some((_, p)) = self.pending_recordings.remove(&k) {
                tracing::warn!(
                    "a recording was not closed in time; filing the request without its length"
                );
                self.push_callback(p.request);
            }
        }
    }

    pub(super) fn pending_recordings_deadline(&self) -> Option<Instant> {
        self.pending_recordings
            .values()
            .map(|(_, p)| p.deadline)
            .min()
    }

    fn callback_request(
        &self,
        slot: &CallSlot,
        default_reason: CallbackReason,
        default_department: &str,
    ) -> NewCallback {
        // The call's own queue when it has one, else the mailbox, else "general".
        let (department, reason) = slot
            .callback
            .clone()
            .unwrap_or((String::new(), default_reason));
        let department = [department.as_str(), default_department, "general"]
            .into_iter()
            .find(|d| !d.is_empty())
            .unwrap_or("general")
            .to_string();
        NewCallback {
            department,
            caller: slot.info.caller.clone(),
            dialled: slot.info.dialled.clone(),
            source: slot.ivr.context().source,
            at: slot.info.started_at,
            menu_path: slot.menu_path.clone(),
            reason,
            recording_path: None,
            recording_secs: None,
            recording_flag: None,
        }
    }

    fn file_callback(&mut self, slot: &mut CallSlot, request: NewCallback) {
        slot.callback_filed = true;
        tracing::info!(
            "callback request filed for {} in {} ({})",
            request.caller,
            request.department,
            request.reason.as_str()
        );
        self.push_callback(request);
    }

    fn push_callback(&mut self, request: NewCallback) {
        self.outputs
            .push_back(Output::Store(Box::new(StoreWrite::Callback {
                request,
                // Only fill the outbox when someone will read it: configuring a
                // webhook later must not flood it with old events.
                notify: self.cfg.server.webhook_url.is_some(),
            })));
    }
}

fn set_recording(
    request: &mut NewCallback,
    path: &std::path::Path,
    duration: Duration,
    silent: bool,
    error: Option<String>,
) {
    request.recording_path = Some(path.display().to_string());
    request.recording_secs = Some(duration.as_secs_f64());
    request.recording_flag = match (error, silent) {
        (Some(e), _) => {
            request.recording_path = None;
            Some(format!("error: {e}"))
        }
        (None, true) => Some("silent".into()),
        (None, false) if duration < SHORT_MESSAGE => Some("short".into()),
        _ => None,
    };
}

/// What `callback_on_end` needs to know about why a connect failed.
pub(super) fn reason_of(text: &str) -> CallbackReason {
    if text.contains("after hours") {
        CallbackReason::AfterHours
    } else if text.contains("queue is full") {
        CallbackReason::Overflow
    } else {
        CallbackReason::NobodyAnswered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_become_safe_file_names() {
        assert_eq!(file_safe("a84b@10.0.0.1"), "a84b_10.0.0.1");
        assert_eq!(file_safe("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(
            reason_of("department \"sales\" is closed → after hours: x"),
            CallbackReason::AfterHours
        );
        assert_eq!(
            reason_of("nobody in department"),
            CallbackReason::NobodyAnswered
        );
    }
}
