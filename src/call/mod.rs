//! The per-call logic: what a call does ([`program`]), how steps are carried out
//! ([`ivr`]), and the contract with the media plane ([`media_cmd`]).

pub mod heard;
pub mod ivr;
pub mod media_cmd;
pub mod plan;
pub mod program;
pub mod record;

pub use ivr::{IvrAction, IvrRunner};
pub use media_cmd::{CallKey, DigitSource, MediaCommand, MediaEvent, MediaParams, RecordEnd};
pub use program::{
    CallContextInfo, CallInfo, CollectSpec, ConnectTarget, DemoIvr, MenuResult, Program, Step,
};
