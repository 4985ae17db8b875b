//! Tests for `prompt.rs`: WAVs synthesised with hound at many rates, channel counts and
//! sample formats, plus the admin-facing error messages.

use super::*;
use std::f64::consts::PI;

/// Goertzel power of `freq` in `x` (8 kHz), normalised so a full-length sine of
/// amplitude `a` gives `a²/2`.
fn tone_power(x: &[i16], freq: f64) -> f64 {
    let w = 2.0 * PI * freq / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * p / (x.len() as f64 * x.len() as f64)
}

fn db(ratio: f64) -> f64 {
    10.0 * ratio.log10()
}

#[derive(Clone, Copy, Debug)]
enum Fmt {
    Int(u16),
    Float,
}

/// Writes `secs` of `components` (freq, amplitude 0..1) on channel 0 (and the same on
/// the others when `same_on_all`, else silence there).
fn write_wav(
    path: &Path,
    rate: u32,
    channels: u16,
    fmt: Fmt,
    secs: f64,
    components: &[(f64, f64)],
    same_on_all: bool,
) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: match fmt {
            Fmt::Int(b) => b,
            Fmt::Float => 32,
        },
        sample_format: match fmt {
            Fmt::Int(_) => hound::SampleFormat::Int,
            Fmt::Float => hound::SampleFormat::Float,
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let n = (f64::from(rate) * secs).round() as usize;
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let v: f64 = components
            .iter()
            .map(|&(f, a)| a * (2.0 * PI * f * t).sin())
            .sum();
        for ch in 0..channels {
            let v = if ch == 0 || same_on_all { v } else { 0.0 };
            match fmt {
                Fmt::Int(bits) => {
                    let max = ((1i64 << (bits - 1)) - 1) as f64;
                    w.write_sample((v * max).round() as i32).unwrap();
                }
                Fmt::Float => w.write_sample(v as f32).unwrap(),
            }
        }
    }
    w.finalize().unwrap();
}

/// The middle of the prompt, away from the filter's edge transients.
fn middle(p: &Prompt) -> &[i16] {
    let pcm = p.pcm();
    &pcm[pcm.len() / 4..3 * pcm.len() / 4]
}

#[test]
fn loads_every_rate_channel_count_and_depth() {
    let dir = tempfile::tempdir().unwrap();
    let rates = [8000, 11025, 16000, 22050, 44100, 48000];
    let formats = [
        Fmt::Int(8),
        Fmt::Int(16),
        Fmt::Int(24),
        Fmt::Int(32),
        Fmt::Float,
    ];
    for rate in rates {
        for channels in [1u16, 2, 6] {
            for fmt in formats {
                let path = dir.path().join(format!("t_{rate}_{channels}_{fmt:?}.wav"));
                write_wav(&path, rate, channels, fmt, 0.5, &[(1000.0, 0.5)], true);
                let p = Prompt::load_file(&path).unwrap();
                let what = format!("{rate} Hz {channels} ch {fmt:?}");
                // 0.5 s → 25 frames; duration preserved within one frame.
                assert!(
                    (24..=26).contains(&p.frame_count()),
                    "{what}: {}",
                    p.frame_count()
                );
                assert!(p.duration() >= Duration::from_millis(480), "{what}");
                assert!(p.duration() <= Duration::from_millis(520), "{what}");
                let mid = middle(&p);
                let level = tone_power(mid, 1000.0);
                let expected = (0.5f64 * 32767.0).powi(2) / 2.0;
                assert!(
                    db(level / expected).abs() < 0.5,
                    "{what}: level {}",
                    db(level / expected)
                );
                for other in [400.0, 2000.0, 3000.0, 3700.0] {
                    let r = db(tone_power(mid, other) / level);
                    // 8-bit PCM has ~-50 dB quantisation noise; others are far cleaner.
                    assert!(r < -35.0, "{what}: {other} Hz at {r:.1} dB");
                }
            }
        }
    }
}

#[test]
fn frames_are_padded_with_silence_in_both_laws() {
    let p = Prompt::from_pcm("x", vec![1000; 170]);
    assert_eq!(p.frame_count(), 2);
    assert_eq!(p.duration(), Duration::from_millis(40));
    let f = p.frame(Law::Ulaw, 1).unwrap();
    assert_eq!(f.len(), 160);
    assert_eq!(f[9], Law::Ulaw.encode_sample(1000));
    assert!(f[10..].iter().all(|&b| b == 0xFF));
    let f = p.frame(Law::Alaw, 1).unwrap();
    assert_eq!(f[0], Law::Alaw.encode_sample(1000));
    assert!(f[10..].iter().all(|&b| b == 0xD5));
    assert!(p.frame(Law::Ulaw, 2).is_none());
    assert!(p.frame(Law::Ulaw, usize::MAX).is_none());
    assert_eq!(p.pcm().len(), 170);
    let empty = Prompt::from_pcm("e", vec![]);
    assert_eq!(empty.frame_count(), 0);
    assert!(empty.frame(Law::Alaw, 0).is_none());
}

#[test]
fn out_of_band_content_at_44k1_is_attenuated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mix.wav");
    // 1 kHz wanted; 3.95 kHz at the band edge; 5 kHz and 6.5 kHz would alias to 3 kHz
    // and 1.5 kHz with a naive decimator.
    let comps = [
        (1000.0, 0.25),
        (3950.0, 0.25),
        (5000.0, 0.25),
        (6500.0, 0.2),
    ];
    write_wav(&path, 44100, 1, Fmt::Int(16), 1.0, &comps, true);
    let p = Prompt::load_file(&path).unwrap();
    let mid = middle(&p);
    let wanted = tone_power(mid, 1000.0);
    for f in [3950.0, 3000.0, 1500.0] {
        let r = db(tone_power(mid, f) / wanted);
        assert!(r < -40.0, "{f} Hz at {r:.1} dB");
    }
}

#[test]
fn stereo_is_averaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("left_only.wav");
    write_wav(&path, 16000, 2, Fmt::Int(16), 0.5, &[(1000.0, 0.5)], false);
    let p = Prompt::load_file(&path).unwrap();
    let level = tone_power(middle(&p), 1000.0);
    let expected = (0.25f64 * 32767.0).powi(2) / 2.0;
    assert!(db(level / expected).abs() < 0.5);
}

/// A hand-made WAV header (hound refuses to write non-PCM tags).
fn raw_wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels * bits.div_ceil(8);
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn load_bytes(name: &str, bytes: &[u8]) -> (tempfile::TempDir, Result<Prompt, PromptError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let r = Prompt::load_file(&path);
    (dir, r)
}

#[test]
fn g711_wavs_are_decoded_directly() {
    let pcm: Vec<i16> = (0..800)
        .map(|i| (8000.0 * (2.0 * PI * 1000.0 * i as f64 / 8000.0).sin()) as i16)
        .collect();
    for (tag, law) in [(7u16, Law::Ulaw), (6, Law::Alaw)] {
        let data = g711::encode_vec(law, &pcm);
        let (_d, r) = load_bytes("g.wav", &raw_wav(tag, 1, 8000, 8, &data));
        let p = r.unwrap();
        assert_eq!(p.frame_count(), 5);
        // Same law: the frames are the file's bytes, untouched.
        assert_eq!(p.frame(law, 0).unwrap(), &data[..160]);
    }
}

#[test]
fn admin_facing_errors() {
    let (_d, r) = load_bytes("welcome.wav", b"hello, I am a text file");
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.ends_with("welcome.wav: not a WAV file (no RIFF/WAVE header)"),
        "{msg}"
    );

    let (_d, r) = load_bytes("song.wav", b"ID3\x03\0\0\0\0\0\0 mp3 data here");
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("song.wav: not a WAV file (it looks like an MP3)"),
        "{msg}"
    );

    let (_d, r) = load_bytes("x.wav", b"RIF");
    assert!(matches!(r, Err(PromptError::NotWav { .. })));

    let (_d, r) = load_bytes("mp3.wav", &raw_wav(0x55, 1, 8000, 0, &[1, 2, 3, 4]));
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.ends_with(
            "mp3.wav: compressed WAV (format 0x55) is not supported; \
             convert with: sox in.wav -r 8000 -c 1 -b 16 out.wav"
        ),
        "{msg}"
    );
    let (_d, r) = load_bytes("adpcm.wav", &raw_wav(2, 1, 8000, 4, &[1, 2, 3, 4]));
    assert!(matches!(
        r,
        Err(PromptError::Compressed { format_tag: 2, .. })
    ));

    let (_d, r) = load_bytes("f64.wav", &raw_wav(3, 1, 8000, 64, &[0; 16]));
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("f64.wav: unsupported WAV samples (64-bit float)"),
        "{msg}"
    );

    let (_d, r) = load_bytes("empty.wav", &raw_wav(1, 1, 8000, 16, &[]));
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.ends_with("empty.wav: empty (no audio samples)"),
        "{msg}"
    );

    let (_d, r) = load_bytes("zero.wav", &raw_wav(1, 1, 0, 16, &[0; 4]));
    assert!(matches!(r, Err(PromptError::NotWav { .. })));
    let (_d, r) = load_bytes("slow.wav", &raw_wav(1, 1, 100, 16, &[0; 4]));
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.contains("slow.wav: unsupported WAV samples (sample rate 100 Hz"),
        "{msg}"
    );

    let mut no_data = raw_wav(1, 1, 8000, 16, &[]);
    no_data.truncate(36);
    let (_d, r) = load_bytes("nodata.wav", &no_data);
    assert!(r.unwrap_err().to_string().contains("(no data chunk)"));

    let missing = Prompt::load_file("/nonexistent/dir/hello.wav").unwrap_err();
    assert!(matches!(missing, PromptError::Io { .. }));
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/dir/hello.wav: cannot read")
    );
}

#[test]
fn truncated_data_keeps_what_is_there() {
    let samples: Vec<u8> = (0..1600u16)
        .flat_map(|i| (i as i16).to_le_bytes())
        .collect();
    let mut bytes = raw_wav(1, 1, 8000, 16, &samples);
    bytes.truncate(44 + 800); // header says 3200 data bytes, file has 800
    let (_d, r) = load_bytes("cut.wav", &bytes);
    assert_eq!(r.unwrap().pcm().len(), 400);
}

#[test]
fn garbage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.wav");
    let base = raw_wav(1, 2, 44100, 16, &[7; 64]);
    for i in 0..base.len() {
        for v in [0u8, 0xFF, 0x80] {
            let mut b = base.clone();
            b[i] = v;
            std::fs::write(&path, &b).unwrap();
            let _ = Prompt::load_file(&path);
            b.truncate(i);
            std::fs::write(&path, &b).unwrap();
            let _ = Prompt::load_file(&path);
        }
    }
}

#[test]
fn prompt_set_loads_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_wav(
        &dir.path().join("welcome.wav"),
        8000,
        1,
        Fmt::Int(16),
        0.1,
        &[(440.0, 0.3)],
        true,
    );
    write_wav(
        &dir.path().join("menu.WAV"),
        48000,
        2,
        Fmt::Float,
        0.2,
        &[(440.0, 0.3)],
        true,
    );
    std::fs::write(dir.path().join("notes.txt"), "not a prompt").unwrap();
    std::fs::create_dir(dir.path().join("sub.wav")).unwrap();
    let set = PromptSet::load_dir(dir.path()).unwrap();
    assert_eq!(set.names(), vec!["menu", "welcome"]);
    assert_eq!(set.len(), 2);
    assert_eq!(set.get("welcome").unwrap().frame_count(), 5);
    assert_eq!(set.get("menu").unwrap().frame_count(), 10);
    assert!(set.get("nope").is_none());

    // A broken file fails the strict load and is reported by the lenient one.
    std::fs::write(dir.path().join("broken.wav"), "junk").unwrap();
    let err = PromptSet::load_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("broken.wav: not a WAV file"));
    let (set, errors) = PromptSet::load_dir_lenient(dir.path());
    assert_eq!(set.len(), 2);
    assert_eq!(errors.len(), 1);

    // Two files with the same stem.
    std::fs::remove_file(dir.path().join("broken.wav")).unwrap();
    write_wav(
        &dir.path().join("menu.wav"),
        8000,
        1,
        Fmt::Int(16),
        0.1,
        &[(440.0, 0.3)],
        true,
    );
    let err = PromptSet::load_dir(dir.path()).unwrap_err();
    assert!(matches!(err, PromptError::DuplicateName { ref name, .. } if name == "menu"));

    let err = PromptSet::load_dir(dir.path().join("missing")).unwrap_err();
    assert!(err.to_string().contains("cannot list the prompt directory"));
}
