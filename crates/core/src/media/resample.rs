//! Band-limited resampling of prompt audio to 8 kHz (load time only).
//!
//! A polyphase windowed-sinc (Kaiser) interpolator. For an input rate `fs` the ratio
//! `8000/fs` reduces to `L/M`; output sample `k` sits at input position `k·M/L`, whose
//! fractional part is one of `L` phases, each with its own precomputed FIR. Integer
//! decimations (16k, 32k, 48k, 96k → 8k) have a single phase, so they are the fast path
//! with no special code. Rates whose `L` exceeds [`MAX_PHASES`] (odd rates like 44 056 Hz)
//! use the nearest of [`MAX_PHASES`] phases: a timing error under 1/2000 of a sample.
//!
//! Telephony band: when downsampling, the low-pass passes 0–3.4 kHz and stops from
//! 3.9 kHz with ≥ 60 dB attenuation, so nothing above 4 kHz folds back into the band
//! (the aliasing a naive decimator would produce as audible whistles). When upsampling
//! (input below 8 kHz) the cut-off follows the input's own Nyquist frequency instead.

/// The output rate.
const OUT_RATE: u32 = 8000;
/// Upper bound on distinct filter phases (memory: phases × taps × 4 bytes).
pub const MAX_PHASES: u32 = 1024;
/// Stop-band attenuation of the Kaiser design, dB.
const ATTENUATION_DB: f64 = 60.0;

/// Resamples mono `input` taken at `rate` Hz to 8 kHz. Output length is
/// `ceil(len · 8000 / rate)`, so the duration is preserved to within one sample.
/// `rate == 0` yields an empty output (callers reject such files earlier).
#[must_use]
pub fn to_8k(input: &[f32], rate: u32) -> Vec<f32> {
    if rate == OUT_RATE || input.is_empty() {
        return input.to_vec();
    }
    if rate == 0 {
        return Vec::new();
    }
    let g = gcd(OUT_RATE, rate);
    let (l, m) = (u64::from(OUT_RATE / g), u64::from(rate / g));
    let filter = Filter::design(rate, l);
    let out_len = (input.len() as u64 * l).div_ceil(m);
    let mut out = Vec::with_capacity(usize::try_from(out_len).unwrap_or(0));
    let half = filter.half as i64;
    let n_in = input.len() as i64;
    for k in 0..out_len {
        let pos = k * m;
        let mut i0 = (pos / l) as i64;
        // Phase index into the table (exact when l ≤ MAX_PHASES).
        let mut p = if filter.phases == l {
            pos % l
        } else {
            ((pos % l) * filter.phases + l / 2) / l
        };
        if p == filter.phases {
            p = 0;
            i0 += 1;
        }
        let taps = filter.phase(p as usize);
        let first = i0 - half + 1;
        // Clip the tap range to the input; samples outside are zero.
        let lo = (-first).max(0);
        let hi = (n_in - first).min(taps.len() as i64);
        let mut acc = 0.0f32;
        if lo < hi {
            let (lo, hi) = (lo as usize, hi as usize);
            let start = (first + lo as i64) as usize;
            if let (Some(t), Some(x)) = (taps.get(lo..hi), input.get(start..start + (hi - lo))) {
                acc = t.iter().zip(x).map(|(a, b)| a * b).sum();
            }
        }
        out.push(acc);
    }
    out
}

struct Filter {
    /// Taps per phase = 2·half.
    half: usize,
    phases: u64,
    /// `phases` rows of `2·half` taps.
    table: Vec<f32>,
}

impl Filter {
    fn design(rate: u32, l: u64) -> Filter {
        let fs = f64::from(rate);
        // Pass band edge and transition width, Hz.
        let (cutoff, transition) = if rate > OUT_RATE {
            (3650.0, 500.0)
        } else {
            (0.45 * fs, 0.1 * fs)
        };
        let fc = cutoff / fs; // cycles per input sample
        let dw = 2.0 * std::f64::consts::PI * transition / fs;
        // Kaiser's formulas (Oppenheim & Schafer 7.6): length and shape for A dB.
        let n_taps = ((ATTENUATION_DB - 8.0) / (2.285 * dw)).ceil() + 1.0;
        let half = ((n_taps / 2.0).ceil() as usize).max(2);
        let beta = 0.1102 * (ATTENUATION_DB - 8.7);
        let i0_beta = bessel_i0(beta);
        let phases = l.min(u64::from(MAX_PHASES));
        let width = 2 * half;
        let mut table = Vec::with_capacity(width * phases as usize);
        for p in 0..phases {
            let frac = p as f64 / phases as f64;
            let row_start = table.len();
            let mut sum = 0.0;
            for j in 0..width {
                let t = (j as f64 - half as f64 + 1.0) - frac;
                let u = t / half as f64;
                let w = if u.abs() <= 1.0 {
                    bessel_i0(beta * (1.0 - u * u).sqrt()) / i0_beta
                } else {
                    0.0
                };
                let h = 2.0 * fc * sinc(2.0 * fc * t) * w;
                sum += h;
                table.push(h);
            }
            // Unity gain at DC for every phase, so no phase-dependent ripple.
            if let Some(row) = table.get_mut(row_start..) {
                row.iter_mut().for_each(|h| *h /= sum);
            }
        }
        Filter {
            half,
            phases,
            table: table.into_iter().map(|h| h as f32).collect(),
        }
    }

    fn phase(&self, p: usize) -> &[f32] {
        let w = 2 * self.half;
        self.table.get(p * w..(p + 1) * w).unwrap_or(&[])
    }
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    for k in 1..50 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
    }
    sum
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, secs: f64, amp: f64) -> Vec<f32> {
        let n = (f64::from(rate) * secs) as usize;
        (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as f32
            })
            .collect()
    }

    /// RMS of the middle half (away from the zero-padded edges).
    fn mid_rms(x: &[f32]) -> f64 {
        let mid = &x[x.len() / 4..3 * x.len() / 4];
        (mid.iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / mid.len() as f64)
            .sqrt()
    }

    #[test]
    fn passband_tone_keeps_level_at_common_rates() {
        for rate in [6000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 44056] {
            let top = if rate > 8000 { 3000.0 } else { 2000.0 };
            for freq in [300.0, 1000.0, top] {
                let out = to_8k(&sine(freq, rate, 0.5, 0.5), rate);
                assert_eq!(out.len(), 4000, "rate {rate}");
                let rms = mid_rms(&out);
                let expected = 0.5 / 2f64.sqrt();
                assert!(
                    (rms / expected - 1.0).abs() < 0.02,
                    "rate {rate} f {freq}: {rms}"
                );
            }
        }
    }

    #[test]
    fn out_of_band_is_attenuated() {
        for rate in [16000, 22050, 44100, 48000] {
            // 3.9 kHz (edge of the stop band) and 5 kHz (would alias to 3 kHz).
            for freq in [3900.0, 5000.0, 7000.0] {
                let out = to_8k(&sine(freq, rate, 0.5, 0.5), rate);
                let db = 20.0 * (mid_rms(&out) / (0.5 / 2f64.sqrt())).log10();
                assert!(db < -50.0, "rate {rate} f {freq}: {db:.1} dB");
            }
        }
    }

    #[test]
    fn identity_and_degenerate_inputs() {
        let x = vec![0.25f32; 10];
        assert_eq!(to_8k(&x, 8000), x);
        assert!(to_8k(&[], 44100).is_empty());
        assert!(to_8k(&x, 0).is_empty());
        assert_eq!(to_8k(&[1.0], 48000).len(), 1);
        // DC is preserved exactly (each phase is normalised).
        let dc = to_8k(&vec![0.5f32; 4410], 44100);
        assert!(dc[200..600].iter().all(|&v| (v - 0.5).abs() < 1e-4));
    }
}
