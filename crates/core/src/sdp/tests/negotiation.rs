//! Offer/answer: codec choice, hold and disabled streams, what an answer says, the
//! addresses an offer may name, and property tests that parsing never panics.

use super::*;

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
