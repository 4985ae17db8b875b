//! Whom a call has on the line: nobody, the phones of the current ring round, or the
//! one manager the caller is bridged to.
//!
//! ```text
//!            Ring (connect policy)          a leg answers
//!   None ───────────────────────▶ Ringing ───────────────▶ Bridged ──hold/unhold──┐
//!    ▲  ◀── every leg failed ────────┘ (others cancelled)    │  ◀─────────────────┘
//!    └───────────── transfer / the manager or caller hangs up ┘
//! ```
//! The state lives here, below both the call ([`super::inbound`]) and the code that
//! moves it between states ([`super::people`]), so neither imports the other's
//! types in a circle.

use std::time::Instant;

use super::leg::Leg;
use crate::media::feature_gate::FeatureGate;

/// Whom the call has on the line.
#[derive(Debug, Default)]
pub enum People {
    #[default]
    None,
    /// The phones of the current round.
    Ringing(Vec<Leg>),
    Bridged {
        leg: Box<Leg>,
        /// Matches the manager's INFO and in-band keys against the transfer feature
        /// codes (RFC 4733 keys are matched, and held back from the caller, by the
        /// media plane's gate).
        keys: Option<FeatureGate>,
        on_hold: bool,
    },
}

impl People {
    pub fn owns_call_id(&self, id: &str) -> bool {
        match self {
            People::None => false,
            People::Ringing(legs) => legs.iter().any(|l| l.call_id() == Some(id)),
            People::Bridged { leg, .. } => leg.call_id() == Some(id),
        }
    }

    /// The phone address of the leg whose dialog has `call_id`.
    pub fn leg_peer(&self, call_id: &str) -> Option<std::net::IpAddr> {
        match self {
            People::None => None,
            People::Ringing(legs) => legs
                .iter()
                .find(|l| l.call_id() == Some(call_id))
                .map(|l| l.peer.addr.ip()),
            People::Bridged { leg, .. } => {
                (leg.call_id() == Some(call_id)).then(|| leg.peer.addr.ip())
            }
        }
    }

    /// The earliest ring timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            People::Ringing(legs) => legs.iter().map(|l| l.ring_until).min(),
            _ => None,
        }
    }
}
