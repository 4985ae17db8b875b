//! Dispatch: SIP transaction events to the call, registrar or refusal they belong to,
//! new calls, and the bookkeeping when a call settles or ends.

use super::*;

impl Endpoint {
    // ---- dispatch -------------------------------------------------------------------

    pub(super) fn process_txn_events(&mut self, now: Instant, wall: Timestamp) {
        while let Some(ev) = self.txn.poll_event() {
            match ev {
                TuEvent::Request { key, req, peer } => self.on_request(now, wall, key, req, peer),
                TuEvent::Ack { req, peer } => {
                    if let Some(call) =
                        crate::sip::headers::to_tag(&req).and_then(|t| self.index.by_tag(&t))
                        && self.in_dialog_source_ok(now, call, &req, peer)
                    {
                        self.with_call(now, wall, call, |c, ctx| c.handle_ack(ctx, &req));
                    }
                }
                TuEvent::Cancelled { invite } => {
                    if let Some(call) = self.index.by_invite(&invite) {
                        self.with_call(now, wall, call, |c, ctx| c.handle_cancel(ctx));
                    }
                }
                TuEvent::Response { key, resp } => match self.index.by_client(&key) {
                    Some(call) => {
                        let code = resp.status_code.code();
                        // A 2xx to an INVITE may be retransmitted (our ACK lost): keep
                        // the key until the leg or call is released.
                        if code >= 300 || (code >= 200 && key.method() != rsip::Method::Invite) {
                            self.index.unbind_client(&key);
                        }
                        self.with_call(now, wall, call, |c, ctx| {
                            c.handle_response(ctx, &key, resp)
                        });
                    }
                    None => self.orphan_event(now, wall, &key, Some(&resp)),
                },
                TuEvent::ClientTimeout { key } => match self.index.by_client(&key) {
                    Some(call) => {
                        self.index.unbind_client(&key);
                        self.with_call(now, wall, call, |c, ctx| {
                            c.handle_client_timeout(ctx, &key)
                        });
                    }
                    None => self.orphan_event(now, wall, &key, None),
                },
                TuEvent::AckTimeout { key } => {
                    if let Some(call) = self.index.by_invite(&key) {
                        self.with_call(now, wall, call, |c, ctx| c.handle_ack_timeout(ctx));
                    }
                }
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
    }

    pub(super) fn on_request(
        &mut self,
        now: Instant,
        wall: Timestamp,
        key: ServerKey,
        req: rsip::Request,
        peer: Peer,
    ) {
        use rsip::Method;
        if crate::sip::headers::max_forwards(&req) == Some(0) && req.method != Method::Ack {
            return self.refuse(now, key, &req, Refusal::TooManyHops);
        }
        if let Some(tag) = crate::sip::headers::to_tag(&req)
            && let Some(answer) = self.parting.handle_request(
                &tag,
                crate::sip::headers::call_id(&req),
                req.method == Method::Bye,
            )
        {
            return match answer {
                PartingAnswer::Bye => {
                    tracing::debug!("the released manager's phone hung up");
                    self.respond(now, key, &req, 200)
                }
                PartingAnswer::Gone if req.method == Method::Ack => {}
                PartingAnswer::Gone => self.refuse(now, key, &req, Refusal::NoSuchDialog),
            };
        }
        if let Some(tag) = crate::sip::headers::to_tag(&req) {
            let call = self.index.by_tag(&tag);
            let id = crate::sip::headers::call_id(&req);
            let same_call_id = call
                .and_then(|c| self.calls.get(&c))
                .zip(id)
                .is_some_and(|(c, id)| c.owns_call_id(id));
            return match call {
                Some(call) if same_call_id && !self.in_dialog_source_ok(now, call, &req, peer) => {
                    self.refuse(now, key, &req, Refusal::Forbidden)
                }
                Some(_) if same_call_id && self.refuse_required_extensions(now, &key, &req) => {}
                Some(call) if same_call_id => {
                    self.with_call(now, wall, call, |c, ctx| c.handle_in_dialog(ctx, key, req))
                }
                // RFC 3261 §12.2.2: a request for a dialog we don't know.
                _ => self.refuse(now, key, &req, Refusal::NoSuchDialog),
            };
        }
        if matches!(req.method, Method::Invite | Method::Options)
            && let Some(resp) = self.stopping_refusal(now, &req)
        {
            return self.txn.send_response(now, key, resp);
        }
        match req.method {
            Method::Invite => match self.admit_invite(now, wall, &req, peer) {
                Ok(_) if self.refuse_required_extensions(now, &key, &req) => {}
                Ok(Some(manager)) if self.is_feature_code(&req) => {
                    self.feature_call(now, wall, key, req, peer, &manager)
                }
                Ok(_) => self.new_call(now, wall, key, req, peer),
                Err(refusal) => self.txn.send_response(now, key, refusal),
            },
            Method::Options if self.refuse_required_extensions(now, &key, &req) => {}
            Method::Options => {
                let timers = self.call_cfg.session_expires_secs != 0;
                let resp = crate::sip::response::options_ok(&req, timers);
                self.txn.send_response(now, key, resp);
            }
            Method::Register => self.on_register(now, wall, key, req, peer),
            Method::Bye
            | Method::Info
            | Method::Update
            | Method::PRack
            | Method::Notify
            | Method::Refer => self.refuse(now, key, &req, Refusal::NoSuchDialog),
            _ => self.refuse(now, key, &req, Refusal::MethodNotAllowed),
        }
    }

    pub(super) fn new_call(
        &mut self,
        now: Instant,
        wall: Timestamp,
        invite_key: ServerKey,
        req: rsip::Request,
        peer: Peer,
    ) {
        self.new_call_with(now, wall, invite_key, req, peer, None);
    }

    /// A call run by `program` (a feature code's answer), else by the plan.
    pub(super) fn new_call_with(
        &mut self,
        now: Instant,
        wall: Timestamp,
        invite_key: ServerKey,
        req: rsip::Request,
        peer: Peer,
        program: Option<Box<dyn Program>>,
    ) {
        self.next_key += 1;
        let key = CallKey(self.next_key);
        let refusal = {
            let programs = &self.programs;
            ctx_parts!(self, now, wall, ctx);
            let made = Call::new(
                &mut ctx,
                key,
                invite_key.clone(),
                req.clone(),
                peer,
                |info| program.unwrap_or_else(|| programs(info)),
            );
            match made {
                Ok(call) => {
                    self.calls.insert(key, Machine::Inbound(Box::new(call)));
                    None
                }
                Err(r) => Some(r),
            }
        };
        match refusal {
            Some(Refused(why)) => self.refuse(now, invite_key, &req, why),
            None => {
                self.start_spawned(now, wall);
                self.settle(key)
            }
        }
    }

    /// Run `f` on a call with the context lent for this input, then file its next
    /// deadline, or release it when it is done.
    pub(super) fn with_call(
        &mut self,
        now: Instant,
        wall: Timestamp,
        key: CallKey,
        f: impl FnOnce(&mut Machine, &mut Ctx<'_>),
    ) {
        let Some(mut call) = self.calls.remove(&key) else {
            return;
        };
        {
            let span = call.span().clone();
            let _enter = span.enter();
            ctx_parts!(self, now, wall, ctx);
            f(&mut call, &mut ctx);
        }
        self.calls.insert(key, call);
        self.settle(key);
        self.start_spawned(now, wall);
    }

    /// File the call's next deadline (O(log n) to find the next timer), or release it.
    pub(super) fn settle(&mut self, key: CallKey) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        if call.is_done() {
            if let Some(call) = self.calls.remove(&key) {
                self.release(call);
            }
            return;
        }
        let next = call.poll_timeout();
        let armed = self.armed.get(&key).copied();
        if next == armed {
            return;
        }
        if let Some(old) = armed {
            self.deadlines.remove(&(old, key));
            self.armed.remove(&key);
        }
        if let Some(at) = next {
            self.deadlines.insert((at, key));
            self.armed.insert(key, at);
        }
    }

    pub(super) fn release(&mut self, call: Machine) {
        let key = call.key();
        if let Some(old) = self.armed.remove(&key) {
            self.deadlines.remove(&(old, key));
        }
        self.index.unbind_all(key);
        self.media.retain(|_, c| *c != key);
        if let Some(port) = call.port() {
            self.ports.release(port);
        }
    }

    /// Carry requests from calls to the connect policy and its decisions back to the
    /// calls, until both are quiet.
    pub(super) fn pump(&mut self, now: Instant, wall: Timestamp) {
        loop {
            self.pump_connect(now, wall);
            // A stop sets aside waiting dial-backs (their leaving is connect input).
            if !self.settle_stop() {
                break;
            }
        }
    }

    fn pump_connect(&mut self, now: Instant, wall: Timestamp) {
        loop {
            while let Some(input) = self.connect_queue.pop_front() {
                self.connector.handle(now, wall, input);
            }
            while let Some(claim) = self.connector.poll_claim() {
                self.outputs.push_back(Output::Claim(claim));
            }
            let Some(out) = self.connector.poll_output() else {
                if self.connect_queue.is_empty() {
                    break;
                }
                continue;
            };
            let call = out.call();
            self.with_call(now, wall, call, |c, ctx| c.handle_connect(ctx, out));
            self.process_txn_events(now, wall);
        }
    }

    /// Legs whose phone did not hang up after its transfer: our BYE now.
    pub(super) fn parting_timeout(&mut self, now: Instant, wall: Timestamp) {
        while let Some(dialog) = self.parting.poll_due(now) {
            tracing::debug!(
                "the transferring phone did not hang up within {} s: sending BYE",
                crate::call::parting::PHONE_BYE_GRACE.as_secs()
            );
            ctx_parts!(self, now, wall, ctx);
            ctx.send_leg_bye(dialog);
        }
    }

    /// A response to (or the timeout of) an orphaned leg's INVITE.
    pub(super) fn orphan_event(
        &mut self,
        now: Instant,
        wall: Timestamp,
        key: &ClientKey,
        resp: Option<&rsip::Response>,
    ) {
        let Some(mut orphan) = self.orphans.remove(key) else {
            return;
        };
        let done = {
            ctx_parts!(self, now, wall, ctx);
            match resp {
                Some(resp) => orphan.handle_response(&mut ctx, resp),
                None => {
                    orphan.handle_timeout(&mut ctx);
                    true
                }
            }
        };
        if !done {
            self.orphans.insert(key.clone(), orphan);
        }
    }

    pub(super) fn respond(&mut self, now: Instant, key: ServerKey, req: &rsip::Request, code: u16) {
        let resp = crate::sip::response::make_response(req, code, None);
        self.txn.send_response(now, key, resp);
    }

    /// RFC 3261 §8.2.2.3: a request that requires an extension we do not support gets
    /// `420 Bad Extension` naming it (checked after admission: a stranger learns
    /// nothing). True if it was refused.
    fn refuse_required_extensions(
        &mut self,
        now: Instant,
        key: &ServerKey,
        req: &rsip::Request,
    ) -> bool {
        let missing = crate::sip::extensions::unsupported_required(
            req,
            self.call_cfg.session_expires_secs != 0,
        );
        if missing.is_empty() {
            return false;
        }
        tracing::info!(
            "{} refused with 420: it requires {} (not supported)",
            req.method,
            missing.join(", ")
        );
        let resp = crate::sip::response::bad_extension(req, &missing);
        self.txn.send_response(now, key.clone(), resp);
        true
    }

    /// Refuse `req` for `why` (the status code is chosen in `sip::response`).
    pub(super) fn refuse(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: &rsip::Request,
        why: Refusal,
    ) {
        let resp = crate::sip::response::refuse(req, why, None);
        self.txn.send_response(now, key, resp);
    }
}
