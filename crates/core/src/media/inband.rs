//! In-band DTMF detection (ITU-T Q.23/Q.24 tones in the audio itself), for callers
//! whose gateways neither negotiate RFC 4733 nor send SIP INFO.
//!
//! Goertzel filters at the eight DTMF frequencies over a 20 ms window (160 samples,
//! 50 Hz resolution: enough to separate 697 from 770 Hz) advanced every 10 ms. A window
//! *hits* a digit when all of these hold:
//!
//! * both tones are above an absolute level ([`MIN_TONE_DBFS`]);
//! * twist is within limits: the low-group tone may exceed the high one by up to 8 dB
//!   ("normal" twist, what line loss does to high frequencies) and the high tone may
//!   exceed the low one by up to 4 dB ("reverse" twist);
//! * each tone beats the other three of its group by ≥ 6 dB;
//! * the two tones carry most of the window's energy ([`MIN_TONE_SHARE`]): speech and
//!   music spread energy over many harmonics, a DTMF signal puts it in exactly two;
//! * the second harmonic of each tone is ≥ 10 dB below it (voiced speech has strong
//!   harmonics; a DTMF generator has none).
//!
//! A digit is reported after three consecutive hits (≥ 40 ms of tone, so a 20 ms burst is
//! rejected) and then latched: nothing more is reported until four consecutive misses
//! (≈ 40 ms of silence), so a long press is one digit and two presses are two.
//! Silent windows cost one energy sum; the Goertzel bank only runs on audible ones.

use std::collections::VecDeque;
use std::f32::consts::PI;

const RATE: f32 = 8000.0;
/// Analysis window (20 ms) and hop (10 ms), samples.
const WINDOW: usize = 160;
const HOP: usize = 80;
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Weakest accepted tone, dB relative to a full-scale sine.
pub const MIN_TONE_DBFS: f32 = -40.0;
/// Low group stronger than high: up to 8 dB.
const NORMAL_TWIST_DB: f32 = 8.0;
/// High group stronger than low: up to 4 dB.
const REVERSE_TWIST_DB: f32 = 4.0;
/// Each tone above the others of its group by this much.
const DOMINANCE_DB: f32 = 6.0;
/// Second harmonic at least this far below the fundamental.
const HARMONIC_DB: f32 = 10.0;
/// Share of the window's power that the two tones must carry.
pub const MIN_TONE_SHARE: f32 = 0.7;
/// Consecutive hits before reporting (3 windows 10 ms apart ≈ 40 ms of tone).
const HITS_TO_REPORT: u32 = 3;
/// Consecutive misses that end a latched digit (≈ 40 ms without the tone).
const MISSES_TO_RELEASE: u32 = 4;

fn db_to_power(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Goertzel coefficient `2·cos(ω)` for `freq`.
fn coeff(freq: f32) -> f32 {
    2.0 * (2.0 * PI * freq / RATE).cos()
}

/// Power of `freq` (via its coefficient) in `x`, normalised so that a sine of
/// amplitude `a` filling the window gives `a²/2`.
fn goertzel(x: &[f32], c: f32) -> f32 {
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s0 = v + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let n = x.len() as f32;
    2.0 * (s1 * s1 + s2 * s2 - c * s1 * s2) / (n * n)
}

/// Streaming DTMF detector for one audio direction of one call.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    window: [f32; WINDOW],
    len: usize,
    row_c: [f32; 4],
    col_c: [f32; 4],
    row_h: [f32; 4],
    col_h: [f32; 4],
    candidate: Option<char>,
    hits: u32,
    misses: u32,
    latched: bool,
    pending: VecDeque<char>,
}

impl Default for InbandDetector {
    fn default() -> Self {
        InbandDetector::new()
    }
}

impl InbandDetector {
    #[must_use]
    pub fn new() -> InbandDetector {
        InbandDetector {
            window: [0.0; WINDOW],
            len: 0,
            row_c: ROWS.map(coeff),
            col_c: COLS.map(coeff),
            row_h: ROWS.map(|f| coeff(2.0 * f)),
            col_h: COLS.map(|f| coeff(2.0 * f)),
            candidate: None,
            hits: 0,
            misses: MISSES_TO_RELEASE,
            latched: false,
            pending: VecDeque::new(),
        }
    }

    /// Feeds audio (any length; normally one 160-sample frame). Returns a newly detected
    /// digit. Should one call ever complete two digits (slices longer than ~70 ms), the
    /// second is returned by the next call.
    #[must_use]
    pub fn handle_samples(&mut self, samples: &[i16]) -> Option<char> {
        for &s in samples {
            if let Some(slot) = self.window.get_mut(self.len) {
                *slot = f32::from(s);
            }
            self.len += 1;
            if self.len >= WINDOW {
                let hit = self.analyse();
                self.update(hit);
                self.window.copy_within(HOP.., 0);
                self.len = WINDOW - HOP;
            }
        }
        self.pending.pop_front()
    }

    /// Forgets all state (e.g. after the call was put on hold).
    pub fn reset(&mut self) {
        *self = InbandDetector::new();
    }

    fn update(&mut self, hit: Option<char>) {
        match hit {
            Some(d) => {
                self.misses = 0;
                if self.candidate == Some(d) {
                    self.hits += 1;
                } else {
                    self.candidate = Some(d);
                    self.hits = 1;
                }
                if !self.latched && self.hits >= HITS_TO_REPORT {
                    self.latched = true;
                    self.pending.push_back(d);
                }
            }
            None => {
                self.candidate = None;
                self.hits = 0;
                self.misses = self.misses.saturating_add(1);
                if self.misses >= MISSES_TO_RELEASE {
                    self.latched = false;
                }
            }
        }
    }

    /// Classifies the current window.
    fn analyse(&self) -> Option<char> {
        let x = &self.window;
        let n = WINDOW as f32;
        let total = x.iter().map(|v| v * v).sum::<f32>() / n;
        let min_tone = db_to_power(MIN_TONE_DBFS) * (32767.0f32 * 32767.0 / 2.0);
        if total < min_tone {
            return None;
        }
        let rows = self.row_c.map(|c| goertzel(x, c));
        let cols = self.col_c.map(|c| goertzel(x, c));
        let (r, pr) = strongest(&rows)?;
        let (c, pc) = strongest(&cols)?;
        if pr < min_tone || pc < min_tone {
            return None;
        }
        if pr > pc * db_to_power(NORMAL_TWIST_DB) || pc > pr * db_to_power(REVERSE_TWIST_DB) {
            return None;
        }
        let dom = db_to_power(DOMINANCE_DB);
        let dominates = |bank: &[f32; 4], best: usize, p: f32| {
            bank.iter()
                .enumerate()
                .all(|(i, &q)| i == best || p >= q * dom)
        };
        if !dominates(&rows, r, pr) || !dominates(&cols, c, pc) {
            return None;
        }
        if pr + pc < MIN_TONE_SHARE * total {
            return None;
        }
        // Only candidates pay for the harmonic filters.
        let harm = db_to_power(-HARMONIC_DB);
        let rh = goertzel(x, *self.row_h.get(r)?);
        let ch = goertzel(x, *self.col_h.get(c)?);
        if rh > pr * harm || ch > pc * harm {
            return None;
        }
        KEYS.get(r)?.get(c).copied()
    }
}

/// Index and power of the strongest filter.
fn strongest(bank: &[f32; 4]) -> Option<(usize, f32)> {
    bank.iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

#[cfg(test)]
#[path = "inband_tests.rs"]
mod tests;
