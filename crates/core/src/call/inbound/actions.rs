//! Carrying out what the call's [`Flow`](super::super::flow::Flow) asks for: prompts, rings,
//! the queue, voicemail recordings, callback requests and the record, in the order asked.

use super::*;

impl Call {
    /// Carry out what the flow asked for.
    pub(in crate::call) fn drain_flow(&mut self, ctx: &mut Ctx<'_>) {
        while let Some(action) = self.flow.poll_action() {
            match action {
                FlowAction::Play {
                    play_id,
                    prompts,
                    first_key_wait,
                    ..
                } => ctx.media_cmd(MediaCommand::Play {
                    call: self.key,
                    play_id,
                    prompts,
                    first_key_wait,
                }),
                FlowAction::StopPlayback => {
                    ctx.media_cmd(MediaCommand::StopPlayback { call: self.key })
                }
                FlowAction::Connect {
                    target,
                    plan,
                    priority,
                } => ctx.connect(ConnectInput::Request {
                    call: self.key,
                    plan,
                    target,
                    priority,
                }),
                FlowAction::LeaveConnect => ctx.connect(ConnectInput::Left { call: self.key }),
                FlowAction::Record {
                    record_id,
                    mailbox,
                    max,
                    silence,
                } => {
                    let path = self.recording_path(ctx, &mailbox, record_id);
                    tracing::info!("recording into {}", path.display());
                    ctx.media_cmd(MediaCommand::Record {
                        call: self.key,
                        record_id,
                        path: path.clone(),
                        max,
                        silence,
                        stop_digits: "#".into(),
                    });
                    self.flow.handle_recording_started(record_id, path);
                }
                FlowAction::StopRecording => {
                    ctx.media_cmd(MediaCommand::StopRecording { call: self.key })
                }
                FlowAction::Hangup { reason } => self.hangup(ctx, EndCause::PlanEnded(reason)),
                FlowAction::Event(ev) => ctx.event(ev),
                FlowAction::Callback(request) => ctx.store(StoreWrite::Callback {
                    request,
                    // Only fill the outbox when someone will read it: configuring a
                    // webhook later must not flood it with old events.
                    notify: ctx.cfg.notify_callbacks,
                }),
                FlowAction::VirtualQueue {
                    department,
                    number,
                    priority,
                    queued_at,
                } => self.virtual_queue(ctx, department, number, priority, queued_at),
            }
        }
    }

    /// The caller hung up to be called back: their place goes on as a dial-back
    /// under a key of its own (this call's key ends with it).
    pub(super) fn virtual_queue(
        &mut self,
        ctx: &mut Ctx<'_>,
        department: String,
        number: String,
        priority: u8,
        queued_at: jiff::Timestamp,
    ) {
        let Some(plan) = self.flow.plan() else {
            return;
        };
        let info = self.info().clone();
        let entry = crate::model::QueuedCallback {
            id: info.call_id.clone(),
            department,
            caller: info.caller.clone(),
            number,
            dialled: info.dialled.clone(),
            source: self.flow.context().source,
            priority,
            queued_at,
            requested_at: ctx.wall,
            attempts: 0,
            not_before: None,
            status: crate::model::DialbackStatus::Waiting,
            updated_at: ctx.wall,
            callback_id: None,
        };
        let key = ctx.new_media_key();
        ctx.store(StoreWrite::QueueCallback(entry.clone()));
        ctx.connect(ConnectInput::Virtualize {
            call: self.key,
            new_key: key,
        });
        ctx.spawn(super::super::context::Spawn::Dialback { key, entry, plan });
    }

    /// `recordings/DAY/HHMMSS-TAG-N-MAILBOX.wav`: unique by construction (the call
    /// record's id and the recording's number), never the Call-ID itself; see
    /// [`crate::model::recording`].
    pub(super) fn recording_path(
        &self,
        ctx: &Ctx<'_>,
        mailbox: &str,
        record_id: u32,
    ) -> std::path::PathBuf {
        let info = self.info();
        let day = info.started_at.strftime("%Y-%m-%d").to_string();
        ctx.cfg
            .recordings_dir
            .join(day)
            .join(crate::model::recording::recording_file_name(
                info.started_at,
                &info.call_id,
                record_id,
                &file_safe(mailbox),
            ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_become_safe_file_names() {
        assert_eq!(file_safe("a84b@10.0.0.1"), "a84b_10.0.0.1");
        assert_eq!(file_safe("../../etc/passwd"), "_.._etc_passwd");
    }
}
