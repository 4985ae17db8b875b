//! SRTP (RFC 3711) for one call leg, keyed by SDES (RFC 4568): the keys travel in the
//! SDP (`a=crypto`), so they are only as secret as the signalling — SIP over TLS.
//!
//! The cryptography is the `rtc-srtp` crate (webrtc-rs's sans-IO SRTP; see
//! docs/decisions.md for why it and not libsrtp bindings): AES-CM with HMAC-SHA1,
//! rollover counters and a replay window. This module adds what a B2BUA leg needs
//! around it:
//!
//! - one [`SrtpStreams`] per leg: an inbound context keyed with the peer's key and an
//!   outbound one keyed with ours (every leg has its own keys, so the two sides of a
//!   bridged call never share one);
//! - in-place protect/unprotect on the driver's packet buffers, so the relay keeps its
//!   shape (receive → unprotect → rewrite → protect → send);
//! - a typed reason for every dropped packet ([`Dropped`]), counted by the session;
//! - a bound on the state strangers can make us keep. `rtc-srtp` keeps per-SSRC state
//!   (rollover counter, replay window) for every SSRC it is asked to decrypt, before
//!   the packet is authenticated, so a flood of forged packets with random SSRCs would
//!   grow it without end. Here the inbound context only ever sees the one SSRC that
//!   authenticated; packets of any other SSRC are tried on a separate *probe* context,
//!   which is thrown away after [`PROBE_LIMIT`] failures. A new SSRC takes over only
//!   once it authenticates and the current one has been silent for [`SSRC_TAKEOVER`]
//!   (a replayed packet of an old stream cannot pull the leg back to it while the
//!   peer talks).
//!
//! ```text
//!   packet ──ssrc == current──▶ inbound context ──ok──▶ plaintext in place
//!     │                              └─ auth failed / replayed ──▶ Dropped
//!     └─other ssrc─▶ probe context ──ok and current silent──▶ probe becomes inbound
//!                        └─ failed ──▶ Dropped (probe rebuilt after PROBE_LIMIT)
//! ```

use std::fmt;
use std::time::{Duration, Instant};

use rtc_srtp::context::Context;
use rtc_srtp::option::srtp_replay_protection;
use rtc_srtp::protection_profile::ProtectionProfile;
use serde::Deserialize;

/// Packets remembered by the replay window (RFC 3711 §3.3.2 asks for at least 64).
pub const REPLAY_WINDOW: usize = 128;
/// Failed packets of unknown SSRCs after which the probe context is rebuilt.
pub const PROBE_LIMIT: u32 = 64;
/// Silence of the current SSRC after which an authenticated new SSRC replaces it.
pub const SSRC_TAKEOVER: Duration = Duration::from_millis(500);
/// Bytes of an AES_CM_128 master key (16) plus master salt (14), RFC 4568 §6.2.1.
pub const MASTER_LEN: usize = 30;

/// When a call leg uses SRTP (`[server] srtp`, a manager's `srtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpPolicy {
    /// Plain RTP only: `RTP/SAVP` offers are refused (488), `a=crypto` is ignored.
    Off,
    /// SRTP when the peer offers it; offered (best effort, `RTP/AVP` with `a=crypto`)
    /// to phones reached over TLS, where the keys are not readable on the path.
    #[default]
    Optional,
    /// SRTP or nothing: a plain offer gets 488; phones are offered `RTP/SAVP` only.
    Required,
}

impl fmt::Display for SrtpPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SrtpPolicy::Off => "off",
            SrtpPolicy::Optional => "optional",
            SrtpPolicy::Required => "required",
        })
    }
}

/// The SDES crypto suites we speak (RFC 4568 §6.2), strongest tag first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CryptoSuite {
    /// AES-128 counter mode, 80-bit HMAC-SHA1 tag: the one every SRTP phone has.
    AesCm128HmacSha1_80,
    /// The same with a 32-bit tag (4 bytes less per packet, weaker authentication).
    AesCm128HmacSha1_32,
}

impl CryptoSuite {
    /// Every suite, in the order we offer and prefer them.
    pub const ALL: [CryptoSuite; 2] = [
        CryptoSuite::AesCm128HmacSha1_80,
        CryptoSuite::AesCm128HmacSha1_32,
    ];

    /// The name in `a=crypto` lines.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            CryptoSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            CryptoSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite named `name` (case-insensitive), if we speak it.
    #[must_use]
    pub fn from_name(name: &str) -> Option<CryptoSuite> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Bytes of authentication tag each SRTP packet carries.
    #[must_use]
    pub const fn tag_len(self) -> usize {
        match self {
            CryptoSuite::AesCm128HmacSha1_80 => 10,
            CryptoSuite::AesCm128HmacSha1_32 => 4,
        }
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            CryptoSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            CryptoSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }
}

impl fmt::Display for CryptoSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A master key and salt (RFC 3711 §8.1), 30 bytes, written base64 in SDP
/// (`inline:` key-params, RFC 4568 §6.1). Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_LEN]);

impl MasterKey {
    #[must_use]
    pub const fn new(bytes: [u8; MASTER_LEN]) -> Self {
        MasterKey(bytes)
    }

    /// A fresh key from `fill` (the endpoint's key RNG: OS randomness in the driver,
    /// a fixed seed in tests).
    pub fn generate(fill: impl FnOnce(&mut [u8])) -> Self {
        let mut bytes = [0u8; MASTER_LEN];
        fill(&mut bytes);
        MasterKey(bytes)
    }

    /// The base64 text after `inline:` (40 characters, RFC 4568 §6.2.1 with padding).
    #[must_use]
    pub fn to_inline(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Reads `inline:` base64 text; `None` unless it is exactly 30 bytes. Padding is
    /// optional (some phones leave it off).
    #[must_use]
    pub fn from_inline(text: &str) -> Option<MasterKey> {
        use base64::Engine as _;
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let bytes = engine.decode(text.trim()).ok()?;
        <[u8; MASTER_LEN]>::try_from(bytes.as_slice())
            .ok()
            .map(MasterKey)
    }

    fn key(&self) -> &[u8] {
        self.0.get(..16).unwrap_or_default()
    }

    fn salt(&self) -> &[u8] {
        self.0.get(16..).unwrap_or_default()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

/// A leg's negotiated SRTP: the suite, our key (what we send) and the peer's key (what
/// we receive). Comes out of offer/answer ([`crate::sdp::crypto`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpParams {
    pub suite: CryptoSuite,
    /// Ours: protects the packets we send.
    pub local: MasterKey,
    /// The peer's: authenticates and decrypts the packets it sends.
    pub remote: MasterKey,
}

/// Why an SRTP packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// The authentication tag is wrong: tampered with, or sent with another key.
    Auth,
    /// A packet already received (or too old for the replay window).
    Replay,
    /// Too short to be SRTP, or not RTP at all.
    Malformed,
}

/// A key the crypto library refused (never with keys of the right length).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SRTP context could not be created: {0}")]
pub struct SrtpError(String);

fn context(suite: CryptoSuite, key: &MasterKey, replay: bool) -> Result<Context, SrtpError> {
    let crypto = rtc_srtp::crypto::providers::RingCrypto;
    Context::new(
        key.key(),
        key.salt(),
        suite.profile(),
        replay.then(|| srtp_replay_protection(REPLAY_WINDOW)),
        None,
        &crypto,
    )
    .map_err(|e| SrtpError(e.to_string()))
}

/// The inbound stream the peer authenticated, and when it last did.
struct Current {
    ssrc: u32,
    context: Context,
    last: Instant,
}

/// One leg's SRTP state: see the module docs.
pub struct SrtpStreams {
    suite: CryptoSuite,
    local_key: MasterKey,
    remote_key: MasterKey,
    outbound: Context,
    current: Option<Current>,
    probe: Option<Context>,
    probe_failures: u32,
}

impl fmt::Debug for SrtpStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpStreams")
            .field("suite", &self.suite)
            .field("ssrc", &self.current.as_ref().map(|c| c.ssrc))
            .finish_non_exhaustive()
    }
}

impl SrtpStreams {
    pub fn new(params: &SrtpParams) -> Result<Self, SrtpError> {
        Ok(Self {
            suite: params.suite,
            local_key: params.local.clone(),
            remote_key: params.remote.clone(),
            outbound: context(params.suite, &params.local, false)?,
            current: None,
            probe: None,
            probe_failures: 0,
        })
    }

    #[must_use]
    pub fn suite(&self) -> CryptoSuite {
        self.suite
    }

    /// Bytes [`Self::protect`] adds to a packet.
    #[must_use]
    pub fn overhead(&self) -> usize {
        self.suite.tag_len()
    }

    /// New keys from a re-INVITE (RFC 4568 §7.1.4). Only the side whose key (or
    /// suite) changed starts afresh: our outbound context must keep its rollover
    /// counter while our key stays, or a wrapped sequence number would encrypt a second
    /// time under the same keystream.
    pub fn update(&mut self, params: &SrtpParams) -> Result<(), SrtpError> {
        let suite_changed = self.suite != params.suite;
        if suite_changed || self.local_key != params.local {
            self.outbound = context(params.suite, &params.local, false)?;
            self.local_key = params.local.clone();
        }
        if suite_changed || self.remote_key != params.remote {
            self.current = None;
            self.probe = None;
            self.probe_failures = 0;
            self.remote_key = params.remote.clone();
        }
        self.suite = params.suite;
        Ok(())
    }

    /// Authenticates and decrypts `packet` in place; returns the length of the plain
    /// RTP packet now at its start. `now` times the SSRC takeover.
    pub fn unprotect(&mut self, now: Instant, packet: &mut [u8]) -> Result<usize, Dropped> {
        let ssrc = match packet.get(8..12).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
            Some(b) => u32::from_be_bytes(b),
            None => return Err(Dropped::Malformed),
        };
        if packet.len() < 12 + self.suite.tag_len() {
            return Err(Dropped::Malformed);
        }
        if let Some(cur) = &mut self.current
            && cur.ssrc == ssrc
        {
            let plain = cur.context.decrypt_rtp(packet).map_err(classify)?;
            cur.last = now;
            return copy_back(&plain, packet);
        }
        // Another SSRC: the first stream of the call, a new stream of the peer, or
        // someone else's packets. Only the probe context gets to keep state for it.
        let takeover_allowed = self
            .current
            .as_ref()
            .is_none_or(|c| now.saturating_duration_since(c.last) >= SSRC_TAKEOVER);
        if !takeover_allowed {
            return Err(Dropped::Auth);
        }
        let probe = match &mut self.probe {
            Some(p) => p,
            None => self
                .probe
                .insert(context(self.suite, &self.remote_key, true).map_err(|_| Dropped::Auth)?),
        };
        match probe.decrypt_rtp(packet) {
            Ok(plain) => {
                let len = copy_back(&plain, packet)?;
                if let Some(context) = self.probe.take() {
                    self.current = Some(Current {
                        ssrc,
                        context,
                        last: now,
                    });
                }
                self.probe_failures = 0;
                Ok(len)
            }
            Err(e) => {
                self.probe_failures += 1;
                if self.probe_failures >= PROBE_LIMIT {
                    self.probe = None;
                    self.probe_failures = 0;
                }
                Err(classify(e))
            }
        }
    }

    /// Encrypts the plain RTP packet in `buf[..len]` in place and appends the tag;
    /// returns the protected length, or `None` when `buf` has no room for the tag or
    /// the packet is not RTP.
    pub fn protect(&mut self, buf: &mut [u8], len: usize) -> Option<usize> {
        if buf.len() < len + self.suite.tag_len() {
            return None;
        }
        let plain = buf.get(..len)?;
        let sealed = self.outbound.encrypt_rtp(plain).ok()?;
        buf.get_mut(..sealed.len())?.copy_from_slice(&sealed);
        Some(sealed.len())
    }
}

fn copy_back(plain: &[u8], packet: &mut [u8]) -> Result<usize, Dropped> {
    let out = packet.get_mut(..plain.len()).ok_or(Dropped::Malformed)?;
    out.copy_from_slice(plain);
    Ok(plain.len())
}

fn classify(e: rtc_shared::error::Error) -> Dropped {
    use rtc_shared::error::Error;
    match e {
        Error::RtpFailedToVerifyAuthTag => Dropped::Auth,
        Error::SrtpSsrcDuplicated(..) => Dropped::Replay,
        // Header parse errors, too short for the tag, and anything added later: not
        // a packet we can read.
        _ => Dropped::Malformed,
    }
}

#[cfg(test)]
#[path = "srtp_tests.rs"]
mod tests;
