//! STUN keepalives on the SIP port (RFC 5626 §4.4.2, §8.4; STUN is RFC 5389).
//!
//! A phone behind NAT that follows SIP Outbound keeps its UDP flow open by sending a
//! STUN Binding request to our SIP port every 25 s or so, and takes a missing answer as
//! a dead flow: it registers again, and calls to it fail meanwhile. The answer is a
//! Binding success response carrying the address the request came from
//! (XOR-MAPPED-ADDRESS), which also tells the phone whether its NAT binding changed.
//!
//! Only what a keepalive needs is here: the 20-byte header is read, attributes are not
//! (a keepalive carries none, or a FINGERPRINT, which is comprehension-optional), and
//! the answer is 32 bytes (44 for IPv6). A STUN crate would bring message integrity,
//! ICE attributes and a codec for all of them; `docs/decisions.md` says why not.

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, Bytes, BytesMut};

/// RFC 5389 §6: fixed in every STUN message; what tells STUN from an older RFC 3489
/// message, and from SIP (whose first octet is a letter or a CR/LF).
const MAGIC_COOKIE: u32 = 0x2112_A442;
const HEADER_LEN: usize = 20;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// A STUN message that arrived on the SIP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stun {
    /// A Binding request: answer it with [`binding_success`].
    BindingRequest { transaction_id: [u8; 12] },
    /// Any other STUN message (an indication, a response, another method): dropped.
    Other,
}

/// Whether `datagram` is a STUN message, and which. `None` for anything else (SIP, a
/// CRLF keepalive, garbage), which goes on to the SIP parser.
///
/// RFC 5389 §6-7.3.1: the two top bits are zero, the length covers exactly the rest of
/// the datagram and is a multiple of 4, and the magic cookie is in place.
pub fn classify(datagram: &[u8]) -> Option<Stun> {
    let header: &[u8; HEADER_LEN] = datagram.get(..HEADER_LEN)?.try_into().ok()?;
    let [t0, t1, l0, l1, c0, c1, c2, c3, id @ ..] = *header;
    let kind = u16::from_be_bytes([t0, t1]);
    let length = usize::from(u16::from_be_bytes([l0, l1]));
    if kind & 0xC000 != 0
        || u32::from_be_bytes([c0, c1, c2, c3]) != MAGIC_COOKIE
        || length % 4 != 0
        || HEADER_LEN + length != datagram.len()
    {
        return None;
    }
    Some(if kind == BINDING_REQUEST {
        Stun::BindingRequest { transaction_id: id }
    } else {
        Stun::Other
    })
}

/// The Binding success response to request `transaction_id` from `source`: one
/// XOR-MAPPED-ADDRESS attribute (RFC 5389 §15.2), the address XORed with the magic
/// cookie (and for IPv6 the transaction ID) so that NATs rewriting addresses in
/// payloads leave it alone.
pub fn binding_success(transaction_id: &[u8; 12], source: SocketAddr) -> Bytes {
    let (family, address): (u8, Vec<u8>) = match source.ip() {
        IpAddr::V4(v4) => (0x01, xor(&v4.octets(), transaction_id)),
        IpAddr::V6(v6) => (0x02, xor(&v6.octets(), transaction_id)),
    };
    let value_len = 4 + address.len();
    let mut out = BytesMut::with_capacity(HEADER_LEN + 4 + value_len);
    out.put_u16(BINDING_SUCCESS);
    out.put_u16((4 + value_len) as u16);
    out.put_u32(MAGIC_COOKIE);
    out.put_slice(transaction_id);
    out.put_u16(XOR_MAPPED_ADDRESS);
    out.put_u16(value_len as u16);
    out.put_u8(0);
    out.put_u8(family);
    out.put_u16(source.port() ^ (MAGIC_COOKIE >> 16) as u16);
    out.put_slice(&address);
    out.freeze()
}

/// `address` XORed with the cookie followed by the transaction ID (only the cookie's
/// four octets reach an IPv4 address).
fn xor(address: &[u8], transaction_id: &[u8; 12]) -> Vec<u8> {
    let key = MAGIC_COOKIE
        .to_be_bytes()
        .into_iter()
        .chain(*transaction_id);
    address.iter().zip(key).map(|(a, k)| a ^ k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: [u8; 12] = [
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ];

    fn request(id: &[u8; 12]) -> Vec<u8> {
        let mut r = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
        r.extend_from_slice(id);
        r
    }

    #[test]
    fn a_binding_request_is_recognised_and_sip_is_not() {
        assert_eq!(
            classify(&request(&ID)),
            Some(Stun::BindingRequest { transaction_id: ID })
        );
        assert_eq!(classify(b"\r\n\r\n"), None);
        assert_eq!(classify(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"), None);
        let mut wrong_cookie = request(&ID);
        wrong_cookie[4] = 0;
        assert_eq!(classify(&wrong_cookie), None, "RFC 3489 or garbage");
        let mut long = request(&ID);
        long.extend_from_slice(&[0; 4]);
        assert_eq!(classify(&long), None, "length disagrees with the datagram");
        let mut indication = request(&ID);
        indication[1] = 0x11;
        assert_eq!(classify(&indication), Some(Stun::Other));
    }

    /// RFC 5769 §2.2's sample response: 192.0.2.1 port 32853 with this transaction ID
    /// is XOR-MAPPED-ADDRESS `0x0001 a147 e112 a643`.
    #[test]
    fn the_answer_maps_the_source_as_rfc_5769_shows() {
        let resp = binding_success(&ID, "192.0.2.1:32853".parse().unwrap());
        assert_eq!(resp.len(), 32);
        assert_eq!(&resp[..4], &[0x01, 0x01, 0x00, 0x0c]);
        assert_eq!(&resp[4..20], &request(&ID)[4..20]);
        assert_eq!(
            &resp[20..],
            &[
                0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43
            ]
        );
        // RFC 5769 §2.3: 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
        let v6 = binding_success(
            &ID,
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                .parse()
                .unwrap(),
        );
        assert_eq!(v6.len(), 44);
        assert_eq!(
            &v6[20..28],
            &[0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47]
        );
        assert_eq!(
            &v6[28..],
            &[
                0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5, 0xbe, 0xd2,
                0xb9, 0xd9
            ]
        );
    }
}
