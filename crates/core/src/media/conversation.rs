//! Conversation recording (`record = true`), sans-IO: puts the two directions of a
//! bridged call side by side in time — the caller on the left channel, the manager on
//! the right (or both mixed into one) — and hands out interleaved chunks for the
//! writer thread. No file I/O here.
//!
//! The two directions are independent RTP streams with their own clocks and losses,
//! relayed by the receive threads (each direction possibly by another one). Each
//! channel places a packet by its RTP timestamp (so a stream stays sample-exact, lost packets become silence) anchored to the
//! packet's arrival time (so the two channels line up to within network jitter). A
//! channel that falls more than [`LAG`] behind the other's arrival time — a muted or
//! held phone sends nothing — is padded with silence so the recording keeps moving and
//! memory stays bounded; a packet arriving later than that is dropped.
//!
//! ```text
//!  caller RTP ──decode──▶ left  ┐ aligned by (arrival, timestamp)    ┌─▶ chunk (≥1 s)
//!  manager RTP ─decode──▶ right ┘ padded when one side is silent ───┘    to the writer
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::media::g711::SAMPLE_RATE;
use crate::media::recorder::duration_of;

/// How far one channel may trail the other before it is padded with silence.
pub const LAG: u64 = SAMPLE_RATE as u64 / 2;
/// A packet whose timestamp puts it further than this from its arrival time starts a
/// new timeline (the phone restarted its stream, or a long hold ended).
pub const RESYNC: u64 = SAMPLE_RATE as u64;
/// Frames (one sample per channel) per chunk handed out: one a second.
pub const CHUNK_FRAMES: usize = SAMPLE_RATE as usize;

/// Which party a packet comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Left channel.
    Caller,
    /// Right channel.
    Manager,
}

/// One direction's samples not yet handed out.
#[derive(Debug, Default)]
struct Channel {
    pending: VecDeque<i16>,
    /// `(ssrc, timestamp, position)` of the packet the timeline is anchored to.
    anchor: Option<(u32, u32, u64)>,
}

/// Both directions of one call, from [`Conversation::new`] to [`Conversation::finish`].
#[derive(Debug)]
pub struct Conversation {
    stereo: bool,
    started: Instant,
    channels: [Channel; 2],
    /// Frames handed out so far (the position of `pending`'s first sample).
    emitted: u64,
    chunks: VecDeque<Vec<i16>>,
    ended: bool,
}

fn samples_since(start: Instant, now: Instant) -> u64 {
    let d = now.saturating_duration_since(start);
    u64::try_from(d.as_micros().saturating_mul(u128::from(SAMPLE_RATE)) / 1_000_000)
        .unwrap_or(u64::MAX)
}

impl Conversation {
    /// Recording starts at `now` (position zero): `stereo` puts the caller left and
    /// the manager right, else both are mixed.
    #[must_use]
    pub fn new(now: Instant, stereo: bool) -> Conversation {
        Conversation {
            stereo,
            started: now,
            channels: [Channel::default(), Channel::default()],
            emitted: 0,
            chunks: VecDeque::new(),
            ended: false,
        }
    }

    /// Samples per frame in the chunks (2 for stereo, interleaved left/right).
    #[must_use]
    pub fn channels(&self) -> u16 {
        if self.stereo { 2 } else { 1 }
    }

    fn end_of(&self, i: usize) -> u64 {
        self.emitted + self.channels.get(i).map_or(0, |c| c.pending.len() as u64)
    }

    /// A decoded audio packet (8 kHz) from `party`, received at `now`, with its RTP
    /// `ssrc` and `timestamp`.
    pub fn handle_audio(
        &mut self,
        party: Party,
        now: Instant,
        ssrc: u32,
        timestamp: u32,
        pcm: &[i16],
    ) {
        if self.ended || pcm.is_empty() {
            return;
        }
        let i = match party {
            Party::Caller => 0,
            Party::Manager => 1,
        };
        let arrival = samples_since(self.started, now);
        let end = self.end_of(i);
        let Some(ch) = self.channels.get_mut(i) else {
            return;
        };
        let by_timestamp = ch.anchor.and_then(|(a_ssrc, a_ts, a_pos)| {
            (a_ssrc == ssrc).then(|| {
                let delta = i64::from(timestamp.wrapping_sub(a_ts) as i32);
                a_pos.saturating_add_signed(delta)
            })
        });
        let pos = match by_timestamp {
            Some(p) if p.abs_diff(arrival) <= RESYNC => p,
            _ => {
                // First packet, a new stream, or a timeline that drifted away from the
                // clock: anchor here.
                let p = arrival.max(end);
                ch.anchor = Some((ssrc, timestamp, p));
                p
            }
        };
        let mut samples = pcm;
        if pos < end {
            // Late, or overlapping what was already placed (or padded): keep the rest.
            let skip = usize::try_from(end - pos).unwrap_or(usize::MAX);
            samples = samples.get(skip..).unwrap_or_default();
        } else if pos > end {
            let gap = usize::try_from(pos - end).unwrap_or(0);
            ch.pending.extend(std::iter::repeat_n(0, gap));
        }
        ch.pending.extend(samples.iter().copied());
        // The other side: silence up to LAG behind this packet's arrival.
        self.pad_to(1 - i, arrival.saturating_sub(LAG));
        self.emit(false);
    }

    /// Fills channel `i` with silence up to `pos`.
    fn pad_to(&mut self, i: usize, pos: u64) {
        let end = self.end_of(i);
        if let Some(ch) = self.channels.get_mut(i)
            && pos > end
        {
            let n = usize::try_from(pos - end).unwrap_or(0);
            ch.pending.extend(std::iter::repeat_n(0, n));
        }
    }

    /// Moves whole frames (both channels have them) into chunks: at least
    /// [`CHUNK_FRAMES`] at a time, or everything when `all`.
    fn emit(&mut self, all: bool) {
        loop {
            let ready = self
                .channels
                .iter()
                .map(|c| c.pending.len())
                .min()
                .unwrap_or(0);
            let n = if all {
                ready
            } else if ready >= CHUNK_FRAMES {
                CHUNK_FRAMES
            } else {
                0
            };
            if n == 0 {
                return;
            }
            let width = usize::from(self.channels());
            let [left, right] = &mut self.channels;
            let mut chunk = Vec::with_capacity(n * width);
            for (l, r) in left.pending.drain(..n).zip(right.pending.drain(..n)) {
                if self.stereo {
                    chunk.push(l);
                    chunk.push(r);
                } else {
                    let mixed = (i32::from(l) + i32::from(r)).clamp(-32768, 32767);
                    chunk.push(i16::try_from(mixed).unwrap_or(0));
                }
            }
            self.emitted += n as u64;
            self.chunks.push_back(chunk);
        }
    }

    /// Ends the recording: both channels are completed with silence to the longer one
    /// and everything left is handed out.
    pub fn finish(&mut self) {
        if self.ended {
            return;
        }
        self.ended = true;
        let end = self.end_of(0).max(self.end_of(1));
        self.pad_to(0, end);
        self.pad_to(1, end);
        self.emit(true);
    }

    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.ended
    }

    /// The next chunk for the file: interleaved left/right samples (stereo) or mixed
    /// samples (mono).
    #[must_use]
    pub fn poll_chunk(&mut self) -> Option<Vec<i16>> {
        self.chunks.pop_front()
    }

    /// Audio handed out so far.
    #[must_use]
    pub fn duration(&self) -> Duration {
        duration_of(self.emitted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);

    fn all(c: &mut Conversation) -> Vec<i16> {
        std::iter::from_fn(|| c.poll_chunk()).flatten().collect()
    }

    #[test]
    fn both_directions_line_up_left_and_right() {
        let t0 = Instant::now();
        let mut c = Conversation::new(t0, true);
        // 2 s of both talking: caller sends 1s, manager 2s, from different timestamps.
        for n in 0..100u32 {
            let at = t0 + MS20 * n;
            c.handle_audio(Party::Caller, at, 7, 1000 + n * 160, &[1; 160]);
            c.handle_audio(Party::Manager, at, 9, 50_000 + n * 160, &[2; 160]);
        }
        c.finish();
        let out = all(&mut c);
        assert_eq!(out.len(), 2 * 16_000);
        assert!(out.chunks(2).all(|f| f == [1, 2]));
        assert_eq!(c.duration(), Duration::from_secs(2));
    }

    #[test]
    fn lost_packets_are_silence_and_a_silent_side_is_padded() {
        let t0 = Instant::now();
        let mut c = Conversation::new(t0, true);
        // The caller talks for 3 s with packet 10 lost; the manager never sends.
        for n in (0..150u32).filter(|&n| n != 10) {
            c.handle_audio(Party::Caller, t0 + MS20 * n, 7, n * 160, &[5; 160]);
        }
        // Chunks came out before the end: the manager's silence did not stall them.
        let first = c.poll_chunk().expect("a chunk before the end");
        c.finish();
        let mut out = first;
        out.extend(all(&mut c));
        assert_eq!(out.len() / 2, 150 * 160);
        // Packet 10 (lost) is silence on the left; the right is silence throughout.
        for (i, f) in out.chunks(2).enumerate() {
            let lost = (1600..1760).contains(&i);
            assert_eq!(f, [if lost { 0 } else { 5 }, 0], "frame {i}");
        }
    }

    #[test]
    fn mono_mixes_and_late_packets_do_not_double() {
        let t0 = Instant::now();
        let mut c = Conversation::new(t0, false);
        assert_eq!(c.channels(), 1);
        for n in 0..50u32 {
            c.handle_audio(Party::Caller, t0 + MS20 * n, 1, n * 160, &[100; 160]);
            c.handle_audio(Party::Manager, t0 + MS20 * n, 2, n * 160, &[30_000; 160]);
        }
        // A duplicate of packet 3 arrives late: dropped.
        c.handle_audio(Party::Caller, t0 + MS20 * 50, 1, 3 * 160, &[-5; 160]);
        c.finish();
        let out = all(&mut c);
        assert_eq!(out.len(), 50 * 160);
        assert!(out.iter().all(|&s| s == 30_100));
    }
}
