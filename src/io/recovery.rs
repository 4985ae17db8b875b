//! Start-up recovery after a crash: the file side (finding voicemail WAVs and
//! repairing the headers of those cut off mid-write); the database side is
//! [`crate::store::recovery`].
//!
//! The recording writer rewrites a WAV's header after every second of audio, so a
//! killed process leaves at most the last second's samples past what the header says,
//! and a file killed before its first write may be empty. A header is made true to the
//! file's length (RIFF and `data` sizes); a file too short for a header gets an empty
//! valid one and is flagged.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use jiff::Timestamp;

use crate::store::recovery::{self, FoundRecording, OrphanReport};
use crate::store::{Store, StoreError};

/// 8 kHz mono 16-bit PCM, as the recording writer writes (and an empty file gets).
const SAMPLE_RATE: u32 = 8000;
const BYTES_PER_SAMPLE: u32 = 2;
const HEADER_LEN: u64 = 44;

/// What start-up recovery did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub interrupted_calls: usize,
    pub repaired_files: usize,
    pub orphans: OrphanReport,
}

/// Closes interrupted calls and files requests for orphaned recordings under
/// `data_dir/recordings`. Runs before the router takes calls.
pub fn run(
    store: &mut dyn Store,
    data_dir: &Path,
    now: Timestamp,
) -> Result<RecoveryReport, StoreError> {
    let interrupted_calls = recovery::close_interrupted(store)?;
    let (found, repaired_files) = scan(&data_dir.join("recordings"));
    let orphans = recovery::file_orphan_recordings(store, &found, now)?;
    Ok(RecoveryReport {
        interrupted_calls,
        repaired_files,
        orphans,
    })
}

/// [`run`] for an instance sharing its database with others (`[store] url`): calls
/// still `in_progress` may be other instances' live calls, so none is closed; this
/// instance's recordings are repaired and filed as usual.
pub fn run_shared(
    store: &mut dyn Store,
    data_dir: &Path,
    now: Timestamp,
) -> Result<RecoveryReport, StoreError> {
    let (found, repaired_files) = scan(&data_dir.join("recordings"));
    let orphans = recovery::file_orphan_recordings(store, &found, now)?;
    Ok(RecoveryReport {
        interrupted_calls: 0,
        repaired_files,
        orphans,
    })
}

/// Every `*.wav` one level below `dir` (the day folders), headers repaired.
fn scan(dir: &Path) -> (Vec<FoundRecording>, usize) {
    let mut found = Vec::new();
    let mut repaired = 0;
    let Ok(days) = std::fs::read_dir(dir) else {
        return (found, 0);
    };
    for day in days.flatten() {
        let day_path = day.path();
        if !day_path.is_dir() {
            continue;
        }
        let day_name = day.file_name().to_string_lossy().into_owned();
        let Ok(files) = std::fs::read_dir(&day_path) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().and_then(|e| e.to_str()) != Some("wav") {
                continue;
            }
            match repair(&path) {
                Ok((data_bytes, fixed)) => {
                    repaired += usize::from(fixed);
                    let secs = f64::from(u32::try_from(data_bytes).unwrap_or(u32::MAX))
                        / f64::from(SAMPLE_RATE * BYTES_PER_SAMPLE);
                    found.push(FoundRecording {
                        path: path.display().to_string(),
                        file_name: file.file_name().to_string_lossy().into_owned(),
                        day: day_name.clone(),
                        secs,
                        empty: data_bytes == 0,
                    });
                }
                Err(e) => tracing::warn!("cannot check recording {}: {e}", path.display()),
            }
        }
    }
    (found, repaired)
}

/// Makes the WAV header at `path` match the file's length. Returns the audio bytes
/// and whether anything was rewritten.
pub fn repair(path: &Path) -> std::io::Result<(u64, bool)> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let len = f.metadata()?.len();
    let mut head = [0u8; 12];
    let riff = len >= HEADER_LEN
        && f.read_exact(&mut head).is_ok()
        && head.get(..4) == Some(b"RIFF")
        && head.get(8..12) == Some(b"WAVE");
    if !riff {
        // Killed before the first header was written (or not a WAV at all: leave
        // those alone unless they are too short to hold anything).
        if len >= HEADER_LEN {
            return Err(std::io::Error::other("not a RIFF/WAVE file"));
        }
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&header(0))?;
        return Ok((0, true));
    }
    // Walk the chunks to `data`.
    let mut pos = 12u64;
    loop {
        let mut chunk = [0u8; 8];
        f.seek(SeekFrom::Start(pos))?;
        if pos + 8 > len || f.read_exact(&mut chunk).is_err() {
            return Err(std::io::Error::other("no data chunk"));
        }
        let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        if &chunk[..4] == b"data" {
            let start = pos + 8;
            let available =
                (len - start) / u64::from(BYTES_PER_SAMPLE) * u64::from(BYTES_PER_SAMPLE);
            let riff_size = u32::try_from(len - 8).unwrap_or(u32::MAX);
            let data_size = u32::try_from(available).unwrap_or(u32::MAX);
            let stated_riff = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            if u64::from(data_size) == size && stated_riff == riff_size {
                return Ok((available, false));
            }
            f.seek(SeekFrom::Start(4))?;
            f.write_all(&riff_size.to_le_bytes())?;
            f.seek(SeekFrom::Start(pos + 4))?;
            f.write_all(&data_size.to_le_bytes())?;
            return Ok((available, true));
        }
        pos += 8 + size + (size & 1);
    }
}

/// A 44-byte header for `data_len` bytes of 8 kHz mono 16-bit PCM.
fn header(data_len: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let byte_rate = SAMPLE_RATE * BYTES_PER_SAMPLE;
    let fields: [(usize, &[u8]); 13] = [
        (0, b"RIFF"),
        (4, &(36 + data_len).to_le_bytes()),
        (8, b"WAVE"),
        (12, b"fmt "),
        (16, &16u32.to_le_bytes()),
        (20, &1u16.to_le_bytes()),
        (22, &1u16.to_le_bytes()),
        (24, &SAMPLE_RATE.to_le_bytes()),
        (28, &byte_rate.to_le_bytes()),
        (32, &2u16.to_le_bytes()),
        (34, &16u16.to_le_bytes()),
        (36, b"data"),
        (40, &data_len.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        if let Some(dst) = h.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_empty_wavs_get_true_headers() {
        let dir = tempfile::tempdir().unwrap();
        // A WAV whose header says 1000 bytes but 3201 follow (killed mid-chunk).
        let p = dir.path().join("cut.wav");
        let mut bytes = header(1000).to_vec();
        bytes.extend(std::iter::repeat_n(7u8, 3201));
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(repair(&p).unwrap(), (3200, true));
        let r = hound::WavReader::open(&p).unwrap();
        assert_eq!(r.duration(), 1600);
        assert_eq!(repair(&p).unwrap(), (3200, false), "already right");
        // A 0-byte file: a valid empty WAV.
        let e = dir.path().join("empty.wav");
        std::fs::write(&e, b"").unwrap();
        assert_eq!(repair(&e).unwrap(), (0, true));
        assert_eq!(hound::WavReader::open(&e).unwrap().duration(), 0);
    }
}
