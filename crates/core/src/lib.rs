//! Switchboard's sans-IO core: everything that speaks a protocol or makes a decision,
//! and nothing that touches a socket, a clock, a thread or a database.
//!
//! # The run loop
//!
//! Every machine here takes input plus `now` through `handle_*` methods and hands back
//! work through `poll_*` methods: datagrams to send, media commands, store writes,
//! lookups, the next deadline. The driver (the application crate's `io` module, or a
//! test, or the simulator) owns the sockets and clocks and follows one rule:
//!
//! ```text
//! loop {
//!     wait for: a datagram, a media event, a lookup answer, or poll_timeout()
//!     endpoint.handle_*(now, wall, input)
//!     while let Some(out) = endpoint.poll_output() { carry it out }   // drain-after-input
//! }
//! ```
//!
//! A driver that skipped the drain would leave transmits waiting for an unrelated input.
//!
//! # The three kinds of time
//!
//! - `std::time::Instant` — protocol time: RFC 3261 timers, ring timeouts, queue
//!   deadlines. Always passed in as `now`; never read here.
//! - `jiff::Timestamp` — business time: opening hours, wrap-up, records. Passed in as
//!   `wall`.
//! - RTP time — 8000 Hz sample counts inside RTP packets, only in [`media`].
//!
//! Because all three come from outside, a whole call — or a day of traffic in the
//! [`sim`]ulator — runs on a virtual clock in microseconds, and the same code decides
//! live calls and what-if runs.
//!
//! # Where to start reading
//!
//! Layers, each knowing only the ones below (no module imports one above it, and no
//! two files import each other):
//!
//! ```text
//!  endpoint · sim    endpoint: demultiplexes SIP to calls, owns transactions, ports,
//!     │              the registrar, guards and the connect policy. sim: the what-if
//!     │              world, driving the same calls and policy on a virtual clock
//!  call              one state machine per inbound call (call::Call) and what it does
//!     │              without SIP (call::Flow); the outcome decided once (call::outcome)
//!  connect           whom to ring; queues first come first served, woken by events
//!     │
//!  agents            managers' availability: load, wrap-up, paused, signed in
//!     │
//!  routing           pure decisions from the dial plan, with typed reasons
//!     │
//!  config · dialog   the dial plan and [server]; dialogs and route sets
//!     │
//!  transaction · registrar · media
//!     │
//!  sip · sdp · guard · model
//! ```
//!
//! 1. [`endpoint::Endpoint`]: `handle_sip`, `handle_timeout`, `poll_output`.
//! 2. [`call::Call`] and [`call::Flow`] for a call's life; [`call::outcome::classify`].
//! 3. [`connect::Connector`] for rounds and queues; [`agents::Agents`] for load.
//! 4. [`routing`] for the dial plan's decisions and their typed [`routing::Reason`]s.
//! 5. [`sim`] for the simulator that drives the same code.
//!
//! Files are read only at load time (the dial plan in [`config`], prompts in
//! [`media::prompt`]); nothing in the call path touches the file system.

// Wire and configuration input reach every module here: no unwrap, expect, indexing or
// panic outside tests (Cargo.toml denies them; tests may assert freely).
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod agents;
pub mod call;
pub mod config;
pub mod connect;
pub mod dialog;
pub mod endpoint;
pub mod guard;
pub mod media;
pub mod model;
pub mod registrar;
pub mod routing;
pub mod sdp;
pub mod sim;
pub mod sip;
pub mod transaction;
