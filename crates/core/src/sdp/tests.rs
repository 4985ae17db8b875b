//! Table tests over real-world-looking offers (Asterisk, FreeSWITCH, Cisco, Polycom,
//! Linphone, T.38 gateways), plus round trips: every answer and offer we build is parsed
//! back with webrtc-sdp and with our own parser, and must carry the negotiated values.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use super::*;

mod negotiation;

const LOCAL: LocalMedia = LocalMedia {
    ip: IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)),
    port: 30000,
    session_id: 4242,
    session_version: 7,
};

fn addr(s: &str) -> Option<SocketAddr> {
    Some(s.parse().unwrap())
}

/// Offers are written with `\n`; most tests send them with CRLF like the wire does.
fn crlf(s: &str) -> String {
    s.replace('\n', "\r\n")
}

const ASTERISK_PCMU: &str = "v=0
o=- 1712345678 1712345678 IN IP4 198.51.100.10
s=Asterisk
c=IN IP4 198.51.100.10
t=0 0
m=audio 10000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
";

const FREESWITCH_PCMA: &str = "v=0
o=FreeSWITCH 1712340000 1712340001 IN IP4 198.51.100.7
s=FreeSWITCH
c=IN IP4 198.51.100.7
t=0 0
m=audio 24680 RTP/AVP 8 96
a=rtpmap:8 PCMA/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-16
a=ptime:20
a=rtcp:24681 IN IP4 198.51.100.7
";

/// G.722 first (unsupported), then PCMA before PCMU: the offer's order must win.
const FREESWITCH_MANY: &str = "v=0
o=FreeSWITCH 1712340000 1712340001 IN IP4 198.51.100.7
s=FreeSWITCH
c=IN IP4 198.51.100.7
t=0 0
m=audio 16384 RTP/AVP 9 8 0 18 101 13
a=rtpmap:9 G722/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=rtpmap:13 CN/8000
a=silenceSupp:off - - - -
a=ptime:20
";

const CISCO_G729: &str = "v=0
o=CiscoSystemsSIP-GW-UserAgent 4521 8897 IN IP4 203.0.113.5
s=SIP Call
c=IN IP4 203.0.113.5
t=0 0
m=audio 17228 RTP/AVP 18 101
c=IN IP4 203.0.113.5
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
";

/// WebRTC-ish gateway: opus first, telephone-event/48000 (not for G.711) before /8000.
const OPUS_TE122: &str = "v=0
o=- 8093 8094 IN IP4 203.0.113.20
s=-
c=IN IP4 203.0.113.20
t=0 0
m=audio 2222 RTP/AVP 111 0 8 110 122
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:110 telephone-event/48000
a=rtpmap:122 telephone-event/8000
a=fmtp:122 0-15
";

/// Static PTs without rtpmap (RFC 4566 §6 allows it; trunks do it all the time).
const NO_STATIC_RTPMAP: &str = "v=0
o=root 123 456 IN IP4 203.0.113.30
s=call
c=IN IP4 203.0.113.30
t=0 0
m=audio 4000 RTP/AVP 0 8 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
";

const HOLD_SENDONLY: &str = "v=0
o=- 1712345678 1712345679 IN IP4 198.51.100.10
s=Asterisk
c=IN IP4 198.51.100.10
t=0 0
m=audio 10000 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendonly
";

/// RFC 2543 hold: c=0.0.0.0, no direction attribute.
const HOLD_ZERO_ADDR: &str = "v=0
o=CiscoSystemsSIP-GW-UserAgent 4521 8898 IN IP4 203.0.113.5
s=SIP Call
c=IN IP4 0.0.0.0
t=0 0
m=audio 17228 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
";

const HOLD_INACTIVE: &str = "v=0
o=Polycom 1 3 IN IP4 10.1.2.3
s=-
c=IN IP4 10.1.2.3
t=0 0
a=sendrecv
m=audio 2230 RTP/AVP 8 0 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=inactive
";

/// Media-level c= and direction override the session level.
const MEDIA_LEVEL_OVERRIDES: &str = "v=0
o=- 5 5 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
a=sendonly
m=audio 5000 RTP/AVP 0
c=IN IP4 10.0.0.2
a=sendrecv
";

/// Only session-level direction and no session c=: everything from the levels that exist.
const SESSION_LEVEL_DIRECTION: &str = "v=0
o=- 5 6 IN IP4 10.0.0.1
s=-
t=0 0
a=recvonly
m=audio 5002 RTP/AVP 8
c=IN IP4 10.0.0.3
";

const IPV6: &str = "v=0
o=- 9 9 IN IP6 2001:db8::10
s=-
c=IN IP6 2001:db8::10
t=0 0
m=audio 5004 RTP/AVP 0 8 101
a=rtpmap:101 telephone-event/8000
a=ptime:20
";

/// Polycom/Linphone style audio + video; the video section carries WebRTC-era
/// attributes we never look at.
const AUDIO_VIDEO: &str = "v=0
o=Polycom 1712300000 1712300000 IN IP4 10.1.2.3
s=Polycom IP Phone
c=IN IP4 10.1.2.3
b=AS:2048
t=0 0
m=audio 2226 RTP/AVP 9 0 8 101
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
m=video 2228 RTP/AVP 109 34
b=TIAS:2048000
a=rtpmap:109 H264/90000
a=fmtp:109 profile-level-id=42801F;packetization-mode=0;this=is;not=parsed
a=rtpmap:34 H263/90000
a=rtcp-fb:* nack pli
a=content:main
a=sendrecv
";

/// Audio + T.38 with its own c= line: plain webrtc-sdp drops the udptl m= line and then
/// fails on a second c= in the audio section.
const AUDIO_T38: &str = "v=0
o=gw 100 101 IN IP4 203.0.113.9
s=-
t=0 0
m=audio 6000 RTP/AVP 8 101
c=IN IP4 203.0.113.9
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:30
m=image 6002 udptl t38
c=IN IP4 203.0.113.19
a=T38FaxVersion:0
a=T38MaxBitRate:14400
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxBuffer:200
a=T38FaxMaxDatagram:72
a=T38FaxUdpEC:t38UDPRedundancy
";

/// Best-effort SRTP: an RTP/SAVP copy first, then plain RTP/AVP.
const SAVP_THEN_AVP: &str = "v=0
o=- 77 77 IN IP4 10.9.9.9
s=-
c=IN IP4 10.9.9.9
t=0 0
m=audio 7000 RTP/SAVP 0 101
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
a=rtpmap:101 telephone-event/8000
m=audio 7002 RTP/AVP 0 101
a=rtpmap:101 telephone-event/8000
";

/// PCMU bound to a dynamic PT, and lines webrtc-sdp refuses (e=, u=, p=) or cannot read
/// (a broken rtpmap for a codec we would not pick anyway).
const ODD_BUT_USABLE: &str = "v=0
o=- 3 3 IN IP4 10.4.4.4
s=-
u=http://example.com/
e=ops@example.com
p=+1 555 0100
c=IN IP4 10.4.4.4
t=0 0
m=audio 8000 RTP/AVP 18 96 97
i=voice
a=rtpmap:18 G729
a=rtpmap:96 pcmu/8000/1
a=rtpmap:97 telephone-event/8000
a=X-nat:0
";

struct Case {
    name: &'static str,
    sdp: &'static str,
    codec: (Codec, u8),
    te: Option<u8>,
    remote: Option<&'static str>,
    peer_direction: Direction,
    our_direction: Direction,
    ptime: Option<u32>,
    audio_index: usize,
    media_count: usize,
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Codec::*;
    use Direction::*;
    let c = |name, sdp, codec, te, remote, peer_direction, our_direction, ptime, audio_index, media_count| Case {
        name, sdp, codec, te, remote, peer_direction, our_direction, ptime, audio_index, media_count,
    };
    vec![
        c("asterisk pcmu", ASTERISK_PCMU, (Pcmu, 0), Some(101), Some("198.51.100.10:10000"), SendRecv, SendRecv, Some(20), 0, 1),
        c("freeswitch pcma", FREESWITCH_PCMA, (Pcma, 8), Some(96), Some("198.51.100.7:24680"), SendRecv, SendRecv, Some(20), 0, 1),
        c("offer order honoured", FREESWITCH_MANY, (Pcma, 8), Some(101), Some("198.51.100.7:16384"), SendRecv, SendRecv, Some(20), 0, 1),
        c("te 122, te/48000 skipped", OPUS_TE122, (Pcmu, 0), Some(122), Some("203.0.113.20:2222"), SendRecv, SendRecv, None, 0, 1),
        c("static PTs without rtpmap", NO_STATIC_RTPMAP, (Pcmu, 0), Some(101), Some("203.0.113.30:4000"), SendRecv, SendRecv, None, 0, 1),
        c("hold sendonly", HOLD_SENDONLY, (Pcmu, 0), Some(101), Some("198.51.100.10:10000"), SendOnly, RecvOnly, None, 0, 1),
        c("hold c=0.0.0.0", HOLD_ZERO_ADDR, (Pcmu, 0), Some(101), None, SendRecv, RecvOnly, None, 0, 1),
        c("hold inactive", HOLD_INACTIVE, (Pcma, 8), Some(101), Some("10.1.2.3:2230"), Inactive, Inactive, None, 0, 1),
        c("media-level overrides", MEDIA_LEVEL_OVERRIDES, (Pcmu, 0), None, Some("10.0.0.2:5000"), SendRecv, SendRecv, None, 0, 1),
        c("session-level direction", SESSION_LEVEL_DIRECTION, (Pcma, 8), None, Some("10.0.0.3:5002"), RecvOnly, SendOnly, None, 0, 1),
        c("ipv6", IPV6, (Pcmu, 0), Some(101), Some("[2001:db8::10]:5004"), SendRecv, SendRecv, Some(20), 0, 1),
        c("audio + video", AUDIO_VIDEO, (Pcmu, 0), Some(101), Some("10.1.2.3:2226"), SendRecv, SendRecv, None, 0, 2),
        c("audio + t38, ptime 30", AUDIO_T38, (Pcma, 8), Some(101), Some("203.0.113.9:6000"), SendRecv, SendRecv, Some(30), 0, 2),
        c("savp then avp", SAVP_THEN_AVP, (Pcmu, 0), Some(101), Some("10.9.9.9:7002"), SendRecv, SendRecv, None, 1, 2),
        c("dynamic pcmu, odd lines", ODD_BUT_USABLE, (Pcmu, 96), Some(97), Some("10.4.4.4:8000"), SendRecv, SendRecv, None, 0, 1),
    ]
}

#[test]
fn offers_parse_negotiate_and_answer() {
    for case in cases() {
        for body in [crlf(case.sdp), case.sdp.to_owned()] {
            let offer = parse(body.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            let name = case.name;
            assert_eq!(offer.rtp_addr, case.remote.and_then(addr), "{name}");
            assert_eq!(offer.telephone_event_pt, case.te, "{name}");
            assert_eq!(offer.direction, case.peer_direction, "{name}");
            assert_eq!(offer.ptime, case.ptime, "{name}");
            assert_eq!(offer.audio_index, case.audio_index, "{name}");
            assert_eq!(offer.media_count, case.media_count, "{name}");
            assert_eq!(offer.media_lines.len(), case.media_count, "{name}");

            let neg = negotiate(&offer, &Codec::ALL).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((neg.codec, neg.payload_type), case.codec, "{name}");
            assert_eq!(neg.telephone_event_pt, case.te, "{name}");
            assert_eq!(neg.remote, offer.rtp_addr, "{name}");
            assert_eq!(neg.direction, case.our_direction, "{name}");
            assert_eq!(neg.ptime_ms, 20, "{name}");

            let answer = build_answer(&offer, &neg, &LOCAL, None);
            check_answer(name, &offer, &neg, &answer);
        }
    }
}

/// The answer must parse with webrtc-sdp, keep the m= lines in place, and tell the
/// offerer exactly what we negotiated.
fn check_answer(name: &str, offer: &RemoteMedia, neg: &Negotiated, answer: &str) {
    webrtc_sdp::parse_sdp(answer, false).unwrap_or_else(|e| panic!("{name}: {e}\n{answer}"));
    assert!(
        answer.ends_with("\r\n") && !answer.contains("\n\n"),
        "{name}"
    );
    let back = parse(answer.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}\n{answer}"));
    assert_eq!(back.media_count, offer.media_count, "{name}");
    assert_eq!(back.audio_index, offer.audio_index, "{name}");
    for (i, (ours, theirs)) in back.media_lines.iter().zip(&offer.media_lines).enumerate() {
        assert_eq!(ours.media, theirs.media, "{name} m-line {i}");
        assert_eq!(ours.proto, theirs.proto, "{name} m-line {i}");
        if i != offer.audio_index {
            assert_eq!(ours.port, 0, "{name}: m-line {i} must be rejected");
            assert_eq!(ours.formats, theirs.formats, "{name} m-line {i}");
        }
    }
    assert_eq!(
        back.rtp_addr,
        Some(SocketAddr::new(LOCAL.ip, LOCAL.port)),
        "{name}"
    );
    assert_eq!((back.session_id, back.session_version), (4242, 7), "{name}");
    assert_eq!(back.direction, neg.direction, "{name}");
    assert_eq!(back.ptime, Some(20), "{name}");
    let mut expected = vec![OfferedFormat {
        pt: neg.payload_type,
        encoding: neg.codec.name().to_owned(),
        clock_rate: 8000,
        channels: 1,
    }];
    if let Some(pt) = neg.telephone_event_pt {
        expected.push(OfferedFormat {
            pt,
            encoding: "telephone-event".to_owned(),
            clock_rate: 8000,
            channels: 1,
        });
        assert!(answer.contains(&format!("a=fmtp:{pt} 0-16\r\n")), "{name}");
    }
    assert_eq!(back.codecs, expected, "{name}");

    // The offerer's view of our answer mirrors ours.
    let theirs = parse_answer(answer.as_bytes(), &Codec::ALL).unwrap();
    assert_eq!(
        (theirs.codec, theirs.payload_type),
        (neg.codec, neg.payload_type),
        "{name}"
    );
    assert_eq!(theirs.telephone_event_pt, neg.telephone_event_pt, "{name}");
    assert_eq!(theirs.direction, neg.direction.reversed(), "{name}");
    assert_eq!(theirs.remote, back.rtp_addr, "{name}");
}

#[test]
fn answer_text_is_compact_and_exact() {
    let offer = parse(crlf(AUDIO_T38).as_bytes()).unwrap();
    let neg = negotiate(&offer, &Codec::ALL).unwrap();
    assert_eq!(
        build_answer(&offer, &neg, &LOCAL, None),
        "v=0\r\no=- 4242 7 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n\
         m=image 0 udptl t38\r\n"
    );
}

#[test]
fn ipv6_local_writes_ip6() {
    let local = LocalMedia {
        ip: "2001:db8::1".parse().unwrap(),
        ..LOCAL
    };
    let offer = parse(IPV6.as_bytes()).unwrap();
    let neg = negotiate(&offer, &Codec::ALL).unwrap();
    let answer = build_answer(&offer, &neg, &local, None);
    assert!(
        answer.contains("o=- 4242 7 IN IP6 2001:db8::1\r\n"),
        "{answer}"
    );
    assert!(answer.contains("c=IN IP6 2001:db8::1\r\n"), "{answer}");
    let back = parse(answer.as_bytes()).unwrap();
    assert_eq!(back.rtp_addr, addr("[2001:db8::1]:30000"));
}
