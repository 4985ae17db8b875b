//! Transaction keys: how a message finds its transaction (RFC 3261 §17.1.3, §17.2.3),
//! and branch/tag generation from an injected RNG.

use std::fmt;

use rand::Rng;

use crate::sip::rsip::{self, Method, prelude::*};

/// RFC 3261 §8.1.1.7: branches starting with this were built by an RFC 3261 element
/// and are unique, so they alone identify a transaction.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Why a message could not be keyed. Such a message cannot belong to any transaction
/// (not even a new one), so the layer drops it; the parser in `sip/` should have
/// rejected it earlier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the {header} header is missing or malformed, so the message cannot be matched to a \
         transaction; it is dropped (fix the sender or reject it in the parser)"
    )]
    BadHeader { header: &'static str },
}

fn bad(header: &'static str) -> KeyError {
    KeyError::BadHeader { header }
}

/// Identifies a server transaction (§17.2.3): the top Via's branch and sent-by, and
/// the method, with ACK folded onto INVITE by the lookup (an ACK for a non-2xx belongs
/// to the INVITE transaction) and CANCEL kept apart (it is its own transaction).
///
/// For RFC 2543 peers whose branch lacks the magic cookie, `branch` is synthesised
/// from the fields §17.2.3 lists for them (Request-URI, From tag, Call-ID, CSeq
/// number, plus whatever branch was there), so an ACK or CANCEL still finds its
/// INVITE. (The To tag comparison for such ACKs is simplified away.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerKey {
    branch: String,
    sent_by: String,
    method: Method,
}

impl ServerKey {
    /// The key of `req`'s own transaction (method as in the request line).
    pub fn from_request(req: &rsip::Request) -> Result<Self, KeyError> {
        let via = top_via(req)?;
        let sent_by = via.sent_by().to_string().to_ascii_lowercase();
        let branch = match via.branch().map(|b| b.value()) {
            Some(b) if b.starts_with(MAGIC_COOKIE) => b.to_string(),
            other => {
                let call_id = call_id(req)?;
                let from_tag = from_tag(req).unwrap_or_default();
                let seq = cseq(req)?.0;
                format!(
                    "rfc2543|{}|{}|{}|{}|{}",
                    other.unwrap_or(""),
                    call_id,
                    from_tag,
                    seq,
                    req.uri
                )
            }
        };
        Ok(Self {
            branch,
            sent_by,
            method: req.method,
        })
    }

    /// The same transaction identity with another method: the INVITE an ACK or a
    /// CANCEL refers to (§9.2, §17.2.3).
    pub fn with_method(&self, method: Method) -> Self {
        Self {
            branch: self.branch.clone(),
            sent_by: self.sent_by.clone(),
            method,
        }
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }
    pub fn sent_by(&self) -> &str {
        &self.sent_by
    }
    pub fn method(&self) -> Method {
        self.method
    }
}

impl fmt::Display for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} via {}", self.method, self.branch, self.sent_by)
    }
}

/// Identifies a client transaction (§17.1.3): the branch we put in the top Via and
/// the CSeq method (so the CANCEL for an INVITE, which reuses its branch, is a
/// different transaction).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    branch: String,
    method: Method,
}

impl ClientKey {
    pub(crate) fn new(branch: String, method: Method) -> Self {
        Self { branch, method }
    }

    /// The key a response belongs to: top Via branch + CSeq method.
    pub fn from_response(resp: &rsip::Response) -> Result<Self, KeyError> {
        let via = top_via(resp)?;
        let branch = via.branch().ok_or(bad("Via branch"))?.value().to_string();
        let method = cseq(resp)?.1;
        Ok(Self { branch, method })
    }

    pub fn branch(&self) -> &str {
        &self.branch
    }
    pub fn method(&self) -> Method {
        self.method
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.branch)
    }
}

/// Finds the INVITE server transaction a 2xx's ACK acknowledges. That ACK is a new
/// transaction with its own branch (§13.2.2.4, §17.1.1.3), so branch matching cannot
/// find it; the dialog identifiers plus the CSeq number can (§13.3.1.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AckKey {
    call_id: String,
    from_tag: String,
    seq: u32,
}

impl AckKey {
    pub(crate) fn from_request(req: &rsip::Request) -> Result<Self, KeyError> {
        Ok(Self {
            call_id: call_id(req)?.to_string(),
            from_tag: from_tag(req).unwrap_or_default(),
            seq: cseq(req)?.0,
        })
    }
}

/// The first Via value (handles comma-joined Via lines).
pub(crate) fn top_via(msg: &impl HeadersExt) -> Result<rsip::typed::Via, KeyError> {
    msg.top_via_header()
        .map_err(|_| bad("Via"))?
        .typed()
        .map_err(|_| bad("Via"))
}

pub(crate) fn call_id(msg: &impl HeadersExt) -> Result<&str, KeyError> {
    msg.call_id_header()
        .map(|c| c.value().trim())
        .map_err(|_| bad("Call-ID"))
}

/// CSeq number and method.
pub(crate) fn cseq(msg: &impl HeadersExt) -> Result<(u32, Method), KeyError> {
    let typed = msg
        .cseq_header()
        .map_err(|_| bad("CSeq"))?
        .typed()
        .map_err(|_| bad("CSeq"))?;
    Ok((typed.seq, typed.method))
}

pub(crate) fn from_tag(msg: &impl HeadersExt) -> Option<String> {
    let from = msg.from_header().ok()?.typed().ok()?;
    from.tag().map(|t| t.value().to_string())
}

/// A fresh RFC 3261 branch: the magic cookie plus 64 random bits as hex.
///
/// The RNG is injected (the layer owns a seeded one) so a test run is reproducible
/// and the sans-IO core never reaches for OS entropy on its own.
pub fn new_branch(rng: &mut impl Rng) -> String {
    format!("{MAGIC_COOKIE}{:016x}", rng.next_u64())
}

/// A fresh tag for a To or From header (§19.3: at least 32 random bits).
pub fn new_tag(rng: &mut impl Rng) -> String {
    format!("{:016x}", rng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn req(text: &str) -> rsip::Request {
        rsip::Request::try_from(text).unwrap()
    }

    const BASE: &str = concat!(
        "INVITE sip:ivr@sb.test SIP/2.0\r\n",
        "Via: SIP/2.0/UDP Host.Example:5060;branch=z9hG4bKabc, SIP/2.0/UDP other;branch=z9hG4bKx\r\n",
        "From: <sip:a@example.com>;tag=f1\r\n",
        "To: <sip:ivr@sb.test>\r\n",
        "Call-ID: c1\r\n",
        "CSeq: 1 INVITE\r\n",
        "Content-Length: 0\r\n\r\n"
    );

    #[test]
    fn server_key_uses_top_branch_and_sent_by() {
        let key = ServerKey::from_request(&req(BASE)).unwrap();
        assert_eq!(key.branch(), "z9hG4bKabc");
        assert_eq!(key.sent_by(), "host.example:5060");
        assert_eq!(key.method(), Method::Invite);
        let ack = BASE
            .replace("INVITE sip", "ACK sip")
            .replace("1 INVITE", "1 ACK");
        let ack_key = ServerKey::from_request(&req(&ack)).unwrap();
        assert_eq!(ack_key.with_method(Method::Invite), key);
    }

    #[test]
    fn rfc2543_branches_key_on_dialog_fields() {
        let old = BASE.replace(";branch=z9hG4bKabc", ";branch=1");
        let key = ServerKey::from_request(&req(&old)).unwrap();
        assert!(
            key.branch().starts_with("rfc2543|1|c1|f1|1|"),
            "{}",
            key.branch()
        );
        let none = BASE.replace(";branch=z9hG4bKabc", "");
        assert!(ServerKey::from_request(&req(&none)).is_ok());
    }

    #[test]
    fn missing_headers_are_errors_not_panics() {
        let no_via = BASE.replace(
            "Via: SIP/2.0/UDP Host.Example:5060;branch=z9hG4bKabc, SIP/2.0/UDP other;branch=z9hG4bKx\r\n",
            "",
        );
        assert_eq!(
            ServerKey::from_request(&req(&no_via)),
            Err(KeyError::BadHeader { header: "Via" })
        );
    }

    #[test]
    fn branches_are_cookie_prefixed_and_seeded() {
        let mut a = rand::rngs::SmallRng::seed_from_u64(7);
        let mut b = rand::rngs::SmallRng::seed_from_u64(7);
        let x = new_branch(&mut a);
        assert!(x.starts_with(MAGIC_COOKIE));
        assert_eq!(x, new_branch(&mut b));
        assert_ne!(x, new_branch(&mut a));
    }
}
