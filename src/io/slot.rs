//! One call leg's media slot, shared by the two threads that touch it: the leg's
//! receive thread ([`super::receiver`]) and the pacer ([`super::pacer`]). Both lock the
//! leg's session, flush its outputs, relay released digits to the partner leg, and
//! count packets into the counters the pacer publishes once per tick. Kept apart from
//! both so each looks down at it and neither at the other.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use tokio::sync::mpsc::UnboundedSender;

use crate::call::{CallKey, MediaEvent};
use crate::media::session::MediaSession;

use super::recording::RecordSink;
use super::rtp_socket::RtpSocket;
use super::tap::Tap;

/// RTP packets received since the pacer last reported to the metrics registry:
/// counted per packet with one relaxed atomic, published once per tick.
pub(super) static RTP_RECEIVED: AtomicU64 = AtomicU64::new(0);
/// Incoming packets that arrived out of order / never arrived (sequence gaps).
pub(super) static RTP_LATE: AtomicU64 = AtomicU64::new(0);
pub(super) static RTP_LOST: AtomicU64 = AtomicU64::new(0);
/// RTP packets relayed (sent out of a partner leg's socket) since the pacer last
/// reported; published as sent packets.
pub(super) static RTP_RELAYED: AtomicU64 = AtomicU64::new(0);
/// Packets dropped because they came from someone other than the call's peer, and
/// streams that followed their peer to a new address (strict latching,
/// [`crate::media::latch`]).
pub(super) static RTP_FOREIGN: AtomicU64 = AtomicU64::new(0);
pub(super) static RTP_RELATCHED: AtomicU64 = AtomicU64::new(0);
/// SRTP packets dropped by the legs: failed authentication (tampered, or another key),
/// replayed, not SRTP at all. Summarised in the log like foreign packets.
pub(super) static SRTP_AUTH: AtomicU64 = AtomicU64::new(0);
pub(super) static SRTP_REPLAY: AtomicU64 = AtomicU64::new(0);
pub(super) static SRTP_MALFORMED: AtomicU64 = AtomicU64::new(0);

pub(super) struct Slot {
    pub(super) session: Mutex<MediaSession>,
    /// The leg's RTP port: read through `recv_fd`, sent from through `sender`.
    pub(super) socket: RtpSocket,
    pub(super) closed: AtomicBool,
    /// The leg we relay to while bridged. Read lock-free once per received packet;
    /// written only by the core task (Bridge/Unbridge/Close), which also clears it
    /// on both legs so the reference cycle never outlives the bridge.
    pub(super) partner: ArcSwapOption<Slot>,
    /// The conversation recording this leg feeds while bridged (`record = true`);
    /// read once per relayed packet, written only by the core task.
    pub(super) tap: ArcSwapOption<Tap>,
}

/// Where a session's outputs go: events to the core task, recording work to the
/// writer thread.
#[derive(Clone)]
pub(super) struct Sinks {
    pub(super) events: UnboundedSender<(CallKey, MediaEvent)>,
    pub(super) records: RecordSink,
}

/// Sends what the session has for the core and the recording writer. Called with the
/// session locked, so each call's outputs leave in the order they were produced.
/// Events go first: a stop digit reaches the core before the writer (on another
/// thread) can report the recording it ended.
pub(super) fn flush(call: CallKey, s: &mut MediaSession, sinks: &Sinks) {
    while let Some(ev) = s.poll_event() {
        let _ = sinks.events.send((call, ev));
    }
    while let Some(out) = s.poll_record() {
        let _ = sinks.records.send((call, out));
    }
}

/// Regenerates `digits` (released by `slot`'s feature gate) out of the partner leg:
/// per digit a start packet and three end packets (RFC 4733 §2.5.1.4).
pub(super) fn relay_digits(slot: &Slot, digits: &[char], out: &mut [u8]) {
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
                && partner.socket.sender().send_to(pkt, dest).is_ok()
            {
                RTP_RELAYED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
