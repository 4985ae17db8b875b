//! Voicemail recording file names, unique by construction and naming their call:
//! `recordings/DAY/HHMMSS-TAG-N-MAILBOX.wav`, where TAG is 16 hex digits of the
//! SHA-256 of the call record's id (its Call-ID) and N the recording's number within
//! the call, so two calls never share a file (`collide@x` and `collide_x` once did)
//! and a file found on disk after a crash finds its call record again.

use jiff::Timestamp;
use sha2::{Digest as _, Sha256};

/// The folder below the data directory holding conversation recordings
/// (`record = true`), one folder per UTC day like `recordings/`: apart from the
/// voicemails, so start-up recovery never mistakes a conversation for a message.
pub const CONVERSATIONS_DIR: &str = "conversations";

/// `HHMMSS-TAG.wav`: the conversation recording of the call `call_id`.
#[must_use]
pub fn conversation_file_name(started_at: Timestamp, call_id: &str) -> String {
    format!(
        "{}-{}.wav",
        started_at.strftime("%H%M%S"),
        call_tag(call_id)
    )
}

/// 16 hex digits (64 bits) of the SHA-256 of a call record's id.
#[must_use]
pub fn call_tag(call_id: &str) -> String {
    let digest = Sha256::digest(call_id.as_bytes());
    hex::encode(digest.get(..8).unwrap_or_default())
}

/// `HHMMSS-TAG-N-MAILBOX.wav` for recording `n` of the call `call_id` (see the module
/// docs); `mailbox` must already be file-safe.
#[must_use]
pub fn recording_file_name(started_at: Timestamp, call_id: &str, n: u32, mailbox: &str) -> String {
    format!(
        "{}-{}-{n}-{mailbox}.wav",
        started_at.strftime("%H%M%S"),
        call_tag(call_id)
    )
}

/// The parts of a recording file name: `(tag, mailbox)`. `None` for names in another
/// form (files from before this naming, or not ours).
#[must_use]
pub fn parse_recording_file_name(name: &str) -> Option<(&str, &str)> {
    let stem = name.strip_suffix(".wav")?;
    let mut parts = stem.splitn(4, '-');
    let time = parts.next()?;
    let tag = parts.next()?;
    let n = parts.next()?;
    let mailbox = parts.next()?;
    let ok = time.len() == 6
        && time.bytes().all(|b| b.is_ascii_digit())
        && tag.len() == 16
        && tag.bytes().all(|b| b.is_ascii_hexdigit())
        && n.parse::<u32>().is_ok()
        && !mailbox.is_empty();
    ok.then_some((tag, mailbox))
}
