//! Everything the endpoint runs per call: an inbound [`Call`] or a [`Dialback`] we
//! started. Both take the same inputs (SIP in their dialogs, responses to their
//! requests, media events of their legs, the connect policy's decisions, deadlines),
//! so the endpoint dispatches them alike.

use std::time::Instant;

use super::context::{Ctx, LookupResult};
use super::dialback::Dialback;
use super::inbound::Call;
use crate::connect::ConnectOutput;
use crate::media::{CallKey, MediaEvent};
use crate::sip::rsip;
use crate::transaction::{ClientKey, ServerKey};

#[derive(Debug)]
pub enum Machine {
    Inbound(Box<Call>),
    Dialback(Box<Dialback>),
}

impl Machine {
    pub fn key(&self) -> CallKey {
        match self {
            Machine::Inbound(c) => c.key(),
            Machine::Dialback(d) => d.key(),
        }
    }

    pub fn span(&self) -> &tracing::Span {
        match self {
            Machine::Inbound(c) => c.span(),
            Machine::Dialback(d) => d.span(),
        }
    }

    pub fn is_done(&self) -> bool {
        match self {
            Machine::Inbound(c) => c.is_done(),
            Machine::Dialback(d) => d.is_done(),
        }
    }

    /// The port to give back when it is released (a dial-back's legs give back their
    /// own).
    pub fn port(&self) -> Option<u16> {
        match self {
            Machine::Inbound(c) => Some(c.port()),
            Machine::Dialback(_) => None,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::Inbound(c) => c.poll_timeout(),
            Machine::Dialback(d) => d.poll_timeout(),
        }
    }

    pub fn owns_call_id(&self, id: &str) -> bool {
        match self {
            Machine::Inbound(c) => c.owns_call_id(id),
            Machine::Dialback(d) => d.owns_call_id(id),
        }
    }

    pub fn dialog_peer(&self, call_id: &str) -> Option<std::net::IpAddr> {
        match self {
            Machine::Inbound(c) => c.dialog_peer(call_id),
            Machine::Dialback(d) => d.dialog_peer(call_id),
        }
    }

    pub fn as_call(&self) -> Option<&Call> {
        match self {
            Machine::Inbound(c) => Some(c),
            Machine::Dialback(_) => None,
        }
    }

    pub fn as_dialback(&self) -> Option<&Dialback> {
        match self {
            Machine::Dialback(d) => Some(d),
            Machine::Inbound(_) => None,
        }
    }

    pub fn as_dialback_mut(&mut self) -> Option<&mut Dialback> {
        match self {
            Machine::Dialback(d) => Some(d),
            Machine::Inbound(_) => None,
        }
    }

    pub fn handle_timeout(&mut self, ctx: &mut Ctx<'_>) {
        match self {
            Machine::Inbound(c) => c.handle_timeout(ctx),
            Machine::Dialback(d) => d.handle_timeout(ctx),
        }
    }

    pub fn handle_lookup(&mut self, ctx: &mut Ctx<'_>, r: LookupResult) {
        if let Machine::Inbound(c) = self {
            c.handle_lookup(ctx, r);
        }
    }

    pub fn handle_ack(&mut self, ctx: &mut Ctx<'_>, ack: &rsip::Request) {
        if let Machine::Inbound(c) = self {
            c.handle_ack(ctx, ack);
        }
    }

    pub fn handle_cancel(&mut self, ctx: &mut Ctx<'_>) {
        if let Machine::Inbound(c) = self {
            c.handle_cancel(ctx);
        }
    }

    pub fn handle_ack_timeout(&mut self, ctx: &mut Ctx<'_>) {
        if let Machine::Inbound(c) = self {
            c.handle_ack_timeout(ctx);
        }
    }

    /// Switchboard is stopping: hang up from our side (see `endpoint::stopping`).
    pub fn handle_stop(&mut self, ctx: &mut Ctx<'_>) {
        match self {
            Machine::Inbound(c) => c.handle_stop(ctx),
            Machine::Dialback(d) => d.handle_stop(ctx),
        }
    }

    pub fn handle_media_event(&mut self, ctx: &mut Ctx<'_>, leg: Option<CallKey>, ev: MediaEvent) {
        match self {
            Machine::Inbound(c) => c.handle_media_event(ctx, leg, ev),
            Machine::Dialback(d) => {
                if let Some(leg) = leg {
                    d.handle_media_event(ctx, leg, ev);
                }
            }
        }
    }

    pub fn handle_in_dialog(&mut self, ctx: &mut Ctx<'_>, key: ServerKey, req: rsip::Request) {
        match self {
            Machine::Inbound(c) => c.handle_in_dialog(ctx, key, req),
            Machine::Dialback(d) => d.handle_in_dialog(ctx, key, req),
        }
    }

    pub fn handle_response(&mut self, ctx: &mut Ctx<'_>, key: &ClientKey, resp: rsip::Response) {
        match self {
            Machine::Inbound(c) => c.handle_response(ctx, key, resp),
            Machine::Dialback(d) => d.handle_response(ctx, key, resp),
        }
    }

    pub fn handle_client_timeout(&mut self, ctx: &mut Ctx<'_>, key: &ClientKey) {
        match self {
            Machine::Inbound(c) => c.handle_client_timeout(ctx, key),
            Machine::Dialback(d) => d.handle_client_timeout(ctx, key),
        }
    }

    pub fn handle_connect(&mut self, ctx: &mut Ctx<'_>, out: ConnectOutput) {
        match self {
            Machine::Inbound(c) => c.handle_connect(ctx, out),
            Machine::Dialback(d) => d.handle_connect(ctx, out),
        }
    }
}
