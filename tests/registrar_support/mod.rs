//! A tiny digest client for the registrar tests: builds REGISTERs and answers challenges
//! the way a phone does (RFC 7616 §3.4 with qop=auth).
#![allow(dead_code)]

use switchboard::registrar::digest::{self, Algorithm, DigestInput};
use switchboard::sip::rsip;
use switchboard::sip::{Peer, Transport};

pub const REALM: &str = "switchboard";

pub fn phone_peer(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

pub fn parse_request(text: &str) -> rsip::Request {
    match switchboard::sip::parse_message(text.as_bytes()).unwrap() {
        rsip::SipMessage::Request(r) => r,
        rsip::SipMessage::Response(_) => panic!("expected a request"),
    }
}

/// A REGISTER as text. `contacts` are full Contact values (`<sip:…>;expires=…` or `*`).
#[allow(clippy::too_many_arguments)]
pub fn register_text(
    user: &str,
    call_id: &str,
    cseq: u32,
    contacts: &[&str],
    expires: Option<u32>,
    authorization: Option<&str>,
) -> String {
    let mut s = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bKreg{call_id}{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{user}@127.0.0.1>;tag=ph{call_id}\r\n\
         To: <sip:{user}@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         User-Agent: TestPhone/1.0\r\n"
    );
    for c in contacts {
        s.push_str(&format!("Contact: {c}\r\n"));
    }
    if let Some(e) = expires {
        s.push_str(&format!("Expires: {e}\r\n"));
    }
    if let Some(a) = authorization {
        s.push_str(&format!("Authorization: {a}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s
}

pub fn register(
    user: &str,
    call_id: &str,
    cseq: u32,
    contacts: &[&str],
    expires: Option<u32>,
    authorization: Option<&str>,
) -> rsip::Request {
    parse_request(&register_text(
        user,
        call_id,
        cseq,
        contacts,
        expires,
        authorization,
    ))
}

/// One `WWW-Authenticate` challenge, read the simple way a test can.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub algorithm: String,
    pub nonce: String,
    pub realm: String,
    pub stale: bool,
    pub qop: String,
}

fn param(value: &str, name: &str) -> Option<String> {
    let start = value.find(&format!("{name}="))? + name.len() + 1;
    let rest = &value[start..];
    if let Some(q) = rest.strip_prefix('"') {
        Some(q[..q.find('"')?].to_string())
    } else {
        Some(rest.split(',').next()?.trim().to_string())
    }
}

pub fn parse_challenge(value: &str) -> Challenge {
    assert!(value.starts_with("Digest "), "{value}");
    Challenge {
        algorithm: param(value, "algorithm").unwrap(),
        nonce: param(value, "nonce").unwrap(),
        realm: param(value, "realm").unwrap(),
        stale: param(value, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        qop: param(value, "qop").unwrap_or_default(),
    }
}

/// The WWW-Authenticate challenges of a response, in order.
pub fn challenges(resp: &rsip::Response) -> Vec<Challenge> {
    resp.headers
        .iter()
        .filter_map(|h| match h {
            rsip::Header::WwwAuthenticate(w) => Some(parse_challenge(&w.0)),
            _ => None,
        })
        .collect()
}

/// An `Authorization` value answering `ch` for method REGISTER on `sip:127.0.0.1`.
pub fn authorization(ch: &Challenge, method: &str, user: &str, password: &str, nc: u32) -> String {
    let algorithm = Algorithm::from_token(&ch.algorithm).unwrap();
    let nc = format!("{nc:08x}");
    let cnonce = "0a4f113b";
    let uri = "sip:127.0.0.1";
    let response = digest::response(&DigestInput {
        algorithm,
        username: user,
        realm: &ch.realm,
        password,
        method,
        uri,
        nonce: &ch.nonce,
        qop_auth: Some((&nc, cnonce)),
    });
    format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={}, cnonce=\"{cnonce}\", qop=auth, nc={nc}",
        ch.realm, ch.nonce, ch.algorithm
    )
}

/// Contact values of a response, as `(uri, expires)`.
pub fn response_contacts(resp: &rsip::Response) -> Vec<(String, u32)> {
    resp.headers
        .iter()
        .filter_map(|h| match h {
            rsip::Header::Contact(c) => {
                let v = c.0.trim();
                let uri = v[v.find('<')? + 1..v.find('>')?].to_string();
                let exp = param(v, "expires")?.parse().ok()?;
                Some((uri, exp))
            }
            _ => None,
        })
        .collect()
}

pub fn min_expires(resp: &rsip::Response) -> Option<String> {
    resp.headers.iter().find_map(|h| match h {
        rsip::Header::MinExpires(v) => Some(v.0.trim().to_string()),
        _ => None,
    })
}
