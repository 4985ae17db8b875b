//! The contract between the sans-IO call logic and the media plane in the driver.
//!
//! The call logic never sees RTP packets: it tells the media plane what to do with
//! [`MediaCommand`]s and hears back [`MediaEvent`]s (a digit, a prompt finished, the
//! caller went silent). Per-packet work stays in the media plane, so signalling cost
//! does not grow with the packet rate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::media::codec::Codec;

/// Identifies a call inside one Switchboard process (cheap to copy and hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

impl std::fmt::Display for CallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Negotiated media parameters of one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaParams {
    /// Where to send RTP until symmetric RTP latching learns the real source.
    pub remote: Option<SocketAddr>,
    pub codec: Codec,
    /// The RTP payload type for `codec`: the offer's number, which may be dynamic
    /// (RFC 3264 §6.1: the answer reuses the offerer's payload type numbers).
    pub pt: u8,
    /// RFC 4733 telephone-event payload type, if the peer offered one.
    pub te_pt: Option<u8>,
    /// On hold (sendonly/inactive/0.0.0.0 offer): keep the stream but stop the
    /// inactivity timer, since a held peer legitimately sends nothing.
    pub hold: bool,
    /// SRTP keys (RFC 3711/4568) when the leg negotiated `a=crypto`; `None` is plain
    /// RTP. Each leg has its own, so a bridge decrypts and re-encrypts.
    pub srtp: Option<crate::media::srtp::SrtpParams>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaCommand {
    /// Bind `port` and start the stream (comfort silence until something plays).
    /// SSRC and initial sequence/timestamp are chosen by the (seeded) call logic so
    /// runs are reproducible.
    Open {
        call: CallKey,
        port: u16,
        params: MediaParams,
        inband_dtmf: bool,
        ssrc: u32,
        seq: u16,
        ts: u32,
    },
    /// New parameters after a re-INVITE.
    Update { call: CallKey, params: MediaParams },
    /// Play prompts in order; `play_id` comes back in [`MediaEvent::PlaybackFinished`].
    Play {
        call: CallKey,
        play_id: u32,
        prompts: Vec<String>,
        /// A menu's first-digit timeout: report the end of the list only once the
        /// caller has pressed no key for this long after it, or at their first key,
        /// whichever comes first (zero: at once). The report carries when the list
        /// really ended, so the call's timer runs from there as before.
        ///
        /// Why: a silent caller's menu used to cost the call logic two activations per
        /// replay (the prompt's end, then its own timer); the media plane already
        /// visits the leg every 20 ms, so it watches the quiet and the call logic is
        /// woken once, at the key or the timeout (issue 16, `docs/performance.md`).
        first_key_wait: Duration,
    },
    /// Stop what is playing at once (barge-in); no PlaybackFinished follows.
    StopPlayback { call: CallKey },
    /// Relay RTP between two open legs (media anchored in Switchboard): what arrives
    /// on one leg is sent out of the other, with the other leg's own SSRC and a
    /// sequence/timestamp continuing its stream, so each side sees one continuous
    /// stream. Same law passes through untouched; PCMU<->PCMA is transcoded; RFC 4733
    /// events are forwarded with the other leg's telephone-event payload type. Any
    /// prompt playing on either leg stops. A leg already bridged elsewhere is
    /// unbridged first.
    Bridge { a: CallKey, b: CallKey },
    /// Stop relaying for `call` and its partner; both legs go back to sending what
    /// they play (silence when nothing plays).
    Unbridge { call: CallKey },
    /// Record what the peer sends (decoded from its law) into `path` as a WAV file,
    /// 8 kHz mono 16-bit, until one of `stop_digits` is pressed, `max` is reached, or
    /// `silence` of continuous silence (zero: never); the trailing silence is not kept.
    /// Prompts may play meanwhile (the beep). Ends with
    /// [`MediaEvent::RecordingFinished`].
    Record {
        call: CallKey,
        record_id: u32,
        path: PathBuf,
        max: Duration,
        silence: Duration,
        stop_digits: String,
    },
    /// Finish the recording now (e.g. the caller hung up); RecordingFinished follows.
    StopRecording { call: CallKey },
    /// Record the conversation of `call` (the caller's stream, left channel) with
    /// whoever it is bridged to (right channel) into `path`, from now until
    /// [`MediaCommand::StopConversation`] or the call's `Close`: only while bridged,
    /// tapped off the relay after each packet is sent, so relaying is never delayed.
    /// Ends with [`MediaEvent::RecordingFinished`] (`record_id`).
    RecordConversation {
        call: CallKey,
        record_id: u32,
        path: PathBuf,
        stereo: bool,
    },
    /// Finish the conversation recording of `call`.
    StopConversation { call: CallKey },
    /// Release the port; nothing more is sent or reported for this call. A bridged
    /// leg is unbridged first.
    Close { call: CallKey },
    /// Watch the RFC 4733 digits received on `call` (a manager's leg) for `codes`
    /// (complete sequences such as `*21`): while the keys pressed could still become
    /// one, they are not relayed to the partner; keys that do not complete a code
    /// within `timeout` of each other are replayed to the partner in order, a completed
    /// code never is and is reported as [`MediaEvent::FeatureCode`] (see
    /// [`crate::media::feature_gate`]). Digits are still reported one by one.
    FeatureCodes {
        call: CallKey,
        codes: Vec<String>,
        timeout: Duration,
    },
}

/// Why a recording ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordEnd {
    /// One of the stop digits (e.g. `#`).
    Digit(char),
    MaxLength,
    Silence,
    /// `StopRecording` (hang-up) or the call closing.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitSource {
    Rfc4733,
    Info,
    Inband,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Digit {
        digit: char,
        source: DigitSource,
    },
    /// The prompts of a [`MediaCommand::Play`] ended (at `ended`: earlier than the
    /// report by up to the play's `first_key_wait`).
    PlaybackFinished {
        play_id: u32,
        ended: Instant,
    },
    /// The peer dialled one of the codes of [`MediaCommand::FeatureCodes`] by RFC 4733
    /// (its digits were reported as [`MediaEvent::Digit`] too, and not relayed).
    FeatureCode {
        code: String,
    },
    /// No RTP from the peer for the configured time.
    RtpTimeout,
    /// The media plane could not serve the call (port unavailable, socket error).
    Failed {
        reason: String,
    },
    /// A recording is complete and its file closed (or could not be written: `error`).
    RecordingFinished {
        record_id: u32,
        path: PathBuf,
        /// Audio kept in the file.
        duration: Duration,
        ended_by: RecordEnd,
        /// Nothing above the speech threshold was heard: kept, but flagged.
        silent: bool,
        error: Option<String>,
    },
}
