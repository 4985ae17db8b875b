//! The RFC 3261 §17 transaction layer, sans-IO.
//!
//! Four pure state machines — [`ClientInvite`] (§17.1.1), [`ClientNonInvite`]
//! (§17.1.2), [`ServerInvite`] (§17.2.1, with RFC 6026's Accepted state) and
//! [`ServerNonInvite`] (§17.2.2) — each owning its retransmission and cleanup timers,
//! and the [`TransactionLayer`] that matches messages to them (§17.1.3, §17.2.3),
//! handles CANCEL (§9.2), and talks to the transport (`Transmit`s) and to the TU
//! (`TuEvent`s).
//!
//! Drive it like every sans-IO machine here: call a `handle_*` method with `now`, then
//! drain [`TransactionLayer::poll_transmit`] and [`TransactionLayer::poll_event`], then
//! arm a timer for [`TransactionLayer::poll_timeout`].

mod client_invite;
mod client_non_invite;
mod key;
mod layer;
mod server_invite;
mod server_non_invite;
mod timer;

#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests_client;
#[cfg(test)]
mod tests_prop;
#[cfg(test)]
mod tests_server;

use bytes::Bytes;

use crate::sip::rsip;

pub use client_invite::{ClientInvite, ClientInviteState, make_ack_for_non_2xx, make_cancel};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use key::{ClientKey, KeyError, MAGIC_COOKIE, ServerKey, new_branch, new_tag};
pub use layer::{TransactionLayer, TuEvent};
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};
pub use timer::{Deadlines, SipTimers, Timer, TimerConfig};

/// What a machine asks its owner to do. The machines know neither their peer nor
/// their key; the layer adds those when it turns actions into `Transmit`s and
/// `TuEvent`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Put these bytes on the wire to the transaction's peer.
    Transmit(Bytes),
    /// Pass this response up to the TU (client transactions).
    PassResponse(rsip::Response),
    /// Pass this ACK up to the TU (server INVITE transaction, ACK for its 2xx).
    PassAck(rsip::Request),
    /// Timer B or F fired: the request got no final response.
    ClientTimeout,
    /// Timer H or L fired before an ACK for the final response arrived.
    AckTimeout,
}
