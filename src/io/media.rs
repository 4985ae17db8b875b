//! The media plane: RTP sockets, a receive task per call and one pacer thread for all
//! calls.
//!
//! Why one pacer thread: a prompt stream is 50 packets/s per call. A timer per call
//! would cost a task wake-up per packet; instead one thread wakes every
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

use super::recording::{RecordSink, start_writer};
use super::tap::{Tap, Taped};
use crate::media::conversation::Party;

/// How often the pacer wakes. 5 ms keeps jitter well inside any jitter buffer while
/// costing 200 wake-ups/s in total, whatever the number of calls.
pub const PACER_TICK: Duration = Duration::from_millis(5);

/// RTP packets received since the pacer last reported to the metrics registry:
/// counted per packet with one relaxed atomic, published once per tick.
static RTP_RECEIVED: AtomicU64 = AtomicU64::new(0);
/// Incoming packets that arrived out of order / never arrived (sequence gaps).
static RTP_LATE: AtomicU64 = AtomicU64::new(0);
static RTP_LOST: AtomicU64 = AtomicU64::new(0);
/// RTP packets relayed (sent out of a partner leg's socket) since the pacer last
/// reported; published as sent packets.
static RTP_RELAYED: AtomicU64 = AtomicU64::new(0);
/// Packets dropped because they came from someone other than the call's peer, and
/// streams that followed their peer to a new address (strict latching,
/// [`crate::media::latch`]).
static RTP_FOREIGN: AtomicU64 = AtomicU64::new(0);
static RTP_RELATCHED: AtomicU64 = AtomicU64::new(0);
/// SRTP packets dropped by the legs: failed authentication (tampered, or another key),
/// replayed, not SRTP at all. Summarised in the log like foreign packets.
static SRTP_AUTH: AtomicU64 = AtomicU64::new(0);
static SRTP_REPLAY: AtomicU64 = AtomicU64::new(0);
static SRTP_MALFORMED: AtomicU64 = AtomicU64::new(0);
/// How often foreign packets are summarised in the log (one WARN line, never one per
/// packet: a port sweep is thousands).
const FOREIGN_SUMMARY: Duration = Duration::from_secs(10);

struct Slot {
    session: Mutex<MediaSession>,
    socket: std::net::UdpSocket,
    closed: AtomicBool,
    /// The leg we relay to while bridged. Read lock-free once per received packet;
    /// written only by the core task (Bridge/Unbridge/Close), which also clears it
    /// on both legs so the reference cycle never outlives the bridge.
    partner: ArcSwapOption<Slot>,
    /// The conversation recording this leg feeds while bridged (`record = true`);
    /// read once per relayed packet, written only by the core task.
    tap: ArcSwapOption<Tap>,
}

/// What the core task tells the pacer thread.
enum PacerMsg {
    Add(CallKey, Arc<Slot>),
    Remove(CallKey),
    /// The session's deadline moved earlier (it left bridged mode): visit it now
    /// rather than at the cached, up to a second away, deadline.
    Wake(CallKey),
}

/// Where a session's outputs go: events to the core task, recording work to the
/// writer thread.
#[derive(Clone)]
struct Sinks {
    events: UnboundedSender<(CallKey, MediaEvent)>,
    records: RecordSink,
}

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

/// Sends what the session has for the core and the recording writer. Called with the
/// session locked, so each call's outputs leave in the order they were produced.
/// Events go first: a stop digit reaches the core before the writer (on another
/// thread) can report the recording it ended.
fn flush(call: CallKey, s: &mut MediaSession, sinks: &Sinks) {
    while let Some(ev) = s.poll_event() {
        let _ = sinks.events.send((call, ev));
    }
    while let Some(out) = s.poll_record() {
        let _ = sinks.records.send((call, out));
    }
}

async fn recv_loop(
    call: CallKey,
    slot: Arc<Slot>,
    socket: AsyncFd<std::net::UdpSocket>,
    sinks: Sinks,
) {
    let mut buf = [0u8; 2048];
    // Relayed packets are at most as long as received ones (the header shrinks to 12
    // bytes, G.711 transcoding keeps the length), plus an SRTP tag when the partner
    // leg encrypts.
    let mut out = [0u8; 2048 + 64];
    loop {
        let Ok(mut ready) = socket.readable().await else {
            return;
        };
        let (n, from) = match ready.try_io(|s| s.get_ref().recv_from(&mut buf)) {
            Ok(Ok(got)) => got,
            Ok(Err(_)) => continue, // e.g. ICMP port unreachable surfacing as an error
            Err(_would_block) => continue,
        };
        if slot.closed.load(Ordering::Relaxed) {
            return;
        }
        RTP_RECEIVED.fetch_add(1, Ordering::Relaxed);
        let Some(packet) = buf.get_mut(..n) else {
            continue;
        };
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
                flush(call, &mut s, &sinks);
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
            relay_digits(&slot, &released, &mut out);
        }
        if let Some(forward) = forward {
            relay(&slot, &forward, &mut out);
            // Recording comes after the send: it never delays the relay.
            if let Some(tap) = slot.tap.load().as_deref() {
                tap.feed(&forward, Instant::now());
            }
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

/// Regenerates `digits` (released by `slot`'s feature gate) out of the partner leg:
/// per digit a start packet and three end packets (RFC 4733 §2.5.1.4).
fn relay_digits(slot: &Slot, digits: &[char], out: &mut [u8]) {
    let partner = slot.partner.load();
    let Some(partner) = partner.as_deref() else {
        return;
    };
    if partner.closed.load(Ordering::Relaxed) {
        return;
    }
    let Ok(mut s) = partner.session.lock() else {
        return;
    };
    for &digit in digits {
        for end in [false, true, true, true] {
            if let Some((dest, len)) = s.relay_digit(digit, end, out)
                && let Some(pkt) = out.get(..len)
                && partner.socket.send_to(pkt, dest).is_ok()
            {
                RTP_RELAYED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// One call in the pacer's list: its next deadline is cached here so a tick only
/// locks the sessions that are actually due (a quarter of them at a 5 ms tick).
struct Paced {
    due: Instant,
    call: CallKey,
    slot: Arc<Slot>,
}

fn pacer_loop(inbox: std::sync::mpsc::Receiver<PacerMsg>, sinks: Sinks, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 1500];
    let mut list: Vec<Paced> = Vec::new();
    let mut next_tick = Instant::now();
    let mut foreign_window = (0u64, next_tick + FOREIGN_SUMMARY);
    let mut srtp_window = [0u64; 3];
    while !stop.load(Ordering::Relaxed) {
        next_tick += PACER_TICK;
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        } else if now - next_tick > Duration::from_millis(100) {
            next_tick = now; // we were descheduled for long: don't spin to catch up
        }
        while let Ok(msg) = inbox.try_recv() {
            match msg {
                PacerMsg::Add(call, slot) => list.push(Paced {
                    due: now,
                    call,
                    slot,
                }),
                PacerMsg::Remove(call) => {
                    if let Some(i) = list.iter().position(|p| p.call == call) {
                        list.swap_remove(i);
                    }
                }
                PacerMsg::Wake(call) => {
                    if let Some(p) = list.iter_mut().find(|p| p.call == call) {
                        p.due = now;
                    }
                }
            }
        }
        // Send everything due within half a tick, so frames are on average on time.
        let horizon = Instant::now() + PACER_TICK / 2;
        let mut sent = 0u64;
        for p in list.iter_mut().filter(|p| p.due <= horizon) {
            let Ok(mut s) = p.slot.session.lock() else {
                continue;
            };
            while let Some((dest, len)) = s.poll_transmit(horizon, &mut buf) {
                if let Some(pkt) = buf.get(..len) {
                    // A full socket buffer drops this frame; RTP tolerates loss, and
                    // blocking here would delay every other call.
                    if p.slot.socket.send_to(pkt, dest).is_ok() {
                        sent += 1;
                    }
                }
            }
            p.due = s.next_deadline();
            flush(p.call, &mut s, &sinks);
            // Held digits whose time ran out: to the partner, with our lock released.
            let released: Vec<char> = std::iter::from_fn(|| s.poll_released_digit()).collect();
            drop(s);
            if !released.is_empty() {
                relay_digits(&p.slot, &released, &mut buf);
            }
        }
        sent += RTP_RELAYED.swap(0, Ordering::Relaxed);
        let received = RTP_RECEIVED.swap(0, Ordering::Relaxed);
        let late = RTP_LATE.swap(0, Ordering::Relaxed);
        let lost = RTP_LOST.swap(0, Ordering::Relaxed);
        if sent > 0 || received > 0 || late > 0 || lost > 0 {
            crate::admin::metrics::add_rtp_packets(sent, received, late, lost);
        }
        let foreign = RTP_FOREIGN.swap(0, Ordering::Relaxed);
        let relatched = RTP_RELATCHED.swap(0, Ordering::Relaxed);
        if foreign > 0 || relatched > 0 {
            crate::admin::metrics::add_rtp_latch(foreign, relatched);
        }
        foreign_window.0 += foreign;
        let srtp = [
            SRTP_AUTH.swap(0, Ordering::Relaxed),
            SRTP_REPLAY.swap(0, Ordering::Relaxed),
            SRTP_MALFORMED.swap(0, Ordering::Relaxed),
        ];
        if srtp.iter().any(|n| *n > 0) {
            crate::admin::metrics::add_srtp_dropped(srtp[0], srtp[1], srtp[2]);
            for (w, n) in srtp_window.iter_mut().zip(srtp) {
                *w += n;
            }
        }
        if now >= foreign_window.1 {
            if srtp_window.iter().any(|n| *n > 0) {
                let [auth, replay, malformed] = srtp_window;
                tracing::warn!(
                    auth,
                    replay,
                    malformed,
                    "dropped {} SRTP packets in the last {}s: failed authentication (tampered \
                     with, or sent with another key), replayed, or not SRTP",
                    auth + replay + malformed,
                    FOREIGN_SUMMARY.as_secs()
                );
                srtp_window = [0; 3];
            }
            if foreign_window.0 > 0 {
                tracing::warn!(
                    "dropped {} RTP packets in the last {}s from addresses that are not \
                     the calls' peers (strict latching: injected or stray media)",
                    foreign_window.0,
                    FOREIGN_SUMMARY.as_secs()
                );
            }
            foreign_window = (0, now + FOREIGN_SUMMARY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{DigitSource, MediaParams};
    use crate::media::rtp::{RtpSender, parse_rtp};
    use crate::sdp::Codec;
    use std::net::UdpSocket;
    use tokio::sync::mpsc::UnboundedReceiver;

    /// Generous: CI machines are slow, but a passing run returns as soon as it can.
    const PATIENCE: Duration = Duration::from_secs(2);

    /// A decoded packet as a peer received it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Got {
        pt: u8,
        marker: bool,
        seq: u16,
        ts: u32,
        ssrc: u32,
        payload: Vec<u8>,
    }

    struct Leg {
        call: CallKey,
        /// Our RTP port for this leg.
        port: SocketAddr,
        /// The phone at the other end.
        peer: UdpSocket,
        /// The phone's own outgoing stream.
        stream: RtpSender,
    }

    impl Leg {
        fn send(&mut self, payload: &[u8]) {
            let mut buf = [0u8; 400];
            let n = self.stream.write_packet(payload, 160, &mut buf).unwrap();
            self.peer.send_to(&buf[..n], self.port).unwrap();
        }

        fn send_event(&mut self, pt: u8, event: [u8; 4]) {
            let (old_pt, mut buf) = (self.stream.pt, [0u8; 64]);
            self.stream.pt = pt;
            let n = self.stream.write_packet(&event, 0, &mut buf).unwrap();
            self.stream.pt = old_pt;
            self.peer.send_to(&buf[..n], self.port).unwrap();
        }

        /// Reads packets until one matches `want`; returns everything read before it
        /// and the match.
        fn recv_until(&self, want: impl Fn(&Got) -> bool) -> (Vec<Got>, Got) {
            let deadline = Instant::now() + PATIENCE;
            let mut before = Vec::new();
            let mut buf = [0u8; 2048];
            while Instant::now() < deadline {
                let Ok(n) = self.peer.recv(&mut buf) else {
                    continue; // read timeout: poll again until the deadline
                };
                let v = parse_rtp(&buf[..n]).unwrap();
                let got = Got {
                    pt: v.payload_type,
                    marker: v.marker,
                    seq: v.seq,
                    ts: v.timestamp,
                    ssrc: v.ssrc,
                    payload: v.payload.to_vec(),
                };
                if want(&got) {
                    return (before, got);
                }
                before.push(got);
            }
            panic!("no matching packet within {PATIENCE:?}; got {before:?}");
        }

        /// Drops whatever has arrived so far.
        fn drain(&self) {
            self.peer.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 2048];
            while self.peer.recv(&mut buf).is_ok() {}
            self.peer.set_nonblocking(false).unwrap();
        }
    }

    fn plane() -> (MediaPlane, UnboundedReceiver<(CallKey, MediaEvent)>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let plane = MediaPlane::start(
            ip,
            Arc::new(PromptSet::new()),
            Duration::ZERO,
            LatchConfig::default(),
            tx,
        )
        .unwrap();
        (plane, rx)
    }

    /// Opens a leg on an ephemeral port of ours, towards a fresh loopback peer.
    fn open(plane: &mut MediaPlane, call: u64, codec: Codec, te_pt: Option<u8>) -> Leg {
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let call = CallKey(call);
        let pt = match codec {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        };
        let params = MediaParams {
            remote: Some(peer.local_addr().unwrap()),
            codec,
            pt,
            te_pt,
            hold: false,
            srtp: None,
        };
        let ssrc = 0x1000 + u32::try_from(call.0).unwrap();
        plane.handle_command(
            Instant::now(),
            MediaCommand::Open {
                call,
                port: 0,
                params,
                inband_dtmf: false,
                ssrc,
                seq: 65_000, // wraps during the test
                ts: u32::MAX - 1000,
            },
        );
        let port = plane.slots[&call].socket.local_addr().unwrap();
        // The phone's stream: its own SSRC, sequence and timestamp.
        let stream = RtpSender::new(0xF000 + ssrc, 30_000, 1_000_000, pt);
        Leg {
            call,
            port,
            peer,
            stream,
        }
    }

    fn ours(leg: &Leg) -> u32 {
        0x1000 + u32::try_from(leg.call.0).unwrap()
    }

    /// A recognisable μ-law payload and its A-law transcoding (G.711 tables 3/4).
    const ULAW: [u8; 4] = [0x00, 0x80, 0xFF, 0x7F];
    const ALAW: [u8; 4] = [0x2A, 0xAA, 0xD5, 0x55];

    fn pattern(bytes: [u8; 4]) -> Vec<u8> {
        bytes.iter().copied().cycle().take(160).collect()
    }

    async fn next_event(
        rx: &mut UnboundedReceiver<(CallKey, MediaEvent)>,
    ) -> (CallKey, MediaEvent) {
        tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bridge_transcodes_both_ways_and_unbridge_resumes_paced_frames() {
        let (mut plane, mut events) = plane();
        let mut a = open(&mut plane, 1, Codec::Pcmu, Some(101));
        let mut b = open(&mut plane, 2, Codec::Pcma, Some(96));
        // Both phones hear our comfort silence first.
        let (_, silence) = b.recv_until(|g| g.ssrc == ours(&b) && g.pt == 8);
        a.recv_until(|g| g.ssrc == ours(&a) && g.pt == 0);

        plane.handle_command(
            Instant::now(),
            MediaCommand::Bridge {
                a: a.call,
                b: b.call,
            },
        );
        for _ in 0..5 {
            a.send(&pattern(ULAW));
        }
        let relayed = pattern(ALAW);
        let (paced, first) = b.recv_until(|g| g.payload == relayed);
        let last_paced = paced.last().unwrap_or(&silence);
        assert!(paced.iter().all(|g| g.payload.iter().all(|&x| x == 0xD5)));
        assert_eq!((first.ssrc, first.pt), (ours(&b), 8), "B's own SSRC and PT");
        assert_eq!(
            first.seq,
            last_paced.seq.wrapping_add(1),
            "sequence continues"
        );
        assert_eq!(
            first.ts,
            last_paced.ts.wrapping_add(160),
            "timestamp continues"
        );
        assert!(first.marker);
        let mut seq = first.seq;
        for _ in 1..5 {
            let (between, g) = b.recv_until(|g| g.payload == relayed);
            assert!(
                between.is_empty(),
                "no paced frames while bridged: {between:?}"
            );
            seq = seq.wrapping_add(1);
            assert_eq!((g.seq, g.ssrc, g.marker), (seq, ours(&b), false));
        }

        // The other way, with a digit: reported to the call layer and forwarded with
        // A's telephone-event payload type.
        b.send(&pattern(ALAW));
        b.send_event(96, [5, 0x8A, 0x03, 0x20]);
        // A→μ: G.711 keeps bits 1-7, so the two zeros come back as ±1 step (0xFE, 0x7E).
        let (_, g) = a.recv_until(|g| g.pt == 0 && g.payload == pattern([0x00, 0x80, 0xFE, 0x7E]));
        assert_eq!(g.ssrc, ours(&a));
        let (_, ev) = a.recv_until(|g| g.pt == 101);
        assert_eq!(ev.payload, vec![5, 0x8A, 0x03, 0x20]);
        assert_eq!(ev.seq, g.seq.wrapping_add(1));
        let (call, event) = next_event(&mut events).await;
        assert_eq!(call, b.call);
        assert_eq!(
            event,
            MediaEvent::Digit {
                digit: '5',
                source: DigitSource::Rfc4733
            }
        );

        // Unbridge: B's phone hears paced silence again, continuing the relayed stream,
        // and what A's phone sends no longer reaches it.
        plane.handle_command(Instant::now(), MediaCommand::Unbridge { call: a.call });
        b.drain();
        a.send(&pattern(ULAW));
        let (_, resumed) = b.recv_until(|g| g.payload.iter().all(|&x| x == 0xD5));
        assert_eq!(resumed.ssrc, ours(&b));
        assert!(
            resumed.seq.wrapping_sub(seq) >= 1 && resumed.seq.wrapping_sub(seq) < 100,
            "paced frames continue the stream: {} after {seq}",
            resumed.seq
        );
        for _ in 0..5 {
            let (before, _) = b.recv_until(|g| g.payload.iter().all(|&x| x == 0xD5));
            assert!(before.is_empty(), "relay stopped, got {before:?}");
        }
    }

    /// Issue 11 item 1, on real sockets: a stranger on 127.0.0.2 streaming a well
    /// formed stream gets nothing and is counted; the peer moving to a new address
    /// (NAT rebinding) with the same SSRC and sequence is followed once its old address
    /// has been silent for `relatch_after`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn strangers_get_nothing_and_a_rebound_peer_is_followed() {
        let (tx, _events) = tokio::sync::mpsc::unbounded_channel();
        let mut plane = MediaPlane::start(
            "127.0.0.1".parse().unwrap(),
            Arc::new(PromptSet::new()),
            Duration::ZERO,
            LatchConfig {
                relatch_after: Duration::from_millis(300),
                ..LatchConfig::default()
            },
            tx,
        )
        .unwrap();
        let mut leg = open(&mut plane, 9, Codec::Pcmu, Some(101));
        leg.send(&pattern(ULAW));
        leg.recv_until(|g| g.ssrc == ours(&leg));

        let evil = UdpSocket::bind("127.0.0.2:0").unwrap();
        evil.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut evil_stream = RtpSender::new(0xBAD, 1, 1, 0);
        let mut buf = [0u8; 400];
        for _ in 0..50 {
            let n = evil_stream
                .write_packet(&pattern(ULAW), 160, &mut buf)
                .unwrap();
            evil.send_to(&buf[..n], leg.port).unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            assert!(
                evil.recv(&mut buf).is_err(),
                "the stranger received our stream"
            );
        }
        // The stream still goes to the peer.
        leg.drain();
        leg.recv_until(|g| g.ssrc == ours(&leg));

        // The phone's NAT mapping changes: same stream, new address. Dropped until the
        // old address has been silent for 300 ms, then followed.
        let moved = UdpSocket::bind("127.0.0.3:0").unwrap();
        moved
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        for _ in 0..5 {
            leg.send(&pattern(ULAW));
            std::thread::sleep(Duration::from_millis(20));
        }
        let start = Instant::now();
        let mut followed = None;
        while start.elapsed() < PATIENCE * 2 {
            let n = leg
                .stream
                .write_packet(&pattern(ULAW), 160, &mut buf)
                .unwrap();
            moved.send_to(&buf[..n], leg.port).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let mut got = [0u8; 400];
            if let Ok(n) = moved.recv(&mut got) {
                let v = parse_rtp(&got[..n]).unwrap();
                assert_eq!(v.ssrc, ours(&leg));
                followed = Some(start.elapsed());
                break;
            }
        }
        let after = followed.expect("the rebound peer never received our stream");
        assert!(
            after >= Duration::from_millis(250),
            "re-latched after {after:?}, before the old address was silent for 300 ms"
        );
        // And the stranger, with the wrong SSRC, still gets nothing.
        for _ in 0..20 {
            let n = evil_stream
                .write_packet(&pattern(ULAW), 160, &mut buf)
                .unwrap();
            evil.send_to(&buf[..n], leg.port).unwrap();
        }
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            assert!(
                evil.recv(&mut buf).is_err(),
                "the stranger received our stream"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_law_is_byte_identical_and_close_unlinks_the_partner() {
        let (mut plane, _events) = plane();
        let mut a = open(&mut plane, 3, Codec::Pcmu, None);
        let b = open(&mut plane, 4, Codec::Pcmu, Some(101));
        b.recv_until(|g| g.ssrc == ours(&b));
        plane.handle_command(
            Instant::now(),
            MediaCommand::Bridge {
                a: a.call,
                b: b.call,
            },
        );
        let payload: Vec<u8> = (0..160u8).map(|i| i.wrapping_mul(37)).collect();
        a.send(&payload);
        a.send(&[0x40]); // comfort noise would be PT 13: check a wrong PT is dropped
        a.stream.pt = 13;
        a.send(&[0x40]);
        a.stream.pt = 0;
        a.send(&payload);
        let (_, g) = b.recv_until(|g| g.payload == payload);
        assert_eq!((g.ssrc, g.pt), (ours(&b), 0));
        let (between, g2) = b.recv_until(|g| g.payload == payload);
        // The 1-byte PT 0 packet is audio and relayed; the PT 13 one is dropped, and
        // its sequence number is a gap, as for a packet lost upstream.
        assert_eq!(between.len(), 1);
        assert_eq!(between[0].payload, vec![0x40]);
        assert_eq!(g2.seq, g.seq.wrapping_add(3));

        // Closing A while bridged: B goes back to its own paced frames.
        plane.handle_command(Instant::now(), MediaCommand::Close { call: a.call });
        assert!(plane.bridges.is_empty());
        assert_eq!(plane.active(), 1);
        b.recv_until(|g| g.ssrc == ours(&b) && g.payload.iter().all(|&x| x == 0xFF));
        assert!(plane.slots[&b.call].partner.load().is_none());
    }
}
