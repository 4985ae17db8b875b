//! The core task's handlers for what is not SIP: shared-state events, history and CRM
//! lookups, reloads, stream (TCP/TLS) events, and draining the endpoint's outputs to
//! sockets, the store and the media plane.

use super::*;

impl Core {
    pub(super) fn shared_event(&mut self, ev: shared::SharedEvent) {
        let (now, wall) = (Instant::now(), jiff::Timestamp::now());
        match ev {
            shared::SharedEvent::Claimed { id, call, grant } => {
                self.endpoint
                    .handle_claimed(now, wall, id, call, grant.granted, grant.refused);
            }
            shared::SharedEvent::Snapshot(snapshot) => {
                self.endpoint.handle_snapshot(now, wall, &snapshot);
                // Bindings are shared too: re-read them with each heartbeat.
                if let Some(store) = self.store.clone() {
                    let tx = self.registrations.clone();
                    tokio::spawn(async move {
                        match store.registrations().await {
                            Ok(regs) => {
                                let _ = tx.send(regs);
                            }
                            Err(e) => tracing::warn!("cannot re-read registrations: {e}"),
                        }
                    });
                }
            }
        }
    }

    /// Answer a call's lookup off the core task: the call waits for it as an input.
    pub(super) fn lookup(&self, lookup: Lookup) {
        let (call, caller, since) = match lookup {
            Lookup::History {
                call,
                caller,
                since,
            } => (call, caller, since),
            Lookup::Crm {
                call,
                call_id,
                caller,
                dialled,
                ..
            } => return self.crm_lookup(call, call_id, caller, dialled),
        };
        let tx = self.lookups.clone();
        let Some(store) = self.store.clone() else {
            let _ = tx.send((call, LookupResult::History(None)));
            return;
        };
        tokio::spawn(async move {
            let found = match store.last_interaction(caller, since).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!("caller history lookup failed: {e}");
                    None
                }
            };
            let _ = tx.send((call, LookupResult::History(found)));
        });
    }

    /// Ask the CRM (`[lookup]`) about a caller; the answer, or the failure, comes back
    /// as the call's input. Errors are logged and counted; the call routes without.
    pub(super) fn crm_lookup(
        &self,
        call: CallKey,
        call_id: String,
        caller: String,
        dialled: String,
    ) {
        let tx = self.lookups.clone();
        let Some(policy) = self.plan.load().integrations.lookup.clone() else {
            // Removed by a reload while the call waited.
            let _ = tx.send((call, LookupResult::Crm(Ok(Default::default()))));
            return;
        };
        let crm = self.crm.clone();
        tokio::spawn(async move {
            let (result, label) = crm.lookup(&policy, &call_id, &caller, &dialled).await;
            metrics::count_lookup(label);
            let result = result.map_err(|e| {
                tracing::warn!(call_id = %call_id, "CRM lookup for {caller} failed: {e}; routing normally");
                match e {
                    lookup::LookupError::Timeout(_) => crate::call::LookupFailure::Timeout,
                    _ => crate::call::LookupFailure::Error,
                }
            });
            let _ = tx.send((call, LookupResult::Crm(result)));
        });
    }

    pub(super) fn reload(&mut self, reload: Reload) {
        let Reload {
            plan,
            server,
            prompts,
            tls,
        } = reload;
        self.tls.reload(tls);
        if let Some(reg) = self.endpoint.registrar_mut() {
            reg.set_users(plan.login_users());
        }
        self.endpoint.set_plan(plan.clone());
        self.plane
            .reconfigure(prompts, Duration::from_secs(server.rtp_timeout_secs));
        if let Some(w) = &self.webhooks
            && let Err(e) = w.reconfigure(&server)
        {
            tracing::error!("webhook notifications are off: {e}");
        }
        self.endpoint.set_server_config(server);
        self.endpoint
            .sync_registrations(Instant::now(), jiff::Timestamp::now());
    }

    /// A connection task's news.
    pub(super) fn stream_event(&mut self, ev: StreamEvent) {
        match ev {
            StreamEvent::Connected { peer, writer } => {
                self.streams.insert(peer, writer);
            }
            StreamEvent::Closed { peer } => {
                self.streams.remove(&peer);
            }
            StreamEvent::Message { peer, bytes } => {
                metrics::count_sip_message(&bytes, "in");
                self.endpoint
                    .handle_sip(Instant::now(), jiff::Timestamp::now(), peer, &bytes);
            }
            StreamEvent::ConnectFailed { peer, reason } => {
                self.streams.remove(&peer);
                tracing::warn!(
                    to = %peer.addr,
                    "cannot open a SIP/{} connection: {reason}",
                    peer.transport.via_token()
                );
                self.endpoint
                    .handle_transport_error(Instant::now(), jiff::Timestamp::now(), peer);
            }
        }
    }

    /// Sends on the connection to `peer`, opening one when there is none (RFC 3261
    /// §18.1.1; for a phone registered over TLS the connection it registered on is
    /// still there, RFC 5923).
    pub(super) fn send_stream(&mut self, peer: Peer, payload: Bytes) {
        if let Some(w) = self.streams.get(&peer)
            && w.send(payload.clone()).is_ok()
        {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(payload);
        self.streams.insert(peer, tx.clone());
        tracing::debug!(to = %peer.addr, "opening a SIP/{} connection", peer.transport.via_token());
        let events = self.stream_events.clone();
        let (limits, counts) = (self.limits, self.counts.clone());
        match peer.transport {
            Transport::Tls => {
                tokio::spawn(tls::open(
                    peer,
                    events,
                    limits,
                    counts,
                    (tx, rx),
                    self.tls.clone(),
                ));
            }
            _ => {
                tokio::spawn(tcp::open(peer, events, limits, counts, (tx, rx)));
            }
        }
    }

    pub(super) fn drain(&mut self) {
        while let Some(out) = self.endpoint.poll_output() {
            match out {
                Output::Transmit(t) => {
                    tracing::debug!(to = %t.peer.addr, "SIP out:\n{}", crate::sdp::crypto::redact_keys(&String::from_utf8_lossy(&t.payload)));
                    metrics::count_sip_message(&t.payload, "out");
                    match t.peer.transport {
                        Transport::Udp => {
                            if let Err(e) = self.udp.try_send_to(&t.payload, t.peer.addr) {
                                tracing::warn!(to = %t.peer.addr, "SIP send failed: {e}");
                            }
                        }
                        Transport::Tcp | Transport::Tls => self.send_stream(t.peer, t.payload),
                    }
                }
                Output::Media(cmd) => self.plane.handle_command(Instant::now(), cmd),
                Output::Lookup(lookup) => self.lookup(lookup),
                Output::Claim(claim) => match &self.shared {
                    Some(link) => link.send(claim),
                    None => tracing::error!(?claim, "a claim without shared state"),
                },
                Output::Store(write) => {
                    queueing::count_write(&write);
                    let callback = match &*write {
                        StoreWrite::Callback { request, .. } => Some(request.clone()),
                        StoreWrite::DialbackFinished {
                            request: Some(request),
                            ..
                        } => Some(request.clone()),
                        _ => None,
                    };
                    if let Some(store) = &self.store {
                        store.write(*write);
                    }
                    if let Some(request) = callback {
                        self.notify_people(request);
                        if let Some(w) = &self.webhooks {
                            w.notify();
                        }
                    }
                }
                Output::Event(ev) => {
                    let plan = self.plan.load();
                    let rec = match self.recorder.lock() {
                        Ok(mut r) => {
                            let rec = r.handle_event(jiff::Timestamp::now(), Some(&plan), &ev);
                            metrics::set_active_calls(r.len());
                            rec
                        }
                        Err(_) => None,
                    };
                    if let Some(rec) = &rec {
                        count_event(&ev, rec);
                    }
                    if let Some(rec) = &rec
                        && rec.ended_at.is_some()
                    {
                        metrics::record_call_outcome(rec.outcome);
                        self.service_level.record(&plan, rec);
                    }
                    self.publish(&ev, rec.as_ref());
                    if let (Some(rec), Some(store)) = (rec, &self.store) {
                        // A call's start, its answer by a manager, a transfer and its end
                        // are committed at once; the steps between (menus, decisions) may
                        // wait a second for company (store::worker, "lazy writes").
                        let milestone = rec.ended_at.is_some()
                            || matches!(
                                ev,
                                CallEvent::Started { .. }
                                    | CallEvent::Connected { .. }
                                    | CallEvent::Transferred { .. }
                            );
                        if milestone {
                            store.write(StoreWrite::UpsertCall(rec));
                        } else {
                            store.write_later(StoreWrite::UpsertCall(rec));
                        }
                    }
                }
            }
        }
    }
}
