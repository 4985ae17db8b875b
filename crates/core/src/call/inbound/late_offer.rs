//! A caller's INVITE without SDP ("delayed offer": Cisco CUCM and CUBE trunks by
//! default, click-to-call and third-party call control). RFC 3261 §13.2.1 allows it:
//! the offer is then ours, in the 200, and the caller's answer comes in the ACK
//! (RFC 3264 §3). Before this, such a call was refused with 488.
//!
//! ```text
//!  INVITE (no SDP) ──▶ 200 with our offer ──ACK with their answer──▶ media opens
//!                                          └─ACK without a usable one─▶ BYE
//! ```
//! Until the ACK the call's media fields hold our own offer read back (a placeholder
//! nothing sends to: the stream opens only with the answer).

use super::*;
use crate::sdp::{AnswerSecurity, Codec, CryptoAttr, OfferSecurity};

/// The telephone-event payload type of our offer (any dynamic one would do).
const TE_PT: u8 = 101;

/// Our offer, kept until the answer arrives.
#[derive(Debug)]
pub(super) struct LateOffer {
    pub(super) sdp: String,
    codecs: Vec<Codec>,
    security: OfferSecurity,
    crypto: Vec<CryptoAttr>,
}

/// What the media fields hold: the remote description, the negotiation, the security.
pub(super) type Described = (RemoteMedia, sdp::Negotiated, AnswerSecurity);

impl LateOffer {
    /// Our offer on `local`, under the SRTP policy for a caller reached over a
    /// `secure` transport or not (as for a manager's leg); with the placeholder
    /// description of the call until the answer.
    pub(super) fn new(
        ctx: &mut Ctx<'_>,
        local: &LocalMedia,
        secure: bool,
    ) -> Result<(LateOffer, Described), sdp::SdpError> {
        let security = OfferSecurity::for_leg(ctx.cfg.srtp, secure);
        let crypto = sdp::crypto::offer_lines(security, |b| ctx.fill_key(b));
        let codecs = ctx.cfg.codecs.clone();
        let text = sdp::build_offer(
            local,
            &codecs,
            TE_PT,
            sdp::Direction::SendRecv,
            security.profile(),
            &crypto,
        );
        let ours = sdp::parse(text.as_bytes())?;
        let neg = sdp::negotiate(&ours, &codecs)?;
        let offer = LateOffer {
            sdp: text,
            codecs,
            security,
            crypto,
        };
        Ok((offer, (ours, neg, AnswerSecurity::Plain)))
    }

    /// The caller's answer, from the ACK's body.
    pub(super) fn read_answer(&self, body: &[u8]) -> Result<Described, sdp::SdpError> {
        if body.is_empty() {
            return Err(sdp::SdpError::NoAnswer);
        }
        let (answer, neg) = sdp::parse_answer_media(body, &self.codecs)?;
        let srtp = sdp::crypto::answered_security(&answer, &self.crypto, self.security)?;
        let security = match srtp {
            None => AnswerSecurity::Plain,
            Some(params) => {
                let ours = answer
                    .crypto
                    .first()
                    .and_then(|theirs| self.crypto.iter().find(|o| o.tag == theirs.tag))
                    .cloned()
                    .ok_or(sdp::SdpError::NoUsableCrypto {
                        offered: Vec::new(),
                    })?;
                AnswerSecurity::Srtp { ours, params }
            }
        };
        Ok((answer, neg, security))
    }
}

impl Call {
    /// The ACK of a call whose INVITE had no offer: its answer sets the media up, or
    /// the call ends (RFC 3261 §13.2.1: the answer MUST be in the ACK). False if the
    /// call was hung up.
    pub(super) fn take_late_answer(&mut self, ctx: &mut Ctx<'_>, ack: &rsip::Request) -> bool {
        let Some(late) = self.media.late_offer.take() else {
            return true;
        };
        match late.read_answer(&ack.body) {
            Ok((offer, neg, security)) => {
                tracing::info!(
                    codec = ?neg.codec,
                    media = %protection_text(&security, self.dialog.transport()),
                    "the caller answered our offer in the ACK"
                );
                self.media.params = media_params(&offer, &neg, &security);
                self.media.offer = offer;
                self.media.neg = neg;
                self.media.security = security;
                self.open_media(ctx);
                true
            }
            Err(e) => {
                tracing::warn!(
                    "the ACK carries no usable answer to our SDP offer ({e}): hanging up"
                );
                self.hangup(
                    ctx,
                    EndCause::MediaFailed(format!("no usable SDP answer in the ACK: {e}")),
                );
                false
            }
        }
    }
}
