//! Tests for `inband.rs` on synthesised signals.

use super::*;

const DIGITS: &str = "123A456B789C*0#D";

fn freqs(d: char) -> (f32, f32) {
    let i = DIGITS.find(d).unwrap();
    (ROWS[i / 4], COLS[i % 4])
}

/// A dual tone: total RMS at `level_db` relative to a full-scale sine; `twist_db` > 0
/// makes the low (row) tone stronger, < 0 the high (column) tone.
fn tone(d: char, level_db: f32, twist_db: f32, ms: usize) -> Vec<f32> {
    let (fr, fc) = freqs(d);
    let total = 32767.0 * 10f32.powf(level_db / 20.0);
    // Split `total` power between the tones according to the twist.
    let ratio = 10f32.powf(twist_db / 20.0); // row amplitude / col amplitude
    let col_amp = total / (1.0 + ratio * ratio).sqrt();
    let row_amp = col_amp * ratio;
    (0..ms * 8)
        .map(|i| {
            let t = i as f32 / RATE;
            row_amp * (2.0 * PI * fr * t).sin() + col_amp * (2.0 * PI * fc * t).sin()
        })
        .collect()
}

fn silence(ms: usize) -> Vec<f32> {
    vec![0.0; ms * 8]
}

/// Deterministic uniform white noise (xorshift), RMS 1.
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let u = (s >> 11) as f32 / (1u64 << 53) as f32; // 0..1
            (u * 2.0 - 1.0) * 3f32.sqrt()
        })
        .collect()
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

fn concat(parts: &[Vec<f32>]) -> Vec<f32> {
    parts.concat()
}

fn to_i16(x: &[f32]) -> Vec<i16> {
    x.iter()
        .map(|v| v.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// Runs a fresh detector over `signal` (plus trailing silence) in 160-sample frames.
fn detect(signal: &[f32]) -> String {
    let mut det = InbandDetector::new();
    let mut pcm = to_i16(signal);
    pcm.extend(std::iter::repeat_n(0, 800));
    pcm.chunks(160)
        .filter_map(|f| det.handle_samples(f))
        .collect()
}

#[test]
fn all_digits_at_all_levels() {
    for d in DIGITS.chars() {
        for level in [-3.0, -10.0, -17.0, -25.0] {
            let sig = concat(&[silence(30), tone(d, level, 0.0, 100), silence(30)]);
            assert_eq!(detect(&sig), d.to_string(), "digit {d} at {level} dBFS");
        }
    }
}

#[test]
fn detected_in_white_noise_at_15_db_snr() {
    for (k, d) in DIGITS.chars().enumerate() {
        for level in [-10.0, -25.0] {
            let clean = concat(&[silence(100), tone(d, level, 0.0, 100), silence(100)]);
            let tone_rms = rms(&tone(d, level, 0.0, 100));
            let noise_rms = tone_rms / 10f32.powf(15.0 / 20.0);
            let noisy: Vec<f32> = clean
                .iter()
                .zip(noise(clean.len(), 42 + k as u64))
                .map(|(s, n)| s + n * noise_rms)
                .collect();
            assert_eq!(
                detect(&noisy),
                d.to_string(),
                "digit {d} at {level} dBFS + noise"
            );
        }
    }
}

#[test]
fn twist_limits() {
    for d in ['1', '5', '9', '#', 'D'] {
        let run = |twist: f32| detect(&concat(&[tone(d, -10.0, twist, 100), silence(50)]));
        assert_eq!(run(6.0), d.to_string(), "{d}: normal twist 6 dB accepted");
        assert_eq!(run(3.0), d.to_string());
        assert_eq!(run(-3.0), d.to_string(), "{d}: reverse twist 3 dB accepted");
        assert_eq!(run(10.0), "", "{d}: normal twist 10 dB rejected");
        assert_eq!(run(-6.0), "", "{d}: reverse twist 6 dB rejected");
    }
}

#[test]
fn too_quiet_is_ignored() {
    assert_eq!(detect(&tone('5', -45.0, 0.0, 200)), "");
}

#[test]
fn short_bursts_are_rejected_at_every_alignment() {
    for offset in (0..160).step_by(10) {
        for d in ['1', '0', 'D'] {
            let sig = concat(&[vec![0.0; offset], tone(d, -10.0, 0.0, 20), silence(100)]);
            assert_eq!(detect(&sig), "", "20 ms of {d} at offset {offset}");
        }
    }
}

#[test]
fn forty_and_fifty_ms_tones_are_detected_at_every_alignment() {
    for offset in (0..160).step_by(10) {
        for d in ['1', '0', 'D'] {
            for ms in [40, 50] {
                let sig = concat(&[vec![0.0; offset], tone(d, -10.0, 0.0, ms), silence(100)]);
                assert_eq!(
                    detect(&sig),
                    d.to_string(),
                    "{ms} ms of {d} at offset {offset}"
                );
            }
        }
    }
}

#[test]
fn a_long_tone_is_one_digit() {
    assert_eq!(detect(&tone('7', -10.0, 0.0, 1000)), "7");
    // A 10 ms drop-out in the middle does not make it two.
    let sig = concat(&[
        tone('7', -10.0, 0.0, 300),
        silence(10),
        tone('7', -10.0, 0.0, 300),
    ]);
    assert_eq!(detect(&sig), "7");
}

#[test]
fn two_presses_separated_by_50_ms_are_two_digits() {
    for offset in (0..160).step_by(20) {
        let sig = concat(&[
            vec![0.0; offset],
            tone('5', -10.0, 0.0, 100),
            silence(50),
            tone('5', -10.0, 0.0, 100),
        ]);
        assert_eq!(detect(&sig), "55", "offset {offset}");
    }
}

#[test]
fn a_dialled_sequence() {
    let mut parts = Vec::new();
    for d in "0123456789*#ABCD".chars() {
        parts.push(tone(d, -15.0, 2.0, 70));
        parts.push(silence(60));
    }
    assert_eq!(detect(&concat(&parts)), "0123456789*#ABCD");
}

#[test]
fn digits_from_one_long_slice_come_out_one_per_call() {
    let sig = to_i16(&concat(&[
        tone('1', -10.0, 0.0, 80),
        silence(80),
        tone('2', -10.0, 0.0, 80),
        silence(80),
        tone('3', -10.0, 0.0, 80),
        silence(80),
    ]));
    let mut det = InbandDetector::new();
    assert_eq!(det.handle_samples(&sig), Some('1'));
    assert_eq!(det.handle_samples(&[]), Some('2'));
    assert_eq!(det.handle_samples(&[]), Some('3'));
    assert_eq!(det.handle_samples(&[]), None);
}

/// A vowel-like signal: harmonics of a vibrato-modulated f0, shaped by two formants.
fn voice(f0: f32, secs: f32, formants: (f32, f32)) -> Vec<f32> {
    let n = (secs * RATE) as usize;
    let mut phase = 0.0f32;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE;
            // 5.5 Hz vibrato of ±4 %, plus a slow glide: intonation.
            let f = f0 * (1.0 + 0.04 * (2.0 * PI * 5.5 * t).sin() + 0.1 * t);
            phase += 2.0 * PI * f / RATE;
            let mut v = 0.0;
            for k in 1..=30 {
                let fk = f * k as f32;
                if fk > 3800.0 {
                    break;
                }
                let formant = |fc: f32, bw: f32| 1.0 / (1.0 + ((fk - fc) / bw).powi(2));
                let gain =
                    (formant(formants.0, 150.0) + 0.5 * formant(formants.1, 200.0)) / k as f32;
                v += gain * (k as f32 * phase).sin();
            }
            v
        })
        .collect()
}

fn normalise(x: &[f32], level_db: f32) -> Vec<f32> {
    let g = 32767.0 * 10f32.powf(level_db / 20.0) / rms(x);
    x.iter().map(|v| v * g).collect()
}

#[test]
fn speech_like_signals_give_no_digits() {
    // Male and female pitches; vowels /a/, /i/, /u/ (formant pairs), loud and quiet.
    for f0 in [95.0, 120.0, 150.0, 174.25, 210.0, 232.33, 260.0] {
        for formants in [
            (700.0, 1220.0),
            (300.0, 2300.0),
            (320.0, 800.0),
            (850.0, 1350.0),
        ] {
            for level in [-6.0, -20.0] {
                let v = normalise(&voice(f0, 1.5, formants), level);
                assert_eq!(
                    detect(&v),
                    "",
                    "f0 {f0} formants {formants:?} level {level}"
                );
            }
        }
    }
}

/// A piano-like chord: each note with decaying harmonics.
fn chord(notes: &[f32], secs: f32) -> Vec<f32> {
    let n = (secs * RATE) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE;
            let env = (-1.5 * t).exp();
            notes
                .iter()
                .flat_map(|&f| (1..=6).map(move |k| (f, k)))
                .filter(|&(f, k)| f * (k as f32) < 3900.0)
                .map(|(f, k)| env / (k * k) as f32 * (2.0 * PI * f * k as f32 * t).sin())
                .sum()
        })
        .collect()
}

#[test]
fn music_like_chords_give_no_digits() {
    let note = |semitones_from_a4: i32| 440.0 * 2f32.powf(semitones_from_a4 as f32 / 12.0);
    let chords: &[&[i32]] = &[
        &[-9, -5, -2, 3],  // C major (C4 E4 G4 C5)
        &[0, 3, 7],        // A minor
        &[8, 12, 15],      // F5 A5 C6: F5 ≈ 698 Hz sits on the 697 Hz row
        &[8, 19, 24],      // F5 E6 A6: E6 ≈ 1319 Hz near the 1336 Hz column
        &[-4, 0, 3, 7],    // F major 7
        &[10, 13, 17, 22], // G5 B♭5 D6 G6
    ];
    for c in chords {
        let notes: Vec<f32> = c.iter().map(|&s| note(s)).collect();
        for level in [-6.0, -20.0] {
            let sig = normalise(&chord(&notes, 1.5), level);
            assert_eq!(detect(&sig), "", "chord {notes:?} at {level}");
        }
    }
}

#[test]
fn reset_forgets_everything() {
    let mut det = InbandDetector::new();
    let pcm = to_i16(&tone('3', -10.0, 0.0, 200));
    let got: String = pcm
        .chunks(160)
        .filter_map(|f| det.handle_samples(f))
        .collect();
    assert_eq!(got, "3");
    det.reset();
    let got: String = pcm
        .chunks(160)
        .filter_map(|f| det.handle_samples(f))
        .collect();
    assert_eq!(got, "3");
}
