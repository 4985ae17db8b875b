//! How a call's legs protect their media: reading offers under the SRTP policy, and
//! how the call's story names the outcome. The decisions themselves are
//! [`crate::sdp::crypto`]'s; this is where the call layer applies them.

use crate::sdp::{self, RemoteMedia};

/// Reads an offer (a caller's INVITE or re-INVITE, a manager's re-INVITE) under the SRTP `policy`: the codec and
/// how the answer is protected. `key` is ours if SRTP is chosen. Every error is a 488.
pub(super) fn read_offer(
    body: &[u8],
    codecs: &[sdp::Codec],
    policy: crate::media::srtp::SrtpPolicy,
    key: crate::media::srtp::MasterKey,
) -> Result<(RemoteMedia, sdp::Negotiated, sdp::AnswerSecurity), sdp::SdpError> {
    let prefer = match policy {
        crate::media::srtp::SrtpPolicy::Off => sdp::RtpProfile::Avp,
        _ => sdp::RtpProfile::Savp,
    };
    let offer = sdp::parse_preferring(body, prefer)?;
    let neg = sdp::negotiate(&offer, codecs)?;
    for bad in &offer.crypto_unusable {
        tracing::debug!(suite = %bad.suite, "ignoring an a=crypto line: {}", bad.why);
    }
    let security = sdp::crypto::answer_security(&offer, policy, key)?;
    Ok((offer, neg, security))
}

/// How the story names the media protection, e.g. `SRTP AES_CM_128_HMAC_SHA1_80`.
pub(super) fn protection_text(
    security: &sdp::AnswerSecurity,
    transport: crate::sip::Transport,
) -> String {
    match security.params() {
        None => "RTP".to_string(),
        Some(p) if transport.is_secure() => format!("SRTP {}", p.suite),
        // RFC 4568 §8.3: keys in clear-text signalling protect nothing from whoever
        // can read the signalling.
        Some(p) => format!(
            "SRTP {} (keys sent over {}, readable on the path: use TLS)",
            p.suite,
            transport.via_token()
        ),
    }
}
