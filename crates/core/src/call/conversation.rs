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
