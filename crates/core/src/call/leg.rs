//! Outbound legs to managers' phones (we are the UAC, RFC 3261 §13): the INVITE that
//! carries the caller's identity and the routing context, its responses, the ACK for a
//! 2xx, CANCEL, and BYE.
//!
//! A leg belongs to one inbound call. It has its own Call-ID, its own dialog and its
//! own RTP port (media is anchored in Switchboard), so the caller's trunk never learns
//! the manager's address and vice versa.
//!
//! ```text
//!   INVITE ─▶ Trying ──1xx──▶ Ringing ──2xx (ACK)──▶ Up ──BYE either way──▶ (gone)
//!              │ give up: CANCEL after the first 1xx (§9.1)
//!              └──────────────▶ Orphan: a crossing 2xx is ACKed and hung up at once
//! ```

use std::net::IpAddr;
use std::time::Instant;

use jiff::Timestamp;

use super::context::{ANSWERED_ELSEWHERE, Ctx, Orphan, cancel_of};
use super::program::{CallContextInfo, CallInfo};
use crate::dialog::Dialog;
use crate::media::srtp::SrtpPolicy;
use crate::media::{CallKey, MediaCommand, MediaParams};
use crate::model::RingOutcome;
use crate::sdp::{self, Codec, CryptoAttr, LocalMedia, OfferSecurity};
use crate::sip::Peer;
use crate::sip::rsip;
use crate::transaction::ClientKey;

pub use crate::sip::uri::{Destination, uri_destination};

/// The payload type we offer telephone-event at on outbound legs.
pub const TE_PT: u8 = 101;

#[derive(Debug)]
pub enum LegState {
    /// INVITE sent, no provisional yet. RFC 3261 §9.1: a CANCEL may only follow a
    /// provisional response, so a ring timeout here sets `cancel_pending`.
    Trying { cancel_pending: bool },
    /// 180/183 received.
    Ringing,
    /// 2xx received and ACKed.
    Up { dialog: Box<Dialog> },
}

/// A provisional response (101–199) to `legs[i]`'s INVITE: the leg rings. One given
/// up while still Trying gets its CANCEL now (RFC 3261 §9.1: not before a provisional)
/// and leaves the list.
pub fn handle_provisional(legs: &mut Vec<Leg>, i: usize, ctx: &mut Ctx<'_>) {
    if let Some(leg) = legs.get_mut(i)
        && let LegState::Trying { cancel_pending } = leg.state
    {
        leg.state = LegState::Ringing;
        if cancel_pending {
            let leg = legs.remove(i);
            leg.abandon(ctx);
        }
    }
}

/// One outbound call leg.
#[derive(Debug)]
pub struct Leg {
    /// Identifies the leg's media session (and the leg) inside the endpoint.
    pub media_key: CallKey,
    pub manager: String,
    pub port: u16,
    pub invite: rsip::Request,
    pub invite_key: ClientKey,
    pub local_tag: String,
    pub peer: Peer,
    pub state: LegState,
    pub started_wall: Timestamp,
    pub ring_until: Instant,
    pub offered: Vec<Codec>,
    /// The manager's SRTP policy, what our offer asked for and the keys it offered.
    pub srtp_policy: SrtpPolicy,
    pub security: OfferSecurity,
    pub crypto: Vec<CryptoAttr>,
    pub media: Option<MediaParams>,
    pub media_open: bool,
    pub sdp_session: u64,
    pub sdp_version: u64,
}

impl Leg {
    pub fn call_id(&self) -> Option<&str> {
        crate::sip::headers::call_id(&self.invite)
    }

    pub fn is_up(&self) -> bool {
        matches!(self.state, LegState::Up { .. })
    }

    pub fn local_media(&self, ip: IpAddr) -> LocalMedia {
        LocalMedia {
            ip,
            port: self.port,
            session_id: self.sdp_session,
            session_version: self.sdp_version,
        }
    }

    pub fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        match &mut self.state {
            LegState::Up { dialog } => Some(dialog),
            _ => None,
        }
    }

    /// ACK a 2xx (again, when it was retransmitted because our ACK was lost, §13.2.2.4).
    pub fn ack(&mut self, ctx: &mut Ctx<'_>) {
        let cseq = crate::sip::headers::cseq(&self.invite).map_or(1, |(n, _)| n);
        let branch = ctx.new_branch();
        if let LegState::Up { dialog } = &mut self.state
            && let Some(ack) =
                dialog.build_ack(ctx.cfg.local_addr(dialog.transport()), &branch, cseq)
        {
            ctx.send_stateless(ack, dialog.peer);
        }
    }

    /// Open the leg's media stream with its negotiated parameters.
    pub fn open_media(&mut self, ctx: &mut Ctx<'_>) {
        let Some(params) = self.media.clone() else {
            return;
        };
        self.media_open = true;
        let (ssrc, seq, ts) = (ctx.random_u32(), ctx.random_u16(), ctx.random_u32());
        ctx.media_cmd(MediaCommand::Open {
            call: self.media_key,
            port: self.port,
            params,
            inband_dtmf: ctx.cfg.inband_dtmf,
            ssrc,
            seq,
            ts,
        });
    }

    /// Stop the leg from our side: BYE when up, CANCEL when ringing (the INVITE's
    /// transaction goes on as an orphan so a crossing 2xx is cleaned up).
    pub fn abandon(self, ctx: &mut Ctx<'_>) {
        self.leave_with(ctx, false, None);
    }

    /// Another phone took the call (ring-all): the CANCEL says so (RFC 3326 `Reason`,
    /// cause 200), and the phone files no missed call, as behind Asterisk or
    /// FreeSWITCH. Without it every member of a ring-all group saw a missed call for
    /// each call a colleague answered.
    pub fn answered_elsewhere(self, ctx: &mut Ctx<'_>) {
        self.leave_with(ctx, false, Some(ANSWERED_ELSEWHERE));
    }

    /// Like [`Self::abandon`]; with `phone_hangs_up` (the phone was told its REFER
    /// succeeded) an answered leg gets our BYE only if the phone has not hung up
    /// itself within [`super::parting::PHONE_BYE_GRACE`].
    pub fn leave(self, ctx: &mut Ctx<'_>, phone_hangs_up: bool) {
        self.leave_with(ctx, phone_hangs_up, None);
    }

    fn leave_with(self, ctx: &mut Ctx<'_>, phone_hangs_up: bool, reason: Option<&'static str>) {
        match self.state {
            LegState::Up { dialog } => {
                if phone_hangs_up {
                    ctx.await_leg_bye(dialog);
                } else {
                    ctx.send_leg_bye(dialog);
                }
                ctx.release_port(self.port);
            }
            LegState::Ringing | LegState::Trying { .. } => {
                let ringing = matches!(self.state, LegState::Ringing);
                if ringing {
                    let _ = ctx.send_request(cancel_of(&self.invite, reason), self.peer);
                }
                // Trying: the CANCEL goes out when the first provisional arrives (or
                // Timer B ends the transaction).
                ctx.orphan(
                    self.invite_key.clone(),
                    Orphan {
                        invite: self.invite,
                        peer: self.peer,
                        local_tag: self.local_tag.clone(),
                        port: self.port,
                        cancel_pending: !ringing,
                        reason,
                    },
                );
            }
        }
        if self.media_open {
            ctx.media_cmd(MediaCommand::Close {
                call: self.media_key,
            });
        }
        ctx.unbind_media(self.media_key);
        ctx.index().unbind_tag(&self.local_tag);
        // Responses to its INVITE now go to the orphan.
        ctx.index().unbind_client(&self.invite_key);
    }

    /// A leg that is completely over (its transaction ended too): close its media,
    /// drop its indexes, free its port.
    pub fn release(self, ctx: &mut Ctx<'_>) {
        if self.media_open {
            ctx.media_cmd(MediaCommand::Close {
                call: self.media_key,
            });
        }
        ctx.unbind_media(self.media_key);
        ctx.index().unbind_tag(&self.local_tag);
        ctx.index().unbind_client(&self.invite_key);
        ctx.release_port(self.port);
    }
}

/// What ringing one manager's phones needs.
pub struct RingSpec<'a> {
    /// The call (or dial-back) the legs belong to: their messages and media go there.
    pub owner: CallKey,
    pub plan: &'a crate::config::DialPlan,
    pub manager: &'a str,
    pub ring_timeout: std::time::Duration,
    pub department: Option<&'a str>,
    /// Whose call it is: the caller's number and name go to the phone.
    pub info: &'a CallInfo,
    pub context: &'a CallContextInfo,
    /// Offered first (the caller's law, so the relay passes payloads through).
    pub codec: Codec,
}

/// Send INVITEs to every contact of a manager (their static `contact`, else their
/// registered phones); returns the legs started.
pub fn ring_phones(ctx: &mut Ctx<'_>, r: &RingSpec<'_>) -> Vec<Leg> {
    let manager = r.manager;
    // Security: only managers defined in the plan are ever rung, at the contact the
    // plan or their authenticated registration gives.
    let Some(m) = r.plan.managers.get(manager) else {
        return Vec::new();
    };
    let dests = match &m.contact {
        Some(uri) => match uri_destination(uri) {
            Some(d) => vec![d],
            None => {
                tracing::warn!(
                    "manager {manager}: contact \"{uri}\" is not a sip: URI with an IP address"
                );
                Vec::new()
            }
        },
        None => ctx.contacts(manager),
    };
    let mut legs = Vec::new();
    for dest in dests {
        let Some(port) = ctx.allocate_port() else {
            tracing::warn!("no free RTP port to ring {manager} (raise rtp_ports)");
            break;
        };
        let media_key = ctx.new_media_key();
        let local_tag = ctx.new_tag();
        let branch = ctx.new_branch();
        let call_id = ctx.new_call_id();
        let sdp_session = u64::from(ctx.random_u32());
        let leg_local = sdp::LocalMedia {
            ip: ctx.cfg.media_ip,
            port,
            session_id: sdp_session,
            session_version: 1,
        };
        let srtp_policy = m.srtp.unwrap_or(ctx.cfg.srtp);
        let security = OfferSecurity::for_leg(srtp_policy, dest.peer.transport.is_secure());
        if security == OfferSecurity::Mandatory && !dest.peer.transport.is_secure() {
            tracing::warn!(
                "{manager}: SRTP is required but their phone is reached over {}: the keys \
                 cross the network readable (register the phone over TLS)",
                dest.peer.transport.via_token()
            );
        }
        let crypto = sdp::crypto::offer_lines(security, |b| ctx.fill_key(b));
        let (offer, offered) = leg_offer(ctx, &leg_local, r.codec, security, &crypto);
        let to_uri = if m.contact.is_some() {
            dest.uri.clone()
        } else {
            let user = m.login().unwrap_or(manager);
            format!("sip:{}@{}", sanitize_number(user), ctx.cfg.sip_addr)
        };
        let spec = InviteSpec {
            dest: &dest,
            to_uri: &to_uri,
            info: r.info,
            ctx: r.context,
            department: r.department,
            manager_display: &m.display_name,
            branch: &branch,
            local_tag: &local_tag,
            call_id: &call_id,
            sdp: &offer,
        };
        let Some(invite) = build_invite(ctx, &spec) else {
            ctx.release_port(port);
            continue;
        };
        tracing::info!(
            "ringing {manager} at {} for {} s",
            dest.uri,
            r.ring_timeout.as_secs()
        );
        let invite_key = ctx.send_request(invite.clone(), dest.peer);
        ctx.index().bind_client(invite_key.clone(), r.owner);
        ctx.index().bind_tag(&local_tag, r.owner);
        ctx.bind_media(media_key, r.owner);
        legs.push(Leg {
            media_key,
            manager: manager.to_string(),
            port,
            invite,
            invite_key,
            local_tag,
            peer: dest.peer,
            state: LegState::Trying {
                cancel_pending: false,
            },
            started_wall: ctx.wall,
            ring_until: ctx.now + r.ring_timeout,
            offered,
            srtp_policy,
            security,
            crypto,
            media: None,
            media_open: false,
            sdp_session,
            sdp_version: 1,
        });
    }
    legs
}

/// Keeps only characters that are safe in a SIP URI user part: caller IDs come off the
/// wire and go into our headers, so nothing may break out of them.
pub fn sanitize_number(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+*#._-".contains(*c))
        .take(64)
        .collect();
    if clean.is_empty() {
        "anonymous".into()
    } else {
        clean
    }
}

/// A header value we copy from a stored message (a Path entry): no CR, LF or other
/// control characters, so it cannot end the header early.
fn sanitize_header_value(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Text safe inside a quoted string or a header value: no quotes, backslashes or
/// control characters (CR/LF would let a caller inject headers).
pub fn sanitize_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .take(120)
        .collect::<String>()
        .trim()
        .to_string()
}

/// What goes into an outbound INVITE besides the SDP.
pub struct InviteSpec<'a> {
    pub dest: &'a Destination,
    /// The To URI: the manager's address (RFC 3261 §8.1.1.2: the logical recipient),
    /// while the Request-URI is the phone's contact.
    pub to_uri: &'a str,
    pub info: &'a CallInfo,
    pub ctx: &'a CallContextInfo,
    pub department: Option<&'a str>,
    pub manager_display: &'a str,
    pub branch: &'a str,
    pub local_tag: &'a str,
    pub call_id: &'a str,
    pub sdp: &'a str,
}

/// The INVITE to a manager's phone. The caller's number and name go in From and
/// P-Asserted-Identity (RFC 3325) so the phone shows who is calling; the routing
/// context goes in `X-Switchboard-*` headers (documented in docs/bridging.md).
pub fn build_invite(ctx: &Ctx<'_>, spec: &InviteSpec<'_>) -> Option<rsip::Request> {
    use std::fmt::Write;
    let t = spec.dest.peer.transport;
    let host = ctx.cfg.local_addr(t);
    let number = sanitize_number(&spec.info.caller);
    // The CRM's name for the customer beats the caller ID's (`[lookup]`).
    let name = spec
        .ctx
        .display_name
        .as_deref()
        .or(spec.info.caller_name.as_deref())
        .map(sanitize_text)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| number.clone());
    let contact = ctx.contact(t);
    let mut text = String::with_capacity(1200);
    let _ = write!(
        text,
        "INVITE {uri} SIP/2.0\r\n\
         Via: SIP/2.0/{via} {host};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"{name}\" <sip:{number}@{host}>;tag={tag}\r\n\
         To: \"{to_name}\" <{to_uri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: {contact}\r\n\
         P-Asserted-Identity: \"{name}\" <sip:{number}@{host}>\r\n\
         Allow: {allow}\r\n\
         User-Agent: Switchboard\r\n\
         X-Switchboard-Call-ID: {orig}\r\n\
         X-Switchboard-Dialled: {dialled}\r\n",
        uri = spec.dest.uri,
        via = t.via_token(),
        branch = spec.branch,
        tag = spec.local_tag,
        to_name = sanitize_text(spec.manager_display),
        to_uri = spec.to_uri,
        call_id = spec.call_id,
        allow = crate::sip::headers::ALLOW,
        orig = sanitize_text(&spec.info.call_id),
        dialled = sanitize_number(&spec.info.dialled),
    );
    // A preloaded route (the phone's Path): the proxies it registered through.
    for r in &spec.dest.route {
        let _ = write!(text, "Route: {}\r\n", sanitize_header_value(r));
    }
    let mut optional = |name: &str, value: &str| {
        // ASCII arrows: strict parsers choke on UTF-8 outside display names.
        let v = sanitize_text(&value.replace('→', "->"));
        if !v.is_empty() {
            let _ = write!(text, "X-Switchboard-{name}: {v}\r\n");
        }
    };
    optional("Source", &spec.ctx.source);
    optional("Department", spec.department.unwrap_or_default());
    optional("IVR-Path", &spec.ctx.ivr_path);
    optional(
        "Returning",
        spec.ctx.returning.as_deref().unwrap_or_default(),
    );
    optional("Reason", &spec.ctx.reason);
    // What the CRM said (`[lookup]`, docs/integrations.md).
    optional("Owner", spec.ctx.owner.as_deref().unwrap_or_default());
    optional(
        "Priority",
        &spec.ctx.priority.map(|p| p.to_string()).unwrap_or_default(),
    );
    optional(
        "Caller-Name",
        spec.ctx.display_name.as_deref().unwrap_or_default(),
    );
    optional("Tags", &spec.ctx.tags.join(", "));
    let _ = write!(
        text,
        "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{}",
        spec.sdp.len(),
        spec.sdp
    );
    rsip::Request::try_from(text.as_str()).ok()
}

/// Our SDP offer for a leg: the caller's law first, so the relay can pass payloads
/// through untouched when the phone agrees; `RTP/SAVP` or `RTP/AVP` and our crypto
/// lines as `security` says.
pub fn leg_offer(
    ctx: &Ctx<'_>,
    local: &LocalMedia,
    caller_codec: Codec,
    security: OfferSecurity,
    crypto: &[CryptoAttr],
) -> (String, Vec<Codec>) {
    let mut codecs = vec![caller_codec];
    codecs.extend(
        ctx.cfg
            .codecs
            .iter()
            .copied()
            .filter(|c| *c != caller_codec),
    );
    let offer = sdp::build_offer(
        local,
        &codecs,
        TE_PT,
        sdp::Direction::SendRecv,
        security.profile(),
        crypto,
    );
    (offer, codecs)
}

/// How a final response to a manager's INVITE is recorded.
pub fn ring_outcome(code: u16) -> RingOutcome {
    match code {
        200..=299 => RingOutcome::Answered,
        486 | 600 => RingOutcome::Busy,
        603 => RingOutcome::Declined,
        408 | 480 | 487 => RingOutcome::NoAnswer,
        _ => RingOutcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_ids_cannot_inject_headers() {
        assert_eq!(sanitize_number("+1 555\r\nVia: x"), "+1555Viax");
        assert_eq!(sanitize_number(""), "anonymous");
        assert_eq!(sanitize_text("Eve\"\r\nX-Evil: 1"), "EveX-Evil: 1");
    }

    #[test]
    fn outcomes_by_status() {
        assert_eq!(ring_outcome(486), RingOutcome::Busy);
        assert_eq!(ring_outcome(603), RingOutcome::Declined);
        assert_eq!(ring_outcome(480), RingOutcome::NoAnswer);
        assert_eq!(ring_outcome(500), RingOutcome::Failed);
        assert_eq!(ring_outcome(200), RingOutcome::Answered);
    }
}
