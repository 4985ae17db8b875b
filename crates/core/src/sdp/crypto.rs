//! SDES (RFC 4568): the `a=crypto` attributes that carry SRTP keys in SDP, and the
//! decisions around them — which offered key to take, whether a plain offer may be
//! answered, what to put in our own offers — under the SRTP policy.
//!
//! ```text
//!  offer we receive            off            optional          required
//!  RTP/SAVP + usable crypto    488            SRTP              SRTP
//!  RTP/SAVP, no usable crypto  488            488               488
//!  RTP/AVP + usable crypto     plain          SRTP (best effort) SRTP (best effort)
//!  RTP/AVP, no crypto          plain          plain             488
//! ```
//! Our answer echoes the offer's profile (RFC 4568 §7.1.2: the answer to a best-effort
//! `RTP/AVP` offer with crypto stays `RTP/AVP`) and carries one crypto line with the
//! offer's tag and suite and our own key: each direction has its own key.
//!
//! Our offers (legs to managers' phones, [`OfferSecurity`]): `RTP/SAVP` with both
//! suites when SRTP is required, `RTP/AVP` with both suites when it is optional and the
//! leg's signalling is TLS (best effort: phones that do not do SRTP ignore the lines),
//! plain otherwise — over UDP or TCP the keys would cross the network in clear text.

use std::fmt::Write as _;

use super::SdpError;
use super::parse::RemoteMedia;
use crate::media::srtp::{CryptoSuite, MasterKey, SrtpParams, SrtpPolicy};

/// The RTP profile of an audio m= line (RFC 3551 / RFC 3711 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RtpProfile {
    /// `RTP/AVP`: plain RTP (possibly with best-effort `a=crypto`).
    #[default]
    Avp,
    /// `RTP/SAVP`: SRTP required by the offerer.
    Savp,
}

impl RtpProfile {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RtpProfile::Avp => "RTP/AVP",
            RtpProfile::Savp => "RTP/SAVP",
        }
    }

    /// `RTP/AVP` / `RTP/SAVP` in any case; other profiles (SAVPF, DTLS) are not ours.
    #[must_use]
    pub fn from_proto(proto: &str) -> Option<RtpProfile> {
        if proto.eq_ignore_ascii_case("RTP/AVP") {
            Some(RtpProfile::Avp)
        } else if proto.eq_ignore_ascii_case("RTP/SAVP") {
            Some(RtpProfile::Savp)
        } else {
            None
        }
    }
}

/// One usable `a=crypto` line: `a=crypto:<tag> <suite> inline:<key>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttr {
    pub tag: u32,
    pub suite: CryptoSuite,
    pub key: MasterKey,
}

impl CryptoAttr {
    /// The attribute line (without CRLF) as we write it.
    #[must_use]
    pub fn line(&self) -> String {
        format!(
            "a=crypto:{} {} inline:{}",
            self.tag,
            self.suite.name(),
            self.key.to_inline()
        )
    }
}

/// Why a crypto line cannot be used (for the log; the line is skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnusableCrypto {
    pub suite: String,
    pub why: &'static str,
}

/// Reads the value after `a=` of a `crypto:` attribute (RFC 4568 §9.1). `Ok(None)` is
/// not a crypto attribute at all; `Err` is one we cannot use, with the reason.
pub fn parse_crypto(value: &str) -> Result<Option<CryptoAttr>, UnusableCrypto> {
    let Some(rest) = value
        .split_once(':')
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("crypto"))
        .map(|(_, rest)| rest)
    else {
        return Ok(None);
    };
    let mut fields = rest.split_whitespace();
    let (tag, suite_name, key_params) = (fields.next(), fields.next(), fields.next());
    let suite_text = suite_name.unwrap_or_default().to_string();
    let unusable = |why| UnusableCrypto {
        suite: suite_text.clone(),
        why,
    };
    let tag = tag
        .and_then(|t| t.parse::<u32>().ok())
        .filter(|t| *t <= 999_999_999)
        .ok_or_else(|| unusable("the tag is not a number of up to 9 digits"))?;
    let suite = suite_name.and_then(CryptoSuite::from_name).ok_or_else(|| {
        unusable("suite not supported (we speak AES_CM_128_HMAC_SHA1_80 and _32)")
    })?;
    let key_params = key_params.ok_or_else(|| unusable("no key parameters"))?;
    // Session parameters change how SRTP runs (RFC 4568 §6.3); none of them is one we
    // can honour except the window-size hint, so a line with any other is skipped.
    for param in fields {
        let name = param.split('=').next().unwrap_or_default();
        if !name.eq_ignore_ascii_case("WSH") {
            return Err(unusable(
                "it has a session parameter we do not support (KDR, UNENCRYPTED_SRTP, …)",
            ));
        }
    }
    // One key only: several keys need MKIs, which we do not support.
    if key_params.contains(';') {
        return Err(unusable(
            "it carries several keys (MKI), which we do not support",
        ));
    }
    let inline = key_params
        .get(..7)
        .filter(|m| m.eq_ignore_ascii_case("inline:"))
        .and_then(|_| key_params.get(7..))
        .ok_or_else(|| unusable("the key method is not inline:"))?;
    let mut parts = inline.split('|');
    let key_text = parts.next().unwrap_or_default();
    for part in parts {
        if part.contains(':') {
            return Err(unusable("it has an MKI, which we do not support"));
        }
        // A lifetime (`2^31` or a number): we never send that many packets on one key
        // within a call, so any lifetime is acceptable.
    }
    let key = MasterKey::from_inline(key_text)
        .ok_or_else(|| unusable("the inline key is not 30 bytes of base64"))?;
    Ok(Some(CryptoAttr { tag, suite, key }))
}

/// The crypto lines of a stream: the usable ones in order, and the reasons for the
/// others.
pub fn crypto_lines<'a>(
    attribute_values: impl Iterator<Item = &'a str>,
) -> (Vec<CryptoAttr>, Vec<UnusableCrypto>) {
    let mut usable = Vec::new();
    let mut unusable = Vec::new();
    for value in attribute_values {
        match parse_crypto(value) {
            Ok(Some(attr)) => usable.push(attr),
            Ok(None) => {}
            Err(e) => unusable.push(e),
        }
    }
    (usable, unusable)
}

/// What an answer to a peer's offer uses: plain RTP, or SRTP with our line to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerSecurity {
    Plain,
    Srtp {
        /// Our `a=crypto` line for the answer: the chosen tag and suite, our key.
        ours: CryptoAttr,
        params: SrtpParams,
    },
}

impl AnswerSecurity {
    #[must_use]
    pub fn params(&self) -> Option<&SrtpParams> {
        match self {
            AnswerSecurity::Plain => None,
            AnswerSecurity::Srtp { params, .. } => Some(params),
        }
    }

    #[must_use]
    pub fn line(&self) -> Option<&CryptoAttr> {
        match self {
            AnswerSecurity::Plain => None,
            AnswerSecurity::Srtp { ours, .. } => Some(ours),
        }
    }
}

/// Decide how to answer `offer` under `policy` (the table in the module docs). `key`
/// is our fresh key for this leg, used only when SRTP is chosen.
pub fn answer_security(
    offer: &RemoteMedia,
    policy: SrtpPolicy,
    key: MasterKey,
) -> Result<AnswerSecurity, SdpError> {
    let chosen = offer.crypto.first();
    match (offer.profile, policy, chosen) {
        (RtpProfile::Savp, SrtpPolicy::Off, _) => Err(SdpError::SrtpOff),
        (RtpProfile::Savp, _, None) => Err(SdpError::NoUsableCrypto {
            offered: offer.crypto_unusable.clone(),
        }),
        (RtpProfile::Avp, SrtpPolicy::Off, _) | (RtpProfile::Avp, SrtpPolicy::Optional, None) => {
            Ok(AnswerSecurity::Plain)
        }
        (RtpProfile::Avp, SrtpPolicy::Required, None) => Err(SdpError::SrtpRequired),
        (_, _, Some(theirs)) => Ok(AnswerSecurity::Srtp {
            ours: CryptoAttr {
                tag: theirs.tag,
                suite: theirs.suite,
                key: key.clone(),
            },
            params: SrtpParams {
                suite: theirs.suite,
                local: key,
                remote: theirs.key.clone(),
            },
        }),
    }
}

/// What our offer to a phone carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferSecurity {
    /// `RTP/AVP`, no crypto.
    Plain,
    /// `RTP/AVP` with crypto lines: SRTP if the phone answers with one.
    BestEffort,
    /// `RTP/SAVP`: SRTP or no call.
    Mandatory,
}

impl OfferSecurity {
    /// Under `policy`, for a leg whose signalling is `secure` (TLS) or not.
    #[must_use]
    pub fn for_leg(policy: SrtpPolicy, secure: bool) -> OfferSecurity {
        match (policy, secure) {
            (SrtpPolicy::Off, _) | (SrtpPolicy::Optional, false) => OfferSecurity::Plain,
            (SrtpPolicy::Optional, true) => OfferSecurity::BestEffort,
            (SrtpPolicy::Required, _) => OfferSecurity::Mandatory,
        }
    }

    #[must_use]
    pub fn profile(self) -> RtpProfile {
        match self {
            OfferSecurity::Mandatory => RtpProfile::Savp,
            _ => RtpProfile::Avp,
        }
    }
}

/// Our crypto lines for an offer: one per suite we speak, each with its own key from
/// `fill` (RFC 4568 §6.1 wants a key used with one suite only).
pub fn offer_lines(security: OfferSecurity, mut fill: impl FnMut(&mut [u8])) -> Vec<CryptoAttr> {
    if security == OfferSecurity::Plain {
        return Vec::new();
    }
    (1u32..)
        .zip(CryptoSuite::ALL)
        .map(|(tag, suite)| CryptoAttr {
            tag,
            suite,
            key: MasterKey::generate(&mut fill),
        })
        .collect()
}

/// The SRTP of a leg whose `answer` came back to our offer of `offered` lines with
/// `security`: the answered tag picks our line. Fails when SRTP was mandatory and the
/// answer has none, or when it names a tag or suite we did not offer.
pub fn answered_security(
    answer: &RemoteMedia,
    offered: &[CryptoAttr],
    security: OfferSecurity,
) -> Result<Option<SrtpParams>, SdpError> {
    let Some(theirs) = answer.crypto.first() else {
        return match security {
            OfferSecurity::Mandatory => Err(SdpError::SrtpRequired),
            _ => Ok(None),
        };
    };
    if security == OfferSecurity::Plain {
        // We offered no keys; a crypto line in the answer is meaningless.
        return Ok(None);
    }
    let ours = offered
        .iter()
        .find(|o| o.tag == theirs.tag && o.suite == theirs.suite)
        .ok_or_else(|| SdpError::NoUsableCrypto {
            offered: vec![UnusableCrypto {
                suite: theirs.suite.name().to_string(),
                why: "the answer's tag does not match one we offered",
            }],
        })?;
    Ok(Some(SrtpParams {
        suite: ours.suite,
        local: ours.key.clone(),
        remote: theirs.key.clone(),
    }))
}

/// Appends our crypto lines to an SDP under construction.
pub(super) fn write_lines(sdp: &mut String, lines: &[CryptoAttr]) {
    for line in lines {
        let _ = write!(sdp, "{}\r\n", line.line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn crypto_lines_from_real_phones() {
        for (value, tag, suite) in [
            (
                format!("crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
                1,
                CryptoSuite::AesCm128HmacSha1_80,
            ),
            // Linphone/Asterisk add a lifetime; baresip writes the 32-bit suite second.
            (
                format!("crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}|2^31"),
                2,
                CryptoSuite::AesCm128HmacSha1_32,
            ),
            (
                format!("CRYPTO:7  aes_cm_128_hmac_sha1_80   inline:{KEY}|1048576 WSH=64"),
                7,
                CryptoSuite::AesCm128HmacSha1_80,
            ),
        ] {
            let attr = parse_crypto(&value).unwrap().unwrap();
            assert_eq!((attr.tag, attr.suite), (tag, suite), "{value}");
            assert_eq!(attr.key.to_inline(), KEY);
        }
        assert_eq!(parse_crypto("rtpmap:0 PCMU/8000"), Ok(None));
    }

    #[test]
    fn lines_we_cannot_honour_are_skipped_with_a_reason() {
        for (value, why) in [
            (
                format!("crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}"),
                "suite",
            ),
            (
                format!("crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4"),
                "MKI",
            ),
            (
                format!("crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY};inline:{KEY}"),
                "several keys",
            ),
            (
                format!("crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP"),
                "session parameter",
            ),
            (
                format!("crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} KDR=1"),
                "session parameter",
            ),
            (
                "crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".into(),
                "30 bytes",
            ),
            (
                format!("crypto:x AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
                "tag",
            ),
            ("crypto:1 AES_CM_128_HMAC_SHA1_80".into(), "key parameters"),
            (
                format!("crypto:1 AES_CM_128_HMAC_SHA1_80 uri:{KEY}"),
                "inline",
            ),
        ] {
            let e = parse_crypto(&value).unwrap_err();
            assert!(e.why.contains(why), "{value}: {e:?}");
        }
    }

    #[test]
    fn offers_pick_the_profile_and_give_each_suite_its_own_key() {
        use SrtpPolicy::*;
        assert_eq!(OfferSecurity::for_leg(Off, true), OfferSecurity::Plain);
        assert_eq!(
            OfferSecurity::for_leg(Optional, false),
            OfferSecurity::Plain
        );
        assert_eq!(
            OfferSecurity::for_leg(Optional, true),
            OfferSecurity::BestEffort
        );
        assert_eq!(
            OfferSecurity::for_leg(Required, false),
            OfferSecurity::Mandatory
        );
        let mut n = 0u8;
        let lines = offer_lines(OfferSecurity::Mandatory, |b| {
            n += 1;
            b.fill(n);
        });
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0].tag, lines[0].suite),
            (1, CryptoSuite::AesCm128HmacSha1_80)
        );
        assert_eq!(
            (lines[1].tag, lines[1].suite),
            (2, CryptoSuite::AesCm128HmacSha1_32)
        );
        assert_ne!(lines[0].key, lines[1].key);
        assert!(offer_lines(OfferSecurity::Plain, |_| {}).is_empty());
    }
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod policy_tests;

/// `text` (a SIP message for the DEBUG log) with every SDES key replaced by `…`:
/// `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:…`. The keys protect the call's audio;
/// a log file must never hold them (RFC 4568 §8.1).
#[must_use]
pub fn redact_keys(text: &str) -> std::borrow::Cow<'_, str> {
    const MARK: &str = "inline:";
    if !text.contains(MARK) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let (before, after) = rest.split_at(at + MARK.len());
        out.push_str(before);
        out.push('…');
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '='))
            .unwrap_or(after.len());
        rest = after.get(end..).unwrap_or_default();
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}
