//! Prompts: WAV files decoded once at load time into 8 kHz mono PCM and pre-encoded
//! G.711 frames, shared by every call through `Arc`.
//!
//! Admins drop whatever their recording tool produced into the prompt directory: any
//! PCM sample rate, mono or stereo, 8/16/24/32-bit integers or 32-bit floats. Loading
//! down-mixes (average of the channels), resamples with a telephony-band anti-aliasing
//! filter ([`super::resample`]), and encodes both laws into 160-byte frames, so
//! playing a prompt to a call is a slice lookup per 20 ms. G.711 WAVs (format 6/7, what
//! many PBXes ship) are decoded directly. Compressed formats are refused with the `sox`
//! command that converts them.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::g711::{self, FRAME_SAMPLES, Law};
use super::resample;

/// The conversion every "unsupported" message suggests.
const SOX_HINT: &str = "convert with: sox in.wav -r 8000 -c 1 -b 16 out.wav";
/// Longest prompt accepted, so a mistaken multi-hour file cannot eat the server's memory.
pub const MAX_PROMPT_SECONDS: u64 = 3600;
/// Accepted input sample rates: below 4 kHz there is no telephone band to keep, and
/// above 384 kHz is surely a broken header.
const MIN_RATE: u32 = 4000;
const MAX_RATE: u32 = 384_000;

/// Why a prompt could not be loaded. Every message starts with the file's path.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot list the prompt directory: {source}", path.display())]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a WAV file ({reason})", path.display())]
    NotWav { path: PathBuf, reason: String },
    #[error("{}: compressed WAV (format {format_tag:#x}) is not supported; {SOX_HINT}", path.display())]
    Compressed { path: PathBuf, format_tag: u16 },
    #[error("{}: unsupported WAV samples ({what}); {SOX_HINT}", path.display())]
    UnsupportedSamples { path: PathBuf, what: String },
    #[error("{}: empty (no audio samples)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: too long ({seconds} s; the limit is {MAX_PROMPT_SECONDS} s); split it or shorten it", path.display())]
    TooLong { path: PathBuf, seconds: u64 },
    #[error("{} and {}: both define the prompt {name:?}; rename or remove one", first.display(), second.display())]
    DuplicateName {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// One prompt, ready to play: 8 kHz mono PCM plus both G.711 encodings, each padded
/// to whole 20 ms frames with the law's silence byte.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// The file stem (`welcome` for `prompts/welcome.wav`); the dial plan refers to it.
    pub name: String,
    ulaw: Arc<[u8]>,
    alaw: Arc<[u8]>,
    pcm: Arc<[i16]>,
}

impl Prompt {
    /// Builds a prompt from 8 kHz mono PCM (generated tones, recordings, tests).
    #[must_use]
    pub fn from_pcm(name: impl Into<String>, pcm: Vec<i16>) -> Prompt {
        let frames = pcm.len().div_ceil(FRAME_SAMPLES);
        let encode = |law: Law| -> Arc<[u8]> {
            let mut bytes = vec![law.silence_byte(); frames * FRAME_SAMPLES];
            g711::encode(law, &pcm, &mut bytes);
            bytes.into()
        };
        Prompt {
            name: name.into(),
            ulaw: encode(Law::Ulaw),
            alaw: encode(Law::Alaw),
            pcm: pcm.into(),
        }
    }

    /// Loads and converts one WAV file; the prompt is named after the file stem.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Prompt, PromptError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| PromptError::Io {
            path: path.to_owned(),
            source,
        })?;
        let pcm = decode_wav(path, &bytes)?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Prompt::from_pcm(name, pcm))
    }

    /// Frame `index` (160 bytes) in `law`, or `None` past the end.
    #[inline]
    #[must_use]
    pub fn frame(&self, law: Law, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(FRAME_SAMPLES)?;
        self.encoded(law)
            .get(start..start.checked_add(FRAME_SAMPLES)?)
    }

    /// Number of 20 ms frames.
    #[must_use]
    pub fn frame_count(&self) -> usize {
        self.ulaw.len() / FRAME_SAMPLES
    }

    /// Playing time: whole frames, i.e. the audio rounded up to 20 ms.
    #[must_use]
    pub fn duration(&self) -> Duration {
        Duration::from_millis(20 * self.frame_count() as u64)
    }

    /// All frames of one law, back to back.
    #[must_use]
    pub fn encoded(&self, law: Law) -> &[u8] {
        match law {
            Law::Ulaw => &self.ulaw,
            Law::Alaw => &self.alaw,
        }
    }

    /// The 8 kHz mono PCM (not padded).
    #[must_use]
    pub fn pcm(&self) -> &[i16] {
        &self.pcm
    }
}

/// All prompts of a directory, by name. Built at config (re)load; calls hold `Arc<Prompt>`.
#[derive(Debug, Default, Clone)]
pub struct PromptSet {
    prompts: HashMap<String, (Arc<Prompt>, PathBuf)>,
}

impl PromptSet {
    #[must_use]
    pub fn new() -> PromptSet {
        PromptSet::default()
    }

    /// Loads every `*.wav` (any case) in `dir`, not recursing. Fails on the first bad
    /// file, in file-name order, so the message is stable; see [`Self::load_dir_lenient`]
    /// to collect every problem at once.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<PromptSet, PromptError> {
        let (set, mut errors) = PromptSet::load_dir_lenient(dir);
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors.swap_remove(0))
        }
    }

    /// Loads what it can and returns every error, for `switchboard check`.
    pub fn load_dir_lenient(dir: impl AsRef<Path>) -> (PromptSet, Vec<PromptError>) {
        let dir = dir.as_ref();
        let mut set = PromptSet::new();
        let mut errors = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(source) => {
                errors.push(PromptError::ReadDir {
                    path: dir.to_owned(),
                    source,
                });
                return (set, errors);
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
            .collect();
        paths.sort();
        for path in paths {
            if let Err(e) = set.load_file(&path) {
                errors.push(e);
            }
        }
        (set, errors)
    }

    /// Loads one file into the set (replacing nothing: a second file with the same stem
    /// is an error, since `Welcome.wav` next to `welcome.WAV` is surely a mistake).
    pub fn load_file(&mut self, path: impl AsRef<Path>) -> Result<Arc<Prompt>, PromptError> {
        let path = path.as_ref();
        let prompt = Prompt::load_file(path)?;
        if let Some((_, first)) = self.prompts.get(&prompt.name) {
            return Err(PromptError::DuplicateName {
                name: prompt.name.clone(),
                first: first.clone(),
                second: path.to_owned(),
            });
        }
        let prompt = Arc::new(prompt);
        self.prompts
            .insert(prompt.name.clone(), (prompt.clone(), path.to_owned()));
        Ok(prompt)
    }

    /// Adds (or replaces) an in-memory prompt.
    pub fn insert(&mut self, prompt: Prompt) -> Arc<Prompt> {
        let prompt = Arc::new(prompt);
        self.prompts
            .insert(prompt.name.clone(), (prompt.clone(), PathBuf::new()));
        prompt
    }

    #[must_use]
    pub fn get(&self, name: &str) -> Option<Arc<Prompt>> {
        self.prompts.get(name).map(|(p, _)| p.clone())
    }

    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.prompts.contains_key(name)
    }

    /// Prompt names, sorted (for "did you mean" suggestions and listings).
    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.prompts.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

/// What the `fmt ` chunk says, read by hand so that we can name formats hound refuses.
struct FmtInfo {
    /// The format tag, with WAVE_FORMAT_EXTENSIBLE resolved to its sub-format.
    tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
}

const TAG_PCM: u16 = 1;
const TAG_FLOAT: u16 = 3;
const TAG_ALAW: u16 = 6;
const TAG_ULAW: u16 = 7;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Walks the RIFF chunks; returns the fmt info and the data chunk (clamped to the file,
/// so a truncated recording still yields what it has).
fn scan_riff(bytes: &[u8]) -> Result<(FmtInfo, &[u8]), String> {
    if bytes.get(0..4) != Some(b"RIFF") || bytes.get(8..12) != Some(b"WAVE") {
        let what = match bytes.get(0..4) {
            None => "the file is shorter than a WAV header",
            Some(b"ID3\x03" | b"ID3\x04" | b"ID3\x02") => "it looks like an MP3",
            Some([0xFF, b, ..]) if b & 0xE0 == 0xE0 => "it looks like an MP3",
            Some(b"OggS") => "it looks like Ogg audio",
            Some(b"fLaC") => "it looks like FLAC",
            Some(b"RIFX") => "big-endian RIFX is not supported",
            _ => "no RIFF/WAVE header",
        };
        return Err(what.to_owned());
    }
    let mut at = 12usize;
    let mut fmt = None;
    while let (Some(id), Some(len)) = (bytes.get(at..at + 4), le32(bytes, at + 4)) {
        let body_start = at + 8;
        let body_end = body_start.saturating_add(len as usize).min(bytes.len());
        let body = bytes.get(body_start..body_end).unwrap_or(&[]);
        match id {
            b"fmt " => {
                let mut tag = le16(body, 0).ok_or("the fmt chunk is truncated")?;
                if tag == TAG_EXTENSIBLE {
                    // WAVEFORMATEXTENSIBLE: the sub-format GUID starts with the real tag.
                    tag = le16(body, 24).unwrap_or(TAG_EXTENSIBLE);
                }
                fmt = Some(FmtInfo {
                    tag,
                    channels: le16(body, 2).ok_or("the fmt chunk is truncated")?,
                    rate: le32(body, 4).ok_or("the fmt chunk is truncated")?,
                    bits: le16(body, 14).unwrap_or(0),
                });
            }
            b"data" => {
                let fmt = fmt.ok_or("the data chunk comes before the fmt chunk")?;
                return Ok((fmt, body));
            }
            _ => {}
        }
        // Chunks are padded to an even length (RIFF spec).
        at = body_start
            .saturating_add(len as usize)
            .saturating_add(len as usize & 1);
    }
    Err(if fmt.is_some() {
        "no data chunk".to_owned()
    } else {
        "no fmt chunk".to_owned()
    })
}

/// Decodes a WAV image to 8 kHz mono i16.
fn decode_wav(path: &Path, bytes: &[u8]) -> Result<Vec<i16>, PromptError> {
    let not_wav = |reason: String| PromptError::NotWav {
        path: path.to_owned(),
        reason,
    };
    let unsupported = |what: String| PromptError::UnsupportedSamples {
        path: path.to_owned(),
        what,
    };
    let (fmt, data) = scan_riff(bytes).map_err(not_wav)?;
    if fmt.channels == 0 {
        return Err(not_wav("the fmt chunk says zero channels".to_owned()));
    }
    if fmt.rate == 0 {
        return Err(not_wav(
            "the fmt chunk says a sample rate of 0 Hz".to_owned(),
        ));
    }
    if !(MIN_RATE..=MAX_RATE).contains(&fmt.rate) {
        return Err(unsupported(format!(
            "sample rate {} Hz; {MIN_RATE}-{MAX_RATE} Hz are accepted",
            fmt.rate
        )));
    }
    let channels = usize::from(fmt.channels);
    let frames_hint = match fmt.tag {
        TAG_ALAW | TAG_ULAW => data.len() / channels,
        _ => data.len() / channels / usize::from(fmt.bits.div_ceil(8).max(1)),
    };
    let seconds = frames_hint as u64 / u64::from(fmt.rate);
    if seconds > MAX_PROMPT_SECONDS {
        return Err(PromptError::TooLong {
            path: path.to_owned(),
            seconds,
        });
    }

    let mono: Vec<f32> = match fmt.tag {
        TAG_ALAW | TAG_ULAW => {
            if fmt.bits != 8 {
                return Err(unsupported(format!("{}-bit G.711", fmt.bits)));
            }
            let law = if fmt.tag == TAG_ULAW {
                Law::Ulaw
            } else {
                Law::Alaw
            };
            downmix(
                data.iter()
                    .map(|&b| f32::from(law.decode_sample(b)) / 32768.0),
                channels,
            )
        }
        TAG_PCM => {
            if !matches!(fmt.bits, 8 | 16 | 24 | 32) {
                return Err(unsupported(format!("{}-bit integer", fmt.bits)));
            }
            let mut reader =
                hound::WavReader::new(Cursor::new(bytes)).map_err(|e| hound_err(path, e))?;
            let bits = reader.spec().bits_per_sample;
            let scale = 1.0 / (1u64 << (bits.clamp(1, 32) - 1)) as f32;
            let mut samples = reader.samples::<i32>().peekable();
            if let Some(Err(e)) = samples.peek() {
                return Err(unsupported(e.to_string()));
            }
            downmix(
                samples.map_while(Result::ok).map(|s| s as f32 * scale),
                channels,
            )
        }
        TAG_FLOAT => {
            if fmt.bits != 32 {
                return Err(unsupported(format!("{}-bit float", fmt.bits)));
            }
            let mut reader =
                hound::WavReader::new(Cursor::new(bytes)).map_err(|e| hound_err(path, e))?;
            let mut samples = reader.samples::<f32>().peekable();
            if let Some(Err(e)) = samples.peek() {
                return Err(unsupported(e.to_string()));
            }
            downmix(
                samples.map_while(Result::ok).map(|s| {
                    if s.is_finite() {
                        s.clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                }),
                channels,
            )
        }
        tag => {
            return Err(PromptError::Compressed {
                path: path.to_owned(),
                format_tag: tag,
            });
        }
    };
    if mono.is_empty() {
        return Err(PromptError::Empty {
            path: path.to_owned(),
        });
    }
    let at_8k = resample::to_8k(&mono, fmt.rate);
    Ok(at_8k
        .iter()
        .map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect())
}

fn hound_err(path: &Path, e: hound::Error) -> PromptError {
    match e {
        hound::Error::FormatError(reason) => PromptError::NotWav {
            path: path.to_owned(),
            reason: reason.to_owned(),
        },
        hound::Error::IoError(io) => PromptError::NotWav {
            path: path.to_owned(),
            reason: format!("truncated or unreadable header: {io}"),
        },
        other => PromptError::UnsupportedSamples {
            path: path.to_owned(),
            what: other.to_string(),
        },
    }
}

/// Averages interleaved channels into mono; a trailing partial frame is dropped.
fn downmix(samples: impl Iterator<Item = f32>, channels: usize) -> Vec<f32> {
    if channels == 1 {
        return samples.collect();
    }
    let mut out = Vec::new();
    let (mut acc, mut n) = (0.0f32, 0usize);
    let inv = 1.0 / channels as f32;
    for s in samples {
        acc += s;
        n += 1;
        if n == channels {
            out.push(acc * inv);
            (acc, n) = (0.0, 0);
        }
    }
    out
}

#[cfg(test)]
#[path = "prompt_tests.rs"]
mod tests;
