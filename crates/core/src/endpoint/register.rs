//! REGISTER from managers' phones and who may place calls: REGISTER is handed to the
//! [`Registrar`], its response sent through the transaction layer, its bindings
//! persisted through [`Output::Store`] and its effect on availability told to the
//! connect policy (a phone registering may wake a queue).

use std::time::Instant;

use jiff::Timestamp;

use super::{Endpoint, Output};
use crate::registrar::{Binding, Registrar};
use crate::sip::Peer;
use crate::sip::rsip;
use crate::sip::uri::Destination;
use crate::transaction::ServerKey;

/// Where to send an INVITE for one binding. To where the REGISTER came from: phones
/// behind NAT register contacts we cannot reach. A phone that registered through a
/// proxy (RFC 3327 Path) is reached through it instead: the first Path entry is the
/// next hop and the whole Path goes along as preloaded Route headers, so the proxy
/// relays the INVITE over the NAT binding or connection the phone registered from.
pub(super) fn destination(b: Binding) -> Destination {
    let hop = b.path.first().and_then(|p| {
        crate::dialog::contact_uri(p).and_then(|u| crate::sip::uri::uri_destination(&u))
    });
    match hop {
        Some(hop) => Destination {
            uri: b.contact_uri,
            peer: hop.peer,
            route: b.path,
        },
        None => Destination {
            uri: b.contact_uri,
            peer: b.source,
            route: Vec::new(),
        },
    }
}

impl Endpoint {
    /// Serve REGISTER (and authenticate phones) with this registrar.
    pub fn set_registrar(&mut self, registrar: Registrar) {
        self.registrar = Some(registrar);
    }

    pub fn registrar(&self) -> Option<&Registrar> {
        self.registrar.as_ref()
    }

    /// For reloads (`set_users`) and expiry (`expire`) driven from outside; call
    /// [`Self::sync_registrations`] after a change.
    pub fn registrar_mut(&mut self) -> Option<&mut Registrar> {
        self.registrar.as_mut()
    }

    /// Tell the connect policy how long each manager's phones stay registered (after
    /// a REGISTER, at start, after a reload).
    pub fn sync_registrations(&mut self, now: Instant, wall: Timestamp) {
        let Some(registrar) = &self.registrar else {
            return;
        };
        let mut managers = registrar.managers_with_bindings();
        managers.extend(self.connector.agents().registered_names());
        managers.sort();
        managers.dedup();
        let until: Vec<(String, Option<Timestamp>)> = managers
            .into_iter()
            .map(|m| {
                let until = registrar
                    .active_bindings(&m, wall)
                    .iter()
                    .map(|b| b.expires_at)
                    .max();
                (m, until)
            })
            .collect();
        for (m, until) in until {
            self.connector.handle_registered(now, wall, &m, until);
        }
        self.pump(now, wall);
    }

    /// RFC 3261 §10.3. Without a registrar (no dial plan with passwords) REGISTER is a
    /// method we do not serve here: 405, as before.
    pub(super) fn on_register(
        &mut self,
        now: Instant,
        wall: Timestamp,
        key: ServerKey,
        req: rsip::Request,
        peer: Peer,
    ) {
        let Some(registrar) = self.registrar.as_mut() else {
            return self.refuse(
                now,
                key,
                &req,
                crate::sip::response::Refusal::MethodNotAllowed,
            );
        };
        // Expiry is wall-clock and needs no precise timer: is_registered() already
        // ignores expired bindings; this only tidies memory and the store.
        let mut writes = registrar.expire(wall);
        let outcome = registrar.handle_register(wall, &req, peer);
        let code = outcome.response.status_code.code();
        tracing::info!(from = %peer.addr, user = ?crate::sip::headers::to_user(&req), "REGISTER answered {code}");
        writes.extend(outcome.writes);
        if matches!(code, 401 | 403) && !self.cfg.server.is_trunk(peer.addr.ip()) {
            // A challenge or refusal holds no transaction (§8.2.7): a REGISTER flood
            // from strangers then costs no memory beyond the message itself.
            self.txn.send_response_stateless(key, outcome.response);
        } else {
            self.txn.send_response(now, key, outcome.response);
        }
        self.outputs
            .extend(writes.into_iter().map(|w| Output::Store(Box::new(w))));
        if code < 300 {
            self.sync_registrations(now, wall);
        }
    }

    /// INVITEs are accepted from the configured trunks, or from a manager's registered
    /// phone that authenticates; everyone else gets 403, so nobody on the network can
    /// use Switchboard to place calls. `Ok(Some(manager))` for a manager's phone,
    /// `Ok(None)` for a trunk; `Err` is the response to send when the INVITE is refused
    /// (403, or the 401 digest challenge).
    pub(super) fn admit_invite(
        &mut self,
        now: Instant,
        wall: Timestamp,
        req: &rsip::Request,
        peer: Peer,
    ) -> Result<Option<String>, rsip::Response> {
        if self.cfg.server.is_trunk(peer.addr.ip()) {
            return Ok(None);
        }
        if let Some(registrar) = self.registrar.as_mut()
            && registrar.has_binding_from(peer.addr.ip(), wall)
        {
            return match registrar.authenticate_request(wall, req, peer.addr.ip()) {
                Ok(manager) => {
                    tracing::info!("INVITE from {manager}'s phone at {}", peer.addr);
                    Ok(Some(manager))
                }
                Err(resp) => Err(resp),
            };
        }
        // Normally refused statelessly before this (see `admission`); this is the
        // phone whose binding expired in between.
        self.guard.refused(
            now,
            crate::guard::Refused::NotTrunk,
            peer.addr.ip(),
            "INVITE",
        );
        Err(crate::sip::response::refuse(
            req,
            crate::sip::response::Refusal::Forbidden,
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::Transport;

    fn binding(path: Vec<String>) -> Binding {
        Binding {
            contact_uri: "sip:101@192.168.1.20:5062".into(),
            source: Peer {
                transport: Transport::Udp,
                addr: "198.51.100.7:40312".parse().unwrap(),
            },
            expires_at: Timestamp::MAX,
            path,
        }
    }

    #[test]
    fn a_phone_behind_a_proxy_is_rung_through_its_path() {
        let d = destination(binding(vec![
            "<sip:10.1.1.1:5070;lr;received=sip:198.51.100.7:40312>".into(),
        ]));
        assert_eq!(d.peer.addr, "10.1.1.1:5070".parse().unwrap());
        assert_eq!(d.uri, "sip:101@192.168.1.20:5062");
        assert_eq!(d.route.len(), 1);
        // Registered directly: to where the REGISTER came from, no Route.
        let d = destination(binding(vec![]));
        assert_eq!(d.peer.addr, "198.51.100.7:40312".parse().unwrap());
        assert!(d.route.is_empty());
    }
}
