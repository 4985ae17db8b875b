//! The dial plan as a call [`Program`]: the routing engine decides, the IVR runner acts.
//!
//! Until calls can be bridged to managers (and voicemail recorded), a routing target is
//! announced with a prompt naming the destination and the decision is recorded with its
//! reason, so the whole path — number, menus, hours, returning caller — is testable
//! end to end.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::program::{CallInfo, CollectSpec, MenuResult, Program, Step};
use crate::config::DialPlan;
use crate::routing::{
    self, CallContext, ManagerStates, MenuInput, MenuSession, PreviousInteraction,
};

/// Where the engine sent the call, in the form the call record keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Department(String),
    Manager(String),
    Voicemail(String),
}

pub struct PlanProgram {
    plan: Arc<DialPlan>,
    states: ManagerStates,
    history: Option<PreviousInteraction>,
    session: MenuSession,
    last_reason: Option<String>,
    destination: Option<Destination>,
    /// Prompts that exist, so an announcement never names a missing file.
    has_prompt: Box<dyn Fn(&str) -> bool + Send>,
}

impl PlanProgram {
    pub fn new(
        plan: Arc<DialPlan>,
        states: ManagerStates,
        history: Option<PreviousInteraction>,
        has_prompt: Box<dyn Fn(&str) -> bool + Send>,
    ) -> Self {
        Self {
            plan,
            states,
            history,
            session: MenuSession::new(),
            last_reason: None,
            destination: None,
            has_prompt,
        }
    }

    /// The menus the caller went through, outermost first.
    pub fn menu_path(&self) -> &[String] {
        self.session.path()
    }

    pub fn destination(&self) -> Option<&Destination> {
        self.destination.as_ref()
    }

    fn decide(&mut self, d: routing::Decision) -> Step {
        self.last_reason = Some(d.reason);
        self.convert(d.step)
    }

    /// Turn an engine step into something the IVR runner executes.
    fn convert(&mut self, step: routing::Step) -> Step {
        match step {
            routing::Step::Menu {
                menu,
                prompts,
                timeout,
            } => {
                self.session.enter(&menu);
                let collect = CollectSpec {
                    max_digits: 1,
                    terminator: None,
                    first_digit_timeout: timeout,
                    inter_digit_timeout: Duration::from_secs(3),
                };
                Step::Menu {
                    id: menu,
                    prompts,
                    collect,
                }
            }
            routing::Step::Play { prompt, then } => {
                let then = self.convert(*then);
                Step::Play {
                    prompts: vec![prompt],
                    then: Box::new(then),
                }
            }
            routing::Step::Department { name } => {
                let prompt = if (self.has_prompt)(&name) {
                    name.clone()
                } else {
                    "connecting".into()
                };
                self.destination = Some(Destination::Department(name.clone()));
                Step::Play {
                    prompts: vec![prompt],
                    then: Box::new(Step::hangup(format!("routed to department {name}"))),
                }
            }
            routing::Step::Manager { name, .. } => {
                self.destination = Some(Destination::Manager(name.clone()));
                Step::play(
                    &["connecting"],
                    Step::hangup(format!("routed to manager {name}")),
                )
            }
            routing::Step::Voicemail {
                mailbox, greeting, ..
            } => {
                self.destination = Some(Destination::Voicemail(mailbox.clone()));
                let greeting = greeting.unwrap_or_else(|| "voicemail_greeting".into());
                Step::Play {
                    prompts: vec![greeting],
                    then: Box::new(Step::hangup(format!("voicemail {mailbox}"))),
                }
            }
            routing::Step::Hangup => Step::hangup("dial plan: hang up"),
        }
    }
}

impl Program for PlanProgram {
    fn start(&mut self, call: &CallInfo, wall: Timestamp) -> Step {
        let ctx = CallContext::new(&call.dialled, &call.caller, wall);
        let d = routing::route_call(&self.plan, &ctx, &self.states, self.history.as_ref());
        self.decide(d)
    }

    fn on_menu_result(
        &mut self,
        _call: &CallInfo,
        wall: Timestamp,
        _menu: &str,
        result: MenuResult,
    ) -> Step {
        let input = match result {
            MenuResult::Digits(d) => d
                .chars()
                .next()
                .map_or(MenuInput::Timeout, MenuInput::Digit),
            MenuResult::NoInput => MenuInput::Timeout,
        };
        let d = routing::on_menu_input(&self.plan, &mut self.session, input, wall, &self.states);
        self.decide(d)
    }

    fn last_reason(&self) -> Option<&str> {
        self.last_reason.as_deref()
    }
}
