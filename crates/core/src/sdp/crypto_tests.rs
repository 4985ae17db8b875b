//! SRTP offer/answer end to end: the policy table of the module docs, answers and
//! offers parsed back (by webrtc-sdp and by us), and the answer to our offer.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::sdp::{
    Codec, Direction, LocalMedia, build_answer, build_offer, negotiate, parse, parse_preferring,
};

const LOCAL: LocalMedia = LocalMedia {
    ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
    port: 30000,
    session_id: 1,
    session_version: 1,
};

/// baresip 1.0 with `mediaenc srtp-mand`: RTP/SAVP with both suites.
const BARESIP_SAVP: &str = "v=0\r
o=- 1 2 IN IP4 127.0.0.1\r
s=-\r
c=IN IP4 127.0.0.1\r
t=0 0\r
m=audio 11000 RTP/SAVP 0 8 101\r
a=rtpmap:101 telephone-event/8000\r
a=fmtp:101 0-15\r
a=sendrecv\r
a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r
a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\r
";

fn key(b: u8) -> MasterKey {
    MasterKey::new([b; crate::media::srtp::MASTER_LEN])
}

fn offer(profile: &str, crypto: bool) -> String {
    let mut s = BARESIP_SAVP.replace("RTP/SAVP", profile);
    if !crypto {
        s = s
            .lines()
            .filter(|l| !l.starts_with("a=crypto"))
            .map(|l| format!("{l}\n"))
            .collect();
    }
    s
}

#[test]
fn the_policy_table() {
    use SrtpPolicy::*;
    #[derive(Debug, PartialEq)]
    enum Want {
        Plain,
        Srtp,
        Refused,
    }
    let cases = [
        ("RTP/SAVP", true, Off, Want::Refused),
        ("RTP/SAVP", true, Optional, Want::Srtp),
        ("RTP/SAVP", true, Required, Want::Srtp),
        ("RTP/SAVP", false, Optional, Want::Refused),
        ("RTP/AVP", true, Off, Want::Plain),
        ("RTP/AVP", true, Optional, Want::Srtp),
        ("RTP/AVP", true, Required, Want::Srtp),
        ("RTP/AVP", false, Off, Want::Plain),
        ("RTP/AVP", false, Optional, Want::Plain),
        ("RTP/AVP", false, Required, Want::Refused),
    ];
    for (profile, crypto, policy, want) in cases {
        let o = parse(offer(profile, crypto).as_bytes()).unwrap();
        let got = match answer_security(&o, policy, key(7)) {
            Ok(AnswerSecurity::Plain) => Want::Plain,
            Ok(AnswerSecurity::Srtp { .. }) => Want::Srtp,
            Err(_) => Want::Refused,
        };
        assert_eq!(got, want, "{profile} crypto={crypto} {policy}");
    }
}

/// The answer takes the offerer's first usable line (its tag and suite), keeps the
/// offer's profile, carries our key, and both parsers read it back.
#[test]
fn an_srtp_answer_round_trips() {
    for profile in [RtpProfile::Savp, RtpProfile::Avp] {
        let o = parse(offer(profile.as_str(), true).as_bytes()).unwrap();
        assert_eq!(o.profile, profile);
        let neg = negotiate(&o, &[Codec::Pcmu, Codec::Pcma]).unwrap();
        let sec = answer_security(&o, SrtpPolicy::Optional, key(7)).unwrap();
        let params = sec.params().unwrap();
        assert_eq!(params.suite, CryptoSuite::AesCm128HmacSha1_32);
        assert_eq!(params.local, key(7));
        assert_eq!(
            params.remote.to_inline(),
            "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
        );
        let answer = build_answer(&o, &neg, &LOCAL, sec.line());
        assert!(
            answer.contains(&format!("m=audio 30000 {} 0 101\r\n", profile.as_str())),
            "{answer}"
        );
        assert!(
            answer.contains(&format!(
                "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{}\r\n",
                key(7).to_inline()
            )),
            "{answer}"
        );
        assert_eq!(answer.matches("a=crypto").count(), 1);
        webrtc_sdp::parse_sdp(&answer, false).unwrap();
        let back = parse(answer.as_bytes()).unwrap();
        assert_eq!(back.profile, profile);
        assert_eq!(back.crypto.first().map(|c| c.key.clone()), Some(key(7)));
    }
}

/// Our offers: SAVP with both suites (required), AVP with both (best effort), plain;
/// the phone's answer picks a tag and our key for it becomes the leg's local key.
#[test]
fn offers_and_the_answers_to_them() {
    let mut next = 0u8;
    let mut fill = |b: &mut [u8]| {
        next += 1;
        b.fill(next);
    };
    for security in [
        OfferSecurity::Mandatory,
        OfferSecurity::BestEffort,
        OfferSecurity::Plain,
    ] {
        let lines = offer_lines(security, &mut fill);
        let text = build_offer(
            &LOCAL,
            &[Codec::Pcmu],
            101,
            Direction::SendRecv,
            security.profile(),
            &lines,
        );
        webrtc_sdp::parse_sdp(&text, false).unwrap();
        let back = parse_preferring(text.as_bytes(), RtpProfile::Savp).unwrap();
        assert_eq!(back.profile, security.profile());
        assert_eq!(back.crypto, lines, "{security:?}");

        // The phone answers with tag 2 (the 32-bit suite) and its own key.
        let answer = BARESIP_SAVP
            .replace("RTP/SAVP", security.profile().as_str())
            .replace("a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n", "")
            .replace("a=crypto:2 AES_CM_128_HMAC_SHA1_80", "a=crypto:2 AES_CM_128_HMAC_SHA1_32");
        let a = parse(answer.as_bytes()).unwrap();
        let got = answered_security(&a, &lines, security).unwrap();
        match security {
            OfferSecurity::Plain => assert_eq!(got, None),
            _ => {
                let p = got.unwrap();
                assert_eq!(p.suite, CryptoSuite::AesCm128HmacSha1_32);
                assert_eq!(p.local, lines[1].key, "our key for tag 2");
                assert_eq!(
                    p.remote.to_inline(),
                    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
                );
            }
        }
    }
    // A mandatory offer answered without crypto fails the leg; a best-effort one is plain.
    let plain = parse(offer("RTP/AVP", false).as_bytes()).unwrap();
    let lines = offer_lines(OfferSecurity::Mandatory, &mut fill);
    assert_eq!(
        answered_security(&plain, &lines, OfferSecurity::Mandatory),
        Err(SdpError::SrtpRequired)
    );
    assert_eq!(
        answered_security(&plain, &lines, OfferSecurity::BestEffort),
        Ok(None)
    );
    // A tag we never offered.
    let odd = parse(
        offer("RTP/SAVP", true)
            .replace("crypto:1 ", "crypto:9 ")
            .as_bytes(),
    )
    .unwrap();
    assert!(matches!(
        answered_security(&odd, &lines, OfferSecurity::Mandatory),
        Err(SdpError::NoUsableCrypto { .. })
    ));
}

/// Best-effort SRTP the old way (an SAVP copy, then an AVP one): with SRTP on, the
/// secure copy is answered; with it off, the plain one.
#[test]
fn the_secure_copy_is_preferred_under_an_srtp_policy() {
    let text = offer("RTP/SAVP", true) + "m=audio 7002 RTP/AVP 0\r\n";
    let secure = parse_preferring(text.as_bytes(), RtpProfile::Savp).unwrap();
    assert_eq!((secure.audio_index, secure.profile), (0, RtpProfile::Savp));
    let plain = parse_preferring(text.as_bytes(), RtpProfile::Avp).unwrap();
    assert_eq!((plain.audio_index, plain.profile), (1, RtpProfile::Avp));
    let neg = negotiate(&plain, &[Codec::Pcmu]).unwrap();
    let answer = build_answer(&plain, &neg, &LOCAL, None);
    assert!(answer.starts_with("v=0") && answer.contains("m=audio 0 RTP/SAVP 0 8 101\r\n"));
}

#[test]
fn keys_never_reach_the_log() {
    let sdp = "m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AYhV8f5kIoC/8e81ZUZRojbj6eCoHTa9TDwc02Sp|2^31\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:Ut3OlmEm18BMyrCMP4gjZmvSZBWBMrFm+oA/42kt\r\n";
    let shown = super::redact_keys(sdp);
    assert!(
        !shown.contains("AYhV8f5k") && !shown.contains("Ut3OlmEm"),
        "{shown}"
    );
    assert!(
        shown.contains("AES_CM_128_HMAC_SHA1_80 inline:…|2^31\r\n"),
        "{shown}"
    );
    assert!(
        shown.contains("AES_CM_128_HMAC_SHA1_32 inline:…\r\n"),
        "{shown}"
    );
    assert_eq!(super::redact_keys("v=0\r\n"), "v=0\r\n");
}
