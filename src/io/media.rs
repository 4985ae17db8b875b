//! The media plane: RTP sockets, a receive task per call and one pacer thread for all
//! calls.
//!
//! Why one pacer thread: a prompt stream is 50 packets/s per call. A timer per call
//! would cost a task wake-up per packet; instead one thread wakes every
//! [`PACER_TICK`] and sends every frame that is due across all calls. The per-call
//! deadline schedule (`start + n·20 ms`) lives in [`MediaSession`], so the tick only
//! bounds jitter, never drift.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;

use crate::call::{CallKey, MediaCommand, MediaEvent};
use crate::media::prompt::PromptSet;
use crate::media::session::MediaSession;

/// How often the pacer wakes. 5 ms keeps jitter well inside any jitter buffer while
/// costing 200 wake-ups/s in total, whatever the number of calls.
pub const PACER_TICK: Duration = Duration::from_millis(5);

/// RTP packets received since the pacer last reported to the metrics registry:
/// counted per packet with one relaxed atomic, published once per tick.
static RTP_RECEIVED: AtomicU64 = AtomicU64::new(0);

struct Slot {
    session: Mutex<MediaSession>,
    socket: std::net::UdpSocket,
    closed: AtomicBool,
}

/// What the core task tells the pacer thread.
enum PacerMsg {
    Add(CallKey, Arc<Slot>),
    Remove(CallKey),
}

/// Handle used by the core loop to run media commands.
pub struct MediaPlane {
    /// The calls with media, for commands from the core task (only it touches this).
    slots: HashMap<CallKey, Arc<Slot>>,
    pacer: std::sync::mpsc::Sender<PacerMsg>,
    bind_ip: IpAddr,
    prompts: Arc<PromptSet>,
    rtp_timeout: Duration,
    events: UnboundedSender<(CallKey, MediaEvent)>,
    recv_tasks: HashMap<CallKey, tokio::task::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl MediaPlane {
    pub fn start(
        bind_ip: IpAddr,
        prompts: Arc<PromptSet>,
        rtp_timeout: Duration,
        events: UnboundedSender<(CallKey, MediaEvent)>,
    ) -> std::io::Result<Self> {
        let (pacer, pacer_rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, stop2) = (events.clone(), stop.clone());
        std::thread::Builder::new()
            .name("rtp-pacer".into())
            .spawn(move || pacer_loop(pacer_rx, tx, stop2))?;
        Ok(Self {
            slots: HashMap::new(),
            pacer,
            bind_ip,
            prompts,
            rtp_timeout,
            events,
            recv_tasks: HashMap::new(),
            stop,
        })
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
                        let _ = self.events.send((call, MediaEvent::Failed { reason }));
                        return;
                    }
                };
                let session = MediaSession::new(
                    now,
                    params,
                    self.prompts.clone(),
                    self.rtp_timeout,
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
                        let _ = self.events.send((
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
                });
                self.slots.insert(call, slot.clone());
                let _ = self.pacer.send(PacerMsg::Add(call, slot.clone()));
                let events = self.events.clone();
                let task = tokio::spawn(recv_loop(call, slot, recv_socket, events));
                self.recv_tasks.insert(call, task);
            }
            MediaCommand::Update { call, params } => self.with(call, |s, ev| {
                s.update(now, params);
                flush(call, s, ev)
            }),
            MediaCommand::Play {
                call,
                play_id,
                prompts,
            } => self.with(call, |s, ev| {
                s.play(play_id, &prompts);
                flush(call, s, ev)
            }),
            MediaCommand::StopPlayback { call } => self.with(call, |s, _| s.stop_playback()),
            // Relay wiring lands with the media bridge.
            MediaCommand::Bridge { .. } | MediaCommand::Unbridge { .. } => {}
            MediaCommand::Close { call } => {
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

    fn with(
        &self,
        call: CallKey,
        f: impl FnOnce(&mut MediaSession, &UnboundedSender<(CallKey, MediaEvent)>),
    ) {
        if let Some(slot) = self.slots.get(&call)
            && let Ok(mut s) = slot.session.lock()
        {
            f(&mut s, &self.events);
        }
    }
}

impl Drop for MediaPlane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
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

fn flush(call: CallKey, s: &mut MediaSession, events: &UnboundedSender<(CallKey, MediaEvent)>) {
    while let Some(ev) = s.poll_event() {
        let _ = events.send((call, ev));
    }
}

async fn recv_loop(
    call: CallKey,
    slot: Arc<Slot>,
    socket: AsyncFd<std::net::UdpSocket>,
    events: UnboundedSender<(CallKey, MediaEvent)>,
) {
    let mut buf = [0u8; 2048];
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
        let Some(packet) = buf.get(..n) else { continue };
        if let Ok(mut s) = slot.session.lock() {
            s.handle_rtp(Instant::now(), from, packet);
            flush(call, &mut s, &events);
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

fn pacer_loop(
    inbox: std::sync::mpsc::Receiver<PacerMsg>,
    events: UnboundedSender<(CallKey, MediaEvent)>,
    stop: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 1500];
    let mut list: Vec<Paced> = Vec::new();
    let mut next_tick = Instant::now();
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
            flush(p.call, &mut s, &events);
        }
        let received = RTP_RECEIVED.swap(0, Ordering::Relaxed);
        if sent > 0 || received > 0 {
            crate::admin::metrics::add_rtp_packets(sent, received, 0, 0);
        }
    }
}
