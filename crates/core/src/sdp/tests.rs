//! Table tests over real-world-looking offers (Asterisk, FreeSWITCH, Cisco, Polycom,
//! Linphone, T.38 gateways), plus round trips: every answer and offer we build is parsed
//! back with webrtc-sdp and with our own parser, and must carry the negotiated values.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;

use super::*;

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

#[test]
fn preference_restricts_but_offer_order_decides() {
    let offer = parse(FREESWITCH_MANY.as_bytes()).unwrap();
    assert_eq!(
        negotiate(&offer, &[Codec::Pcmu]).unwrap().codec,
        Codec::Pcmu
    );
    assert_eq!(
        negotiate(&offer, &[Codec::Pcmu, Codec::Pcma])
            .unwrap()
            .codec,
        Codec::Pcma
    );
    let pcmu_only = parse(ASTERISK_PCMU.as_bytes()).unwrap();
    assert!(matches!(
        negotiate(&pcmu_only, &[Codec::Pcma]),
        Err(SdpError::NoCommonCodec { .. })
    ));
}

#[test]
fn g729_only_is_no_common_codec() {
    let offer = parse(CISCO_G729.as_bytes()).unwrap();
    let err = negotiate(&offer, &Codec::ALL).unwrap_err();
    assert_eq!(
        err,
        SdpError::NoCommonCodec {
            offered: vec![
                "G729/8000 (PT 18)".to_owned(),
                "telephone-event/8000 (PT 101)".to_owned()
            ]
        }
    );
    assert!(err.to_string().contains("PCMU and PCMA"));
}

#[test]
fn caller_can_hold_but_not_contradict_the_offer() {
    let offer = parse(HOLD_SENDONLY.as_bytes()).unwrap();
    let mut neg = negotiate(&offer, &Codec::ALL).unwrap();
    neg.direction = Direction::SendRecv; // not allowed: the peer does not want media
    let answer = build_answer(&offer, &neg, &LOCAL, None);
    assert!(answer.contains("a=recvonly\r\n"), "{answer}");

    let offer = parse(ASTERISK_PCMU.as_bytes()).unwrap();
    let mut neg = negotiate(&offer, &Codec::ALL).unwrap();
    neg.direction = Direction::Inactive; // we put the peer on hold
    let answer = build_answer(&offer, &neg, &LOCAL, None);
    assert!(answer.contains("a=inactive\r\n"), "{answer}");
}

#[test]
fn disabled_audio_is_answered_with_port_zero() {
    let body = ASTERISK_PCMU.replace("m=audio 10000", "m=audio 0");
    let offer = parse(body.as_bytes()).unwrap();
    assert_eq!((offer.port, offer.rtp_addr), (0, None));
    assert!(offer.is_hold());
    let neg = negotiate(&offer, &Codec::ALL).unwrap();
    assert_eq!(neg.direction, Direction::Inactive);
    let answer = build_answer(&offer, &neg, &LOCAL, None);
    assert!(answer.contains("m=audio 0 RTP/AVP 0 101\r\n"), "{answer}");
    webrtc_sdp::parse_sdp(&answer, false).unwrap();
    assert_eq!(
        parse_answer(answer.as_bytes(), &Codec::ALL),
        Err(SdpError::AudioRejected)
    );
}

#[test]
fn audio_with_port_preferred_over_disabled_audio() {
    let body = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                m=audio 0 RTP/AVP 0\r\nm=audio 4000 RTP/AVP 8\r\n";
    let offer = parse(body.as_bytes()).unwrap();
    assert_eq!((offer.audio_index, offer.port), (1, 4000));
    let neg = negotiate(&offer, &Codec::ALL).unwrap();
    let answer = build_answer(&offer, &neg, &LOCAL, None);
    check_answer("two audio", &offer, &neg, &answer);
}

#[test]
fn hold_detection() {
    for (sdp, hold) in [
        (ASTERISK_PCMU, false),
        (HOLD_SENDONLY, true),
        (HOLD_ZERO_ADDR, true),
        (HOLD_INACTIVE, true),
        (SESSION_LEVEL_DIRECTION, false),
    ] {
        assert_eq!(parse(sdp.as_bytes()).unwrap().is_hold(), hold, "{sdp}");
    }
}

#[test]
fn origin_and_static_table() {
    let offer = parse(NO_STATIC_RTPMAP.as_bytes()).unwrap();
    assert_eq!((offer.session_id, offer.session_version), (123, 456));
    let names: Vec<(u8, &str, u32)> = offer
        .codecs
        .iter()
        .map(|f| (f.pt, f.encoding.as_str(), f.clock_rate))
        .collect();
    assert_eq!(
        names,
        [
            (0, "PCMU", 8000),
            (8, "PCMA", 8000),
            (101, "telephone-event", 8000)
        ]
    );
    let offer = parse(ASTERISK_PCMU.as_bytes()).unwrap();
    assert_eq!(offer.maxptime, Some(150));
}

#[test]
fn unusable_bodies_are_errors() {
    let no_audio = |offered: &[&str]| SdpError::NoAudio {
        offered: offered.iter().map(|s| (*s).to_owned()).collect(),
    };
    type Check = fn(&SdpError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty", b"".to_vec(), |e| {
            matches!(e, SdpError::Syntax { .. })
        }),
        ("text", b"hello world".to_vec(), |e| {
            matches!(e, SdpError::Syntax { line: 1, .. })
        }),
        ("not utf-8", b"v=0\r\ns=\xff\xfe\r\n".to_vec(), |e| {
            matches!(e, SdpError::NotUtf8 { valid_up_to: 7 })
        }),
        ("version only", b"v=0\r\n".to_vec(), |e| {
            matches!(e, SdpError::Syntax { .. })
        }),
        (
            "missing t=",
            ASTERISK_PCMU.replace("t=0 0\n", "").into_bytes(),
            |e| matches!(e, SdpError::Syntax { line: 0, .. }),
        ),
        (
            "missing c=",
            ASTERISK_PCMU
                .replace("c=IN IP4 198.51.100.10\n", "")
                .into_bytes(),
            |e| matches!(e, SdpError::Syntax { .. }),
        ),
        (
            "bad c= address",
            ASTERISK_PCMU
                .replace("198.51.100.10\nt", "198.51.100.300\nt")
                .into_bytes(),
            |e| matches!(e, SdpError::Syntax { line: 4, .. }),
        ),
        (
            "fqdn c=",
            ASTERISK_PCMU
                .replace("c=IN IP4 198.51.100.10", "c=IN IP4 media.example.com")
                .into_bytes(),
            |e| matches!(e, SdpError::ConnectionNotIp { host } if host == "media.example.com"),
        ),
        (
            "bad origin",
            ASTERISK_PCMU
                .replace("o=- 1712345678", "o=- x")
                .into_bytes(),
            |e| matches!(e, SdpError::Syntax { line: 2, .. }),
        ),
        (
            "bad pt",
            ASTERISK_PCMU
                .replace("RTP/AVP 0 101", "RTP/AVP 0 abc")
                .into_bytes(),
            |e| matches!(e, SdpError::Syntax { line: 6, .. }),
        ),
        (
            "m= before v=",
            format!("m=audio 1 RTP/AVP 0\n{ASTERISK_PCMU}").into_bytes(),
            |e| matches!(e, SdpError::Syntax { .. }),
        ),
    ];
    for (name, body, check) in cases {
        let err = parse(&body).unwrap_err();
        assert!(check(&err), "{name}: {err:?}");
    }
    assert_eq!(
        parse(
            SAVP_THEN_AVP
                .replace("RTP/SAVP", "RTP/SAVPF")
                .replace("7002 RTP/AVP", "7002 UDP/TLS/RTP/SAVP")
                .as_bytes()
        ),
        Err(no_audio(&["audio RTP/SAVPF", "audio UDP/TLS/RTP/SAVP"]))
    );
    // Two SRTP copies: the first is the stream (the SRTP policy decides whether to
    // answer it, see sdp::crypto).
    let both = parse(
        SAVP_THEN_AVP
            .replace("7002 RTP/AVP", "7002 RTP/SAVP")
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        (both.profile, both.audio_index, both.crypto.len()),
        (RtpProfile::Savp, 0, 1)
    );
    let video_only = AUDIO_VIDEO.replace("m=audio 2226 RTP/AVP", "m=text 2226 RTP/AVP");
    assert_eq!(
        parse(video_only.as_bytes()),
        Err(no_audio(&["text RTP/AVP", "video RTP/AVP"]))
    );
    let t38_only = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=image 4000 udptl t38\r\n";
    assert_eq!(parse(t38_only.as_bytes()), Err(no_audio(&["image udptl"])));
}

#[test]
fn plain_webrtc_sdp_fails_where_we_do_not() {
    // Documents why `scan` exists; if webrtc-sdp learns these, the pre-pass can shrink.
    assert!(webrtc_sdp::parse_sdp(&crlf(AUDIO_T38), false).is_err());
    assert!(webrtc_sdp::parse_sdp(&crlf(ODD_BUT_USABLE), false).is_err());
}

#[test]
fn offers_round_trip() {
    for (codecs, te, direction) in [
        (vec![Codec::Pcmu, Codec::Pcma], 101, Direction::SendRecv),
        (vec![Codec::Pcma], 96, Direction::SendOnly),
        (vec![Codec::Pcma, Codec::Pcmu], 127, Direction::Inactive),
    ] {
        let offer_text = build_offer(&LOCAL, &codecs, te, direction, RtpProfile::Avp, &[]);
        webrtc_sdp::parse_sdp(&offer_text, true).unwrap_or_else(|e| panic!("{e}\n{offer_text}"));
        let offer = parse(offer_text.as_bytes()).unwrap();
        assert_eq!(offer.rtp_addr, Some(SocketAddr::new(LOCAL.ip, LOCAL.port)));
        assert_eq!(offer.direction, direction);
        assert_eq!(offer.telephone_event_pt, Some(te));
        assert_eq!(offer.ptime, Some(20));
        assert_eq!(offer.media_count, 1);
        let pts: Vec<u8> = offer.codecs.iter().map(|f| f.pt).collect();
        let mut expected: Vec<u8> = codecs.iter().map(|c| c.payload_type()).collect();
        expected.push(te);
        assert_eq!(pts, expected);

        // The far end answers our offer; we read its answer.
        let far = LocalMedia {
            ip: "198.51.100.50".parse().unwrap(),
            port: 40000,
            session_id: 1,
            session_version: 1,
        };
        let their_neg = negotiate(&offer, &Codec::ALL).unwrap();
        assert_eq!(their_neg.codec, *codecs.first().unwrap());
        let answer = build_answer(&offer, &their_neg, &far, None);
        let ours = parse_answer(answer.as_bytes(), &codecs).unwrap();
        assert_eq!(ours.codec, their_neg.codec);
        assert_eq!(ours.payload_type, their_neg.codec.payload_type());
        assert_eq!(ours.telephone_event_pt, Some(te));
        assert_eq!(ours.remote, addr("198.51.100.50:40000"));
        assert_eq!(ours.direction, direction.intersect(Direction::SendRecv));
    }
}

#[test]
fn answer_with_unoffered_codec_is_rejected() {
    let answer = CISCO_G729;
    assert!(matches!(
        parse_answer(answer.as_bytes(), &Codec::ALL),
        Err(SdpError::NoCommonCodec { .. })
    ));
}

#[test]
fn direction_algebra() {
    use Direction::*;
    for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
        assert_eq!(d.reversed().reversed(), d);
        assert_eq!(Direction::from_flags(d.sends(), d.receives()), d);
        assert_eq!(d.intersect(SendRecv), d);
        assert_eq!(d.intersect(Inactive), Inactive);
    }
    assert_eq!(SendOnly.reversed(), RecvOnly);
    assert_eq!(SendOnly.intersect(RecvOnly), Inactive);
    assert_eq!(Direction::default(), SendRecv);
}

/// Lines an SDP-ish generator picks from, including broken ones.
const VOCABULARY: &[&str] = &[
    "v=0",
    "v=1",
    "o=- 1 2 IN IP4 10.0.0.1",
    "o=- 1 2 IN IP6 ::1",
    "o=x",
    "s=-",
    "s=",
    "c=IN IP4 10.0.0.1",
    "c=IN IP4 0.0.0.0",
    "c=IN IP6 2001:db8::1",
    "c=IN IP4 host.example",
    "c=IN IP4 224.2.1.1/127/3",
    "c=IN",
    "t=0 0",
    "t=x",
    "m=audio 4000 RTP/AVP 0 8 101",
    "m=audio 0 RTP/AVP 0",
    "m=audio 4000 RTP/SAVP 0",
    "m=audio 99999 RTP/AVP 0",
    "m=audio 4000 RTP/AVP 300",
    "m=video 5000 RTP/AVP 96",
    "m=image 6000 udptl t38",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "m=audio 4000/2 RTP/AVP 18",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=rtpmap:101",
    "a=rtpmap:300 X/1",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=ptime:-1",
    "a=maxptime:99999999999",
    "a=sendonly",
    "a=recvonly",
    "a=inactive",
    "a=sendrecv",
    "a=sendrecv:x",
    "a=T38FaxVersion:0",
    "a=",
    "b=AS:64",
    "e=x@y",
    "i=info",
    "z=0 0",
    "x=unknown",
    "garbage",
    "=",
    "m=",
    "a=rtcp:4001 IN IP4 10.0.0.1",
    "a=ssrc:1 cname:x",
];

fn sdpish() -> impl Strategy<Value = String> {
    let line = || {
        prop_oneof![
            8 => proptest::sample::select(VOCABULARY).prop_map(str::to_owned),
            1 => "[a-z]=[ -~]{0,40}",
            2 => "a=(rtpmap|ptime|maxptime|sendrecv|inactive):[ -~]{0,24}",
            1 => "c=IN IP[46] [0-9a-f.:/]{0,30}",
            2 => "m=(audio|video|image) [0-9]{1,6}(/[0-9])? (RTP/AVP|RTP/SAVP|udptl)( [0-9]{1,4}){0,5}",
        ]
    };
    // A valid head and one valid audio m= line, with random lines around it, so that a
    // good share of bodies get through to negotiation and answering.
    (
        proptest::collection::vec(line(), 0..4),
        proptest::collection::vec(line(), 0..16),
        any::<bool>(),
    )
        .prop_map(|(session, media, crlf)| {
            let mut body =
                String::from("v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.9\nt=0 0\n");
            for l in &session {
                body.push_str(l);
                body.push('\n');
            }
            body.push_str("m=audio 4000 RTP/AVP 0 8 101\n");
            body.push_str(&media.join("\n"));
            if crlf {
                body.replace('\n', "\r\n")
            } else {
                body
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn parse_never_panics_on_strings(s in any::<String>()) {
        let _ = parse(s.as_bytes());
    }

    #[test]
    fn parse_never_panics_on_bytes(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&b);
    }

    /// Anything we manage to negotiate yields an answer that parses back in place.
    #[test]
    fn sdpish_offers_answer_cleanly(body in sdpish()) {
        if let Ok(offer) = parse(body.as_bytes()) {
            prop_assert_eq!(offer.media_count, offer.media_lines.len());
            if let Ok(neg) = negotiate(&offer, &Codec::ALL) {
                let answer = build_answer(&offer, &neg, &LOCAL, None);
                prop_assert!(webrtc_sdp::parse_sdp(&answer, false).is_ok(), "{}", answer);
                let back = parse(answer.as_bytes()).unwrap();
                prop_assert_eq!(back.media_count, offer.media_count);
                if offer.port != 0 {
                    prop_assert_eq!(back.audio_index, offer.audio_index);
                    prop_assert_eq!(back.direction, neg.direction);
                }
            }
        }
    }
}

/// Issue 11 item 1: an offer whose c= is multicast, broadcast or reserved is refused
/// (the endpoint answers 488); the `0.0.0.0` hold still parses.
#[test]
fn multicast_broadcast_and_reserved_addresses_are_refused_but_hold_is_not() {
    for ip in [
        "224.0.0.1",
        "239.1.2.3",
        "255.255.255.255",
        "240.0.0.1",
        "0.1.2.3",
    ] {
        let offer = ASTERISK_PCMU.replace("198.51.100.10", ip);
        match parse(crlf(&offer).as_bytes()) {
            Err(SdpError::UnusableAddress { ip: got }) => assert_eq!(got.to_string(), ip),
            other => panic!("{ip}: {other:?}"),
        }
    }
    let v6 = ASTERISK_PCMU.replace("IP4 198.51.100.10", "IP6 ff02::1");
    assert!(matches!(
        parse(crlf(&v6).as_bytes()),
        Err(SdpError::UnusableAddress { .. })
    ));
    let hold = ASTERISK_PCMU.replace("c=IN IP4 198.51.100.10", "c=IN IP4 0.0.0.0");
    let held = parse(crlf(&hold).as_bytes()).unwrap();
    assert!(held.rtp_addr.is_none() && held.is_hold());
}
