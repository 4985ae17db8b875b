//! The registrar (RFC 3261 §10): managers' phones REGISTER with digest authentication,
//! and the bindings say where to ring them.
//!
//! Sans-IO: [`Registrar::handle_register`] takes the wall-clock time and a request and
//! returns the response plus the [`StoreWrite`]s that keep the bindings in the database,
//! so they survive a restart ([`Registrar::load`] puts them back at start). The nonce
//! secret is an argument, never read from a random source here.
//!
//! # Decisions (where RFC 3261 leaves a choice)
//!
//! - The address of record is the To user: a login name (the manager's `username`, by
//!   default their extension) or the manager's name. It must belong to the manager whose
//!   credentials authenticated the request, else 403 (§10.3 step 3).
//! - Unknown users are challenged like everybody else and then get 403, the same as a
//!   wrong password, so the registrar does not reveal which extensions exist.
//! - §10.3 step 7: a REGISTER with the Call-ID of an existing binding and a CSeq not
//!   above it is out of order: nothing is changed and it fails with 500 (the status
//!   §10.3 gives for an update that cannot be committed).
//! - A manager has at most [`RegistrarConfig::max_contacts`] bindings; a new one beyond
//!   that replaces the binding closest to expiry (a phone that moved behind a new NAT
//!   port should not lock itself out).
//! - The source address of each REGISTER is kept with its binding: for phones behind
//!   NAT the driver sends INVITEs there rather than to a private Contact.
//! - RFC 3327 Path: a REGISTER that came through proxies (Kamailio in front of several
//!   instances) carries their Path entries; they are stored with the binding, echoed in
//!   the 200 (§5.3), and INVITEs to that contact go to the first entry with them as
//!   Route headers, so the phone is reached through the proxy and NAT binding it
//!   registered through. We accept Path whether or not the phone said
//!   `Supported: path`: the proxy that added it decided it is needed.

mod auth;
pub mod digest;
pub mod offer;

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};

use auth::Authenticator;
pub use auth::{AuthFailure, Users};

use crate::model::{Registration, StoreWrite};
use crate::sip::response::Refusal;
use crate::sip::rsip::{self, Header, typed};
use crate::sip::{Peer, Transport, headers};

/// Limits of the registrar. The defaults suit desk phones and softphones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Digest algorithms offered and accepted, most preferred first (RFC 8760 §2.4).
    /// Empty means the default, SHA-256 then MD5. Phones that only read the first
    /// challenge (sipp 3.6, some old firmware) need MD5 first.
    pub algorithms: Vec<digest::Algorithm>,
    /// Shorter requested expiries get `423 Interval Too Brief` (RFC 3261 §10.3 step 6).
    pub min_expires: u32,
    /// Longer requested expiries are shortened to this.
    pub max_expires: u32,
    /// Used when the request gives no expiry at all (§10.2.1.1 suggests 3600).
    pub default_expires: u32,
    /// How long a nonce may be used before it is answered with `stale=true`.
    pub nonce_lifetime_secs: u32,
    /// Bindings kept per manager.
    pub max_contacts: usize,
    /// Accept digest responses without `qop=auth` (`[server] allow_legacy_digest`).
    pub allow_legacy_digest: bool,
    /// Failed-authentication lockouts (`[server] auth_max_failures`, …).
    pub lockout: crate::guard::LockoutConfig,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            nonce_lifetime_secs: 300,
            max_contacts: 10,
            allow_legacy_digest: false,
            lockout: crate::guard::LockoutConfig::default(),
        }
    }
}

/// RFC 8760 §2.4: the stronger algorithm first.
pub const DEFAULT_ALGORITHMS: [digest::Algorithm; 2] =
    [digest::Algorithm::Sha256, digest::Algorithm::Md5];

/// Each algorithm once, in the order first given.
fn dedup_algorithms(mut algorithms: Vec<digest::Algorithm>) -> Vec<digest::Algorithm> {
    let mut seen = Vec::with_capacity(2);
    algorithms.retain(|a| {
        let first = !seen.contains(a);
        seen.push(*a);
        first
    });
    algorithms
}

/// What a REGISTER produced: the response to send and the writes for the store.
#[derive(Debug, Clone)]
#[must_use]
pub struct RegisterOutcome {
    pub response: rsip::Response,
    pub writes: Vec<StoreWrite>,
}

/// One place a manager can be rung.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact URI as registered, e.g. `sip:101@192.168.1.20:5060`.
    pub contact_uri: String,
    /// Where the REGISTER came from (send there when the contact is unreachable).
    pub source: Peer,
    pub expires_at: Timestamp,
    /// RFC 3327 Path entries (header values, first hop first); empty when the phone
    /// registered directly.
    pub path: Vec<String>,
}

#[derive(Debug)]
pub struct Registrar {
    cfg: RegistrarConfig,
    auth: Authenticator,
    /// Which algorithms each phone is offered, in what order (see [`offer`]).
    offer: offer::OfferPolicy,
    /// Manager name → bindings.
    bindings: HashMap<String, Vec<Registration>>,
}

/// Why a REGISTER stops before changing anything: the status to answer.
struct Reject(Refusal);

impl Registrar {
    /// `secret` signs nonces (pick it at random at start); `realm` is the digest realm
    /// phones are configured with; `users` maps login names to (manager, password).
    pub fn new(secret: [u8; 32], realm: impl Into<String>, users: Users) -> Self {
        Self::with_config(secret, realm, users, RegistrarConfig::default())
    }

    pub fn with_config(
        secret: [u8; 32],
        realm: impl Into<String>,
        users: Users,
        mut cfg: RegistrarConfig,
    ) -> Self {
        if cfg.algorithms.is_empty() {
            cfg.algorithms = DEFAULT_ALGORITHMS.to_vec();
        }
        cfg.algorithms = dedup_algorithms(std::mem::take(&mut cfg.algorithms));
        let mut auth = Authenticator::new(
            secret,
            realm.into(),
            users,
            i64::from(cfg.nonce_lifetime_secs),
            cfg.algorithms.clone(),
        );
        auth.set_policy(cfg.allow_legacy_digest, cfg.lockout);
        Self {
            auth,
            cfg,
            offer: offer::OfferPolicy::default(),
            bindings: HashMap::new(),
        }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    pub fn realm(&self) -> &str {
        self.auth.realm()
    }

    /// New users after a dial plan reload. Existing bindings stay until they expire.
    pub fn set_users(&mut self, users: Users) {
        self.auth.set_users(users);
    }

    /// `[server] allow_legacy_digest` and the lockout limits, from a reload; lockouts
    /// in force stay.
    pub fn set_policy(&mut self, allow_legacy_digest: bool, lockout: crate::guard::LockoutConfig) {
        self.cfg.allow_legacy_digest = allow_legacy_digest;
        self.cfg.lockout = lockout;
        self.auth.set_policy(allow_legacy_digest, lockout);
    }

    /// New realm and algorithms after a configuration reload: challenges from now on
    /// use them; bindings stay.
    pub fn set_auth(&mut self, realm: String, algorithms: Vec<digest::Algorithm>) {
        let mut algorithms = dedup_algorithms(algorithms);
        if algorithms.is_empty() {
            algorithms = DEFAULT_ALGORITHMS.to_vec();
        }
        self.cfg.algorithms = algorithms.clone();
        self.auth.set_realm_and_algorithms(realm, algorithms);
    }

    /// Restores bindings read from the store at start (expired ones are kept until the
    /// next [`Registrar::expire`], and never count as registered).
    pub fn load(&mut self, registrations: Vec<Registration>) {
        self.bindings.clear();
        for reg in registrations {
            let list = self.bindings.entry(reg.manager.clone()).or_default();
            list.retain(|b| b.contact_uri != reg.contact_uri);
            list.push(reg);
        }
    }

    /// The bindings of a manager by contact URI (possibly expired ones until
    /// [`Registrar::expire`]).
    pub fn bindings(&self, manager: &str) -> Vec<Binding> {
        self.collect_bindings(manager, |_| true)
    }

    /// The live bindings of a manager at `now`, by contact URI.
    pub fn active_bindings(&self, manager: &str, now: Timestamp) -> Vec<Binding> {
        self.collect_bindings(manager, |b| b.expires_at > now)
    }

    fn collect_bindings(
        &self,
        manager: &str,
        keep: impl Fn(&Registration) -> bool,
    ) -> Vec<Binding> {
        let mut out: Vec<Binding> = self
            .bindings
            .get(manager)
            .into_iter()
            .flatten()
            .filter(|b| keep(b))
            .map(to_binding)
            .collect();
        out.sort_by(|a, b| a.contact_uri.cmp(&b.contact_uri));
        out
    }

    /// Whether a manager has a live binding: registration state for availability.
    pub fn is_registered(&self, manager: &str, now: Timestamp) -> bool {
        self.bindings
            .get(manager)
            .is_some_and(|list| list.iter().any(|b| b.expires_at > now))
    }

    /// Whether a live binding was registered from `ip`: an INVITE from there may be a
    /// manager's phone, worth a digest challenge rather than a flat 403.
    pub fn has_binding_from(&self, ip: std::net::IpAddr, now: Timestamp) -> bool {
        self.bindings
            .values()
            .flatten()
            .any(|b| b.expires_at > now && b.source_addr.ip() == ip)
    }

    /// Managers with bindings, live or not yet tidied away.
    pub fn managers_with_bindings(&self) -> Vec<String> {
        let mut names: Vec<String> = self.bindings.keys().cloned().collect();
        names.sort();
        names
    }

    /// Managers with at least one live binding.
    pub fn registered_managers(&self, now: Timestamp) -> Vec<String> {
        let mut names: Vec<String> = self
            .bindings
            .iter()
            .filter(|(_, list)| list.iter().any(|b| b.expires_at > now))
            .map(|(m, _)| m.clone())
            .collect();
        names.sort();
        names
    }

    /// When the next binding expires: call [`Registrar::expire`] then.
    #[must_use]
    pub fn poll_expiry(&self) -> Option<Timestamp> {
        self.bindings
            .values()
            .flat_map(|list| list.iter().map(|b| b.expires_at))
            .min()
    }

    /// Drops bindings that expired at or before `now` (and forgets dead nonces).
    #[must_use]
    pub fn expire(&mut self, now: Timestamp) -> Vec<StoreWrite> {
        self.auth.purge(now.as_second());
        let mut removed = false;
        self.bindings.retain(|_, list| {
            let before = list.len();
            list.retain(|b| b.expires_at > now);
            removed |= list.len() != before;
            !list.is_empty()
        });
        if removed {
            vec![StoreWrite::RemoveExpiredRegistrations { now }]
        } else {
            Vec::new()
        }
    }

    /// Authenticates any request from a manager's phone (e.g. an INVITE, issue 4 item
    /// 6). `Ok` carries the manager; `Err` the 401 challenge or 403 to send.
    pub fn authenticate_request(
        &mut self,
        now: Timestamp,
        req: &rsip::Request,
        source: std::net::IpAddr,
    ) -> Result<String, rsip::Response> {
        self.offer.on_request(req, now.as_second());
        let manager = self
            .auth
            .verify(now.as_second(), req, source)
            .map_err(|f| self.auth_response(now, req, f, source))?;
        self.offer.on_success(req, self.auth.realm());
        Ok(manager)
    }

    /// Where the phone registering with this Call-ID stands in the digest offer.
    pub fn offer_state(&self, call_id: &str) -> Option<offer::OfferState> {
        self.offer.state(call_id)
    }

    /// Authentication failures, lockouts and locked-out refusals since the last call.
    pub fn take_auth_stats(&mut self) -> crate::guard::GuardStats {
        self.auth.take_stats()
    }

    /// The 401 (with one challenge per algorithm) or 403 for a failed authentication.
    pub fn auth_response(
        &mut self,
        now: Timestamp,
        req: &rsip::Request,
        failure: AuthFailure,
        source: std::net::IpAddr,
    ) -> rsip::Response {
        match failure {
            AuthFailure::Challenge { stale } => {
                let mut resp = self.respond(req, Refusal::Unauthorized.code());
                let may_probe = req.method == rsip::Method::Register && !is_unregister(req);
                let algorithms =
                    self.offer
                        .offer(req, &self.cfg.algorithms, may_probe, now.as_second());
                for h in self
                    .auth
                    .challenges(now.as_second(), stale, &algorithms, source)
                {
                    resp.headers.push(h);
                }
                resp
            }
            AuthFailure::Forbidden | AuthFailure::LockedOut => {
                self.respond(req, Refusal::Forbidden.code())
            }
        }
    }

    /// RFC 3261 §10.3: authenticate, check the address of record, then add, refresh or
    /// remove the bindings the Contact headers ask for.
    pub fn handle_register(
        &mut self,
        now: Timestamp,
        req: &rsip::Request,
        source: Peer,
    ) -> RegisterOutcome {
        let manager = match self.authenticate_request(now, req, source.addr.ip()) {
            Ok(m) => m,
            Err(resp) => return outcome(resp, Vec::new()),
        };
        // §10.3 step 3: the authenticated user may only change their own bindings.
        let aor = headers::to_user(req);
        if aor.as_deref().and_then(|u| self.auth.manager_of(u)) != Some(manager.as_str()) {
            tracing::info!(%manager, aor = ?aor, "REGISTER for someone else's address of record");
            let resp = self.respond(req, Refusal::Forbidden.code());
            return outcome(resp, Vec::new());
        }
        // A refresh of a phone that answered MD5 while SHA-256 was offered too: ask once
        // more with SHA-256 first (`offer` explains why this waits for a refresh).
        if !is_unregister(req) && self.offer.take_probe(req) {
            tracing::info!(%manager, "offering SHA-256 first on this refresh");
            let resp = self.auth_response(
                now,
                req,
                AuthFailure::Challenge { stale: true },
                source.addr.ip(),
            );
            return outcome(resp, Vec::new());
        }
        match self.update(now, req, source, &manager) {
            Ok(writes) => {
                let mut resp = self.respond(req, 200);
                // RFC 3327 §5.3: the Path as stored, back to the phone.
                for p in path_entries(req) {
                    resp.headers.push(Header::Other("Path".into(), p));
                }
                for b in self.bindings.get(&manager).into_iter().flatten() {
                    let left = remaining_secs(b.expires_at, now);
                    resp.headers.push(Header::Contact(
                        format!("<{}>;expires={left}", b.contact_uri).into(),
                    ));
                }
                resp.headers.push(Header::Date(
                    now.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string().into(),
                ));
                outcome(resp, writes)
            }
            Err(Reject(Refusal::IntervalTooBrief)) => {
                let mut resp = self.respond(req, Refusal::IntervalTooBrief.code());
                resp.headers
                    .push(Header::MinExpires(self.cfg.min_expires.to_string().into()));
                outcome(resp, Vec::new())
            }
            Err(Reject(why)) => {
                let resp = self.respond(req, why.code());
                outcome(resp, Vec::new())
            }
        }
    }

    /// §10.3 steps 5–7 on a copy of the manager's bindings, committed only if every
    /// contact could be applied.
    fn update(
        &mut self,
        now: Timestamp,
        req: &rsip::Request,
        source: Peer,
        manager: &str,
    ) -> Result<Vec<StoreWrite>, Reject> {
        let call_id = headers::call_id(req).unwrap_or_default().to_string();
        let cseq = headers::cseq(req).map(|(n, _)| n).unwrap_or(0);
        let header_expires = match expires_header(req) {
            Some(Some(e)) => Some(e),
            Some(None) => return Err(Reject(Refusal::BadRequest)),
            None => None,
        };
        let contacts = contacts(req).ok_or(Reject(Refusal::BadRequest))?;
        let mut list = self.bindings.get(manager).cloned().unwrap_or_default();
        let mut writes = Vec::new();
        // Expired bindings go first, so they neither show in the 200 nor block an update.
        list.retain(|b| {
            let live = b.expires_at > now;
            if !live {
                writes.push(remove(b));
            }
            live
        });
        let out_of_order = |b: &Registration| b.call_id == call_id && cseq <= b.cseq;
        if contacts.iter().any(|c| c.is_star()) {
            // §10.3 step 6: `*` only alone and with Expires: 0.
            if contacts.len() != 1 || header_expires != Some(0) {
                return Err(Reject(Refusal::BadRequest));
            }
            if list.iter().any(out_of_order) {
                return Err(Reject(Refusal::ServerError));
            }
            writes.extend(list.drain(..).map(|b| remove(&b)));
        } else {
            let user_agent = req.headers.iter().find_map(|h| match h {
                Header::UserAgent(ua) => Some(ua.value().to_string()),
                _ => None,
            });
            let path = path_entries(req);
            for c in &contacts {
                let requested = c
                    .expires()
                    .or(header_expires)
                    .unwrap_or(self.cfg.default_expires);
                if requested != 0 && requested < self.cfg.min_expires {
                    return Err(Reject(Refusal::IntervalTooBrief));
                }
                let expires = requested.min(self.cfg.max_expires);
                let uri = c.uri.to_string();
                let existing = list.iter().position(|b| b.contact_uri == uri);
                if let Some(b) = existing.and_then(|i| list.get(i))
                    && out_of_order(b)
                {
                    return Err(Reject(Refusal::ServerError));
                }
                if expires == 0 {
                    if let Some(i) = existing {
                        writes.push(remove(&list.remove(i)));
                    }
                    continue;
                }
                let reg = Registration {
                    manager: manager.to_string(),
                    contact_uri: uri,
                    source_addr: source.addr,
                    transport: transport_text(source.transport).to_string(),
                    registered_at: existing
                        .and_then(|i| list.get(i))
                        .filter(|b| b.call_id == call_id)
                        .map_or(now, |b| b.registered_at),
                    expires_at: now
                        .checked_add(SignedDuration::from_secs(i64::from(expires)))
                        .unwrap_or(Timestamp::MAX),
                    call_id: call_id.clone(),
                    cseq,
                    user_agent: user_agent.clone(),
                    path: path.clone(),
                };
                writes.push(StoreWrite::SaveRegistration(reg.clone()));
                match existing {
                    Some(i) => {
                        if let Some(slot) = list.get_mut(i) {
                            *slot = reg;
                        }
                    }
                    None => list.push(reg),
                }
            }
            while list.len() > self.cfg.max_contacts {
                let Some((i, _)) = list.iter().enumerate().min_by_key(|(_, b)| b.expires_at) else {
                    break;
                };
                writes.push(remove(&list.remove(i)));
            }
        }
        if list.is_empty() {
            self.bindings.remove(manager);
        } else {
            self.bindings.insert(manager.to_string(), list);
        }
        Ok(writes)
    }

    fn respond(&mut self, req: &rsip::Request, code: u16) -> rsip::Response {
        let tag = self.auth.new_tag();
        crate::sip::response::make_response(req, code, Some(&tag))
    }
}

fn outcome(response: rsip::Response, writes: Vec<StoreWrite>) -> RegisterOutcome {
    RegisterOutcome { response, writes }
}

/// A parsed Contact header value, or the `*` wildcard.
trait ContactExt {
    fn is_star(&self) -> bool;
}

impl ContactExt for typed::Contact {
    fn is_star(&self) -> bool {
        matches!(&self.uri.scheme, Some(rsip::uri::Scheme::Other(s)) if s == "*")
    }
}

/// Every Contact value of the request; `None` when one does not parse.
/// A REGISTER that removes bindings (`Expires: 0`, `*`, or every contact `expires=0`).
fn is_unregister(req: &rsip::Request) -> bool {
    let header = expires_header(req).flatten();
    contacts(req).is_some_and(|cs| {
        !cs.is_empty()
            && cs
                .iter()
                .all(|c| c.is_star() || c.expires().or(header) == Some(0))
    })
}

fn contacts(req: &rsip::Request) -> Option<Vec<typed::Contact>> {
    let mut out = Vec::new();
    for h in req.headers.iter() {
        if let Header::Contact(c) = h {
            out.extend(typed::Contact::parse_header_list(&c.0).ok()?);
        }
    }
    Some(out)
}

/// `None`: no Expires header; `Some(None)`: one that is not a number (→ 400).
fn expires_header(req: &rsip::Request) -> Option<Option<u32>> {
    req.headers.iter().find_map(|h| match h {
        // RFC 3261 §20.19: a value above 2^32-1 means 2^32-1 (clamped later anyway).
        Header::Expires(e) => {
            let text = e.value().trim();
            Some(match text.parse::<u64>() {
                Ok(v) => Some(u32::try_from(v).unwrap_or(u32::MAX)),
                Err(_) => None,
            })
        }
        _ => None,
    })
}

/// Every Path entry of the request, top to bottom (RFC 3327 §5.3: the first one is the
/// proxy nearest to us), each a name-addr as written.
fn path_entries(req: &rsip::Request) -> Vec<String> {
    req.headers
        .iter()
        .filter_map(|h| match h {
            Header::Path(p) => Some(p.value().to_string()),
            Header::Other(name, value) if name.eq_ignore_ascii_case("path") => Some(value.clone()),
            _ => None,
        })
        .flat_map(|v| split_name_addrs(&v))
        .collect()
}

/// `<sip:a;lr>, <sip:b;lr>` → both entries (commas inside `<…>` or quotes stay).
fn split_name_addrs(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0u32, false, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => depth += 1,
            '>' if !quoted => depth = depth.saturating_sub(1),
            ',' if !quoted && depth == 0 => {
                out.push(value.get(start..i).unwrap_or("").trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value.get(start..).unwrap_or("").trim().to_string());
    out.retain(|e| !e.is_empty());
    out
}

fn remove(b: &Registration) -> StoreWrite {
    StoreWrite::RemoveRegistration {
        manager: b.manager.clone(),
        contact_uri: b.contact_uri.clone(),
    }
}

fn to_binding(r: &Registration) -> Binding {
    Binding {
        contact_uri: r.contact_uri.clone(),
        source: Peer {
            transport: Transport::from_param(&r.transport).unwrap_or(Transport::Udp),
            addr: r.source_addr,
        },
        expires_at: r.expires_at,
        path: r.path.clone(),
    }
}

fn transport_text(t: Transport) -> &'static str {
    t.param()
}

/// Whole seconds until `at`, rounded up (§10.3 step 8: the 200 lists each binding's
/// remaining expiry).
fn remaining_secs(at: Timestamp, now: Timestamp) -> i64 {
    let ms = at.as_millisecond().saturating_sub(now.as_millisecond());
    ms.saturating_add(999).div_euclid(1000).max(0)
}
