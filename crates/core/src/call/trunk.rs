//! The customer's leg of a dial-back: an INVITE through an `[outbound.NAME]` trunk
//! (RFC 3261 §13 as the UAC), presenting the trunk's caller ID, and its answer to a
//! 401/407 digest challenge (§22.2, §22.3): the same INVITE again with a higher CSeq
//! and `Authorization`/`Proxy-Authorization`, once per attempt.
//!
//! Security: the Request-URI user is the rewritten, checked number
//! ([`OutboundTrunk::check_number`]); nothing from the wire reaches it unchecked.

use super::context::Ctx;
use super::leg::{Leg, LegState, TE_PT, sanitize_number, sanitize_text};
use crate::config::queueing::{OutboundTransport, OutboundTrunk};
use crate::media::srtp::SrtpPolicy;
use crate::registrar::digest::Challenge;
use crate::sdp::{self, LocalMedia, OfferSecurity};
use crate::sip::rsip::{self, prelude::*};
use crate::sip::{Peer, Transport};

/// Where the trunk is.
pub fn trunk_peer(trunk: &OutboundTrunk) -> Peer {
    Peer {
        transport: match trunk.transport {
            OutboundTransport::Udp => Transport::Udp,
            OutboundTransport::Tcp => Transport::Tcp,
        },
        addr: trunk.address,
    }
}

/// The INVITE to `dial` (already checked and rewritten) through `trunk`.
#[allow(clippy::too_many_arguments)]
pub fn build_trunk_invite(
    ctx: &Ctx<'_>,
    trunk: &OutboundTrunk,
    dial: &str,
    call_id: &str,
    local_tag: &str,
    branch: &str,
    cseq: u32,
    auth: Option<(&str, &str)>,
    sdp: &str,
    origin_call_id: &str,
) -> Option<rsip::Request> {
    use std::fmt::Write;
    let peer = trunk_peer(trunk);
    let host = ctx.cfg.sip_addr;
    let number = sanitize_number(dial);
    let caller_id = sanitize_number(&trunk.caller_id);
    let name = trunk
        .caller_name
        .as_deref()
        .map(sanitize_text)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| caller_id.clone());
    let uri = format!("sip:{number}@{}", trunk.address);
    let mut text = String::with_capacity(1200);
    let _ = write!(
        text,
        "INVITE {uri} SIP/2.0\r\n\
         Via: SIP/2.0/{via} {host};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"{name}\" <sip:{caller_id}@{host}>;tag={local_tag}\r\n\
         To: <{uri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} INVITE\r\n\
         Contact: {contact}\r\n\
         P-Asserted-Identity: \"{name}\" <sip:{caller_id}@{host}>\r\n\
         Allow: {allow}\r\n\
         User-Agent: Switchboard\r\n\
         X-Switchboard-Call-ID: {orig}\r\n\
         X-Switchboard-Source: callback\r\n",
        via = peer.transport.via_token(),
        contact = ctx.contact(peer.transport),
        allow = crate::sip::headers::ALLOW,
        orig = sanitize_text(origin_call_id),
    );
    if let Some((header, value)) = auth {
        let _ = write!(text, "{header}: {value}\r\n");
    }
    let _ = write!(
        text,
        "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    rsip::Request::try_from(text.as_str()).ok()
}

/// Start the customer's leg; `None` when no port is free or the INVITE cannot be
/// built.
pub fn start_customer_leg(
    ctx: &mut Ctx<'_>,
    owner: crate::media::CallKey,
    trunk: &OutboundTrunk,
    dial: &str,
    origin_call_id: &str,
) -> Option<Leg> {
    let port = ctx.allocate_port()?;
    let media_key = ctx.new_media_key();
    let local_tag = ctx.new_tag();
    let branch = ctx.new_branch();
    let call_id = ctx.new_call_id();
    let sdp_session = u64::from(ctx.random_u32());
    let local = LocalMedia {
        ip: ctx.cfg.media_ip,
        port,
        session_id: sdp_session,
        session_version: 1,
    };
    let codecs = ctx.cfg.codecs.clone();
    // Plain RTP towards the PBX: trunks are reached over UDP/TCP on a private network.
    let security = OfferSecurity::Plain;
    let offer = sdp::build_offer(
        &local,
        &codecs,
        TE_PT,
        sdp::Direction::SendRecv,
        security.profile(),
        &[],
    );
    let Some(invite) = build_trunk_invite(
        ctx,
        trunk,
        dial,
        &call_id,
        &local_tag,
        &branch,
        1,
        None,
        &offer,
        origin_call_id,
    ) else {
        ctx.release_port(port);
        return None;
    };
    let peer = trunk_peer(trunk);
    tracing::info!(
        "dialling the customer {dial} through trunk {} ({})",
        trunk.name,
        trunk.address
    );
    let invite_key = ctx.send_request(invite.clone(), peer);
    ctx.index().bind_client(invite_key.clone(), owner);
    ctx.index().bind_tag(&local_tag, owner);
    ctx.bind_media(media_key, owner);
    Some(Leg {
        media_key,
        manager: "customer".into(),
        port,
        invite,
        invite_key,
        local_tag,
        peer,
        state: LegState::Trying {
            cancel_pending: false,
        },
        started_wall: ctx.wall,
        ring_until: ctx.now + trunk.ring_timeout,
        offered: codecs,
        srtp_policy: SrtpPolicy::Off,
        security,
        crypto: Vec::new(),
        media: None,
        media_open: false,
        sdp_session,
        sdp_version: 1,
    })
}

/// Answer a 401/407 on the customer's INVITE: the same request again with CSeq + 1,
/// a new branch and the credentials. Returns false when it cannot (no credentials, no
/// usable challenge): the attempt then fails.
pub fn answer_challenge(
    ctx: &mut Ctx<'_>,
    owner: crate::media::CallKey,
    trunk: &OutboundTrunk,
    leg: &mut Leg,
    resp: &rsip::Response,
) -> bool {
    let (Some(user), Some(password)) = (&trunk.username, &trunk.password) else {
        tracing::warn!(
            "trunk {} asks for authentication, but [outbound.{}] has no username/password",
            trunk.name,
            trunk.name
        );
        return false;
    };
    let code = resp.status_code.code();
    let (challenge_header, answer_header) = if code == 407 {
        ("Proxy-Authenticate", "Proxy-Authorization")
    } else {
        ("WWW-Authenticate", "Authorization")
    };
    let Some(challenge) = resp
        .header_value(challenge_header)
        .and_then(|v| Challenge::parse(&v))
    else {
        tracing::warn!(
            "trunk {} sent {code} without a usable digest challenge",
            trunk.name
        );
        return false;
    };
    let uri = leg.invite.uri.to_string();
    let cnonce = format!("{:08x}", ctx.random_u32());
    let value = challenge.answer(user, password.expose(), "INVITE", &uri, &cnonce);
    let cseq = crate::sip::headers::cseq(&leg.invite).map_or(1, |(n, _)| n) + 1;
    let call_id = crate::sip::headers::call_id(&leg.invite)
        .unwrap_or_default()
        .to_string();
    let orig = leg
        .invite
        .header_value("X-Switchboard-Call-ID")
        .unwrap_or_default();
    let dial = crate::sip::headers::request_uri_user(&leg.invite).unwrap_or_default();
    let sdp = String::from_utf8_lossy(&leg.invite.body).into_owned();
    let branch = ctx.new_branch();
    let Some(invite) = build_trunk_invite(
        ctx,
        trunk,
        &dial,
        &call_id,
        &leg.local_tag,
        &branch,
        cseq,
        Some((answer_header, &value)),
        &sdp,
        &orig,
    ) else {
        return false;
    };
    tracing::info!(
        "trunk {} challenged ({code}): sending the INVITE with credentials",
        trunk.name
    );
    ctx.index().unbind_client(&leg.invite_key);
    let key = ctx.send_request(invite.clone(), leg.peer);
    ctx.index().bind_client(key.clone(), owner);
    leg.invite = invite;
    leg.invite_key = key;
    leg.state = LegState::Trying {
        cancel_pending: false,
    };
    true
}
