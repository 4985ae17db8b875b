//! The dial plan as a call [`Program`]: the routing engine decides, the IVR runner acts.
//!
//! A department or manager target is announced ("connecting you to sales") and then
//! handed to the call layer as a [`Step::Connect`]; when nobody can take the call, the
//! call layer comes back through [`Program::continue_with`] with the engine's overflow,
//! after-hours or fallback step.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::program::{
    CallContextInfo, CallInfo, CollectSpec, ConnectTarget, MenuResult, Program, Step,
};
use crate::config::DialPlan;
use crate::routing::{
    self, CallContext, ManagerStates, MenuInput, MenuSession, PreviousInteraction, Reason, Why,
};

/// Where the engine sent the call, in the form the call record keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Department(String),
    Manager(String),
    Voicemail(String),
}

/// "We received your call; a manager will call you back": played before voicemail or
/// hang-up whenever the call lands in the callback queue.
pub const CONFIRM_PROMPT: &str = "callback_confirm";
/// A voicemail ends after this much silence.
const VOICEMAIL_SILENCE: Duration = Duration::from_secs(5);

pub struct PlanProgram {
    plan: Arc<DialPlan>,
    history: Option<PreviousInteraction>,
    session: MenuSession,
    last_reason: Option<Reason>,
    destination: Option<Destination>,
    /// The dialled number's source/campaign label.
    source: String,
    /// The call is headed for the callback queue (after hours, overflow, nobody
    /// answered): confirm to the caller before voicemail or hang-up.
    confirm: bool,
    /// `menu:key` for every menu answered, for the context headers.
    keys: Vec<String>,
    /// Prompts that exist, so an announcement never names a missing file.
    has_prompt: Box<dyn Fn(&str) -> bool + Send>,
    /// What the CRM said about the caller (`[lookup]`).
    crm: Option<crate::model::CrmAnswer>,
    /// The dialled number's entry records conversations (`record = true`).
    number_records: bool,
}

impl PlanProgram {
    pub fn new(plan: Arc<DialPlan>, has_prompt: Box<dyn Fn(&str) -> bool + Send>) -> Self {
        Self {
            plan,
            history: None,
            session: MenuSession::new(),
            last_reason: None,
            destination: None,
            source: String::new(),
            confirm: false,
            keys: Vec::new(),
            has_prompt,
            crm: None,
            number_records: false,
        }
    }

    /// Whether conversations of a call connected to `target` are recorded.
    fn records_target(&self, department: Option<&str>) -> bool {
        self.number_records
            || department
                .and_then(|d| self.plan.departments.get(d))
                .is_some_and(|d| d.record)
    }

    /// The prompts before a connect: what the plan announces, then the recording
    /// notice when the conversation will be recorded.
    fn with_notice(&self, mut prompts: Vec<String>, department: Option<&str>) -> Vec<String> {
        if self.records_target(department)
            && let Some(notice) = &self.plan.integrations.recording.announcement
        {
            prompts.push(notice.clone());
        }
        prompts
    }

    /// The menus the caller went through, outermost first.
    pub fn menu_path(&self) -> &[String] {
        self.session.path()
    }

    pub fn destination(&self) -> Option<&Destination> {
        self.destination.as_ref()
    }

    fn decide(&mut self, d: routing::Decision) -> Step {
        self.confirm = d.reason.after_hours();
        self.last_reason = Some(d.reason);
        self.convert(d.step)
    }

    /// The call step a routing decision becomes, as a live call would run it: made
    /// when the call is routed (`from_connect` false: entry or menu key) or when a
    /// connect failed (`from_connect` true: overflow, after hours at ring time,
    /// fallback), which decides whether the callback confirmation plays. For
    /// `switchboard explain` ([`super::heard`]).
    pub fn preview(&mut self, d: &routing::Decision, from_connect: bool) -> Step {
        if from_connect {
            self.resume(d.step.clone(), d.reason.clone())
        } else {
            self.decide(d.clone())
        }
    }

    /// Continue after a connect (see [`Program::continue_with`]).
    fn resume(&mut self, step: routing::Step, reason: Reason) -> Step {
        // A failed connect (nobody answered, after hours, queue full) lands in the
        // callback queue; a transfer does not.
        self.confirm = !matches!(reason.facts().first(), Some(Why::TransferredBy { .. }));
        self.last_reason = Some(reason);
        self.convert(step)
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
                    type_ahead: self.plan.menus.get(&menu).is_none_or(|m| m.type_ahead),
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
                // "Connecting you to sales" when the plan ships such a prompt.
                let prompt = if (self.has_prompt)(&name) {
                    name.clone()
                } else {
                    "connecting".into()
                };
                self.destination = Some(Destination::Department(name.clone()));
                Step::Play {
                    prompts: self.with_notice(vec![prompt], Some(&name)),
                    then: Box::new(Step::Connect(ConnectTarget::Department(name))),
                }
            }
            routing::Step::Manager {
                name,
                ring_timeout,
                wait,
                fallback,
            } => {
                self.destination = Some(Destination::Manager(name.clone()));
                Step::Play {
                    prompts: self.with_notice(vec!["connecting".into()], None),
                    then: Box::new(Step::Connect(ConnectTarget::Manager {
                        name,
                        ring_timeout,
                        wait,
                        fallback,
                    })),
                }
            }
            routing::Step::Voicemail {
                mailbox,
                greeting,
                max_duration,
            } => {
                self.destination = Some(Destination::Voicemail(mailbox.clone()));
                let mut prompts = Vec::new();
                if self.confirm {
                    prompts.push(CONFIRM_PROMPT.to_string());
                }
                prompts.push(greeting.unwrap_or_else(|| "voicemail_greeting".into()));
                prompts.push("beep".into());
                Step::Record {
                    mailbox: mailbox.clone(),
                    prompts,
                    max: max_duration,
                    silence: VOICEMAIL_SILENCE,
                    then: Box::new(Step::play(
                        &["goodbye"],
                        Step::hangup(format!("voicemail {mailbox}")),
                    )),
                }
            }
            // Nobody could take the call and the plan says hang up: still tell the
            // caller their request was received (it is in the callback queue).
            routing::Step::Hangup if self.confirm => Step::play(
                &[CONFIRM_PROMPT, "goodbye"],
                Step::hangup("dial plan: hang up"),
            ),
            routing::Step::Hangup => Step::hangup("dial plan: hang up"),
        }
    }
}

impl Program for PlanProgram {
    fn wants_history(&self, call: &CallInfo) -> Option<Timestamp> {
        if !self.plan.history.enabled {
            return None;
        }
        let lookback =
            jiff::SignedDuration::try_from(self.plan.history.lookback).unwrap_or_default();
        Some(
            call.started_at
                .checked_sub(lookback)
                .unwrap_or(Timestamp::MIN),
        )
    }

    fn start(
        &mut self,
        call: &CallInfo,
        wall: Timestamp,
        states: &ManagerStates,
        history: Option<PreviousInteraction>,
    ) -> Step {
        self.history = history;
        if let Some(route) = self.plan.number_route(&call.dialled) {
            self.source = route.source.clone();
            self.number_records = route.record;
        }
        let ctx = CallContext::new(&call.dialled, &call.caller, wall);
        let d = routing::route_call_with(
            &self.plan,
            &ctx,
            states,
            self.history.as_ref(),
            self.crm.as_ref(),
        );
        self.decide(d)
    }

    fn on_menu_result(
        &mut self,
        _call: &CallInfo,
        wall: Timestamp,
        states: &ManagerStates,
        menu: &str,
        result: MenuResult,
    ) -> Step {
        self.keys.push(match &result {
            MenuResult::Digits(d) => format!("{menu}:{d}"),
            MenuResult::NoInput => format!("{menu}:-"),
        });
        let input = match result {
            MenuResult::Digits(d) => d
                .chars()
                .next()
                .map_or(MenuInput::Timeout, MenuInput::Digit),
            MenuResult::NoInput => MenuInput::Timeout,
        };
        let d = routing::on_menu_input(&self.plan, &mut self.session, input, wall, states);
        self.decide(d)
    }

    fn wants_lookup(&self, _call: &CallInfo) -> Option<Duration> {
        self.plan.integrations.lookup.as_ref().map(|l| l.timeout)
    }

    fn set_crm(&mut self, answer: &crate::model::CrmAnswer) {
        self.crm = Some(answer.clone());
    }

    fn records(&self) -> bool {
        match &self.destination {
            Some(Destination::Department(d)) => self.records_target(Some(d)),
            Some(Destination::Manager(_)) => self.records_target(None),
            _ => false,
        }
    }

    fn refusal(&self, call: &CallInfo) -> Option<Reason> {
        routing::unrouted(&self.plan, &call.dialled)
    }

    fn last_reason(&self) -> Option<&Reason> {
        self.last_reason.as_ref()
    }

    fn plan(&self) -> Option<Arc<DialPlan>> {
        Some(self.plan.clone())
    }

    fn continue_with(
        &mut self,
        _call: &CallInfo,
        _wall: Timestamp,
        step: routing::Step,
        reason: Reason,
    ) -> Step {
        self.resume(step, reason)
    }

    fn context(&self) -> CallContextInfo {
        CallContextInfo {
            source: self.source.clone(),
            ivr_path: self.keys.join(" > "),
            returning: self.history.as_ref().map(|h| {
                format!(
                    "spoke with {} on {}",
                    h.manager,
                    h.at.strftime("%Y-%m-%d %H:%M UTC")
                )
            }),
            reason: self
                .last_reason
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            owner: self.crm.as_ref().and_then(|c| c.owner.clone()),
            priority: self.crm.as_ref().and_then(|c| c.priority),
            display_name: self.crm.as_ref().and_then(|c| c.display_name.clone()),
            tags: self
                .crm
                .as_ref()
                .map(|c| c.tags.clone())
                .unwrap_or_default(),
        }
    }
}
