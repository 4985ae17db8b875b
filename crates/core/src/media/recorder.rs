//! Voicemail recording, sans-IO: decides what of the caller's audio is kept and when
//! the recording ends. No file I/O here: committed audio comes out in chunks
//! ([`Recorder::poll_chunk`]) that the driver appends to a WAV file off the packet path.
//!
//! A recording ends on the first of:
//! * a stop digit ([`Recorder::handle_digit`]; the key press itself is not recorded:
//!   RFC 4733 digits arrive beside the audio, and the call layer turns SIP INFO digits
//!   into [`Recorder::stop`]);
//! * `max` of audio received, counted in samples (so a burst of late packets still
//!   yields exactly `max`), or `max` + [`WALL_GRACE`] of wall time when the caller sends
//!   nothing at all;
//! * `silence` of continuous silence, counted in samples from the start (a caller who
//!   says nothing ends after `silence`), or in wall time since the last speech when
//!   the packets stop (silence suppression, RFC 3551 §4.1);
//! * [`Recorder::stop`] (hang-up, StopRecording).
//!
//! Silence is a frame whose RMS is below [`SILENCE_DBFS`]. Silent frames are held back
//! and only committed when speech resumes, so the trailing silence is never written.
//! Nothing above the threshold at all flags the recording `silent`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::media::RecordEnd;
use crate::media::g711::SAMPLE_RATE;

/// Frames with an RMS below this, in dB relative to a full-scale sine (as in
/// [`crate::media::inband`]), are silence. Speech sits around −20 to −30 dBFS, a quiet
/// line around −60.
pub const SILENCE_DBFS: f64 = -45.0;
/// Committed audio leaves in chunks of at least this many samples (1 s): one
/// allocation, one channel message and one WAV header flush per second of recording,
/// whatever the packet rate.
pub const CHUNK_SAMPLES: usize = SAMPLE_RATE as usize;
/// Most trailing silence held back (10 s of samples, 160 KB). A longer silent run with
/// `silence` zero (or above this) commits its oldest part, so at most this much of the
/// trailing silence is trimmed: memory per recording stays bounded.
pub const MAX_PENDING: usize = 10 * SAMPLE_RATE as usize;
/// Slack for the wall-clock limits: packets arrive with jitter and the peer's clock
/// drifts, so wall time only decides when the samples stop coming.
pub const WALL_GRACE: Duration = Duration::from_secs(1);
/// Largest RTP timestamp jump filled with silence (10 s): lost packets or silence
/// suppression. A larger jump is a new timeline (a restarted stream), not a pause.
pub const MAX_GAP_FILL: u32 = 10 * SAMPLE_RATE;
/// A packet up to this far (1 s) behind the expected timestamp is late or a duplicate
/// and is dropped; further behind is a new timeline.
const MAX_LATE: u32 = SAMPLE_RATE;

/// Samples in `d` at 8 kHz.
fn samples_in(d: Duration) -> u64 {
    u64::try_from(d.as_micros().saturating_mul(u128::from(SAMPLE_RATE)) / 1_000_000)
        .unwrap_or(u64::MAX)
}

/// Duration of `samples` at 8 kHz (125 µs each).
#[must_use]
pub fn duration_of(samples: u64) -> Duration {
    Duration::from_micros(samples.saturating_mul(1_000_000 / u64::from(SAMPLE_RATE)))
}

/// How a recording ended, for [`crate::media::MediaEvent::RecordingFinished`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordResult {
    /// Audio kept (trailing silence excluded).
    pub duration: Duration,
    pub ended_by: RecordEnd,
    /// Nothing above [`SILENCE_DBFS`] was heard.
    pub silent: bool,
}

/// The recording state of one call leg.
#[derive(Debug)]
pub struct Recorder {
    /// Limits in samples; `silence` zero never ends on silence.
    max: u64,
    silence: u64,
    max_wall: Duration,
    silence_wall: Duration,
    stop_digits: String,
    started: Instant,
    last_speech: Instant,
    /// Mean square (per sample) below which a frame is silence.
    threshold: f64,
    received: u64,
    kept: u64,
    silence_run: u64,
    heard: bool,
    /// Silent samples since the last speech, committed only if speech resumes.
    pending: Vec<i16>,
    /// Committed samples not yet handed out.
    out: Vec<i16>,
    ended: Option<RecordEnd>,
    reported: bool,
}

impl Recorder {
    /// Starts recording at `now`. `max` zero ends at once (nothing to record);
    /// `silence` zero never ends on silence. `stop_digits` are `0-9 * # A-D`.
    #[must_use]
    pub fn new(now: Instant, max: Duration, silence: Duration, stop_digits: &str) -> Recorder {
        let full_scale_sine = f64::from(i16::MAX).powi(2) / 2.0;
        let mut r = Recorder {
            max: samples_in(max),
            silence: samples_in(silence),
            max_wall: max,
            silence_wall: silence,
            stop_digits: stop_digits.to_ascii_uppercase(),
            started: now,
            last_speech: now,
            threshold: full_scale_sine * 10f64.powf(SILENCE_DBFS / 10.0),
            received: 0,
            kept: 0,
            silence_run: 0,
            heard: false,
            pending: Vec::new(),
            out: Vec::with_capacity(CHUNK_SAMPLES),
            ended: None,
            reported: false,
        };
        if r.max == 0 {
            r.end(RecordEnd::MaxLength);
        }
        r
    }

    /// Decoded audio from the caller (8 kHz mono), in arrival order. Samples beyond
    /// `max` are dropped.
    pub fn handle_audio(&mut self, now: Instant, pcm: &[i16]) {
        if self.ended.is_some() {
            return;
        }
        let room = usize::try_from(self.max.saturating_sub(self.received)).unwrap_or(usize::MAX);
        let frame = pcm.get(..room.min(pcm.len())).unwrap_or(pcm);
        if frame.is_empty() {
            return;
        }
        let n = frame.len() as u64;
        self.received += n;
        if self.is_speech(frame) {
            self.heard = true;
            self.last_speech = now;
            self.silence_run = 0;
            self.kept += self.pending.len() as u64 + n;
            self.out.append(&mut self.pending);
            self.out.extend_from_slice(frame);
        } else {
            self.pending.extend_from_slice(frame);
            self.silence_run += n;
            self.bound_pending();
        }
        self.check_limits();
    }

    /// `samples` of audio were lost (or suppressed by the sender): count them as
    /// silence so the recording's timeline stays true.
    pub fn handle_gap(&mut self, samples: usize) {
        if self.ended.is_some() {
            return;
        }
        let room = usize::try_from(self.max.saturating_sub(self.received)).unwrap_or(usize::MAX);
        let n = samples.min(room);
        self.received += n as u64;
        self.silence_run += n as u64;
        self.pending.resize(self.pending.len() + n, 0);
        self.bound_pending();
        self.check_limits();
    }

    /// A digit from the caller; returns whether it ended the recording.
    pub fn handle_digit(&mut self, digit: char) -> bool {
        if self.ended.is_some() {
            return false;
        }
        let digit = digit.to_ascii_uppercase();
        if !self.stop_digits.contains(digit) {
            return false;
        }
        self.end(RecordEnd::Digit(digit));
        true
    }

    /// Ends the recording now ([`RecordEnd::Stopped`]); what was heard so far is kept,
    /// minus its trailing silence.
    pub fn stop(&mut self) {
        if self.ended.is_none() {
            self.end(RecordEnd::Stopped);
        }
    }

    /// The wall-clock limits, for when the caller's packets stop coming; called
    /// periodically (the session does it every frame).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ended.is_some() {
            return;
        }
        if now.saturating_duration_since(self.started) >= self.max_wall + WALL_GRACE {
            self.end(RecordEnd::MaxLength);
        } else if self.silence > 0
            && now.saturating_duration_since(self.last_speech) >= self.silence_wall + WALL_GRACE
        {
            self.end(RecordEnd::Silence);
        }
    }

    /// Committed audio to append to the file: at least [`CHUNK_SAMPLES`], or the rest
    /// once the recording has ended.
    #[must_use]
    pub fn poll_chunk(&mut self) -> Option<Vec<i16>> {
        if self.out.len() >= CHUNK_SAMPLES {
            Some(std::mem::replace(
                &mut self.out,
                Vec::with_capacity(CHUNK_SAMPLES),
            ))
        } else if self.ended.is_some() && !self.out.is_empty() {
            Some(std::mem::take(&mut self.out))
        } else {
            None
        }
    }

    /// The result, once, after the recording ended and every chunk was polled.
    #[must_use]
    pub fn poll_finished(&mut self) -> Option<RecordResult> {
        if self.reported || !self.out.is_empty() {
            return None;
        }
        let ended_by = self.ended.clone()?;
        self.reported = true;
        Some(RecordResult {
            duration: duration_of(self.kept),
            ended_by,
            silent: !self.heard,
        })
    }

    #[must_use]
    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Audio kept so far.
    #[must_use]
    pub fn kept(&self) -> Duration {
        duration_of(self.kept)
    }

    fn is_speech(&self, frame: &[i16]) -> bool {
        let energy: f64 = frame
            .iter()
            .map(|&s| {
                let s = f64::from(s);
                s * s
            })
            .sum();
        energy >= self.threshold * frame.len() as f64
    }

    /// Commits the oldest held-back silence beyond [`MAX_PENDING`], a chunk at a time
    /// so the shift is amortised.
    fn bound_pending(&mut self) {
        if self.pending.len() > MAX_PENDING + CHUNK_SAMPLES {
            let n = self.pending.len() - MAX_PENDING;
            self.out.extend(self.pending.drain(..n));
            self.kept += n as u64;
        }
    }

    fn check_limits(&mut self) {
        if self.silence > 0 && self.silence_run >= self.silence {
            self.end(RecordEnd::Silence);
        } else if self.received >= self.max {
            self.end(RecordEnd::MaxLength);
        }
    }

    fn end(&mut self, why: RecordEnd) {
        self.ended = Some(why);
        // The trailing silence is not kept.
        self.pending = Vec::new();
    }
}

/// What a recording asks of the driver, in order: open the file, append audio, close
/// it and report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutput {
    /// Create `path` (and its directories) as an 8 kHz mono 16-bit WAV file.
    Start { record_id: u32, path: PathBuf },
    /// Create `path` as an 8 kHz 16-bit WAV file with `channels` interleaved channels
    /// (a conversation, [`crate::media::conversation`]).
    StartConversation {
        record_id: u32,
        path: PathBuf,
        channels: u16,
    },
    /// Append these samples.
    Audio { record_id: u32, samples: Vec<i16> },
    /// Finalize the file, then report `RecordingFinished` with these values.
    End {
        record_id: u32,
        path: PathBuf,
        result: RecordResult,
    },
}

/// Where an audio packet falls in the peer's RTP timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Continuity {
    /// Right after the previous packet, or the first one of a (new) stream.
    InOrder,
    /// This many samples are missing before it (lost, or suppressed silence).
    Gap(u32),
    /// Behind what was already received (reordered or duplicated): skip it.
    Late,
}

/// Follows the peer's RTP timestamps (RFC 3550 §5.1: they count samples and keep
/// running through silence suppression) so missing audio can be filled with silence.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamCursor {
    /// SSRC and the timestamp the next packet should carry.
    next: Option<(u32, u32)>,
}

impl StreamCursor {
    /// One audio packet of `samples` samples.
    pub fn handle_packet(&mut self, ssrc: u32, timestamp: u32, samples: u32) -> Continuity {
        let here = Some((ssrc, timestamp.wrapping_add(samples)));
        let Some((last_ssrc, expected)) = self.next else {
            self.next = here;
            return Continuity::InOrder;
        };
        // Timestamps wrap: compare as a signed distance.
        let ahead = timestamp.wrapping_sub(expected);
        let behind = expected.wrapping_sub(timestamp);
        // A new SSRC is a new stream (re-INVITE, transfer): its timeline starts afresh.
        if last_ssrc != ssrc || ahead == 0 {
            self.next = here;
            Continuity::InOrder
        } else if ahead <= MAX_GAP_FILL {
            self.next = here;
            Continuity::Gap(ahead)
        } else if behind <= MAX_LATE {
            Continuity::Late
        } else {
            // A new timeline under the same SSRC: start over without filling.
            self.next = here;
            Continuity::InOrder
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: usize = 160;
    const SPEECH: [i16; FRAME] = {
        let mut f = [0i16; FRAME];
        let mut i = 0;
        while i < FRAME {
            f[i] = if i % 2 == 0 { 3000 } else { -3000 };
            i += 1;
        }
        f
    };
    /// Line noise around −60 dBFS: silence.
    const HUSH: [i16; FRAME] = {
        let mut f = [0i16; FRAME];
        let mut i = 0;
        while i < FRAME {
            f[i] = if i % 2 == 0 { 20 } else { -20 };
            i += 1;
        }
        f
    };
    const PTIME: Duration = Duration::from_millis(20);

    /// Feeds `n` frames of `frame` starting at frame number `*k`.
    fn feed(r: &mut Recorder, t0: Instant, k: &mut u32, n: u32, frame: &[i16]) {
        for _ in 0..n {
            r.handle_audio(t0 + PTIME * *k, frame);
            *k += 1;
        }
    }

    /// Drains every chunk; returns the samples and the result.
    fn drain(r: &mut Recorder) -> (Vec<i16>, Option<RecordResult>) {
        let mut all = Vec::new();
        while let Some(c) = r.poll_chunk() {
            all.extend(c);
        }
        (all, r.poll_finished())
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn stop_digit_ends_and_keeps_everything_heard() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, secs(60.0), secs(5.0), "#*");
        let mut k = 0;
        feed(&mut r, t0, &mut k, 100, &SPEECH); // 2 s
        assert!(!r.handle_digit('1'), "not a stop digit");
        assert!(r.handle_digit('#'));
        assert!(!r.handle_digit('*'), "already ended");
        feed(&mut r, t0, &mut k, 10, &SPEECH); // after the end: dropped
        let (pcm, res) = drain(&mut r);
        assert_eq!(pcm.len(), 16_000);
        assert_eq!(
            res,
            Some(RecordResult {
                duration: secs(2.0),
                ended_by: RecordEnd::Digit('#'),
                silent: false
            })
        );
        assert_eq!(r.poll_finished(), None, "reported once");
    }

    #[test]
    fn stop_digits_accept_lowercase_letters() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, secs(60.0), Duration::ZERO, "a");
        assert!(r.handle_digit('A'));
        let mut r = Recorder::new(t0, secs(60.0), Duration::ZERO, "");
        assert!(!r.handle_digit('#'), "no stop digits: digits never end it");
    }

    #[test]
    fn max_length_counts_samples_exactly() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, secs(3.0), Duration::ZERO, "#");
        let mut k = 0;
        // 3.01 s of speech in 20 ms frames, all arriving "at once" (a burst).
        for _ in 0..151 {
            r.handle_audio(t0, &SPEECH);
            k += 1;
        }
        assert_eq!(k, 151);
        assert!(r.is_ended());
        let (pcm, res) = drain(&mut r);
        assert_eq!(pcm.len(), 24_000, "cut at exactly max");
        let res = res.unwrap();
        assert_eq!(
            (res.duration, res.ended_by),
            (secs(3.0), RecordEnd::MaxLength)
        );
    }

    #[test]
    fn max_length_in_wall_time_when_nothing_arrives() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, secs(3.0), Duration::ZERO, "#");
        r.handle_audio(t0, &SPEECH);
        r.handle_timeout(t0 + secs(3.5));
        assert!(!r.is_ended(), "jitter grace");
        r.handle_timeout(t0 + secs(3.0) + WALL_GRACE);
        let (pcm, res) = drain(&mut r);
        assert_eq!(pcm.len(), FRAME);
        assert_eq!(res.unwrap().ended_by, RecordEnd::MaxLength);
    }

    #[test]
    fn silence_ends_and_trailing_silence_is_trimmed_exactly() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, secs(60.0), secs(2.0), "#");
        let mut k = 0;
        feed(&mut r, t0, &mut k, 10, &HUSH); // leading silence: kept once speech comes
        feed(&mut r, t0, &mut k, 50, &SPEECH);
        feed(&mut r, t0, &mut k, 25, &HUSH); // a pause inside the message: kept
        feed(&mut r, t0, &mut k, 50, &SPEECH);
        feed(&mut r, t0, &mut k, 99, &HUSH);
        assert!(!r.is_ended(), "1.98 s of silence is not yet 2 s");
        feed(&mut r, t0, &mut k, 1, &HUSH);
        assert!(r.is_ended());
        let (pcm, res) = drain(&mut r);
        assert_eq!(pcm.len(), (10 + 50 + 25 + 50) * FRAME);
        assert_eq!(
            &pcm[pcm.len() - FRAME..],
            &SPEECH,
            "ends with the last speech"
        );
        assert_eq!(&pcm[..FRAME], &HUSH);
        assert_eq!(
            res,
            Some(RecordResult {
                duration: secs(2.7),
                ended_by: RecordEnd::Silence,
                silent: false
            })
        );
    }

    #[test]
    fn a_silent_caller_ends_after_silence_with_nothing_kept() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, secs(60.0), secs(3.0), "#");
        let mut k = 0;
        feed(&mut r, t0, &mut k, 150, &HUSH);
        let (pcm, res) = drain(&mut r);
        assert!(pcm.is_empty());
        assert_eq!(
            res,
            Some(RecordResult {
                duration: Duration::ZERO,
                ended_by: RecordEnd::Silence,
                silent: true
            })
        );
    }

    #[test]
    fn silence_in_wall_time_when_the_packets_stop() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, secs(60.0), secs(3.0), "#");
        let mut k = 0;
        feed(&mut r, t0, &mut k, 50, &SPEECH); // last speech at 0.98 s
        r.handle_timeout(t0 + secs(4.9));
        assert!(!r.is_ended());
        r.handle_timeout(t0 + secs(0.98) + secs(3.0) + WALL_GRACE);
        let (pcm, res) = drain(&mut r);
        assert_eq!(pcm.len(), 50 * FRAME);
        assert_eq!(res.unwrap().ended_by, RecordEnd::Silence);
    }

    #[test]
    fn silent_flag_and_stop_keep_what_was_heard_minus_trailing_silence() {
        let t0 = Instant::now();
        // Zero silence: never ends on silence; stop() keeps the quiet audio but not
        // the trailing part, and flags it silent.
        let mut r = Recorder::new(t0, secs(60.0), Duration::ZERO, "#");
        let mut k = 0;
        feed(&mut r, t0, &mut k, 500, &HUSH);
        assert!(!r.is_ended());
        r.stop();
        let (pcm, res) = drain(&mut r);
        assert!(pcm.is_empty());
        assert_eq!(
            res,
            Some(RecordResult {
                duration: Duration::ZERO,
                ended_by: RecordEnd::Stopped,
                silent: true
            })
        );

        let mut r = Recorder::new(t0, secs(60.0), Duration::ZERO, "#");
        let mut k = 0;
        feed(&mut r, t0, &mut k, 1, &SPEECH);
        feed(&mut r, t0, &mut k, 30, &HUSH);
        r.stop();
        r.stop();
        let (pcm, res) = drain(&mut r);
        assert_eq!(pcm, SPEECH.to_vec());
        let res = res.unwrap();
        assert_eq!((res.ended_by, res.silent), (RecordEnd::Stopped, false));
    }

    #[test]
    fn chunks_leave_once_a_second_and_gaps_count_as_silence() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, secs(60.0), secs(5.0), "#");
        let mut k = 0;
        feed(&mut r, t0, &mut k, 49, &SPEECH);
        assert_eq!(r.poll_chunk(), None, "0.98 s: not yet a chunk");
        r.handle_gap(FRAME * 2); // two lost packets
        feed(&mut r, t0, &mut k, 1, &SPEECH);
        let c = r.poll_chunk().unwrap();
        assert_eq!(c.len(), 52 * FRAME);
        assert!(c[49 * FRAME..51 * FRAME].iter().all(|&s| s == 0));
        assert_eq!(r.kept(), secs(1.04));
        // A long gap ends the recording on silence like real silence would.
        r.handle_gap(5 * 8000);
        let (rest, res) = drain(&mut r);
        assert!(rest.is_empty());
        assert_eq!(res.unwrap().ended_by, RecordEnd::Silence);
    }

    #[test]
    fn max_zero_ends_at_once_and_long_silence_stays_bounded() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, Duration::ZERO, secs(5.0), "#");
        assert_eq!(drain(&mut r).1.unwrap().ended_by, RecordEnd::MaxLength);

        let mut r = Recorder::new(t0, secs(600.0), Duration::ZERO, "#");
        let mut k = 0;
        feed(&mut r, t0, &mut k, 1, &SPEECH);
        feed(&mut r, t0, &mut k, 1500, &HUSH); // 30 s
        assert!(r.pending.len() <= MAX_PENDING + CHUNK_SAMPLES);
        r.stop();
        let (pcm, _) = drain(&mut r);
        // The oldest silence was committed; at most MAX_PENDING + a chunk was trimmed.
        assert!(pcm.len() >= FRAME + 30 * 8000 - MAX_PENDING - CHUNK_SAMPLES);
        assert!(pcm.len() <= FRAME + 30 * 8000 - MAX_PENDING);
    }

    #[test]
    fn cursor_spots_gaps_late_packets_and_new_streams() {
        let mut c = StreamCursor::default();
        assert_eq!(c.handle_packet(1, u32::MAX - 100, 160), Continuity::InOrder);
        assert_eq!(c.handle_packet(1, 59, 160), Continuity::InOrder, "wraps");
        assert_eq!(c.handle_packet(1, 219 + 320, 160), Continuity::Gap(320));
        assert_eq!(c.handle_packet(1, 219, 160), Continuity::Late);
        assert_eq!(c.handle_packet(1, 699, 160), Continuity::InOrder);
        assert_eq!(c.handle_packet(2, 5, 160), Continuity::InOrder, "new SSRC");
        assert_eq!(
            c.handle_packet(2, 5_000_000, 160),
            Continuity::InOrder,
            "jump"
        );
        assert_eq!(c.handle_packet(2, 5_000_160, 160), Continuity::InOrder);
    }
}
