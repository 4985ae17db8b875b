//! What a call does, as a sequence of [`Step`]s chosen by a [`Program`].
//!
//! The call state machine knows how to *execute* a step (play prompts, run a menu,
//! hang up); a program decides *which* step comes next. The dial plan is one program;
//! the demo IVR below is another. Keeping the decision behind a trait lets the routing
//! simulator drive the same call logic without SIP.

use std::time::Duration;

use jiff::Timestamp;

use crate::routing::{ManagerStates, PreviousInteraction, Reason};

/// How digits are collected for a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectSpec {
    pub max_digits: usize,
    pub terminator: Option<char>,
    pub first_digit_timeout: Duration,
    pub inter_digit_timeout: Duration,
    /// Keys pressed while `Step::Play` prompts leading into this menu play are kept
    /// for it (type-ahead, as Asterisk's `Background()`): the key stops the prompt and
    /// counts as the menu's first key.
    pub type_ahead: bool,
}

impl Default for CollectSpec {
    fn default() -> Self {
        Self {
            max_digits: 1,
            terminator: Some('#'),
            first_digit_timeout: Duration::from_secs(5),
            inter_digit_timeout: Duration::from_secs(3),
            type_ahead: true,
        }
    }
}

/// The next thing a call does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Play prompts to the end, then continue. Digits are ignored, unless this leads
    /// (through more plays) into a menu with [`CollectSpec::type_ahead`].
    Play {
        prompts: Vec<String>,
        then: Box<Step>,
    },
    /// Play prompts with barge-in and collect digits; the result goes back to the program.
    Menu {
        id: String,
        prompts: Vec<String>,
        collect: CollectSpec,
    },
    /// Hand the caller to people: ring a department's members or one manager, and
    /// bridge the call to whoever answers. When nobody can take it, the call layer
    /// asks the program to continue with the routing step that follows (overflow,
    /// after-hours, fallback) through [`Program::continue_with`].
    Connect(ConnectTarget),
    /// Voicemail: play `prompts` (greeting, beep) to the end, record the caller into
    /// `mailbox` (ends on `#`, after `max`, or after `silence` of silence), then `then`.
    Record {
        mailbox: String,
        prompts: Vec<String>,
        max: Duration,
        silence: Duration,
        then: Box<Step>,
    },
    /// End the call from our side (BYE).
    Hangup { reason: String },
}

pub use crate::connect::ConnectTarget;

/// What the people being rung are told about the call: the routing context that
/// travels with it (as SIP headers a phone can show) and survives transfers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContextInfo {
    /// The source/campaign label of the dialled number.
    pub source: String,
    /// Menus and keys the caller went through, e.g. `main:2 > sales:1`.
    pub ivr_path: String,
    /// Set for a returning caller: who spoke with them last and when.
    pub returning: Option<String>,
    /// The routing reason, one line.
    pub reason: String,
    /// From the CRM (`[lookup]`): the customer's owner, queue priority, the name to
    /// show instead of the caller ID's, and tags (`X-Switchboard-Owner`, `-Priority`,
    /// `-Caller-Name`, `-Tags`).
    pub owner: Option<String>,
    pub priority: Option<u8>,
    pub display_name: Option<String>,
    pub tags: Vec<String>,
}

impl Step {
    pub fn play(prompts: &[&str], then: Step) -> Step {
        Step::Play {
            prompts: prompts.iter().map(|p| p.to_string()).collect(),
            then: Box::new(then),
        }
    }
    pub fn hangup(reason: impl Into<String>) -> Step {
        Step::Hangup {
            reason: reason.into(),
        }
    }
}

/// What the caller did in a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuResult {
    Digits(String),
    NoInput,
}

/// Facts about the call a program decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub call_id: String,
    /// Caller number (From user part).
    pub caller: String,
    pub caller_name: Option<String>,
    /// Dialled number (Request-URI user, falling back to To).
    pub dialled: String,
    pub started_at: Timestamp,
}

/// A per-call decision maker. `wall` is the current wall-clock time (business hours);
/// `states` the managers' availability and queues right now.
pub trait Program: Send {
    /// Whether the program routes returning callers, and so needs to know whom this
    /// caller spoke with since the returned time (looked up before [`Self::start`]).
    fn wants_history(&self, _call: &CallInfo) -> Option<Timestamp> {
        None
    }
    /// Whether the program wants the CRM asked about this call (`[lookup]`), and how
    /// long the call may wait for the answer before [`Self::start`].
    fn wants_lookup(&self, _call: &CallInfo) -> Option<std::time::Duration> {
        None
    }
    /// What the CRM answered, given before [`Self::start`] (never when it failed).
    fn set_crm(&mut self, _answer: &crate::model::CrmAnswer) {}
    /// Whether a conversation of this call should be recorded now (`record = true` on
    /// its number or the department it was routed to).
    fn records(&self) -> bool {
        false
    }
    /// The first step; `history` is the caller's last interaction, when
    /// [`Self::wants_history`] asked for it and there is one.
    fn start(
        &mut self,
        call: &CallInfo,
        wall: Timestamp,
        states: &ManagerStates,
        history: Option<PreviousInteraction>,
    ) -> Step;
    fn on_menu_result(
        &mut self,
        call: &CallInfo,
        wall: Timestamp,
        states: &ManagerStates,
        menu: &str,
        result: MenuResult,
    ) -> Step;
    /// Asked before the call is answered: `Some(reason)` when the program has nothing
    /// to offer this call at all (no dial plan entry for the number), so the call layer
    /// refuses it with 404 instead of answering (and billing the caller) to hang up.
    fn refusal(&self, _call: &CallInfo) -> Option<Reason> {
        None
    }
    /// Why the last decision was made, for the call's log and record.
    fn last_reason(&self) -> Option<&Reason> {
        None
    }
    /// The plan this call runs on (a call keeps the plan it started with across
    /// reloads). `None` for programs without one, which never connect.
    fn plan(&self) -> Option<std::sync::Arc<crate::config::DialPlan>> {
        None
    }
    /// Continue after a connect attempt ended without a bridge (`step` is the routing
    /// engine's overflow/after-hours/fallback step) or after a transfer (`reason`
    /// starts with [`Why::TransferredBy`](crate::routing::Why::TransferredBy)).
    fn continue_with(
        &mut self,
        _call: &CallInfo,
        _wall: Timestamp,
        _step: crate::routing::Step,
        reason: Reason,
    ) -> Step {
        Step::hangup(reason.to_string())
    }
    /// The context headers for outbound legs.
    fn context(&self) -> CallContextInfo {
        CallContextInfo::default()
    }
    /// Whether the call is a customer call that gets a record (and counts in
    /// reports); a manager's feature-code call does not.
    fn keeps_record(&self) -> bool {
        true
    }
}

/// Answers a manager's feature code (pause, sign in, …): one short prompt, then
/// hang up. Not a customer call: no record.
#[derive(Debug)]
pub struct ServiceAnswer {
    pub prompt: String,
}

impl Program for ServiceAnswer {
    fn start(
        &mut self,
        _call: &CallInfo,
        _wall: Timestamp,
        _states: &ManagerStates,
        _history: Option<PreviousInteraction>,
    ) -> Step {
        Step::play(
            &[self.prompt.as_str()],
            Step::hangup("feature code answered"),
        )
    }

    fn on_menu_result(
        &mut self,
        _call: &CallInfo,
        _wall: Timestamp,
        _states: &ManagerStates,
        _menu: &str,
        _result: MenuResult,
    ) -> Step {
        Step::hangup("feature code answered")
    }

    fn keeps_record(&self) -> bool {
        false
    }
}

/// The built-in IVR used until a dial plan is configured: welcome, one digit, confirm
/// the digit ("you pressed 3"), goodbye. `*` and `#` are invalid choices; three failed
/// attempts end the call politely.
#[derive(Debug, Default)]
pub struct DemoIvr {
    attempts: u32,
}

impl DemoIvr {
    const MAX_ATTEMPTS: u32 = 3;

    fn menu() -> Step {
        Step::Menu {
            id: "demo".into(),
            prompts: vec!["welcome".into()],
            collect: CollectSpec::default(),
        }
    }

    fn retry(&mut self, prompt: &str) -> Step {
        self.attempts += 1;
        if self.attempts >= Self::MAX_ATTEMPTS {
            Step::play(
                &[prompt, "goodbye"],
                Step::hangup("no valid choice after 3 attempts"),
            )
        } else {
            Step::play(&[prompt], Self::menu())
        }
    }
}

impl Program for DemoIvr {
    fn start(
        &mut self,
        _call: &CallInfo,
        _wall: Timestamp,
        _states: &ManagerStates,
        _history: Option<PreviousInteraction>,
    ) -> Step {
        Self::menu()
    }

    fn on_menu_result(
        &mut self,
        _call: &CallInfo,
        _wall: Timestamp,
        _states: &ManagerStates,
        _menu: &str,
        result: MenuResult,
    ) -> Step {
        match result {
            MenuResult::Digits(d) => match d.chars().next() {
                Some(c @ '0'..='9') => {
                    let digit = format!("digit_{c}");
                    Step::play(
                        &["you_pressed", &digit, "goodbye"],
                        Step::hangup(format!("caller chose {c}")),
                    )
                }
                _ => self.retry("invalid"),
            },
            MenuResult::NoInput => self.retry("timeout"),
        }
    }
}
