//! The conversation recording tap on the relay path (`record = true`).
//!
//! A recorded call's two legs each carry a [`Tap`]: the caller's leg feeds the left
//! channel, the leg it is bridged to the right. A leg's receive thread feeds its tap
//! **after** it has sent the relayed packet out of the partner leg, so recording never
//! delays the relay: the work added per packet is a G.711 decode (a table lookup per
//! sample) and a copy under the recording's own lock, which only the receive threads
//! reading the call's two legs take. Chunks (one a second) go to the writer thread (`super::recording`),
//! which owns the file, as voicemail does.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use crate::call::{CallKey, RecordEnd};
use crate::media::conversation::{Conversation, Party};
use crate::media::recorder::{RecordOutput, RecordResult};
use crate::media::relay::PayloadKind;
use crate::media::session::Forward;

use super::recording::RecordSink;

/// One call's conversation recording, shared by the taps of its legs.
pub struct Taped {
    /// The caller's key: the writer files the recording under it.
    call: CallKey,
    record_id: u32,
    path: PathBuf,
    conversation: Mutex<Conversation>,
    sink: RecordSink,
}

/// What a leg's receive thread feeds: its party's channel of a recording.
pub struct Tap {
    pub party: Party,
    pub taped: std::sync::Arc<Taped>,
}

impl Taped {
    /// Starts the file (through the writer) and the recording at `now`.
    pub fn start(
        now: Instant,
        call: CallKey,
        record_id: u32,
        path: PathBuf,
        stereo: bool,
        sink: RecordSink,
    ) -> Taped {
        let conversation = Conversation::new(now, stereo);
        let _ = sink.send((
            call,
            RecordOutput::StartConversation {
                record_id,
                path: path.clone(),
                channels: conversation.channels(),
            },
        ));
        Taped {
            call,
            record_id,
            path,
            conversation: Mutex::new(conversation),
            sink,
        }
    }

    /// Ends the recording: the rest of the audio, then the end, go to the writer
    /// (which reports `RecordingFinished` once the file is closed).
    pub fn finish(&self) {
        let Ok(mut c) = self.conversation.lock() else {
            return;
        };
        if c.is_finished() {
            return;
        }
        c.finish();
        self.drain(&mut c);
        let _ = self.sink.send((
            self.call,
            RecordOutput::End {
                record_id: self.record_id,
                path: self.path.clone(),
                result: RecordResult {
                    duration: c.duration(),
                    ended_by: RecordEnd::Stopped,
                    silent: false,
                },
            },
        ));
    }

    fn drain(&self, c: &mut Conversation) {
        while let Some(samples) = c.poll_chunk() {
            let _ = self.sink.send((
                self.call,
                RecordOutput::Audio {
                    record_id: self.record_id,
                    samples,
                },
            ));
        }
    }
}

impl Tap {
    /// A packet this leg just relayed: its audio goes into the party's channel.
    pub fn feed(&self, forward: &Forward<'_>, now: Instant) {
        if forward.src.classify(forward.rtp.payload_type) != Some(PayloadKind::Audio) {
            return;
        }
        let mut pcm = [0i16; 1024];
        let payload = forward.rtp.payload;
        let payload = payload.get(..pcm.len()).unwrap_or(payload);
        let n = crate::media::g711::decode(forward.src.law, payload, &mut pcm);
        let Ok(mut c) = self.taped.conversation.lock() else {
            return;
        };
        c.handle_audio(
            self.party,
            now,
            forward.rtp.ssrc,
            forward.rtp.timestamp,
            pcm.get(..n).unwrap_or_default(),
        );
        self.taped.drain(&mut c);
    }
}
