//! The media plane: RTP sockets, receive threads shared by all calls and one pacer
//! thread for all calls.
//!
//! Why one pacer thread ([`super::pacer`]): a prompt stream is 50 packets/s per call.
//! A timer per call would cost a task wake-up per packet; instead one thread wakes every
//! [`PACER_TICK`] and sends every frame that is due across all calls. The per-call
//! deadline schedule (`start + n·20 ms`) lives in [`MediaSession`], so the tick only
//! bounds jitter, never drift.
//!
//! Receiving ([`super::receiver`]): a few threads (half the cores, at least one) each
//! wait in one `epoll_wait` over their share of the calls' RTP sockets and read each
//! readable socket dry with one `recvmmsg`. A bridged call's packets are relayed
//! inline, out of the partner leg's socket: one parse, one rewrite into a buffer of the
//! thread's, one `send_to`, no allocation and no channel hop. Each [`Slot`] links to
//! its partner; a thread never holds both session locks (it releases its own before
//! locking the partner's), so the two directions, possibly on two threads, cannot
//! deadlock.
//!
//! Conversation recording (`record = true`): a tap on each bridged leg feeds the
//! call's recording after the packet is relayed ([`super::tap`]).
//!
//! Recording (voicemail): sessions decode and judge the audio on the packet path;
//! whoever holds a session's lock drains its recording outputs into the one writer
//! thread ([`super::recording`]), which owns the files. Draining under the lock keeps
//! each call's outputs in order whichever task produced them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use tokio::sync::mpsc::UnboundedSender;

use crate::call::{CallKey, MediaCommand, MediaEvent, RecordEnd};
use crate::media::latch::LatchConfig;
use crate::media::prompt::PromptSet;
use crate::media::session::MediaSession;

pub use super::pacer::PACER_TICK;
use super::pacer::{PacerMsg, pacer_loop};
use super::receiver::Receivers;
use super::recording::start_writer;
use super::rtp_socket::RtpSocket;
use super::slot::{Sinks, Slot, flush};
use super::tap::{Tap, Taped};
use crate::media::conversation::Party;

/// Handle used by the core loop to run media commands.
pub struct MediaPlane {
    /// The calls with media, for commands from the core task (only it touches this).
    slots: HashMap<CallKey, Arc<Slot>>,
    pacer: std::sync::mpsc::Sender<PacerMsg>,
    bind_ip: IpAddr,
    prompts: Arc<PromptSet>,
    rtp_timeout: Duration,
    latch: LatchConfig,
    sinks: Sinks,
    receivers: Receivers,
    /// Bridged pairs, both ways (`a → b` and `b → a`).
    bridges: HashMap<CallKey, CallKey>,
    /// Conversations being recorded, by the caller's key.
    conversations: HashMap<CallKey, Arc<Taped>>,
    stop: Arc<AtomicBool>,
}

impl MediaPlane {
    pub fn start(
        bind_ip: IpAddr,
        prompts: Arc<PromptSet>,
        rtp_timeout: Duration,
        latch: LatchConfig,
        events: UnboundedSender<(CallKey, MediaEvent)>,
    ) -> std::io::Result<Self> {
        let (pacer, pacer_rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let sinks = Sinks {
            records: start_writer(events.clone())?,
            events,
        };
        let (sinks2, stop2) = (sinks.clone(), stop.clone());
        std::thread::Builder::new()
            .name("rtp-pacer".into())
            .spawn(move || pacer_loop(pacer_rx, sinks2, stop2))?;
        let receivers = Receivers::start(receive_threads(), &sinks)?;
        Ok(Self {
            slots: HashMap::new(),
            pacer,
            bind_ip,
            prompts,
            rtp_timeout,
            latch,
            sinks,
            receivers,
            bridges: HashMap::new(),
            conversations: HashMap::new(),
            stop,
        })
    }

    /// A reload: calls whose media opens from now on play these prompts and use this
    /// RTP timeout; calls in progress keep what they started with.
    pub fn reconfigure(&mut self, prompts: Arc<PromptSet>, rtp_timeout: Duration) {
        self.prompts = prompts;
        self.rtp_timeout = rtp_timeout;
    }

    /// The call's media could not start: the core hears why.
    fn fail(&self, call: CallKey, reason: String) {
        let _ = self
            .sinks
            .events
            .send((call, MediaEvent::Failed { reason }));
    }

    /// Lets go of `call`'s slot: no thread handles its packets or frames any more.
    fn forget(&mut self, call: CallKey) {
        if let Some(slot) = self.slots.remove(&call) {
            slot.closed.store(true, Ordering::Relaxed);
            self.receivers.remove(call, &slot);
            let _ = self.pacer.send(PacerMsg::Remove(call));
        }
    }

    pub fn active(&self) -> usize {
        self.slots.len()
    }

    pub fn handle_command(&mut self, now: Instant, cmd: MediaCommand) {
        match cmd {
            MediaCommand::Open {
                call,
                port,
                params,
                inband_dtmf,
                ssrc,
                seq,
                ts,
            } => {
                let socket = match RtpSocket::bind(SocketAddr::new(self.bind_ip, port)) {
                    Ok(s) => s,
                    Err(e) => return self.fail(call, format!("cannot use RTP port {port}: {e}")),
                };
                let session = MediaSession::new(
                    now,
                    params,
                    self.prompts.clone(),
                    self.rtp_timeout,
                    self.latch,
                    inband_dtmf,
                    ssrc,
                    seq,
                    ts,
                );
                let slot = Arc::new(Slot {
                    session: Mutex::new(session),
                    socket,
                    closed: AtomicBool::new(false),
                    partner: ArcSwapOption::empty(),
                    tap: ArcSwapOption::empty(),
                });
                // Opened again: the old socket is read no more.
                self.forget(call);
                if let Err(e) = self.receivers.add(call, slot.clone()) {
                    return self.fail(call, format!("cannot read RTP port {port}: {e}"));
                }
                self.slots.insert(call, slot.clone());
                let _ = self.pacer.send(PacerMsg::Add(call, slot));
            }
            MediaCommand::Update { call, params } => self.with(call, |s, sinks| {
                s.update(now, params);
                flush(call, s, sinks)
            }),
            MediaCommand::Play {
                call,
                play_id,
                prompts,
                first_key_wait,
            } => self.with(call, |s, sinks| {
                s.play(now, play_id, &prompts, first_key_wait);
                flush(call, s, sinks)
            }),
            MediaCommand::StopPlayback { call } => self.with(call, |s, _| s.stop_playback()),
            MediaCommand::Bridge { a, b } => self.bridge(now, a, b),
            MediaCommand::Unbridge { call } => self.unbridge(now, call),
            MediaCommand::Record {
                call,
                record_id,
                path,
                max,
                silence,
                stop_digits,
            } => {
                if !self.slots.contains_key(&call) {
                    // Nobody would ever answer: say so, or the call waits forever.
                    let ev = MediaEvent::RecordingFinished {
                        record_id,
                        path,
                        duration: Duration::ZERO,
                        ended_by: RecordEnd::Stopped,
                        silent: true,
                        error: Some(format!(
                            "call {call} has no open media to record (open it first)"
                        )),
                    };
                    let _ = self.sinks.events.send((call, ev));
                    return;
                }
                self.with(call, |s, sinks| {
                    s.start_recording(now, record_id, path, max, silence, &stop_digits);
                    flush(call, s, sinks);
                });
            }
            MediaCommand::FeatureCodes {
                call,
                codes,
                timeout,
            } => self.with(call, |s, _| s.set_feature_codes(codes, timeout)),
            MediaCommand::StopRecording { call } => self.with(call, |s, sinks| {
                s.stop_recording(now);
                flush(call, s, sinks);
            }),
            MediaCommand::RecordConversation {
                call,
                record_id,
                path,
                stereo,
            } => self.record_conversation(now, call, record_id, path, stereo),
            MediaCommand::StopConversation { call } => self.stop_conversation(call),
            MediaCommand::Close { call } => {
                self.stop_conversation(call);
                // A recording in progress is finished and reported (its file closed)
                // even though the call is going away.
                self.with(call, |s, sinks| {
                    s.stop_recording(now);
                    flush(call, s, sinks);
                });
                self.unbridge(now, call);
                self.forget(call);
            }
        }
    }

    /// Links two open legs; see [`MediaCommand::Bridge`].
    fn bridge(&mut self, now: Instant, a: CallKey, b: CallKey) {
        if a == b {
            tracing::warn!(call = %a, "not bridging a leg to itself");
            return;
        }
        let (Some(slot_a), Some(slot_b)) =
            (self.slots.get(&a).cloned(), self.slots.get(&b).cloned())
        else {
            tracing::warn!(%a, %b, "cannot bridge: a leg has no open media (open both first)");
            return;
        };
        // A leg bridged elsewhere leaves that bridge first (its old partner goes back
        // to paced frames).
        self.unbridge(now, a);
        self.unbridge(now, b);
        // Sessions first, links second: a packet only crosses once both are in place.
        for slot in [&slot_a, &slot_b] {
            if let Ok(mut s) = slot.session.lock() {
                s.bridge(now);
            }
        }
        slot_a.partner.store(Some(slot_b.clone()));
        slot_b.partner.store(Some(slot_a.clone()));
        self.bridges.insert(a, b);
        self.bridges.insert(b, a);
        // A recorded caller's new partner feeds the right channel.
        for (caller, other) in [(a, &slot_b), (b, &slot_a)] {
            if let Some(taped) = self.conversations.get(&caller) {
                other.tap.store(Some(Arc::new(Tap {
                    party: Party::Manager,
                    taped: taped.clone(),
                })));
            }
        }
        tracing::debug!(%a, %b, "RTP relay started");
    }

    /// Unlinks `call` and its partner, if bridged; both go back to paced frames.
    fn unbridge(&mut self, now: Instant, call: CallKey) {
        let Some(partner) = self.bridges.remove(&call) else {
            return;
        };
        self.bridges.remove(&partner);
        for key in [call, partner] {
            if let Some(slot) = self.slots.get(&key) {
                slot.partner.store(None);
                // A manager's leg stops feeding the caller's recording (the caller's
                // own tap stays for the next bridge).
                if !self.conversations.contains_key(&key) {
                    slot.tap.store(None);
                }
                if let Ok(mut s) = slot.session.lock() {
                    s.unbridge(now);
                }
                let _ = self.pacer.send(PacerMsg::Wake(key));
            }
        }
        tracing::debug!(%call, %partner, "RTP relay stopped");
    }

    /// Starts recording `call`'s conversation; see [`MediaCommand::RecordConversation`].
    fn record_conversation(
        &mut self,
        now: Instant,
        call: CallKey,
        record_id: u32,
        path: std::path::PathBuf,
        stereo: bool,
    ) {
        let Some(slot) = self.slots.get(&call).cloned() else {
            let ev = MediaEvent::RecordingFinished {
                record_id,
                path,
                duration: Duration::ZERO,
                ended_by: RecordEnd::Stopped,
                silent: true,
                error: Some(format!("call {call} has no open media to record")),
            };
            let _ = self.sinks.events.send((call, ev));
            return;
        };
        self.stop_conversation(call);
        let taped = Arc::new(Taped::start(
            now,
            call,
            record_id,
            path,
            stereo,
            self.sinks.records.clone(),
        ));
        slot.tap.store(Some(Arc::new(Tap {
            party: Party::Caller,
            taped: taped.clone(),
        })));
        if let Some(partner) = self.bridges.get(&call).and_then(|p| self.slots.get(p)) {
            partner.tap.store(Some(Arc::new(Tap {
                party: Party::Manager,
                taped: taped.clone(),
            })));
        }
        self.conversations.insert(call, taped);
    }

    /// Finishes `call`'s conversation recording, if any: its legs stop feeding it and
    /// the writer closes the file.
    fn stop_conversation(&mut self, call: CallKey) {
        let Some(taped) = self.conversations.remove(&call) else {
            return;
        };
        for key in std::iter::once(call).chain(self.bridges.get(&call).copied()) {
            if let Some(slot) = self.slots.get(&key) {
                slot.tap.store(None);
            }
        }
        taped.finish();
    }

    fn with(&self, call: CallKey, f: impl FnOnce(&mut MediaSession, &Sinks)) {
        if let Some(slot) = self.slots.get(&call)
            && let Ok(mut s) = slot.session.lock()
        {
            f(&mut s, &self.sinks);
        }
    }

    /// Our RTP address for `call`, if its media is open.
    #[must_use]
    pub fn local_addr(&self, call: CallKey) -> Option<SocketAddr> {
        self.slots.get(&call)?.socket.local_addr().ok()
    }
}

impl Drop for MediaPlane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Break the partner reference cycles of calls still bridged.
        for slot in self.slots.values() {
            slot.partner.store(None);
        }
    }
}

/// Receive threads: half the cores, at least one. The runtime's workers (one per core)
/// handle signalling and the pacer has a thread of its own; on a 2-core machine one
/// receive thread relays 1,000 bridged calls in about 80 % of a core
/// (`docs/performance.md`).
fn receive_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

#[cfg(test)]
#[path = "media_tests.rs"]
mod tests;
