//! Calls: one state machine per inbound call.
//!
//! - [`Call`] (`inbound`) owns one inbound call: the caller's dialog and media, the
//!   people it rings or is bridged to (`people`, with outbound legs in [`leg`]), and
//!   its [`Flow`].
//! - [`Flow`] (`flow`) is what the call *does*, without SIP: the IVR ([`ivr`] running a
//!   [`program`], usually the dial plan in [`plan`]), waiting prompts, voicemail,
//!   transfers, and the [`outcome`] decided once at the end. The simulator runs the
//!   same `Flow`.
//! - [`context`] is the narrow interface a call uses to reach the outside; [`event`]
//!   the life events it reports, and [`record`] turns those into call records.
//!
//! Whom to ring and who waits in which queue is not decided here but by the connect
//! policy ([`crate::connect`]), which the endpoint consults on the calls' behalf.

mod callback;
pub mod context;
pub mod conversation;
pub mod dialback;
pub mod event;
pub mod flow;
pub mod heard;
mod inbound;
pub mod ivr;
pub mod leg;
mod line;
pub mod machine;
pub mod outcome;
pub mod parting;
mod people;
pub mod plan;
pub mod program;
pub mod record;
mod security;
pub mod trunk;
pub mod waiting;

pub use context::{
    CallConfig, ConnectInput, Ctx, Lookup, LookupFailure, LookupResult, Output, Spawn,
};
pub use dialback::Dialback;
pub use event::CallEvent;
pub use flow::{Flow, FlowAction};
pub use inbound::{Call, Refused};
pub use ivr::{IvrAction, IvrRunner};
pub use machine::Machine;
pub use outcome::{EndCause, Outcome};
pub use people::transfer_target;
pub use program::{
    CallContextInfo, CallInfo, CollectSpec, ConnectTarget, DemoIvr, MenuResult, Program,
    ServiceAnswer, Step,
};

pub use crate::media::{CallKey, DigitSource, MediaCommand, MediaEvent, MediaParams, RecordEnd};
