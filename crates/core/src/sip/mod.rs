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
    /// SIP over TLS over TCP (RFC 3261 §26.2, RFC 5630): framed like TCP, reliable
    /// like TCP, and the only transport on which SDES keys (RFC 4568 §8.3) are not
    /// readable by whoever sits on the path.
    Tls,
}

impl Transport {
    /// The token used in Via headers (`SIP/2.0/UDP`).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The `transport=` URI parameter value (RFC 3261 §19.1.1), lowercase.
    pub fn param(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// `udp`, `tcp` or `tls` (any case) back to the transport; anything else is None.
    pub fn from_param(text: &str) -> Option<Transport> {
        [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .find(|t| t.param().eq_ignore_ascii_case(text.trim()))
    }

    /// Reliable transports run no retransmission timers (RFC 3261 §17.1.1.2, §17.2.1):
    /// TCP and TLS.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// Whether what travels on it is hidden from the path (TLS only).
    pub fn is_secure(self) -> bool {
        matches!(self, Transport::Tls)
    }
}

/// The other end of a SIP hop. For TCP and TLS the driver maps `addr` to the
/// connection it has open with that address (RFC 3261 §18.2.2: responses go back on
/// the connection the request came in on; RFC 5923: requests to a phone that
/// registered over a connection go back on it too).
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

pub mod extensions;
pub mod frame;
pub mod headers;
pub mod normalize;
pub mod parse;
pub mod redirect;
pub mod stun;
pub mod uri;

pub use frame::{FrameError, MAX_MESSAGE_SIZE, StreamFramer, frame_datagram};
pub use headers::{response_destination, serialize, stamp_received};
pub use parse::{ParseError, Problem, parse_message};
