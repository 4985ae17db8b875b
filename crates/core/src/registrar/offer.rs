//! Which digest algorithms a challenge offers, and in what order, per phone.
//!
//! # Why not one fixed order
//!
//! RFC 8760 §2.4 lets a server send one `WWW-Authenticate` per algorithm, most
//! preferred first, and asks clients to use the topmost one they support and to ignore
//! the ones they do not understand. Real phones, tried against Switchboard
//! (`docs/interop.md`):
//!
//! | client | reads | SHA-256 first, MD5 second | MD5 first, SHA-256 second | MD5 alone |
//! |---|---|---|---|---|
//! | sipp 3.6 | only the first header | fails (`authentication must use MD5`) | MD5 | MD5 |
//! | baresip 1.0 (libre 1.1) | every header, gives up on any non-MD5 | fails | fails | MD5 |
//! | linphone 5.1 (belle-sip) | topmost supported | SHA-256 | MD5 | MD5 |
//! | pjsua2 / PJSIP 2.15 | topmost supported | SHA-256 | MD5 | MD5 |
//!
//! No single order registers all four *and* lets the SHA-256 phones use SHA-256.
//! Asterisk (`auth_algorithms_uas`, MD5 only by default) and Kamailio (`algorithm`
//! modparam, one algorithm) leave this to the admin, per endpoint. Switchboard learns
//! it per phone instead, keyed by the registration's Call-ID (a phone keeps it for as
//! long as it stays registered, RFC 3261 §10.2.4):
//!
//! ```text
//!  first challenge: MD5 first, then SHA-256        (every client can start here)
//!      │ answered with MD5                │ came back without answering
//!      ▼                                  ▼
//!  ProbeDue ── next refresh: 401 stale,  Md5Only: MD5 alone from now on
//!      │       SHA-256 first, then MD5      (baresip 1.0: registers on its retry)
//!      ▼
//!  Probing ── answered SHA-256 ──▶ Sha256: SHA-256 first from now on
//!      ├───── answered MD5 ──────▶ Md5First: it cannot do SHA-256
//!      └───── came back without answering ──▶ Md5Only
//! ```
//!
//! The probe rides on a refresh (a REGISTER with valid credentials that does not
//! remove the binding): if the phone cannot answer it, its binding stays valid until
//! its retry, which then gets MD5 alone. A first registration and an un-REGISTER are
//! never probed, so a one-shot client (sipp) always sees MD5 first. With only one
//! algorithm configured, that one is offered, always.

use std::collections::HashMap;

use super::digest::{Algorithm, Credentials};
use crate::sip::rsip::{self, Header};

/// Phones remembered at most (oldest forgotten first); a forgotten phone simply starts
/// again at the first challenge.
const MAX_CLIENTS: usize = 4096;
/// A phone silent this long is forgotten.
const FORGET_AFTER_SECS: i64 = 2 * 3600;

/// Where a phone stands (see the module diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferState {
    First,
    ProbeDue,
    Probing,
    Sha256,
    Md5First,
    Md5Only,
}

#[derive(Debug, Clone)]
struct Client {
    state: OfferState,
    /// The last challenge offered several algorithms and nothing was answered since.
    unanswered_multi: bool,
    /// In `ProbeDue`: a later request came, so the next challenge may probe.
    armed: bool,
    last_seen: i64,
}

/// The per-phone offer memory of a registrar.
#[derive(Debug, Default)]
pub struct OfferPolicy {
    clients: HashMap<String, Client>,
}

impl OfferPolicy {
    /// A request arrived (before it is verified). A phone that was offered several
    /// algorithms and comes back without credentials could not answer any of them.
    pub fn on_request(&mut self, req: &rsip::Request, now_secs: i64) {
        let Some(id) = call_id(req) else { return };
        let has_credentials = req
            .headers
            .iter()
            .any(|h| matches!(h, Header::Authorization(_)));
        if let Some(c) = self.clients.get_mut(id) {
            c.last_seen = now_secs;
            c.armed = c.state == OfferState::ProbeDue;
            if c.unanswered_multi && !has_credentials {
                tracing::info!(
                    call_id = id,
                    "the phone did not answer a challenge offering several digest algorithms; \
                     offering MD5 alone from now on"
                );
                c.state = OfferState::Md5Only;
                c.unanswered_multi = false;
            }
        }
    }

    /// The algorithms to offer in a challenge for `req`, in order. `may_probe`: `req`
    /// is a REGISTER that keeps its binding (a refresh), where a probe may ride.
    pub fn offer(
        &mut self,
        req: &rsip::Request,
        configured: &[Algorithm],
        may_probe: bool,
        now_secs: i64,
    ) -> Vec<Algorithm> {
        let both = configured.contains(&Algorithm::Md5) && configured.len() > 1;
        let Some(id) = call_id(req).filter(|_| both) else {
            return configured.to_vec();
        };
        self.make_room(now_secs);
        let client = self.clients.entry(id.to_string()).or_insert(Client {
            state: OfferState::First,
            unanswered_multi: false,
            armed: false,
            last_seen: now_secs,
        });
        client.last_seen = now_secs;
        if may_probe && client.state == OfferState::ProbeDue && client.armed {
            // A refresh without (valid) credentials: this challenge is the probe.
            client.state = OfferState::Probing;
        }
        let md5_first = || {
            let mut v = vec![Algorithm::Md5];
            v.extend(configured.iter().filter(|a| **a != Algorithm::Md5));
            v
        };
        let offer = match client.state {
            OfferState::Md5Only => vec![Algorithm::Md5],
            OfferState::First | OfferState::ProbeDue | OfferState::Md5First => md5_first(),
            OfferState::Probing | OfferState::Sha256 => {
                let mut v: Vec<Algorithm> = configured
                    .iter()
                    .copied()
                    .filter(|a| *a != Algorithm::Md5)
                    .collect();
                v.push(Algorithm::Md5);
                v
            }
        };
        client.unanswered_multi = offer.len() > 1;
        offer
    }

    /// `req` passed authentication: learn from the algorithm it used.
    pub fn on_success(&mut self, req: &rsip::Request, realm: &str) {
        let Some(id) = call_id(req) else { return };
        let Some(client) = self.clients.get_mut(id) else {
            return;
        };
        let used = used_algorithm(req, realm);
        let had_choice = client.unanswered_multi;
        client.unanswered_multi = false;
        client.state = match (client.state, used) {
            (OfferState::First, Some(Algorithm::Md5)) if had_choice => OfferState::ProbeDue,
            (OfferState::Probing, Some(Algorithm::Sha256)) => OfferState::Sha256,
            (OfferState::Probing, Some(Algorithm::Md5)) => OfferState::Md5First,
            (_, Some(Algorithm::Sha256)) => OfferState::Sha256,
            (state, _) => state,
        };
    }

    /// An authenticated refresh of a phone due for a probe: answer it with a `stale`
    /// challenge offering SHA-256 first (returns true once per phone). Never on the
    /// request that made the phone due: its credentials were just chosen.
    pub fn take_probe(&mut self, req: &rsip::Request) -> bool {
        let Some(c) = call_id(req).and_then(|id| self.clients.get_mut(id)) else {
            return false;
        };
        if c.state == OfferState::ProbeDue && c.armed {
            c.state = OfferState::Probing;
            true
        } else {
            false
        }
    }

    /// Where the phone of this Call-ID stands (for tests and logs).
    pub fn state(&self, call_id: &str) -> Option<OfferState> {
        self.clients.get(call_id).map(|c| c.state)
    }

    fn make_room(&mut self, now_secs: i64) {
        if self.clients.len() < MAX_CLIENTS {
            return;
        }
        self.clients
            .retain(|_, c| now_secs.saturating_sub(c.last_seen) < FORGET_AFTER_SECS);
        while self.clients.len() >= MAX_CLIENTS {
            let Some(oldest) = self
                .clients
                .iter()
                .min_by_key(|(_, c)| c.last_seen)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.clients.remove(&oldest);
        }
    }
}

fn call_id(req: &rsip::Request) -> Option<&str> {
    req.headers.iter().find_map(|h| match h {
        Header::CallId(c) => Some(c.value()),
        _ => None,
    })
}

/// The algorithm of the credentials for `realm` in `req`.
pub fn used_algorithm(req: &rsip::Request, realm: &str) -> Option<Algorithm> {
    req.headers.iter().find_map(|h| match h {
        Header::Authorization(a) => Credentials::parse(&a.0)
            .ok()
            .filter(|c| c.realm == realm)
            .and_then(|c| c.algorithm),
        _ => None,
    })
}
