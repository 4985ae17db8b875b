//! SIP messages: framing, normalization and parsing on top of the maintained rsip fork
//! vendored by rsipstack (see `docs/decisions.md` for why not rsip 0.4), plus the
//! transport-level types every layer above shares.

pub mod response;

use std::net::SocketAddr;

use bytes::Bytes;

/// The SIP message model used by every layer: the rsip fork shipped inside rsipstack.
pub use rsipstack::rsip;

/// Which transport a message came in on or must leave by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// The token used in Via headers (`SIP/2.0/UDP`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// The other end of a SIP hop. For TCP the driver maps `addr` to the connection it
/// has open with that address (RFC 3261 §18.2.2: responses go back on the connection
/// the request came in on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// A SIP message ready to go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub peer: Peer,
    pub payload: Bytes,
}

pub mod frame;
pub mod headers;
pub mod normalize;
pub mod parse;
pub mod uri;

pub use frame::{FrameError, MAX_MESSAGE_SIZE, StreamFramer, frame_datagram};
pub use headers::{response_destination, serialize, stamp_received};
pub use parse::{ParseError, Problem, parse_message};
