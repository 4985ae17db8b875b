//! Digest authentication of requests from managers' phones (RFC 3261 §22, RFC 7616,
//! RFC 8760): checks `Authorization` against the users of the dial plan, and says what
//! to answer when it does not pass.
//!
//! # Decisions
//!
//! - **No user enumeration.** A request without credentials always gets a 401
//!   challenge, whoever it claims to be; credentials for an unknown user get the same
//!   403 as a wrong password.
//! - **Stale nonces** (older than the lifetime, default 300 s) with an otherwise correct
//!   response get a 401 with `stale=true` (RFC 7616 §3.3), so the phone retries silently
//!   with the new nonce instead of asking for a password.
//! - **Replays.** With `qop=auth` the nonce count must grow for each (user, nonce)
//!   (RFC 7616 §3.4: "the server … ensures that the nc value is incremented"); a
//!   repeated or smaller count gets a fresh challenge. Counts are kept only after a
//!   correct response, so strangers cannot fill the table, and only while the nonce
//!   lives.
//! - **`qop=auth` required.** A response without `qop` (RFC 2069) is re-challenged
//!   unless `[server] allow_legacy_digest = true`: such responses carry no nonce
//!   count, so nothing tells a replay from the original.
//! - **Nonces bound to the source.** Each nonce's MAC covers the requesting source
//!   address, so a response captured on the wire cannot be replayed from another
//!   address (it gets a fresh challenge), qop or not.
//! - **Lockouts** ([`crate::guard::lockout`]): repeated failures lock the source
//!   address and the login out, and while that lasts even the right password gets
//!   403, so guessing at full speed gains nothing.

use std::collections::HashMap;
use std::net::IpAddr;

use super::digest::{self, Algorithm, Credentials, DigestInput, NonceCheck, NonceKey};
use crate::guard::{AuthLockout, GuardStats, LockoutConfig};
use crate::sip::rsip::{self, Header};

/// Login name → (manager name, password): who may authenticate.
pub type Users = HashMap<String, (String, String)>;

/// Why a request was not authenticated, i.e. what to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// 401 with fresh challenges; `stale` when only the nonce was too old.
    Challenge { stale: bool },
    /// 403: credentials that can never work (unknown user, wrong password, wrong AOR).
    Forbidden,
    /// 403 without looking at the password: the source or login is locked out.
    LockedOut,
}

/// The stateless part (secret, realm, users) plus the nonce-count table.
#[derive(Debug)]
pub(crate) struct Authenticator {
    key: NonceKey,
    realm: String,
    users: Users,
    nonce_lifetime_secs: i64,
    /// Accepted algorithms, most preferred first (what the challenges offer).
    algorithms: Vec<Algorithm>,
    /// Makes each challenge's nonce unique within a second.
    sequence: u32,
    /// (username, nonce) → (highest nc accepted, nonce issue time in unix seconds).
    counts: HashMap<(String, String), (u32, i64)>,
    /// Accept responses without `qop` (`[server] allow_legacy_digest`).
    allow_legacy: bool,
    lockout: AuthLockout,
    /// Failures, lockouts and locked-out refusals since the driver last took them.
    stats: GuardStats,
}

/// Above this many tracked nonces, dead ones are purged on insert too (not only on
/// [`Authenticator::purge`]).
const COUNTS_SOFT_LIMIT: usize = 4096;

impl Authenticator {
    pub fn new(
        secret: [u8; 32],
        realm: String,
        users: Users,
        nonce_lifetime_secs: i64,
        algorithms: Vec<Algorithm>,
    ) -> Self {
        Self {
            key: NonceKey::new(secret),
            realm,
            users,
            nonce_lifetime_secs,
            algorithms,
            sequence: 0,
            counts: HashMap::new(),
            allow_legacy: false,
            lockout: AuthLockout::default(),
            stats: GuardStats::default(),
        }
    }

    /// `[server] allow_legacy_digest` and the lockout limits.
    /// At start and on `switchboard reload`: the failures and lockouts counted so far
    /// are kept, so a reload never hands a guessing attacker fresh tries.
    pub fn set_policy(&mut self, allow_legacy: bool, lockout: LockoutConfig) {
        self.allow_legacy = allow_legacy;
        self.lockout.set_config(lockout);
    }

    /// Counters since the last call (auth fields only).
    pub fn take_stats(&mut self) -> GuardStats {
        std::mem::take(&mut self.stats)
    }

    /// A failed authentication by `user` from `source`: counted, maybe a lockout.
    fn failure(&mut self, now_secs: i64, source: IpAddr, user: &str) -> AuthFailure {
        self.stats.auth_failures += 1;
        for locked in self.lockout.failed(now_secs, source, Some(user)) {
            self.stats.lockouts += 1;
            tracing::warn!(
                "{locked:?}: too many failed authentications ([server] auth_max_failures); \
                 refusing it, right password or not, until the lockout ends"
            );
        }
        AuthFailure::Forbidden
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    pub fn set_users(&mut self, users: Users) {
        self.users = users;
    }

    /// A configuration reload. Nonces stay valid (same secret); credentials for the
    /// old realm are simply challenged again.
    pub fn set_realm_and_algorithms(&mut self, realm: String, algorithms: Vec<Algorithm>) {
        self.realm = realm;
        self.algorithms = algorithms;
    }

    /// The manager an address-of-record user part names: a login name, else a manager
    /// name that some login belongs to.
    pub fn manager_of(&self, aor_user: &str) -> Option<&str> {
        self.users
            .get(aor_user)
            .map(|(m, _)| m.as_str())
            .or_else(|| {
                self.users
                    .values()
                    .map(|(m, _)| m.as_str())
                    .find(|m| *m == aor_user)
            })
    }

    /// Checks the `Authorization` headers of `req` (RFC 3261 §22.2) from `source`. On
    /// success returns the manager the credentials belong to.
    pub fn verify(
        &mut self,
        now_secs: i64,
        req: &rsip::Request,
        source: IpAddr,
    ) -> Result<String, AuthFailure> {
        let source = crate::guard::canonical(source);
        let fresh = Err(AuthFailure::Challenge { stale: false });
        if self.lockout.check(now_secs, source, None).is_err() {
            self.stats.auth_locked_refused += 1;
            return Err(AuthFailure::LockedOut);
        }
        // A phone may carry credentials for several realms; ours is the one that counts.
        let creds = req.headers.iter().find_map(|h| match h {
            Header::Authorization(a) => match Credentials::parse(&a.0) {
                Ok(c) if c.realm == self.realm => Some(c),
                Ok(_) => None,
                Err(e) => {
                    tracing::info!("ignoring unusable Authorization header: {e}");
                    None
                }
            },
            _ => None,
        });
        let Some(creds) = creds else {
            return fresh;
        };
        let Some(algorithm) = creds.algorithm.filter(|a| self.algorithms.contains(a)) else {
            tracing::info!(user = %creds.username, "digest algorithm not offered; re-challenging");
            return fresh;
        };
        if creds.other_qop {
            return fresh;
        }
        if creds.qop_auth.is_none() && !self.allow_legacy {
            tracing::info!(user = %creds.username, "digest response without qop=auth; re-challenging (allow_legacy_digest is off)");
            return fresh;
        }
        if self
            .lockout
            .check(now_secs, source, Some(&creds.username))
            .is_err()
        {
            self.stats.auth_locked_refused += 1;
            return Err(AuthFailure::LockedOut);
        }
        let Some((manager, password)) = self.users.get(&creds.username) else {
            tracing::info!(user = %creds.username, "authentication for an unknown user");
            let user = creds.username.clone();
            return Err(self.failure(now_secs, source, &user));
        };
        let check = self.key.check(
            &creds.nonce,
            now_secs,
            self.nonce_lifetime_secs,
            &ip_bytes(source),
        );
        if check == NonceCheck::Invalid {
            return fresh;
        }
        let method = req.method.to_string();
        let expected = digest::response(&DigestInput {
            algorithm,
            username: &creds.username,
            realm: &self.realm,
            password,
            method: &method,
            uri: &creds.uri,
            nonce: &creds.nonce,
            qop_auth: creds
                .qop_auth
                .as_ref()
                .map(|q| (q.nc.as_str(), q.cnonce.as_str())),
        });
        let matches = digest::constant_time_eq(
            expected.as_bytes(),
            creds.response.to_ascii_lowercase().as_bytes(),
        );
        if !matches {
            tracing::info!(user = %creds.username, "wrong password");
            let user = creds.username.clone();
            return Err(self.failure(now_secs, source, &user));
        }
        let NonceCheck::Fresh { issued } = check else {
            return Err(AuthFailure::Challenge { stale: true });
        };
        let manager = manager.clone();
        if let Some(q) = &creds.qop_auth {
            let key = (creds.username.clone(), creds.nonce.clone());
            match self.counts.get(&key) {
                Some((last, _)) if q.count <= *last => {
                    tracing::info!(user = %creds.username, nc = q.count, last, "replayed nonce count");
                    return fresh;
                }
                _ => {}
            }
            if self.counts.len() >= COUNTS_SOFT_LIMIT {
                self.purge(now_secs);
            }
            self.counts.insert(key, (q.count, issued));
        }
        self.lockout.succeeded(source, &creds.username);
        Ok(manager)
    }

    /// Forgets nonce counts of nonces past their lifetime (they can only be stale now).
    pub fn purge(&mut self, now_secs: i64) {
        let lifetime = self.nonce_lifetime_secs;
        self.counts
            .retain(|_, (_, issued)| now_secs.saturating_sub(*issued) <= lifetime);
    }

    /// RFC 8760 §2.4: one `WWW-Authenticate` per accepted algorithm, most preferred
    /// first, sharing one new nonce.
    /// `algorithms`: the per-phone offer of `registrar::offer`, in order. The nonce is
    /// bound to the requesting `source`, so a captured response cannot register
    /// another address.
    pub fn challenges(
        &mut self,
        now_secs: i64,
        stale: bool,
        algorithms: &[Algorithm],
        source: IpAddr,
    ) -> Vec<Header> {
        self.sequence = self.sequence.wrapping_add(1);
        let source = crate::guard::canonical(source);
        let nonce = self.key.issue(now_secs, self.sequence, &ip_bytes(source));
        algorithms
            .iter()
            .map(|&a| {
                Header::WwwAuthenticate(digest::challenge(&self.realm, &nonce, a, stale).into())
            })
            .collect()
    }

    /// A To tag for our final responses (RFC 3261 §8.2.6.2), unique per response.
    pub fn new_tag(&mut self) -> String {
        self.sequence = self.sequence.wrapping_add(1);
        self.key.tag(self.sequence)
    }
}

/// What a nonce is bound to: the source address's octets.
fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}
