//! HTTP Digest for SIP (RFC 3261 §22.4, RFC 7616, RFC 8760): hashing, the parameters of
//! `Authorization` / `WWW-Authenticate`, and stateless tamper-proof nonces.
//!
//! Everything here is pure: no clock, no randomness. The nonce secret and the current
//! time come in as arguments.
//!
//! We parse the credentials ourselves rather than with the rsip fork's typed
//! `Authorization`: the fork reads `nc` into a `u8` (a phone's 256th request would fail
//! to parse), re-prints `uri` from a parsed URI (the digest must use the exact string
//! the client hashed) and does not know the RFC 7616 spelling `SHA-256`.

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// A digest algorithm we accept (RFC 8760 §2.1). The `-sess` variants are not offered,
/// so a client never has a reason to use them. Written `"SHA-256"` / `"MD5"` in the
/// config (`[server] digest_algorithms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
pub enum Algorithm {
    #[serde(rename = "MD5")]
    Md5,
    #[serde(rename = "SHA-256")]
    Sha256,
}

impl Algorithm {
    /// The token written in `algorithm=` (RFC 7616 §3.3).
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses an `algorithm=` token. `SHA256` (no dash) is accepted too: some phones and
    /// the rsip fork write it that way.
    pub fn from_token(token: &str) -> Option<Self> {
        if token.eq_ignore_ascii_case("MD5") {
            Some(Algorithm::Md5)
        } else if token.eq_ignore_ascii_case("SHA-256") || token.eq_ignore_ascii_case("SHA256") {
            Some(Algorithm::Sha256)
        } else {
            None
        }
    }

    /// `H(data)` as lowercase hex (RFC 7616 §3.4).
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data)),
            Algorithm::Sha256 => hex(&Sha256::digest(data)),
        }
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

/// Decodes hex (either case); `None` on odd length or a non-hex character.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    ::hex::decode(text).ok()
}

/// What goes into a response computation besides the password.
#[derive(Debug, Clone, Copy)]
pub struct DigestInput<'a> {
    pub algorithm: Algorithm,
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    pub nonce: &'a str,
    /// `(nc, cnonce)` with `qop=auth`; `None` for an RFC 2069-style response.
    pub qop_auth: Option<(&'a str, &'a str)>,
}

/// The `response` value (RFC 7616 §3.4.1, RFC 3261 §22.4):
/// `A1 = username:realm:password`, `A2 = method:uri`, and
/// `H(H(A1):nonce:nc:cnonce:auth:H(A2))` with `qop=auth`, `H(H(A1):nonce:H(A2))` without.
pub fn response(i: &DigestInput<'_>) -> String {
    let ha1 = i
        .algorithm
        .hash_hex(format!("{}:{}:{}", i.username, i.realm, i.password).as_bytes());
    let ha2 = i
        .algorithm
        .hash_hex(format!("{}:{}", i.method, i.uri).as_bytes());
    let kd = match i.qop_auth {
        Some((nc, cnonce)) => format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", i.nonce),
        None => format!("{ha1}:{}:{ha2}", i.nonce),
    };
    i.algorithm.hash_hex(kd.as_bytes())
}

/// Compares two byte strings in time independent of where they differ, so a response
/// cannot be guessed byte by byte from timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // `subtle` keeps the comparison branch-free past the optimiser (a hand-written fold
    // has no such guarantee). Lengths are public (a digest's length is fixed by its
    // algorithm), so unequal lengths may return at once.
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// HMAC-SHA-256 (RFC 2104) with a 32-byte key.
pub fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    // A 32-byte key is always valid for HMAC (any length is); the fallback is unreachable.
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Credentials from an `Authorization` header, with every value exactly as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    /// `None` when the client sent an algorithm we do not support.
    pub algorithm: Option<Algorithm>,
    /// `Some` only with `qop=auth`: the nonce count (8 hex digits) and the client nonce.
    pub qop_auth: Option<QopAuth>,
    /// A `qop` other than `auth` (e.g. `auth-int`): we never offer it.
    pub other_qop: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QopAuth {
    /// As sent (the hash uses the text); `count` is its value.
    pub nc: String,
    pub count: u32,
    pub cnonce: String,
}

/// Why an `Authorization` header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "the Authorization scheme is \"{scheme}\", not Digest; configure the phone for digest authentication"
    )]
    NotDigest { scheme: String },
    #[error("the Authorization header lacks the {param} parameter")]
    Missing { param: &'static str },
    #[error("the Authorization header is malformed near {near:?}")]
    Malformed { near: String },
    #[error("the nonce count nc={nc:?} is not 8 hex digits")]
    BadNonceCount { nc: String },
}

impl Credentials {
    /// Parses `Digest username="…", realm="…", …` (RFC 7616 §3.4, RFC 3261 §25.1).
    pub fn parse(value: &str) -> Result<Self, CredentialsError> {
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(CredentialsError::NotDigest {
                scheme: scheme.chars().take(32).collect(),
            });
        }
        let params = parse_params(rest)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let need = |name: &'static str| get(name).ok_or(CredentialsError::Missing { param: name });
        let algorithm = match get("algorithm") {
            // RFC 7616 §3.4: no algorithm parameter means MD5.
            None => Some(Algorithm::Md5),
            Some(a) => Algorithm::from_token(&a),
        };
        let qop = get("qop");
        let qop_auth = match &qop {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = need("nc")?;
                let count = (nc.len() == 8)
                    .then(|| u32::from_str_radix(&nc, 16).ok())
                    .flatten()
                    .ok_or_else(|| CredentialsError::BadNonceCount { nc: nc.clone() })?;
                Some(QopAuth {
                    nc,
                    count,
                    cnonce: need("cnonce")?,
                })
            }
            _ => None,
        };
        Ok(Credentials {
            username: need("username")?,
            realm: need("realm")?,
            nonce: need("nonce")?,
            uri: need("uri")?,
            response: need("response")?,
            algorithm,
            other_qop: qop.is_some() && qop_auth.is_none(),
            qop_auth,
        })
    }
}

/// `name=token` / `name="quoted \" string"` pairs separated by commas.
fn parse_params(mut rest: &str) -> Result<Vec<(String, String)>, CredentialsError> {
    let malformed = |near: &str| CredentialsError::Malformed {
        near: near.chars().take(40).collect(),
    };
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        if rest.is_empty() {
            return Ok(out);
        }
        let (name, after) = rest.split_once('=').ok_or_else(|| malformed(rest))?;
        let name = name.trim();
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ',') {
            return Err(malformed(rest));
        }
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i + 1,
                    // RFC 3261 §25.1 quoted-pair.
                    Some((_, '\\')) => value.push(chars.next().ok_or_else(|| malformed(after))?.1),
                    Some((_, c)) => value.push(c),
                    None => return Err(malformed(after)),
                }
            };
            (value, quoted.get(end..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            let (v, n) = after.split_at(end);
            (v.trim().to_string(), n)
        };
        // After a value only a comma (or the end) may follow.
        let next = next.trim_start();
        if !(next.is_empty() || next.starts_with(',')) {
            return Err(malformed(next));
        }
        out.push((name.to_string(), value));
        rest = next;
    }
}

/// A challenge a server sent us (`WWW-Authenticate` in a 401, `Proxy-Authenticate` in
/// a 407), for answering it on an outbound INVITE (the client side of RFC 3261 §22).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth`.
    pub qop_auth: bool,
    pub opaque: Option<String>,
}

impl Challenge {
    /// Parses `Digest realm="…", nonce="…", …`; `None` for another scheme, a missing
    /// realm or nonce, or an algorithm we cannot compute.
    pub fn parse(value: &str) -> Option<Challenge> {
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let params = parse_params(rest).ok()?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let algorithm = match get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::from_token(&a)?,
        };
        Some(Challenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            algorithm,
            qop_auth: get("qop")
                .is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth"))),
            opaque: get("opaque"),
        })
    }

    /// The `Authorization`/`Proxy-Authorization` value answering this challenge for
    /// `method uri` (nonce count 1: every challenge is answered once).
    pub fn answer(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let nc = "00000001";
        let response = response(&DigestInput {
            algorithm: self.algorithm,
            username,
            realm: &self.realm,
            password,
            method,
            uri,
            nonce: &self.nonce,
            qop_auth: self.qop_auth.then_some((nc, cnonce)),
        });
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
            escape(username),
            escape(&self.realm),
            escape(&self.nonce),
            escape(uri),
            self.algorithm.token()
        );
        if self.qop_auth {
            v.push_str(&format!(
                ", qop=auth, nc={nc}, cnonce=\"{}\"",
                escape(cnonce)
            ));
        }
        if let Some(o) = &self.opaque {
            v.push_str(&format!(", opaque=\"{}\"", escape(o)));
        }
        v
    }
}

/// A `WWW-Authenticate` challenge value (RFC 7616 §3.3). `qop="auth"` is always
/// offered; RFC 8760 §2.4 has one header per algorithm, preferred first.
pub fn challenge(realm: &str, nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    let stale = if stale { ", stale=true" } else { "" };
    format!(
        "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}",
        escape(realm),
        algorithm.token()
    )
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Stateless nonces: `hex(seconds(8) || sequence(4) || HMAC-SHA-256(secret, both)[..16])`.
///
/// The server keeps nothing per challenge: any nonce it issued verifies against the
/// secret, and its age is read from the nonce itself. A changed timestamp breaks the
/// MAC, so a client cannot extend a nonce's life. The sequence makes every challenge
/// distinct even within one second. A restart picks a new secret, so old nonces turn
/// invalid and phones simply get a fresh challenge.
#[derive(Clone)]
pub struct NonceKey {
    secret: [u8; 32],
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// What [`NonceKey::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    /// Ours and within its lifetime; `issued` is unix seconds.
    Fresh { issued: i64 },
    /// Ours but older than the lifetime (RFC 7616 §3.3 `stale`).
    Stale,
    /// Not ours, tampered with, or from the future.
    Invalid,
}

const MAC_LEN: usize = 16;
const NONCE_LEN: usize = 8 + 4 + MAC_LEN;

impl NonceKey {
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    /// A nonce issued at `now_secs` (unix seconds) with a per-challenge `sequence`,
    /// bound to `bind` (the requesting source address): the MAC covers it, so the
    /// nonce only verifies for the same `bind` and a response captured on the wire
    /// cannot be replayed from another address (issue 11 item 5).
    pub fn issue(&self, now_secs: i64, sequence: u32, bind: &[u8]) -> String {
        let mut raw = [0u8; NONCE_LEN];
        let (head, mac) = raw.split_at_mut(12);
        let (ts, seq) = head.split_at_mut(8);
        ts.copy_from_slice(&now_secs.to_be_bytes());
        seq.copy_from_slice(&sequence.to_be_bytes());
        let full = hmac_sha256(&self.secret, &[&*head, bind].concat());
        for (m, f) in mac.iter_mut().zip(full) {
            *m = f;
        }
        hex(&raw)
    }

    /// A dialog-less To tag: 48 bits derived from the secret and a counter, so tags
    /// differ across restarts and requests without a random source here.
    pub fn tag(&self, sequence: u32) -> String {
        let mut msg = *b"tag:\0\0\0\0";
        if let Some(tail) = msg.get_mut(4..) {
            tail.copy_from_slice(&sequence.to_be_bytes());
        }
        let mac = hmac_sha256(&self.secret, &msg);
        format!("sbr{}", hex(mac.get(..6).unwrap_or_default()))
    }

    /// Verifies a nonce from a client, `lifetime_secs` old at most, issued for `bind`.
    pub fn check(&self, nonce: &str, now_secs: i64, lifetime_secs: i64, bind: &[u8]) -> NonceCheck {
        let Some(raw) = unhex(nonce).filter(|r| r.len() == NONCE_LEN) else {
            return NonceCheck::Invalid;
        };
        let (head, mac) = raw.split_at(12);
        let full = hmac_sha256(&self.secret, &[head, bind].concat());
        if !constant_time_eq(mac, full.get(..MAC_LEN).unwrap_or_default()) {
            return NonceCheck::Invalid;
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(head.get(..8).unwrap_or(&[0; 8]));
        let issued = i64::from_be_bytes(ts);
        // A few seconds of slack for a clock step between issue and check.
        if issued > now_secs.saturating_add(5) {
            NonceCheck::Invalid
        } else if now_secs.saturating_sub(issued) > lifetime_secs {
            NonceCheck::Stale
        } else {
            NonceCheck::Fresh { issued }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1 (HTTP, so method GET on `/dir/index.html`).
    fn rfc7616(algorithm: Algorithm) -> String {
        response(&DigestInput {
            algorithm,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            qop_auth: Some(("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        })
    }

    #[test]
    fn rfc7616_md5_vector() {
        assert_eq!(rfc7616(Algorithm::Md5), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc7616_sha256_vector() {
        assert_eq!(
            rfc7616(Algorithm::Sha256),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    /// RFC 2617 §3.5 (the RFC 2069-compatible form without qop is checked against the
    /// same A1/A2; value computed independently with Python's hashlib).
    #[test]
    fn md5_without_qop() {
        let r = response(&DigestInput {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop_auth: None,
        });
        assert_eq!(r, "670fd8c2df070c60b045671b8b24ff02");
    }

    #[test]
    fn hmac_matches_reference() {
        // RFC 4231's vectors use other key lengths; this value comes from Python's
        // `hmac.new(b"\x0b" * 32, b"Hi There", hashlib.sha256)`.
        let key = [0x0bu8; 32];
        assert_eq!(
            hex(&hmac_sha256(&key, b"Hi There")),
            "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7"
        );
    }

    #[test]
    fn parses_credentials() {
        let c = Credentials::parse(
            "Digest username=\"101\", realm=\"switchboard\", nonce=\"abc\", uri=\"sip:127.0.0.1\", \
             response=\"ff\", algorithm=SHA-256, cnonce=\"x\\\"y\", qop=auth, nc=000001ff",
        )
        .unwrap();
        assert_eq!(c.username, "101");
        assert_eq!(c.uri, "sip:127.0.0.1");
        assert_eq!(c.algorithm, Some(Algorithm::Sha256));
        let q = c.qop_auth.unwrap();
        assert_eq!(
            (q.nc.as_str(), q.count, q.cnonce.as_str()),
            ("000001ff", 511, "x\"y")
        );
        let c = Credentials::parse(
            "digest username=a,realm=b,nonce=c,uri=\"d\",response=e,algorithm=MD5-sess",
        )
        .unwrap();
        assert_eq!(c.algorithm, None);
        assert!(c.qop_auth.is_none() && !c.other_qop);
    }

    #[test]
    fn rejects_bad_credentials() {
        assert!(matches!(
            Credentials::parse("Basic dXNlcjpwdw=="),
            Err(CredentialsError::NotDigest { .. })
        ));
        assert!(matches!(
            Credentials::parse("Digest username=\"a\", realm=\"b\""),
            Err(CredentialsError::Missing { .. })
        ));
        assert!(matches!(
            Credentials::parse("Digest username=\"a"),
            Err(CredentialsError::Malformed { .. })
        ));
        assert!(matches!(
            Credentials::parse(
                "Digest username=a,realm=b,nonce=c,uri=d,response=e,qop=auth,nc=1,cnonce=f"
            ),
            Err(CredentialsError::BadNonceCount { .. })
        ));
        for junk in [
            "",
            "Digest",
            "Digest ,,,",
            "Digest =",
            "Digest a=\"\\",
            "Digest a b=c",
        ] {
            let _ = Credentials::parse(junk);
        }
    }

    #[test]
    fn nonces_verify_expire_and_resist_tampering() {
        let key = NonceKey::new([7; 32]);
        let n = key.issue(1_000, 1, b"");
        assert_eq!(n.len(), NONCE_LEN * 2);
        assert_ne!(n, key.issue(1_000, 2, b""));
        assert_eq!(
            key.check(&n, 1_000, 300, b""),
            NonceCheck::Fresh { issued: 1_000 }
        );
        assert_eq!(
            key.check(&n, 1_300, 300, b""),
            NonceCheck::Fresh { issued: 1_000 }
        );
        assert_eq!(key.check(&n, 1_301, 300, b""), NonceCheck::Stale);
        assert_eq!(key.check(&n, 900, 300, b""), NonceCheck::Invalid);
        // Another secret, a flipped timestamp digit, junk.
        assert_eq!(
            NonceKey::new([8; 32]).check(&n, 1_000, 300, b""),
            NonceCheck::Invalid
        );
        let mut forged = n.clone().into_bytes();
        forged[15] = if forged[15] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(key.check(&forged, 1_000, 300, b""), NonceCheck::Invalid);
        assert_eq!(key.check("zz", 1_000, 300, b""), NonceCheck::Invalid);
        assert_eq!(key.check("", 1_000, 300, b""), NonceCheck::Invalid);
        // Bound to a source: only that source's check passes.
        let bound = key.issue(1_000, 3, &[192, 0, 2, 7]);
        assert_eq!(
            key.check(&bound, 1_000, 300, &[192, 0, 2, 7]),
            NonceCheck::Fresh { issued: 1_000 }
        );
        assert_eq!(
            key.check(&bound, 1_000, 300, &[127, 0, 0, 2]),
            NonceCheck::Invalid
        );
    }

    proptest::proptest! {
        /// Whatever a client writes, reading it never panics.
        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}", tail in "[a-z=\",\\\\ ]{0,40}") {
            let _ = Credentials::parse(&text);
            let _ = Credentials::parse(&format!("Digest {tail}"));
            let _ = NonceKey::new([0; 32]).check(&text, 0, 300, b"");
            let _ = unhex(&text);
        }
    }

    #[test]
    fn challenge_text() {
        assert_eq!(
            challenge("switchboard", "n1", Algorithm::Sha256, true),
            "Digest realm=\"switchboard\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\", stale=true"
        );
        assert_eq!(unhex("0aFF"), Some(vec![10, 255]));
        assert_eq!(unhex("0"), None);
    }

    #[test]
    fn a_client_answer_verifies_as_the_server_computes_it() {
        let ch = Challenge::parse(
            "Digest realm=\"pbx\", nonce=\"abc\", algorithm=MD5, qop=\"auth,auth-int\", opaque=\"xyz\"",
        )
        .unwrap();
        assert!(ch.qop_auth);
        let value = ch.answer("trunk", "s3cret", "INVITE", "sip:+4930@10.0.0.1", "cn1");
        let creds = Credentials::parse(&value).unwrap();
        assert_eq!(creds.username, "trunk");
        assert!(value.contains("opaque=\"xyz\""));
        let qop = creds.qop_auth.as_ref().unwrap();
        let want = response(&DigestInput {
            algorithm: Algorithm::Md5,
            username: "trunk",
            realm: "pbx",
            password: "s3cret",
            method: "INVITE",
            uri: "sip:+4930@10.0.0.1",
            nonce: "abc",
            qop_auth: Some((&qop.nc, &qop.cnonce)),
        });
        assert_eq!(creds.response, want);
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
        assert!(Challenge::parse("Digest realm=\"x\"").is_none(), "no nonce");
    }
}
