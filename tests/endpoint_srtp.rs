//! A caller's SRTP offer through the sans-IO endpoint under each `[server] srtp` policy
//! (issue 17): the answer's profile and `a=crypto` line, the keys handed to the media
//! plane, and the 488s the policy asks for.

use std::time::Instant;

use jiff::Timestamp;
use switchboard::call::{DemoIvr, MediaCommand};
use switchboard::config::ServerConfig;
use switchboard::endpoint::{Endpoint, EndpointConfig, Output};
use switchboard::media::srtp::{CryptoSuite, MasterKey, SrtpPolicy};
use switchboard::sip::{Peer, Transport};

const CALLER_KEY: &str = "AYhV8f5kIoC/8e81ZUZRojbj6eCoHTa9TDwc02Sp";

fn sdp(profile: &str, crypto: bool) -> String {
    let mut s = format!(
        "v=0\r\no=trunk 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
         m=audio 4000 {profile} 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
    );
    if crypto {
        s.push_str(&format!(
            "a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:{CALLER_KEY}\r\n"
        ));
    }
    s
}

/// The INVITE with `body` from a trunk over `transport`: what we sent back and the
/// media commands.
fn offer(policy: SrtpPolicy, transport: Transport, body: &str) -> (Vec<String>, Vec<MediaCommand>) {
    offer_to("sip", policy, transport, body)
}

/// The same with the Request-URI's and To's scheme `scheme` (`sips` for RFC 5630).
fn offer_to(
    scheme: &str,
    policy: SrtpPolicy,
    transport: Transport,
    body: &str,
) -> (Vec<String>, Vec<MediaCommand>) {
    let server = ServerConfig {
        trunks: vec!["10.0.0.0/8".parse().unwrap()],
        srtp: policy,
        ..ServerConfig::default()
    };
    let cfg = EndpointConfig::from_server(&server, "127.0.0.1:5060".parse().unwrap());
    let mut ep = Endpoint::new(cfg, Box::new(|_| Box::new(DemoIvr::default())), 7);
    let t = match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
    };
    let invite = format!(
        "INVITE {scheme}:1000@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/{t} 10.0.0.1:5070;branch=z9hG4bKs1\r\n\
         From: <{scheme}:5551234@10.0.0.1>;tag=t1\r\nTo: <{scheme}:1000@127.0.0.1>\r\nCall-ID: srtp-1\r\n\
         CSeq: 1 INVITE\r\nContact: <{scheme}:alice@10.0.0.1:5070>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let peer = Peer {
        transport,
        addr: "10.0.0.1:5070".parse().unwrap(),
    };
    ep.handle_sip(
        Instant::now(),
        Timestamp::UNIX_EPOCH,
        peer,
        invite.as_bytes(),
    );
    let (mut sent, mut media) = (Vec::new(), Vec::new());
    while let Some(o) = ep.poll_output() {
        match o {
            Output::Transmit(t) => sent.push(String::from_utf8_lossy(&t.payload).to_string()),
            Output::Media(m) => media.push(m),
            _ => {}
        }
    }
    (sent, media)
}

fn final_status(sent: &[String]) -> String {
    sent.iter()
        .filter_map(|m| m.lines().next())
        .filter(|l| l.starts_with("SIP/2.0 ") && !l.starts_with("SIP/2.0 1"))
        .map(str::to_string)
        .next()
        .unwrap_or_default()
}

#[test]
fn an_srtp_offer_over_tls_is_answered_with_srtp_and_the_keys_reach_the_media_plane() {
    let (sent, media) = offer(SrtpPolicy::Optional, Transport::Tls, &sdp("RTP/SAVP", true));
    assert_eq!(final_status(&sent), "SIP/2.0 200 OK", "{sent:#?}");
    let ok = sent.iter().find(|m| m.starts_with("SIP/2.0 200")).unwrap();
    assert!(ok.contains("RTP/SAVP 0 101"), "{ok}");
    // Our answer: the caller's tag and suite, our own fresh key.
    let line = ok
        .lines()
        .find(|l| l.starts_with("a=crypto:"))
        .unwrap_or_else(|| panic!("no a=crypto in the answer:\n{ok}"));
    assert!(
        line.starts_with("a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{line}"
    );
    assert!(
        !line.contains(CALLER_KEY),
        "never echo the caller's key: {line}"
    );
    // Over TLS our Via and Contact name the TLS transport.
    assert!(ok.contains("transport=tls"), "{ok}");
    let params = media
        .iter()
        .find_map(|m| match m {
            MediaCommand::Open { params, .. } => params.srtp.clone(),
            _ => None,
        })
        .expect("the media plane gets the keys");
    assert_eq!(params.suite, CryptoSuite::AesCm128HmacSha1_32);
    assert_eq!(params.remote, MasterKey::from_inline(CALLER_KEY).unwrap());
    let ours = line.split("inline:").nth(1).unwrap().trim();
    assert_eq!(params.local, MasterKey::from_inline(ours).unwrap());
}

#[test]
fn the_policy_refuses_what_it_must_with_488() {
    // `required`: a plain offer is refused.
    let (sent, _) = offer(SrtpPolicy::Required, Transport::Udp, &sdp("RTP/AVP", false));
    assert!(final_status(&sent).starts_with("SIP/2.0 488"), "{sent:#?}");
    // `off`: an RTP/SAVP offer is refused; RTP/AVP with crypto is answered plain.
    let (sent, _) = offer(SrtpPolicy::Off, Transport::Udp, &sdp("RTP/SAVP", true));
    assert!(final_status(&sent).starts_with("SIP/2.0 488"), "{sent:#?}");
    let (sent, media) = offer(SrtpPolicy::Off, Transport::Udp, &sdp("RTP/AVP", true));
    assert_eq!(final_status(&sent), "SIP/2.0 200 OK");
    let ok = sent.iter().find(|m| m.starts_with("SIP/2.0 200")).unwrap();
    assert!(ok.contains("RTP/AVP") && !ok.contains("a=crypto"), "{ok}");
    assert!(
        media
            .iter()
            .all(|m| !matches!(m, MediaCommand::Open { params, .. } if params.srtp.is_some()))
    );
    // `optional`: a plain offer stays plain.
    let (sent, _) = offer(SrtpPolicy::Optional, Transport::Udp, &sdp("RTP/AVP", false));
    assert_eq!(final_status(&sent), "SIP/2.0 200 OK");
    assert!(!sent.iter().any(|m| m.contains("a=crypto")));
}

#[test]
fn a_sips_invite_over_tls_is_taken() {
    let (sent, media) = offer_to(
        "sips",
        SrtpPolicy::Required,
        Transport::Tls,
        &sdp("RTP/SAVP", true),
    );
    assert_eq!(final_status(&sent), "SIP/2.0 200 OK", "{sent:#?}");
    assert!(
        media
            .iter()
            .any(|m| matches!(m, MediaCommand::Open { params, .. } if params.srtp.is_some()))
    );
}
