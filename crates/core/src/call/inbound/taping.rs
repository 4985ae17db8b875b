//! The call's side of conversation recording: starting the tap when a manager answers
//! and closing it when the call ends (the states are [`Taping`]).

use super::*;
use std::path::PathBuf;
use std::time::Duration;

use crate::call::conversation::{CONVERSATION_GRACE, CONVERSATION_RECORD_ID, Taping};
use crate::config::RecordingChannels;

impl Call {
    /// A manager answered and the call is bridged: start recording when the plan
    /// records this conversation (and it is not recorded already).
    pub(in crate::call) fn start_taping(&mut self, ctx: &mut Ctx<'_>) {
        if !self.taping.is_off() || !self.flow.wants_recording() {
            return;
        }
        let Some(plan) = self.flow.plan() else {
            return;
        };
        let info = self.info();
        let dir = ctx
            .cfg
            .recordings_dir
            .with_file_name(crate::model::recording::CONVERSATIONS_DIR);
        let path = dir
            .join(info.started_at.strftime("%Y-%m-%d").to_string())
            .join(crate::model::recording::conversation_file_name(
                info.started_at,
                &info.call_id,
            ));
        tracing::info!("recording the conversation into {}", path.display());
        ctx.media_cmd(MediaCommand::RecordConversation {
            call: self.key(),
            record_id: CONVERSATION_RECORD_ID,
            path: path.clone(),
            stereo: plan.integrations.recording.channels == RecordingChannels::Stereo,
        });
        ctx.event(crate::call::CallEvent::RecordingStarted {
            key: self.key(),
            path: path.clone(),
        });
        self.taping = Taping::On { path };
    }

    /// The call ended: the media plane closes the file (the call's `Close` finishes
    /// it); wait for its report.
    pub(in crate::call) fn stop_taping(&mut self, ctx: &mut Ctx<'_>) {
        if let Taping::On { path } = std::mem::take(&mut self.taping) {
            ctx.media_cmd(MediaCommand::StopConversation { call: self.key() });
            self.taping = Taping::Closing {
                path,
                until: ctx.now + CONVERSATION_GRACE,
            };
        }
    }

    /// The media plane reported a recording: `true` when it was the conversation's.
    pub(in crate::call) fn taping_finished(
        &mut self,
        ctx: &mut Ctx<'_>,
        record_id: u32,
        path: PathBuf,
        duration: Duration,
        error: Option<String>,
    ) -> bool {
        if record_id != CONVERSATION_RECORD_ID {
            return false;
        }
        match &error {
            None => tracing::info!(
                "conversation recorded: {:.1} s in {}",
                duration.as_secs_f64(),
                path.display()
            ),
            Some(e) => tracing::error!("the conversation recording failed: {e}"),
        }
        self.taping = Taping::Off;
        ctx.event(crate::call::CallEvent::Recorded {
            key: self.key(),
            path,
            duration,
            error,
        });
        true
    }

    /// The file was not reported closed within [`CONVERSATION_GRACE`].
    pub(in crate::call) fn taping_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if let Taping::Closing { until, .. } = &self.taping
            && *until <= ctx.now
            && let Taping::Closing { path, .. } = std::mem::take(&mut self.taping)
        {
            tracing::warn!("the conversation recording was not closed in time");
            ctx.event(crate::call::CallEvent::Recorded {
                key: self.key(),
                path,
                duration: Duration::ZERO,
                error: Some("the recording was not closed in time".into()),
            });
        }
    }
}
