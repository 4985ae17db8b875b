//! Recording a call's conversation (`record = true` on its number or department).
//!
//! ```text
//!   Off ──a manager answers, the plan records──▶ On ──the call ends──▶ Closing ──file closed──▶ Off
//!                                                 │ (transfers, hold: same file,                │
//!                                                 │  silence while nobody is bridged)           │
//!                                                 └──────────── Closing ─ no answer in time ────┘
//! ```
//! One file per call, from the first bridge to the end: the caller on the left, whoever
//! they are bridged to on the right (see [`crate::media::conversation`]). The call
//! stays in the endpoint until the media plane has closed the file
//! ([`CONVERSATION_GRACE`] at most), so the record and the `call.recorded` event can
//! name a complete file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::context::Ctx;
use super::inbound::Call;
use crate::config::RecordingChannels;
use crate::media::MediaCommand;

/// The record id of a call's conversation recording (voicemail recordings count up
/// from 1, so they never meet it).
pub const CONVERSATION_RECORD_ID: u32 = 0x4000_0000;
/// How long an ended call waits for its conversation file to be closed.
pub const CONVERSATION_GRACE: Duration = Duration::from_secs(5);

/// Where a call's conversation recording is.
#[derive(Debug, Default)]
pub(super) enum Taping {
    #[default]
    Off,
    On {
        path: PathBuf,
    },
    Closing {
        path: PathBuf,
        until: Instant,
    },
}

impl Taping {
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Taping::Closing { until, .. } => Some(*until),
            _ => None,
        }
    }

    pub(super) fn is_off(&self) -> bool {
        matches!(self, Taping::Off)
    }
}

impl Call {
    /// A manager answered and the call is bridged: start recording when the plan
    /// records this conversation (and it is not recorded already).
    pub(super) fn start_taping(&mut self, ctx: &mut Ctx<'_>) {
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
        ctx.event(super::CallEvent::RecordingStarted {
            key: self.key(),
            path: path.clone(),
        });
        self.taping = Taping::On { path };
    }

    /// The call ended: the media plane closes the file (the call's `Close` finishes
    /// it); wait for its report.
    pub(super) fn stop_taping(&mut self, ctx: &mut Ctx<'_>) {
        if let Taping::On { path } = std::mem::take(&mut self.taping) {
            ctx.media_cmd(MediaCommand::StopConversation { call: self.key() });
            self.taping = Taping::Closing {
                path,
                until: ctx.now + CONVERSATION_GRACE,
            };
        }
    }

    /// The media plane reported a recording: `true` when it was the conversation's.
    pub(super) fn taping_finished(
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
        ctx.event(super::CallEvent::Recorded {
            key: self.key(),
            path,
            duration,
            error,
        });
        true
    }

    /// The file was not reported closed within [`CONVERSATION_GRACE`].
    pub(super) fn taping_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if let Taping::Closing { until, .. } = &self.taping
            && *until <= ctx.now
            && let Taping::Closing { path, .. } = std::mem::take(&mut self.taping)
        {
            tracing::warn!("the conversation recording was not closed in time");
            ctx.event(super::CallEvent::Recorded {
                key: self.key(),
                path,
                duration: Duration::ZERO,
                error: Some("the recording was not closed in time".into()),
            });
        }
    }
}
