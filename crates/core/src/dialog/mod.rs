//! SIP dialogs (RFC 3261 §12): the state two user agents share for the life of a call,
//! and the construction of in-dialog requests (BYE, ACK, NOTIFY).
//!
//! In-dialog requests follow the dialog's route set ([`route`]): behind a trunk or
//! proxy that record-routes, every request we send goes through it, loose or strict.
//!
//! A dialog keeps the From/To header *values* exactly as they were exchanged rather
//! than re-rendering them from parsed URIs: RFC 3261 §12.2.1.1 requires in-dialog
//! requests to carry the same URIs, and re-rendering is where display names, quoting
//! and unknown parameters get lost.

mod index;

pub use index::Index;

use std::net::SocketAddr;

use thiserror::Error;

use crate::sip::rsip::{self, HeadersExt};
use crate::sip::{Peer, Transport, headers};

pub mod route;
pub use route::RouteSet;
pub mod session_timer;

/// Identifies a dialog: Call-ID plus both tags (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

/// Why a request cannot be taken into a dialog.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DialogError {
    #[error("request has no usable {0} header")]
    MissingHeader(&'static str),
    /// RFC 3261 §12.2.2: a CSeq lower than the last one seen is out of order → 500.
    #[error("CSeq {got} is lower than the last seen {last}")]
    CSeqOutOfOrder { got: u32, last: u32 },
}

/// The UAS side of a dialog created by an INVITE we answer.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub id: DialogId,
    /// Our To header value including `;tag=…` (becomes From in requests we send).
    local_header: String,
    /// Their From header value including their tag (becomes To in requests we send).
    remote_header: String,
    /// Where in-dialog requests go: the peer's Contact URI (§12.1.1).
    remote_target: String,
    /// The route set (§12.1.1 for a UAS, §12.1.2 for a UAC), first hop first.
    route_set: RouteSet,
    local_seq: u32,
    remote_seq: u32,
    /// The transport peer in-dialog requests are sent to.
    ///
    /// As UAS we send back to the address the INVITE came from (symmetric signalling):
    /// trunks behind NAT advertise Contacts, and sometimes Record-Routes, we cannot
    /// reach, and the INVITE's sender is the first hop of the route set anyway (it is
    /// the proxy that record-routed last). This is what Asterisk calls
    /// `force_rport`/`comedia`.
    ///
    /// As UAC it is the first route's address when the answer was record-routed
    /// through a proxy named by IP address (§12.2.1.1, §8.1.2), else where the INVITE
    /// went.
    pub peer: Peer,
}

impl Dialog {
    /// Create the UAS dialog for an initial INVITE we are about to answer (§12.1.1).
    pub fn new_uas(
        invite: &rsip::Request,
        peer: Peer,
        local_tag: &str,
    ) -> Result<Self, DialogError> {
        let call_id = required(headers::call_id(invite).map(str::to_string), "Call-ID")?;
        let from = invite
            .from_header()
            .map_err(|_| DialogError::MissingHeader("From"))?;
        let remote_tag = required(headers::from_tag(invite), "From tag")?;
        let to = invite
            .to_header()
            .map_err(|_| DialogError::MissingHeader("To"))?;
        let cseq = required(headers::cseq(invite).map(|(n, _)| n), "CSeq")?;
        let (remote_target, record_route) = target_and_routes(invite, invite);
        Ok(Self {
            id: DialogId {
                call_id,
                local_tag: local_tag.to_string(),
                remote_tag,
            },
            local_header: format!("{};tag={}", to.value(), local_tag),
            remote_header: from.value().to_string(),
            remote_target,
            route_set: RouteSet::from_uas(record_route),
            local_seq: 0,
            remote_seq: cseq,
            peer,
        })
    }

    /// Create the UAC dialog from the INVITE we sent and a 2xx answering it (§12.1.2):
    /// the route set is the response's Record-Route in reverse, the remote target its
    /// Contact, and our CSeq continues from the INVITE's.
    pub fn new_uac(
        invite: &rsip::Request,
        resp: &rsip::Response,
        peer: Peer,
        local_tag: &str,
    ) -> Result<Self, DialogError> {
        let call_id = required(headers::call_id(invite).map(str::to_string), "Call-ID")?;
        let from = invite
            .from_header()
            .map_err(|_| DialogError::MissingHeader("From"))?;
        let to = resp
            .to_header()
            .map_err(|_| DialogError::MissingHeader("To"))?;
        let remote_tag = required(headers::to_tag(resp), "To tag")?;
        let cseq = required(headers::cseq(invite).map(|(n, _)| n), "CSeq")?;
        let (remote_target, record_route) = target_and_routes(resp, invite);
        let route_set = RouteSet::from_uac(record_route);
        let peer = route_set.first_hop().map_or(peer, |hop| hop.peer);
        Ok(Self {
            id: DialogId {
                call_id,
                local_tag: local_tag.to_string(),
                remote_tag,
            },
            local_header: from.value().to_string(),
            remote_header: to.value().to_string(),
            remote_target,
            route_set,
            local_seq: cseq,
            remote_seq: 0,
            peer,
        })
    }

    /// The ACK for a 2xx to our INVITE (§13.2.2.4): same CSeq number as the INVITE,
    /// a new branch, built by the TU rather than the transaction.
    pub fn build_ack(
        &mut self,
        local: SocketAddr,
        branch: &str,
        invite_cseq: u32,
    ) -> Option<rsip::Request> {
        let saved = self.local_seq;
        self.local_seq = invite_cseq.saturating_sub(1);
        let ack = self.build_request(rsip::Method::Ack, local, branch, &[], None);
        self.local_seq = saved;
        ack
    }

    /// Take in an in-dialog request (§12.2.2): check and record its CSeq (ACK and
    /// CANCEL reuse the INVITE's number and are exempt), and follow a target refresh
    /// (re-INVITE, UPDATE) to the new Contact. The route set never changes (§12.2).
    pub fn handle_request(&mut self, req: &rsip::Request) -> Result<(), DialogError> {
        if matches!(req.method, rsip::Method::Ack | rsip::Method::Cancel) {
            return Ok(());
        }
        let got = req
            .cseq_header()
            .ok()
            .and_then(|c| c.seq().ok())
            .ok_or(DialogError::MissingHeader("CSeq"))?;
        if got < self.remote_seq {
            return Err(DialogError::CSeqOutOfOrder {
                got,
                last: self.remote_seq,
            });
        }
        self.remote_seq = got;
        if matches!(req.method, rsip::Method::Invite | rsip::Method::Update)
            && let Some(target) = req
                .contact_header()
                .ok()
                .and_then(|c| contact_uri(c.value()))
        {
            self.remote_target = target;
        }
        Ok(())
    }

    /// Build an in-dialog request (§12.2.1.1) with the next local CSeq, addressed by
    /// the route set (see [`route`]). `local` is our sent-by address for the Via;
    /// `branch` must be fresh. Send it to [`Self::peer`].
    pub fn build_request(
        &mut self,
        method: rsip::Method,
        local: SocketAddr,
        branch: &str,
        extra_headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Option<rsip::Request> {
        self.local_seq = self.local_seq.saturating_add(1);
        let addressing = self.route_set.address(&self.remote_target);
        let mut text = String::with_capacity(512);
        use std::fmt::Write;
        let _ = write!(
            text,
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/{t} {local};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            target = addressing.request_uri,
            t = self.peer.transport.via_token(),
        );
        for route in &addressing.routes {
            let _ = write!(text, "Route: {route}\r\n");
        }
        let _ = write!(
            text,
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\nUser-Agent: Switchboard\r\n",
            self.local_header, self.remote_header, self.id.call_id, self.local_seq
        );
        for (name, value) in extra_headers {
            let _ = write!(text, "{name}: {value}\r\n");
        }
        match body {
            Some((content_type, body)) => {
                let _ = write!(
                    text,
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                text.push_str(&String::from_utf8_lossy(body));
            }
            None => text.push_str("Content-Length: 0\r\n\r\n"),
        }
        rsip::Request::try_from(text.as_str()).ok()
    }

    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The route set, first hop first.
    pub fn route_set(&self) -> &RouteSet {
        &self.route_set
    }

    /// Where requests go when the route set is empty (the peer's Contact).
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The transport dialog requests use.
    pub fn transport(&self) -> Transport {
        self.peer.transport
    }
}

fn required<T>(value: Option<T>, header: &'static str) -> Result<T, DialogError> {
    value.ok_or(DialogError::MissingHeader(header))
}

/// The remote target (the Contact URI, else the INVITE's Request-URI) and the
/// Record-Route values, in received order, of a dialog-forming message (§12.1).
fn target_and_routes<M: HeadersExt>(msg: &M, invite: &rsip::Request) -> (String, Vec<String>) {
    let target = msg
        .contact_header()
        .ok()
        .and_then(|c| contact_uri(c.value()))
        .unwrap_or_else(|| invite.uri.to_string());
    let routes = msg
        .record_route_headers()
        .iter()
        .map(|r| r.value().to_string())
        .collect();
    (target, routes)
}

/// The URI inside a Contact value: `"Bob" <sip:bob@host;transport=tcp>;expires=60`
/// → `sip:bob@host;transport=tcp`. Returns None for `*` or an empty value.
pub fn contact_uri(value: &str) -> Option<String> {
    let v = value.trim();
    if let Some(start) = v.find('<') {
        let rest = v.get(start + 1..)?;
        let end = rest.find('>')?;
        return rest.get(..end).map(str::to_string);
    }
    let uri = v.split(';').next()?.trim();
    if uri.is_empty() || uri == "*" {
        None
    } else {
        Some(uri.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc\r\n\
Record-Route: <sip:proxy1.example.com;lr>\r\n\
Record-Route: <sip:proxy2.example.com;lr>\r\n\
From: \"Alice\" <sip:alice@10.0.0.1>;tag=aaa\r\n\
To: <sip:1000@127.0.0.1>\r\n\
Call-ID: call-1@10.0.0.1\r\n\
CSeq: 7 INVITE\r\n\
Contact: <sip:alice@10.0.0.1:5070;transport=udp>\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n";

    fn peer() -> Peer {
        Peer {
            transport: Transport::Udp,
            addr: "10.0.0.1:5070".parse().unwrap(),
        }
    }

    #[test]
    fn uas_dialog_builds_bye_with_swapped_headers_and_route_set() {
        let inv = rsip::Request::try_from(INVITE).unwrap();
        let mut d = Dialog::new_uas(&inv, peer(), "bbb").unwrap();
        assert_eq!(d.id.remote_tag, "aaa");
        let bye = d
            .build_request(
                rsip::Method::Bye,
                "127.0.0.1:5060".parse().unwrap(),
                "z9hG4bKx",
                &[],
                None,
            )
            .unwrap();
        let text = bye.to_string();
        assert!(
            text.to_ascii_lowercase()
                .starts_with("bye sip:alice@10.0.0.1:5070;transport=udp sip/2.0"),
            "{text}"
        );
        assert!(
            text.contains("From: <sip:1000@127.0.0.1>;tag=bbb"),
            "{text}"
        );
        assert!(
            text.contains("To: \"Alice\" <sip:alice@10.0.0.1>;tag=aaa"),
            "{text}"
        );
        assert!(text.contains("CSeq: 1 BYE"));
        let r1 = text.find("proxy1").unwrap();
        let r2 = text.find("proxy2").unwrap();
        assert!(r1 < r2, "UAS route set keeps Record-Route order");
    }

    fn bye(d: &mut Dialog) -> String {
        d.build_request(
            rsip::Method::Bye,
            "127.0.0.1:5060".parse().unwrap(),
            "z9hG4bKx",
            &[],
            None,
        )
        .unwrap()
        .to_string()
    }

    #[test]
    fn uas_dialog_behind_a_strict_router_puts_it_in_the_request_uri() {
        // RFC 3261 §12.2.1.1 / §16.12.1.1: the first route lacks `lr`.
        let inv = rsip::Request::try_from(INVITE.replace(
            "Record-Route: <sip:proxy1.example.com;lr>",
            "Record-Route: <sip:10.0.0.7:5062;transport=udp>",
        ))
        .unwrap();
        let mut d = Dialog::new_uas(&inv, peer(), "bbb").unwrap();
        let text = bye(&mut d);
        // (The fork prints the transport parameter in capitals; it is case-insensitive.)
        assert!(
            text.to_ascii_lowercase()
                .starts_with("bye sip:10.0.0.7:5062;transport=udp sip/2.0\r\n"),
            "{text}"
        );
        let r1 = text.find("Route: <sip:proxy2.example.com;lr>").unwrap();
        let r2 = text
            .find("Route: <sip:alice@10.0.0.1:5070;transport=udp>")
            .unwrap();
        assert!(r1 < r2, "the remote target goes last: {text}");
        // Symmetric signalling: still sent to where the INVITE came from.
        assert_eq!(d.peer, peer());
    }

    #[test]
    fn uac_dialog_sends_to_the_first_record_routed_hop() {
        let inv = rsip::Request::try_from(INVITE).unwrap();
        let ok = rsip::Response::try_from(
            "SIP/2.0 200 OK\r\n\
             Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc\r\n\
             Record-Route: <sip:10.9.0.1:5090;lr>\r\n\
             Record-Route: <sip:10.9.0.2;lr;transport=tcp>\r\n\
             From: \"Alice\" <sip:alice@10.0.0.1>;tag=aaa\r\n\
             To: <sip:1000@127.0.0.1>;tag=ph1\r\n\
             Call-ID: call-1@10.0.0.1\r\n\
             CSeq: 7 INVITE\r\n\
             Contact: <sip:phone@192.168.1.20:5062>\r\n\
             Content-Length: 0\r\n\r\n",
        )
        .unwrap();
        let mut d = Dialog::new_uac(&inv, &ok, peer(), "aaa").unwrap();
        // §12.1.2: reversed; the proxy nearest to us is the last Record-Route.
        assert_eq!(
            d.route_set().entries(),
            ["<sip:10.9.0.2;lr;transport=tcp>", "<sip:10.9.0.1:5090;lr>"]
        );
        assert_eq!(d.peer.addr, "10.9.0.2:5060".parse().unwrap());
        assert_eq!(d.peer.transport, Transport::Tcp);
        let ack = d
            .build_ack("127.0.0.1:5060".parse().unwrap(), "z9hG4bKy", 7)
            .unwrap()
            .to_string();
        assert!(
            ack.starts_with("ACK sip:phone@192.168.1.20:5062 SIP/2.0"),
            "{ack}"
        );
        assert!(ack.contains("CSeq: 7 ACK"), "{ack}");
        let r1 = ack.find("Route: <sip:10.9.0.2;lr;transport=tcp>").unwrap();
        let r2 = ack.find("Route: <sip:10.9.0.1:5090;lr>").unwrap();
        assert!(r1 < r2, "{ack}");
    }

    #[test]
    fn a_reinvite_refreshes_the_remote_target_but_not_the_route_set() {
        let inv = rsip::Request::try_from(INVITE).unwrap();
        let mut d = Dialog::new_uas(&inv, peer(), "bbb").unwrap();
        let reinvite = rsip::Request::try_from(
            INVITE
                .replace("7 INVITE", "8 INVITE")
                .replace("Record-Route: <sip:proxy1.example.com;lr>\r\n", "")
                .replace("alice@10.0.0.1:5070;transport=udp", "alice@10.0.0.99:5072"),
        )
        .unwrap();
        d.handle_request(&reinvite).unwrap();
        assert_eq!(d.remote_target(), "sip:alice@10.0.0.99:5072");
        assert_eq!(d.route_set().entries().len(), 2);
        let text = bye(&mut d);
        assert!(
            text.starts_with("BYE sip:alice@10.0.0.99:5072 SIP/2.0"),
            "{text}"
        );
    }

    #[test]
    fn cseq_must_not_go_backwards() {
        let inv = rsip::Request::try_from(INVITE).unwrap();
        let mut d = Dialog::new_uas(&inv, peer(), "bbb").unwrap();
        let info = |n: u32| {
            rsip::Request::try_from(
                INVITE
                    .replace("INVITE sip", "INFO sip")
                    .replace("7 INVITE", &format!("{n} INFO")),
            )
            .unwrap()
        };
        assert!(d.handle_request(&info(8)).is_ok());
        assert_eq!(
            d.handle_request(&info(5)),
            Err(DialogError::CSeqOutOfOrder { got: 5, last: 8 })
        );
    }

    #[test]
    fn contact_uri_forms() {
        assert_eq!(
            contact_uri("<sip:a@b:5060>;expires=3").as_deref(),
            Some("sip:a@b:5060")
        );
        assert_eq!(
            contact_uri("\"X, Y\" <sip:a@b>").as_deref(),
            Some("sip:a@b")
        );
        assert_eq!(contact_uri("sip:a@b;expires=3").as_deref(), Some("sip:a@b"));
        assert_eq!(contact_uri("*"), None);
        assert_eq!(contact_uri("<sip:broken"), None);
    }
}
