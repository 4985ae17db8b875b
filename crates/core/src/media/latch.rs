//! Strict media latching: which source address a call leg's RTP may come from, and
//! where our RTP goes (what Asterisk calls `strictrtp`).
//!
//! Symmetric RTP (RFC 4961) sends our stream to wherever the peer's stream comes
//! from, because a trunk behind NAT advertises an address nobody can reach. Followed
//! blindly, that lets anyone who can reach our RTP port take the call's audio over with
//! a single packet: the stream turns to them, and their telephone-events press keys in
//! somebody else's call. So a stream *learns* its peer once and then keeps it:
//!
//! ```text
//!                 packet from the SDP address            LEARN_PACKETS consecutive
//!   ┌──────────┐  ─────────────────────────────────►  ┌─────────┐ ◄── packets of one
//!   │ Learning │                                      │ Latched │     source and SSRC
//!   │ {cand.}  │  ─────────────────────────────────►  │ {src,   │
//!   └──────────┘                                      │  ssrc,  │ ── another source:
//!        ▲                                            │  seq,   │    Drop (counted)
//!        │ new SDP address (re-INVITE)                │  last}  │
//!        └─────────────────────────────────────────── └─────────┘
//!                                          latched source silent ≥ relatch_after and
//!                                          the new source continues its SSRC and
//!                                          sequence: Relatched (NAT rebinding)
//! ```
//! A source learned by its run of packets gives way at once to the SDP address when
//! that starts sending: the peer's own word in signalling beats a race on the port.
//!
//! Pure: the caller passes `now`; nothing here reads a clock or a socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Consecutive packets (one source, one SSRC, sequence +1) that make a source the
/// peer when it is not the SDP address: Asterisk's default `probation` of 4.
pub const LEARN_PACKETS: u8 = 4;

/// How far ahead of the last accepted sequence number a rebinding source may be and
/// still count as continuing the stream (RFC 3550 §A.1 `MAX_DROPOUT`).
pub const MAX_DROPOUT: u16 = 3000;

/// `[server] rtp_latch`: how a stream picks the address it accepts RTP from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatchMode {
    /// Learn the peer from the SDP address or a short run of consecutive packets, then
    /// accept only it (default: works behind NAT, immune to injected packets).
    #[default]
    Learn,
    /// Only the exact address the SDP names, ever (peers on a trusted network whose
    /// SDP is always right; nothing behind NAT works).
    Sdp,
    /// Follow whoever sent the last packet (the old, unsafe behaviour: only for a
    /// broken peer on a network nobody else can reach).
    Any,
}

/// The latching settings of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchConfig {
    pub mode: LatchMode,
    /// Silence from the latched source after which a new source that continues its
    /// SSRC and sequence is followed (NAT rebinding). Zero never re-latches.
    pub relatch_after: Duration,
}

impl Default for LatchConfig {
    fn default() -> Self {
        Self {
            mode: LatchMode::Learn,
            relatch_after: Duration::from_secs(1),
        }
    }
}

/// What to do with one received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchDecision {
    /// From the peer: use it.
    Accept,
    /// From the peer, which this packet made known (first latch): use it.
    Latched,
    /// From the peer's new address after a NAT rebinding: use it; `old` is where it
    /// came from before.
    Relatched { old: SocketAddr },
    /// Possibly the peer, not proven yet: not used (a few packets at the start).
    Learning,
    /// Not from the peer: dropped and counted.
    Foreign,
}

impl LatchDecision {
    /// Whether the packet may be used (played, recorded, relayed, read for digits).
    #[must_use]
    pub fn accepted(self) -> bool {
        matches!(self, Self::Accept | Self::Latched | Self::Relatched { .. })
    }
}

/// A source being learnt: its run of consecutive packets so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    from: SocketAddr,
    ssrc: u32,
    seq: u16,
    run: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Learning(Option<Candidate>),
    Latched {
        from: SocketAddr,
        ssrc: u32,
        seq: u16,
        last: Instant,
        /// Learned from a run of packets rather than from the SDP address or a
        /// rebinding of it: the SDP address may still take the stream back.
        by_run: bool,
    },
}

/// One stream's latch: see the module docs.
///
/// `repr(C)` with the state first: a latched session's destination, read for every
/// frame the pacer sends, is then in the latch's first cache line (see
/// [`crate::media::MediaSession`]'s layout).
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Latch {
    state: State,
    cfg: LatchConfig,
    /// The address the SDP names (None: none, or `0.0.0.0` hold).
    sdp: Option<SocketAddr>,
}

impl Latch {
    #[must_use]
    pub fn new(cfg: LatchConfig, sdp: Option<SocketAddr>) -> Self {
        Self {
            cfg,
            sdp,
            state: State::Learning(None),
        }
    }

    /// A new SDP address (re-INVITE): learn again. The same address keeps the latch.
    pub fn update_sdp(&mut self, sdp: Option<SocketAddr>) {
        if sdp != self.sdp {
            self.sdp = sdp;
            self.state = State::Learning(None);
        }
    }

    /// Where our RTP goes: the latched peer, else the SDP address.
    #[must_use]
    pub fn destination(&self) -> Option<SocketAddr> {
        match self.state {
            State::Latched { from, .. } => Some(from),
            State::Learning(_) => self.sdp,
        }
    }

    /// Whether a packet from `from` could belong to this stream at all: anyone while
    /// learning (in `"sdp"` mode only the SDP address), else the latched peer or the SDP
    /// address. Does not judge the packet. Used to tell an SRTP packet that fails
    /// authentication from a stranger (injection, counted as foreign) from one that
    /// fails from the peer's own address (a key mismatch or tampering on the path).
    #[must_use]
    pub fn expects(&self, from: SocketAddr) -> bool {
        match (self.cfg.mode, self.state) {
            (LatchMode::Any, _) => true,
            (LatchMode::Sdp, _) => Some(from) == self.sdp,
            (LatchMode::Learn, State::Learning(_)) => true,
            (LatchMode::Learn, State::Latched { from: peer, .. }) => {
                peer == from || Some(from) == self.sdp
            }
        }
    }

    /// Judges one packet of the stream's payload types from `from`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ssrc: u32,
        seq: u16,
    ) -> LatchDecision {
        let latch = |ssrc, seq| State::Latched {
            from,
            ssrc,
            seq,
            last: now,
            by_run: false,
        };
        match (self.cfg.mode, self.state) {
            (LatchMode::Sdp, _) => {
                if Some(from) == self.sdp {
                    let first = matches!(self.state, State::Learning(_));
                    self.state = latch(ssrc, seq);
                    if first {
                        LatchDecision::Latched
                    } else {
                        LatchDecision::Accept
                    }
                } else {
                    LatchDecision::Foreign
                }
            }
            (LatchMode::Any, State::Latched { from: old, .. }) if old != from => {
                self.state = latch(ssrc, seq);
                LatchDecision::Relatched { old }
            }
            (
                _,
                State::Latched {
                    from: peer, by_run, ..
                },
            ) if peer == from => {
                self.state = State::Latched {
                    from,
                    ssrc,
                    seq,
                    last: now,
                    by_run,
                };
                LatchDecision::Accept
            }
            // Latched to a learned source, and now the address the peer named in its
            // SDP speaks: the SDP address wins at once. Whoever won the learning race
            // before the real peer's first packet (an attacker sweeping ports while a
            // phone rings) loses the stream the moment the peer starts sending.
            (
                LatchMode::Learn,
                State::Latched {
                    from: old,
                    by_run: true,
                    ..
                },
            ) if Some(from) == self.sdp => {
                self.state = latch(ssrc, seq);
                LatchDecision::Relatched { old }
            }
            (
                _,
                State::Latched {
                    from: old,
                    ssrc: peer_ssrc,
                    seq: peer_seq,
                    last,
                    ..
                },
            ) => {
                let silent = now.saturating_duration_since(last);
                let ahead = seq.wrapping_sub(peer_seq);
                if !self.cfg.relatch_after.is_zero()
                    && silent >= self.cfg.relatch_after
                    && ssrc == peer_ssrc
                    && (1..=MAX_DROPOUT).contains(&ahead)
                {
                    self.state = latch(ssrc, seq);
                    LatchDecision::Relatched { old }
                } else {
                    LatchDecision::Foreign
                }
            }
            (LatchMode::Any, State::Learning(_)) => {
                self.state = latch(ssrc, seq);
                LatchDecision::Latched
            }
            (LatchMode::Learn, State::Learning(cand)) => {
                if Some(from) == self.sdp {
                    self.state = latch(ssrc, seq);
                    return LatchDecision::Latched;
                }
                let run = match cand {
                    Some(c) if c.from == from && c.ssrc == ssrc && seq == c.seq.wrapping_add(1) => {
                        c.run.saturating_add(1)
                    }
                    _ => 1,
                };
                if run >= LEARN_PACKETS {
                    self.state = State::Latched {
                        from,
                        ssrc,
                        seq,
                        last: now,
                        by_run: true,
                    };
                    LatchDecision::Latched
                } else {
                    self.state = State::Learning(Some(Candidate {
                        from,
                        ssrc,
                        seq,
                        run,
                    }));
                    LatchDecision::Learning
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const SDP: &str = "192.0.2.1:4000";
    const NAT: &str = "198.51.100.7:31000";
    const EVIL: &str = "127.0.0.2:5004";

    fn learn() -> Latch {
        Latch::new(LatchConfig::default(), Some(addr(SDP)))
    }

    #[test]
    fn the_sdp_address_latches_at_once_and_nobody_else_gets_in() {
        let t0 = Instant::now();
        let mut l = learn();
        assert_eq!(l.destination(), Some(addr(SDP)));
        assert_eq!(
            l.handle_packet(t0, addr(SDP), 7, 100),
            LatchDecision::Latched
        );
        // An attacker's stream, however long and well formed, is dropped.
        for i in 0..50u16 {
            assert_eq!(
                l.handle_packet(t0, addr(EVIL), 9, 1000 + i),
                LatchDecision::Foreign
            );
        }
        assert_eq!(l.destination(), Some(addr(SDP)));
        assert_eq!(
            l.handle_packet(t0, addr(SDP), 7, 101),
            LatchDecision::Accept
        );
    }

    #[test]
    fn a_natted_peer_is_learnt_from_consecutive_packets() {
        let t0 = Instant::now();
        let mut l = learn();
        for i in 0..u16::from(LEARN_PACKETS - 1) {
            assert_eq!(
                l.handle_packet(t0, addr(NAT), 5, 10 + i),
                LatchDecision::Learning
            );
            assert_eq!(l.destination(), Some(addr(SDP)), "not yet");
        }
        assert_eq!(
            l.handle_packet(t0, addr(NAT), 5, 10 + u16::from(LEARN_PACKETS) - 1),
            LatchDecision::Latched
        );
        assert_eq!(l.destination(), Some(addr(NAT)));
    }

    #[test]
    fn a_port_sweep_never_completes_a_learning_run() {
        let t0 = Instant::now();
        let mut l = learn();
        // One packet per source, or a source whose sequence jumps: never a run.
        for i in 0..100u16 {
            let from = SocketAddr::new(addr(EVIL).ip(), 20000 + (i % 3) * 2);
            assert_eq!(l.handle_packet(t0, from, 9, i * 2), LatchDecision::Learning);
        }
        assert_eq!(l.destination(), Some(addr(SDP)));
    }

    #[test]
    fn rebinding_relatches_only_after_silence_with_the_same_ssrc_and_sequence() {
        let t0 = Instant::now();
        let mut l = learn();
        l.handle_packet(t0, addr(SDP), 7, 100);
        let moved = addr(NAT);
        // Right away: dropped, the old source was not silent long enough.
        assert_eq!(
            l.handle_packet(t0 + Duration::from_millis(20), moved, 7, 101),
            LatchDecision::Foreign
        );
        let later = t0 + Duration::from_millis(1100);
        // Another SSRC, or a sequence that does not continue: dropped.
        assert_eq!(
            l.handle_packet(later, moved, 8, 150),
            LatchDecision::Foreign
        );
        assert_eq!(
            l.handle_packet(later, moved, 7, 100),
            LatchDecision::Foreign
        );
        assert_eq!(
            l.handle_packet(later, moved, 7, 100u16.wrapping_add(MAX_DROPOUT + 1)),
            LatchDecision::Foreign
        );
        assert_eq!(
            l.handle_packet(later, moved, 7, 155),
            LatchDecision::Relatched { old: addr(SDP) }
        );
        assert_eq!(l.destination(), Some(moved));
        // The old address is now the stranger.
        assert_eq!(
            l.handle_packet(later, addr(SDP), 7, 156),
            LatchDecision::Foreign
        );
    }

    #[test]
    fn relatch_after_zero_never_relatches() {
        let t0 = Instant::now();
        let mut l = Latch::new(
            LatchConfig {
                relatch_after: Duration::ZERO,
                ..LatchConfig::default()
            },
            Some(addr(SDP)),
        );
        l.handle_packet(t0, addr(SDP), 7, 100);
        assert_eq!(
            l.handle_packet(t0 + Duration::from_secs(60), addr(NAT), 7, 101),
            LatchDecision::Foreign
        );
    }

    #[test]
    fn sdp_mode_accepts_only_the_sdp_address() {
        let t0 = Instant::now();
        let cfg = LatchConfig {
            mode: LatchMode::Sdp,
            ..LatchConfig::default()
        };
        let mut l = Latch::new(cfg, Some(addr(SDP)));
        for i in 0..10 {
            assert_eq!(l.handle_packet(t0, addr(NAT), 5, i), LatchDecision::Foreign);
        }
        assert_eq!(
            l.handle_packet(t0, addr(SDP), 5, 10),
            LatchDecision::Latched
        );
        assert_eq!(l.handle_packet(t0, addr(SDP), 5, 11), LatchDecision::Accept);
        // No SDP address (hold): nothing is accepted.
        let mut held = Latch::new(cfg, None);
        assert_eq!(
            held.handle_packet(t0, addr(SDP), 5, 1),
            LatchDecision::Foreign
        );
    }

    #[test]
    fn any_mode_follows_the_last_source() {
        let t0 = Instant::now();
        let cfg = LatchConfig {
            mode: LatchMode::Any,
            ..LatchConfig::default()
        };
        let mut l = Latch::new(cfg, Some(addr(SDP)));
        assert_eq!(l.handle_packet(t0, addr(NAT), 5, 1), LatchDecision::Latched);
        assert_eq!(
            l.handle_packet(t0, addr(EVIL), 9, 77),
            LatchDecision::Relatched { old: addr(NAT) }
        );
        assert_eq!(l.destination(), Some(addr(EVIL)));
    }

    #[test]
    fn a_new_sdp_address_learns_again() {
        let t0 = Instant::now();
        let mut l = learn();
        l.handle_packet(t0, addr(SDP), 7, 100);
        l.update_sdp(Some(addr(SDP)));
        assert_eq!(
            l.handle_packet(t0, addr(NAT), 7, 101),
            LatchDecision::Foreign
        );
        l.update_sdp(Some(addr(NAT)));
        assert_eq!(l.destination(), Some(addr(NAT)));
        assert_eq!(l.handle_packet(t0, addr(NAT), 3, 1), LatchDecision::Latched);
    }

    #[test]
    fn a_learned_latch_gives_way_to_the_sdp_address() {
        let t0 = Instant::now();
        let mut l = learn();
        // An attacker wins the learning race before the peer's first packet ...
        for seq in 0..LEARN_PACKETS as u16 {
            l.handle_packet(t0, addr(EVIL), 99, seq);
        }
        assert_eq!(l.destination(), Some(addr(EVIL)));
        // ... and loses the stream to the SDP address's first packet.
        assert_eq!(
            l.handle_packet(t0, addr(SDP), 7, 100),
            LatchDecision::Relatched { old: addr(EVIL) }
        );
        assert_eq!(l.destination(), Some(addr(SDP)));
        assert_eq!(
            l.handle_packet(t0, addr(EVIL), 99, LEARN_PACKETS as u16),
            LatchDecision::Foreign
        );
    }
}
