//! The recording writer: one thread for every recording in progress, fed by a channel,
//! so file I/O never happens on the packet path (the receive threads and the pacer only
//! hand over the chunks their sessions produce, about one a second per recording).
//!
//! Files are 8 kHz mono 16-bit PCM WAV (hound). After every chunk the header is
//! rewritten ([`hound::WavWriter::flush`]), so if the process dies mid-message the file
//! is still a valid WAV of what was heard up to the last second. The
//! `RecordingFinished` event is sent from this thread only after the file is finalized
//! and closed, so whoever reacts to it reads the complete file.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Duration;

use hound::{SampleFormat, WavSpec, WavWriter};
use thiserror::Error;
use tokio::sync::mpsc::UnboundedSender;

use crate::call::{CallKey, MediaEvent, RecordEnd};
use crate::media::g711::SAMPLE_RATE;
use crate::media::recorder::{RecordOutput, duration_of};

/// What the sessions' recording outputs are sent on.
pub type RecordSink = Sender<(CallKey, RecordOutput)>;

/// Why a recording file could not be written; the text goes into
/// [`MediaEvent::RecordingFinished::error`].
#[derive(Debug, Error)]
pub enum RecordingError {
    #[error(
        "cannot create recording file {path}: {source} (check that the directory exists or can be created and is writable)"
    )]
    Create { path: PathBuf, source: hound::Error },
    #[error("cannot write recording file {path}: {source} (is the disk full?)")]
    Write { path: PathBuf, source: hound::Error },
    #[error("recording {record_id} ended but was never started (media plane bug)")]
    NotStarted { record_id: u32 },
}

const SPEC: WavSpec = WavSpec {
    channels: 1,
    sample_rate: SAMPLE_RATE,
    bits_per_sample: 16,
    sample_format: SampleFormat::Int,
};

/// Starts the writer thread; it reports to `events` and stops when every sender of
/// the returned sink is gone (finalizing what is still open).
pub fn start_writer(events: UnboundedSender<(CallKey, MediaEvent)>) -> std::io::Result<RecordSink> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("rec-writer".into())
        .spawn(move || writer_loop(rx, events))?;
    Ok(tx)
}

/// One open recording.
struct Open {
    record_id: u32,
    /// 1 for a voicemail, 2 for a stereo conversation.
    channels: u16,
    path: PathBuf,
    /// None once writing failed (the error is kept) or the file never opened.
    wav: Option<WavWriter<BufWriter<File>>>,
    written: u64,
    error: Option<RecordingError>,
    /// The failure was already reported (the file could not be created): the end of
    /// the recording is not reported a second time.
    reported: bool,
}

fn writer_loop(
    rx: Receiver<(CallKey, RecordOutput)>,
    events: UnboundedSender<(CallKey, MediaEvent)>,
) {
    // By call and record id: a call's conversation and a voicemail can be open at
    // the same time.
    let mut open: HashMap<(CallKey, u32), Open> = HashMap::new();
    while let Ok((call, out)) = rx.recv() {
        match out {
            RecordOutput::Start { record_id, path } => {
                start(&mut open, &events, call, record_id, path, 1);
            }
            RecordOutput::StartConversation {
                record_id,
                path,
                channels,
            } => start(&mut open, &events, call, record_id, path, channels),
            RecordOutput::Audio { record_id, samples } => {
                if let Some(rec) = open.get_mut(&(call, record_id)) {
                    append(rec, &samples);
                }
            }
            RecordOutput::End {
                record_id,
                path,
                result,
            } => {
                let (duration, error) = match open.remove(&(call, record_id)) {
                    Some(rec) if rec.reported => continue,
                    Some(rec) => {
                        let channels = u64::from(rec.channels.max(1));
                        match close(rec) {
                            Ok(_) => (result.duration, None),
                            Err((written, e)) => {
                                (duration_of(written / channels), Some(e.to_string()))
                            }
                        }
                    }
                    None => (
                        Duration::ZERO,
                        Some(RecordingError::NotStarted { record_id }.to_string()),
                    ),
                };
                let ev = MediaEvent::RecordingFinished {
                    record_id,
                    path,
                    duration,
                    ended_by: result.ended_by,
                    silent: result.silent,
                    error,
                };
                let _ = events.send((call, ev));
            }
        }
    }
    // Every sender is gone (the media plane stopped): close what is still open so the
    // files are valid.
    for (_, rec) in open.drain() {
        let _ = close(rec);
    }
}

/// Opens a recording's file; a failure is reported at once.
fn start(
    open: &mut HashMap<(CallKey, u32), Open>,
    events: &UnboundedSender<(CallKey, MediaEvent)>,
    call: CallKey,
    record_id: u32,
    path: PathBuf,
    channels: u16,
) {
    if let Some(old) = open.remove(&(call, record_id)) {
        // Sessions end a recording before starting the next; finish it anyway.
        tracing::warn!(%call, record_id = old.record_id, "recording left open; closing it");
        let _ = close(old);
    }
    let rec = match create(&path, channels) {
        Ok(wav) => Open {
            record_id,
            channels,
            path,
            wav: Some(wav),
            written: 0,
            error: None,
            reported: false,
        },
        Err(error) => {
            // Tell the call at once rather than after the caller has talked into
            // nothing; the session's end is then swallowed.
            tracing::error!(%call, "{error}");
            let ev = MediaEvent::RecordingFinished {
                record_id,
                path: path.clone(),
                duration: Duration::ZERO,
                ended_by: RecordEnd::Stopped,
                silent: true,
                error: Some(error.to_string()),
            };
            let _ = events.send((call, ev));
            Open {
                record_id,
                channels,
                path,
                wav: None,
                written: 0,
                error: Some(error),
                reported: true,
            }
        }
    };
    open.insert((call, record_id), rec);
}

fn create(path: &Path, channels: u16) -> Result<WavWriter<BufWriter<File>>, RecordingError> {
    let err = |source| RecordingError::Create {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(hound::Error::IoError(e)))?;
    }
    // Never over an existing file: names are unique by construction, so one that
    // exists is another caller's message (store::recovery).
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| err(hound::Error::IoError(e)))?;
    WavWriter::new(
        BufWriter::new(file),
        WavSpec {
            channels: channels.max(1),
            ..SPEC
        },
    )
    .map_err(err)
}

/// Appends `samples` and rewrites the header, so the file is valid up to here.
fn append(rec: &mut Open, samples: &[i16]) {
    let Some(wav) = rec.wav.as_mut() else {
        return;
    };
    let res = u32::try_from(samples.len())
        .map_err(|_| hound::Error::TooWide)
        .and_then(|n| {
            let mut w = wav.get_i16_writer(n);
            for &s in samples {
                w.write_sample(s);
            }
            w.flush()
        })
        .and_then(|()| wav.flush());
    match res {
        Ok(()) => rec.written += samples.len() as u64,
        Err(source) => {
            tracing::error!(path = %rec.path.display(), "recording write failed: {source}");
            rec.error = Some(RecordingError::Write {
                path: rec.path.clone(),
                source,
            });
            rec.wav = None; // dropping it finalizes what was written, best effort
        }
    }
}

/// Finalizes the file; on failure returns how much audio made it and why.
fn close(rec: Open) -> Result<u64, (u64, RecordingError)> {
    if let Some(error) = rec.error {
        return Err((rec.written, error));
    }
    let Some(wav) = rec.wav else {
        return Ok(rec.written);
    };
    wav.finalize().map_err(|source| {
        (
            rec.written,
            RecordingError::Write {
                path: rec.path,
                source,
            },
        )
    })?;
    Ok(rec.written)
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, UdpSocket};
    use std::sync::Arc;
    use std::time::Instant;

    use tokio::sync::mpsc::UnboundedReceiver;

    use super::*;
    use crate::call::{DigitSource, MediaCommand, MediaParams};
    use crate::io::media::MediaPlane;
    use crate::media::g711::{self, Law};
    use crate::media::prompt::PromptSet;
    use crate::sdp::Codec;

    const PATIENCE: Duration = Duration::from_secs(5);
    type Events = UnboundedReceiver<(CallKey, MediaEvent)>;

    fn plane() -> (MediaPlane, Events) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let ip = "127.0.0.1".parse().unwrap();
        let plane = MediaPlane::start(
            ip,
            Arc::new(PromptSet::new()),
            Duration::ZERO,
            crate::media::latch::LatchConfig::default(),
            tx,
        )
        .unwrap();
        (plane, rx)
    }

    /// A phone sending RTP to one of our legs, building packets by hand.
    struct Phone {
        socket: UdpSocket,
        to: SocketAddr,
        pt: u8,
        seq: u16,
        ts: u32,
    }

    impl Phone {
        fn packet(&mut self, pt: u8, marker: bool, payload: &[u8]) {
            let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
            p.extend_from_slice(&self.seq.to_be_bytes());
            p.extend_from_slice(&self.ts.to_be_bytes());
            p.extend_from_slice(&0x5EED_u32.to_be_bytes());
            p.extend_from_slice(payload);
            self.socket.send_to(&p, self.to).unwrap();
            self.seq = self.seq.wrapping_add(1);
        }

        /// Sends `payload` as 20 ms audio packets, a few at a time so loopback
        /// buffers never overflow.
        async fn audio(&mut self, payload: &[u8]) {
            for (i, frame) in payload.chunks(160).enumerate() {
                self.packet(self.pt, false, frame);
                self.ts = self.ts.wrapping_add(160);
                if i % 10 == 9 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }

        /// RFC 4733 §2.3: event, E bit + volume 10, duration 160; start packet then
        /// the three end packets, all with the event's start timestamp (§2.5.1).
        fn event(&mut self, pt: u8, event: u8) {
            self.packet(pt, true, &[event, 0x0A, 0, 160]);
            for _ in 0..3 {
                self.packet(pt, false, &[event, 0x8A, 1, 64]);
            }
            self.ts = self.ts.wrapping_add(320);
        }
    }

    fn open(plane: &mut MediaPlane, call: CallKey, codec: Codec, pt: u8, te_pt: u8) -> Phone {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let params = MediaParams {
            remote: Some(socket.local_addr().unwrap()),
            codec,
            pt,
            te_pt: Some(te_pt),
            hold: false,
            srtp: None,
        };
        plane.handle_command(
            Instant::now(),
            MediaCommand::Open {
                call,
                port: 0,
                params,
                inband_dtmf: false,
                ssrc: 1,
                seq: 1,
                ts: 1,
            },
        );
        let to = plane.local_addr(call).unwrap();
        Phone {
            socket,
            to,
            pt,
            seq: 65_500, // wraps during the message
            ts: u32::MAX - 8000,
        }
    }

    fn record(call: CallKey, record_id: u32, path: &Path) -> MediaCommand {
        MediaCommand::Record {
            call,
            record_id,
            path: path.to_owned(),
            max: Duration::from_secs(60),
            silence: Duration::from_secs(5),
            stop_digits: "#".into(),
        }
    }

    /// `secs` of a 1 kHz tone at −12 dBFS in `law`, and its RMS as the phone sent it.
    fn tone(law: Law, secs: f64) -> (Vec<u8>, f64) {
        let n = (secs * 8000.0) as usize;
        let pcm: Vec<i16> = (0..n)
            .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * i as f64 / 8.0).sin()) as i16)
            .collect();
        let bytes = g711::encode_vec(law, &pcm);
        let mut sent = vec![0i16; n];
        g711::decode(law, &bytes, &mut sent);
        (bytes, rms(&sent))
    }

    fn rms(pcm: &[i16]) -> f64 {
        let sum: f64 = pcm.iter().map(|&s| f64::from(s).powi(2)).sum();
        (sum / pcm.len().max(1) as f64).sqrt()
    }

    /// Waits for the recording's end, returning it and the events seen before it.
    async fn finished(events: &mut Events) -> (Vec<MediaEvent>, MediaEvent) {
        let mut before = Vec::new();
        loop {
            let (_, ev) = tokio::time::timeout(PATIENCE, events.recv())
                .await
                .expect("RecordingFinished in time")
                .unwrap();
            if matches!(ev, MediaEvent::RecordingFinished { .. }) {
                return (before, ev);
            }
            before.push(ev);
        }
    }

    /// Reads a finished recording: checks the format, returns the samples.
    fn read_wav(path: &Path) -> Vec<i16> {
        let mut r = hound::WavReader::open(path).unwrap();
        let spec = r.spec();
        assert_eq!(
            (spec.sample_rate, spec.channels, spec.bits_per_sample),
            (8000, 1, 16)
        );
        assert_eq!(spec.sample_format, SampleFormat::Int);
        r.samples::<i16>().map(Result::unwrap).collect()
    }

    async fn tone_until_hash(codec: Codec, pt: u8, te_pt: u8, law: Law) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vm/box 7/msg.wav"); // directories created on demand
        let (mut plane, mut events) = plane();
        let call = CallKey(7);
        let mut phone = open(&mut plane, call, codec, pt, te_pt);
        plane.handle_command(Instant::now(), record(call, 3, &path));
        let (audio, sent_rms) = tone(law, 2.0);
        phone.audio(&audio).await;
        phone.event(te_pt, 11);
        let (before, ev) = finished(&mut events).await;
        assert!(before.contains(&MediaEvent::Digit {
            digit: '#',
            source: DigitSource::Rfc4733
        }));
        let MediaEvent::RecordingFinished {
            record_id,
            path: got,
            duration,
            ended_by,
            silent,
            error,
        } = ev
        else {
            unreachable!()
        };
        assert_eq!((record_id, &got, error), (3, &path, None));
        assert_eq!((ended_by, silent), (RecordEnd::Digit('#'), false));
        assert!(duration.abs_diff(Duration::from_secs(2)) <= Duration::from_millis(40));
        let pcm = read_wav(&path);
        let file_secs = pcm.len() as f64 / 8000.0;
        assert!((file_secs - 2.0).abs() <= 0.04, "{file_secs} s in the file");
        assert_eq!(duration_of(pcm.len() as u64), duration);
        let db = 20.0 * (rms(&pcm) / sent_rms).log10();
        assert!(db.abs() < 1.0, "level differs by {db:.2} dB");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pcmu_message_ends_on_hash_and_the_wav_holds_what_was_sent() {
        tone_until_hash(Codec::Pcmu, 0, 101, Law::Ulaw).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pcma_message_ends_on_hash_and_the_wav_holds_what_was_sent() {
        tone_until_hash(Codec::Pcma, 8, 96, Law::Alaw).await;
    }

    /// Gives the receive thread time to handle every packet sent so far (loopback
    /// delivery is immediate; the thread only needs to wake).
    async fn settle() {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stop_recording_and_close_still_report_a_complete_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut plane, mut events) = plane();
        let (audio, _) = tone(Law::Ulaw, 1.0);

        // StopRecording (the caller hung up): the event still comes, after the file
        // is complete.
        let (a, path_a) = (CallKey(1), dir.path().join("a.wav"));
        let mut phone = open(&mut plane, a, Codec::Pcmu, 0, 101);
        plane.handle_command(Instant::now(), record(a, 1, &path_a));
        phone.audio(&audio).await;
        settle().await;
        plane.handle_command(Instant::now(), MediaCommand::StopRecording { call: a });
        let (_, ev) = finished(&mut events).await;
        let MediaEvent::RecordingFinished {
            record_id: 1,
            duration,
            ended_by: RecordEnd::Stopped,
            silent: false,
            error: None,
            ..
        } = ev
        else {
            panic!("{ev:?}");
        };
        assert_eq!(duration, Duration::from_secs(1));
        assert_eq!(read_wav(&path_a).len(), 8000);

        // Close while recording: finished and reported too.
        let (b, path_b) = (CallKey(2), dir.path().join("b.wav"));
        let mut phone = open(&mut plane, b, Codec::Pcmu, 0, 101);
        plane.handle_command(Instant::now(), record(b, 2, &path_b));
        phone.audio(&audio[..4000]).await;
        settle().await;
        plane.handle_command(Instant::now(), MediaCommand::Close { call: b });
        let (_, ev) = finished(&mut events).await;
        assert!(
            matches!(
                ev,
                MediaEvent::RecordingFinished {
                    record_id: 2,
                    ended_by: RecordEnd::Stopped,
                    error: None,
                    ..
                }
            ),
            "{ev:?}"
        );
        assert_eq!(read_wav(&path_b).len(), 4000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unwritable_path_or_a_closed_call_reports_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let (mut plane, mut events) = plane();
        let call = CallKey(5);
        let _phone = open(&mut plane, call, Codec::Pcma, 8, 96);
        plane.handle_command(Instant::now(), record(call, 8, &file.join("msg.wav")));
        let (_, ev) = finished(&mut events).await;
        let MediaEvent::RecordingFinished {
            record_id: 8,
            error: Some(e),
            ..
        } = ev
        else {
            panic!("{ev:?}");
        };
        assert!(e.contains("cannot create recording file"), "{e}");
        // The session's own end is not reported a second time.
        plane.handle_command(Instant::now(), MediaCommand::StopRecording { call });
        let more = tokio::time::timeout(Duration::from_millis(300), events.recv()).await;
        assert!(more.is_err(), "{more:?}");

        plane.handle_command(
            Instant::now(),
            record(CallKey(99), 9, &dir.path().join("x.wav")),
        );
        let (_, ev) = finished(&mut events).await;
        assert!(
            matches!(
                ev,
                MediaEvent::RecordingFinished {
                    record_id: 9,
                    error: Some(_),
                    ..
                }
            ),
            "{ev:?}"
        );
    }
}
