//! Switchboard: a SIP call router with a built-in IVR.
//!
//! # How the pieces fit
//!
//! Everything that speaks a protocol or makes a decision is **sans-IO**: it takes input
//! plus `now` through `handle_*` methods and hands back work through `poll_*` methods
//! (datagrams to send, media commands, store writes, the next deadline). It never reads
//! a clock, sleeps, or touches a socket. The tokio driver in [`io`] is the only place
//! with sockets, timers and threads.
//!
//! The drain-after-input rule: after every `handle_*` call the driver drains every
//! `poll_*` queue until empty and then re-arms its timer from `poll_timeout()`. A
//! machine that skipped this would leave transmits sitting in a queue until the next
//! unrelated input arrived.
//!
//! Layers, each knowing only the one below (as in pjsip):
//! [`sip`] (framing, parsing) → [`transaction`] (RFC 3261 §17) → [`dialog`] →
//! [`call`] (per-call state machine: IVR, legs, bridge) ← [`routing`] (pure decisions
//! from the compiled [`config`] dial plan). [`sdp`] and [`media`] are leaf libraries.

pub mod admin;
pub mod commands;
pub mod io;
pub mod reports;
pub mod sim;
pub mod store;

// The sans-IO core, under the paths the application (and its tests) always used.
pub use switchboard_core::{
    agents, call, config, connect, dialog, endpoint, guard, media, model, registrar, routing, sdp,
    sip, transaction,
};
