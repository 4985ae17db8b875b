//! The media plane: RTP sockets, a receive task per call and one pacer thread for all
//! calls.
//!
//! Why one pacer thread ([`super::pacer`]): a prompt stream is 50 packets/s per call.
//! A timer per call would cost a task wake-up per packet; instead one thread wakes every
//! [`PACER_TICK`] and sends every frame that is due across all calls. The per-call
//! deadline schedule (`start + n·20 ms`) lives in [`MediaSession`], so the tick only
//! bounds jitter, never drift.
//!
//! The relay (a bridged call): each leg's receive task relays what it receives out of
//! the partner leg's socket, inline: one `recv_from`, one parse, one rewrite into a
//! stack buffer, one `send_to`, no allocation and no channel hop. Each [`Slot`] links
//! to its partner; the two directions run concurrently on the two legs' tasks, so a
//! task never holds both session locks (it releases its own before locking the
//! partner's), which rules out a lock-order deadlock.
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
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;

use crate::call::{CallKey, MediaCommand, MediaEvent, RecordEnd};
use crate::media::latch::LatchConfig;
use crate::media::prompt::PromptSet;
use crate::media::session::{Forward, MediaSession};

pub use super::pacer::PACER_TICK;
use super::pacer::{PacerMsg, pacer_loop};
use super::recording::start_writer;
use super::slot::{
    RTP_FOREIGN, RTP_LATE, RTP_LOST, RTP_RECEIVED, RTP_RELATCHED, RTP_RELAYED, SRTP_AUTH,
    SRTP_MALFORMED, SRTP_REPLAY, Sinks, Slot, flush, relay_digits,
};
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
    recv_tasks: HashMap<CallKey, tokio::task::JoinHandle<()>>,
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
        Ok(Self {
            slots: HashMap::new(),
            pacer,
            bind_ip,
            prompts,
            rtp_timeout,
            latch,
            sinks,
            recv_tasks: HashMap::new(),
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

    pub fn active(&self) -> usize {
        self.recv_tasks.len()
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
                let socket = match bind_rtp(SocketAddr::new(self.bind_ip, port)) {
                    Ok(s) => s,
                    Err(e) => {
                        let reason = format!("cannot use RTP port {port}: {e}");
                        let _ = self
                            .sinks
                            .events
                            .send((call, MediaEvent::Failed { reason }));
                        return;
                    }
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
                // Register for readability only: the pacer's sends free socket buffer
                // space 50 times a second per call, and with write interest every one of
                // those would wake the runtime for nothing.
                let recv_socket = match socket.try_clone().and_then(register_readable) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = self.sinks.events.send((
                            call,
                            MediaEvent::Failed {
                                reason: e.to_string(),
                            },
                        ));
                        return;
                    }
                };
                let slot = Arc::new(Slot {
                    session: Mutex::new(session),
                    socket,
                    closed: AtomicBool::new(false),
                    partner: ArcSwapOption::empty(),
                    tap: ArcSwapOption::empty(),
                });
                self.slots.insert(call, slot.clone());
                let _ = self.pacer.send(PacerMsg::Add(call, slot.clone()));
                let sinks = self.sinks.clone();
                let task = tokio::spawn(recv_loop(call, slot, recv_socket, sinks));
                self.recv_tasks.insert(call, task);
            }
            MediaCommand::Update { call, params } => self.with(call, |s, sinks| {
                s.update(now, params);
                flush(call, s, sinks)
            }),
            MediaCommand::Play {
                call,
                play_id,
                prompts,
            } => self.with(call, |s, sinks| {
                s.play(play_id, &prompts);
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
                if let Some(slot) = self.slots.remove(&call) {
                    slot.closed.store(true, Ordering::Relaxed);
                    let _ = self.pacer.send(PacerMsg::Remove(call));
                }
                if let Some(task) = self.recv_tasks.remove(&call) {
                    task.abort();
                }
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

/// Register a socket with the runtime for readability only.
fn register_readable(socket: std::net::UdpSocket) -> std::io::Result<AsyncFd<std::net::UdpSocket>> {
    // SAFETY: a std UdpSocket owns its file descriptor and keeps it open, unchanged,
    // until it is dropped, which is exactly what the AsyncFd contract asks for.
    unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(std::io::Error::from)
}

fn bind_rtp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(addr)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Packet buffers of one runtime thread. A receive task uses them only between two
/// awaits (receive, handle, relay, all synchronous), so the tasks sharing a thread
/// never use them at once; kept per thread rather than in each task's future, they cost
/// 4 KiB per worker instead of 4 KiB per RTP socket (8 KiB per bridged call).
struct Scratch {
    buf: [u8; 2048],
    /// Relayed packets are at most as long as received ones (the header shrinks to 12
    /// bytes, G.711 transcoding keeps the length), plus an SRTP tag when the partner
    /// leg encrypts.
    out: [u8; 2048 + 64],
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = const {
        std::cell::RefCell::new(Scratch { buf: [0; 2048], out: [0; 2048 + 64] })
    };
}

/// What the receive task does after one readiness event.
enum Next {
    Wait,
    Stop,
}

async fn recv_loop(
    call: CallKey,
    slot: Arc<Slot>,
    socket: AsyncFd<std::net::UdpSocket>,
    sinks: Sinks,
) {
    loop {
        let Ok(mut ready) = socket.readable().await else {
            return;
        };
        let next = SCRATCH.with(|scratch| {
            // Never contended (see `Scratch`); a failed borrow would only mean a
            // re-entrant call, and drops this wake-up rather than panicking.
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                return Next::Wait;
            };
            let Scratch { buf, out } = &mut *scratch;
            let (n, from) = match ready.try_io(|s| s.get_ref().recv_from(buf)) {
                Ok(Ok(got)) => got,
                Ok(Err(_)) => return Next::Wait, // e.g. ICMP port unreachable as an error
                Err(_would_block) => return Next::Wait,
            };
            if slot.closed.load(Ordering::Relaxed) {
                return Next::Stop;
            }
            if let Some(packet) = buf.get_mut(..n) {
                handle_packet(call, &slot, &sinks, from, packet, out);
            }
            Next::Wait
        });
        if let Next::Stop = next {
            return;
        }
    }
}

/// One received packet: through the session (latching, SRTP, DTMF, recording), then
/// relayed to the partner leg while bridged.
fn handle_packet(
    call: CallKey,
    slot: &Slot,
    sinks: &Sinks,
    from: SocketAddr,
    packet: &mut [u8],
    out: &mut [u8],
) {
    RTP_RECEIVED.fetch_add(1, Ordering::Relaxed);
    let (forward, released) = match slot.session.lock() {
        Ok(mut s) => {
            let forward = s.handle_rtp(Instant::now(), from, packet);
            let (late, lost) = s.take_rx_stats();
            if late + lost > 0 {
                RTP_LATE.fetch_add(late, Ordering::Relaxed);
                RTP_LOST.fetch_add(lost, Ordering::Relaxed);
            }
            let (foreign, relatched) = s.take_latch_stats();
            if foreign + relatched > 0 {
                RTP_FOREIGN.fetch_add(foreign, Ordering::Relaxed);
                RTP_RELATCHED.fetch_add(relatched, Ordering::Relaxed);
            }
            let srtp = s.take_srtp_drops();
            if srtp.total() > 0 {
                SRTP_AUTH.fetch_add(srtp.auth, Ordering::Relaxed);
                SRTP_REPLAY.fetch_add(srtp.replay, Ordering::Relaxed);
                SRTP_MALFORMED.fetch_add(srtp.malformed, Ordering::Relaxed);
            }
            flush(call, &mut s, sinks);
            // Empty (no allocation) unless the feature gate released digits.
            let released: Vec<char> = std::iter::from_fn(|| s.poll_released_digit()).collect();
            (forward, released)
        }
        Err(_) => (None, Vec::new()),
    };
    // Our session lock is released here: the partner's task may be relaying the
    // other way and holding its own lock while it waits for ours. Released digits
    // go first: they were pressed before this packet.
    if !released.is_empty() {
        relay_digits(slot, &released, out);
    }
    if let Some(forward) = forward {
        relay(slot, &forward, out);
        // Recording comes after the send: it never delays the relay.
        if let Some(tap) = slot.tap.load().as_deref() {
            tap.feed(&forward, Instant::now());
        }
    }
}

/// Sends `forward` out of the partner leg, if there is one.
fn relay(slot: &Slot, forward: &Forward<'_>, out: &mut [u8]) {
    let partner = slot.partner.load();
    let Some(partner) = partner.as_deref() else {
        return; // unbridged while this packet was in flight
    };
    if partner.closed.load(Ordering::Relaxed) {
        return;
    }
    let rewritten = match partner.session.lock() {
        Ok(mut s) => s.relay_out(forward, out),
        Err(_) => None,
    };
    if let Some((dest, len)) = rewritten
        && let Some(pkt) = out.get(..len)
        // As in the pacer: a full socket buffer drops the packet rather than waiting.
        && partner.socket.send_to(pkt, dest).is_ok()
    {
        RTP_RELAYED.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
#[path = "media_tests.rs"]
mod tests;
