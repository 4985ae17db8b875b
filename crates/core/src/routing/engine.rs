//! The routing decisions: where a new call goes, what a menu key does, what happens when
//! a queue wait runs out. Pure functions of (plan, context, state, time): no clock
//! reads, no I/O, so a whole day of traffic can be replayed in a test.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;

use super::hours;
use super::reason::{MenuWhy, Reason, Returning, Why};
use super::state::{CallContext, ManagerState, ManagerStates, PreviousInteraction};
use crate::config::{Action, DialPlan, Manager, NumberPattern, NumberRoute};
use crate::model::CrmAnswer;

/// What the call should do next. Departments are resolved lazily: `Department` tells
/// the call layer to ask [`select_department`](super::select_department) whom to ring
/// at the moment it is ready to ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Play `prompts` in order, then wait up to `timeout` for one key and pass it (or
    /// the timeout) to [`on_menu_input`].
    Menu {
        menu: String,
        prompts: Vec<String>,
        timeout: Duration,
    },
    /// Hand the call to a department (open at decision time).
    Department {
        name: String,
    },
    /// Connect to one manager: ring for up to `ring_timeout`; if they are busy, wait up
    /// to `wait` for them to become free first. If that fails, continue with
    /// `fallback`.
    Manager {
        name: String,
        ring_timeout: Duration,
        wait: Duration,
        fallback: Box<Step>,
    },
    /// Record a message.
    Voicemail {
        mailbox: String,
        greeting: Option<String>,
        max_duration: Duration,
    },
    /// Play a prompt, then continue with `then`.
    Play {
        prompt: String,
        then: Box<Step>,
    },
    Hangup,
}

impl Step {
    /// The step after any `Play` prefixes.
    pub fn target(&self) -> &Step {
        match self {
            Step::Play { then, .. } => then.target(),
            other => other,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Menu {
                menu,
                prompts,
                timeout,
            } => write!(
                f,
                "menu \"{menu}\": play {}, then wait {} s for a key",
                prompts.join(" + "),
                timeout.as_secs()
            ),
            Step::Department { name } => write!(f, "department \"{name}\""),
            Step::Manager {
                name,
                ring_timeout,
                wait,
                fallback,
            } => {
                write!(
                    f,
                    "ring manager \"{name}\" for {} s",
                    ring_timeout.as_secs()
                )?;
                if !wait.is_zero() {
                    write!(f, " (waiting up to {} s if busy)", wait.as_secs())?;
                }
                write!(f, "; if that fails: {fallback}")
            }
            Step::Voicemail { mailbox, .. } => write!(f, "voicemail \"{mailbox}\""),
            Step::Play { prompt, then } => write!(f, "play \"{prompt}\", then {then}"),
            Step::Hangup => f.write_str("hang up"),
        }
    }
}

/// A step and the human reason for it, as recorded with the call and printed by
/// `switchboard explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub step: Step,
    pub reason: Reason,
}

/// A key press or its absence, as reported by the call layer for the current menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuInput {
    Digit(char),
    Timeout,
}

/// Where a caller is in the menus: the path taken (for `back`) and the failed attempts
/// at the current menu (for `retries`). Kept by the call, one per call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MenuSession {
    path: Vec<String>,
    failures: u32,
}

impl MenuSession {
    pub fn new() -> Self {
        Self::default()
    }

    /// Call when a `Step::Menu` starts playing (idempotent; [`on_menu_input`] does it
    /// for the menus it returns). Re-entering a menu already on the path cuts the path
    /// back to it, so menu cycles never grow it.
    pub fn enter(&mut self, menu: &str) {
        if self.current() == Some(menu) {
            return;
        }
        match self.path.iter().position(|m| m == menu) {
            Some(pos) => self.path.truncate(pos + 1),
            None => self.path.push(menu.to_string()),
        }
        self.failures = 0;
    }

    pub fn current(&self) -> Option<&str> {
        self.path.last().map(String::as_str)
    }

    /// Menus visited, outermost first (recorded with the call).
    pub fn path(&self) -> &[String] {
        &self.path
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// Whether a manager can take a call right now, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Free,
    Busy {
        active: u32,
        max: u32,
    },
    WrapUp {
        secs_left: i64,
    },
    Paused,
    Offline,
    OffHours,
    /// Do not disturb (not even direct calls).
    DoNotDisturb,
    /// Signed out of this department's queue.
    SignedOut,
}

impl Availability {
    /// Reachable but occupied: worth waiting or queueing for.
    pub fn is_occupied(&self) -> bool {
        matches!(
            self,
            Availability::Busy { .. } | Availability::WrapUp { .. }
        )
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Availability::Free => f.write_str("free"),
            Availability::Busy { active, max } => write!(f, "busy ({active} of {max} calls)"),
            Availability::WrapUp { secs_left } => write!(f, "in wrap-up for {secs_left} s more"),
            Availability::Paused => f.write_str("paused"),
            Availability::DoNotDisturb => f.write_str("on do-not-disturb"),
            Availability::SignedOut => f.write_str("signed out of this queue"),
            Availability::Offline => f.write_str("not signed in (no phone registered)"),
            Availability::OffHours => f.write_str("off hours"),
        }
    }
}

/// The borrowed inputs every decision needs.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub plan: &'a DialPlan,
    pub states: &'a ManagerStates,
    pub now: Timestamp,
}

/// Guards chains of after-hours/unavailable actions that point at each other.
const MAX_DEPTH: u8 = 16;

impl Env<'_> {
    pub(crate) fn availability(
        &self,
        m: &Manager,
        st: &ManagerState,
        wrap_up: Duration,
    ) -> Availability {
        let off_hours = m
            .hours
            .as_ref()
            .and_then(|h| self.plan.hours.get(h))
            .is_some_and(|s| !hours::is_open(s, self.now));
        if off_hours {
            return Availability::OffHours;
        }
        if m.contact.is_none() && !st.registered {
            return Availability::Offline;
        }
        if st.dnd {
            return Availability::DoNotDisturb;
        }
        if st.paused {
            return Availability::Paused;
        }
        if st.active_calls >= m.max_calls {
            return Availability::Busy {
                active: st.active_calls,
                max: m.max_calls,
            };
        }
        if let Some(end) = st.last_call_end {
            let since = self.now.duration_since(end).as_secs();
            let wrap = i64::try_from(wrap_up.as_secs()).unwrap_or(i64::MAX);
            if since < wrap {
                return Availability::WrapUp {
                    secs_left: wrap - since,
                };
            }
        }
        Availability::Free
    }

    /// Turns an action into a step, following after-hours and unavailable redirects
    /// now (they depend on the time and state at this moment).
    pub(crate) fn resolve(&self, action: &Action, reasons: &mut Reason, depth: u8) -> Step {
        if depth > MAX_DEPTH {
            reasons.push(Why::Circular);
            return Step::Hangup;
        }
        let plan = self.plan;
        match action {
            Action::Menu(name) => match plan.menus.get(name) {
                Some(m) => Step::Menu {
                    menu: name.clone(),
                    prompts: vec![m.prompt.clone()],
                    timeout: m.timeout,
                },
                None => missing(reasons, "menu", name),
            },
            Action::Department(name) => {
                let Some(d) = plan.departments.get(name) else {
                    return missing(reasons, "department", name);
                };
                let schedule = d.hours.as_ref().and_then(|h| plan.hours.get(h));
                match schedule {
                    Some(s) if !hours::is_open(s, self.now) => {
                        reasons.push(Why::DepartmentClosed {
                            department: name.clone(),
                            state: hours::describe(s, self.now),
                            action: d.after_hours.clone(),
                        });
                        self.resolve(&d.after_hours, reasons, depth + 1)
                    }
                    _ => Step::Department { name: name.clone() },
                }
            }
            Action::Manager(name) => {
                let Some(m) = plan.managers.get(name) else {
                    return missing(reasons, "manager", name);
                };
                let mut fallback_reasons = Reason::new();
                let fallback = self.resolve(&m.unavailable, &mut fallback_reasons, depth + 1);
                match self.availability(m, &self.states.get(name), Duration::ZERO) {
                    Availability::Free => Step::Manager {
                        name: name.clone(),
                        ring_timeout: m.ring_timeout,
                        wait: Duration::ZERO,
                        fallback: Box::new(fallback),
                    },
                    other => {
                        reasons.push(Why::ManagerUnavailable {
                            manager: name.clone(),
                            availability: other.to_string(),
                            action: m.unavailable.clone(),
                        });
                        reasons.extend(fallback_reasons);
                        fallback
                    }
                }
            }
            Action::Voicemail(name) => match plan.voicemail.get(name) {
                Some(v) => Step::Voicemail {
                    mailbox: name.clone(),
                    greeting: v.greeting.clone(),
                    max_duration: v.max_duration,
                },
                None => missing(reasons, "voicemail", name),
            },
            Action::Play { prompt, then } => Step::Play {
                prompt: prompt.clone(),
                then: Box::new(self.resolve(then, reasons, depth + 1)),
            },
            Action::Hangup | Action::Repeat | Action::Back => Step::Hangup,
        }
    }

    /// The first decision for a new call: number → (hours) → (returning caller) →
    /// the number's action.
    pub(crate) fn entry(
        &self,
        ctx: &CallContext,
        history: Option<&PreviousInteraction>,
        crm: Option<&CrmAnswer>,
    ) -> Decision {
        let Some(route) = self.plan.number_route(&ctx.dialled) else {
            return Decision {
                step: Step::Hangup,
                reason: unrouted_reason(&ctx.dialled),
            };
        };
        let mut reasons = Reason::one(Why::NumberMatched {
            number: ctx.dialled.clone(),
            pattern: match &route.pattern {
                NumberPattern::Any => None,
                p => Some(p.to_string()),
            },
            source: route.source.clone(),
        });
        let schedule = route.hours.as_ref().and_then(|h| self.plan.hours.get(h));
        let action = match schedule {
            Some(s) if !hours::is_open(s, self.now) => {
                reasons.push(Why::NumberClosed {
                    state: hours::describe(s, self.now),
                    action: route.after_hours.clone(),
                });
                &route.after_hours
            }
            _ => {
                // The CRM's answer first (docs/integrations.md), then returning callers.
                let crm_action = self.crm_action(route, crm, &mut reasons);
                if let Some(step) = self.crm_owner(crm, &crm_action, &mut reasons) {
                    return Decision {
                        step,
                        reason: reasons,
                    };
                }
                if let Some(step) = self.returning_caller(route, history, &mut reasons) {
                    return Decision {
                        step,
                        reason: reasons,
                    };
                }
                reasons.push(Why::Then(crm_action.clone()));
                let step = self.resolve(&crm_action, &mut reasons, 0);
                return Decision {
                    step,
                    reason: reasons,
                };
            }
        };
        let step = self.resolve(action, &mut reasons, 0);
        Decision {
            step,
            reason: reasons,
        }
    }

    /// Returning-caller routing: `Some(step)` when it decides the call.
    fn returning_caller(
        &self,
        route: &NumberRoute,
        history: Option<&PreviousInteraction>,
        reasons: &mut Reason,
    ) -> Option<Step> {
        let policy = &self.plan.history;
        let department_override = match route.action.target() {
            Action::Department(d) => self.plan.departments.get(d).and_then(|d| d.history),
            _ => None,
        };
        let enabled = route
            .history
            .or(department_override)
            .unwrap_or(policy.enabled);
        let prev = history?;
        let name = &prev.manager;
        let age_secs = self.now.duration_since(prev.at).as_secs().max(0);
        let ago = ago(age_secs);
        if !enabled {
            reasons.push(Why::Returning(Returning::Off {
                manager: name.clone(),
                ago,
            }));
            return None;
        }
        let lookback = i64::try_from(policy.lookback.as_secs()).unwrap_or(i64::MAX);
        if age_secs > lookback {
            reasons.push(Why::Returning(Returning::TooOld {
                manager: name.clone(),
                ago,
                lookback_days: policy.lookback.as_secs() / 86_400,
            }));
            return None;
        }
        let Some(manager) = self.plan.managers.get(name) else {
            reasons.push(Why::Returning(Returning::Gone {
                manager: name.clone(),
                ago,
            }));
            return None;
        };
        let fallback_action = policy.on_unavailable.as_ref().unwrap_or(&route.action);
        let mut fallback_reasons = Reason::new();
        let fallback = self.resolve(fallback_action, &mut fallback_reasons, 0);
        let availability = self.availability(manager, &self.states.get(name), Duration::ZERO);
        if availability != Availability::Free && !availability.is_occupied() {
            reasons.push(Why::Returning(Returning::Unreachable {
                manager: name.clone(),
                ago,
                availability: availability.to_string(),
                fallback: fallback_action.clone(),
            }));
            reasons.extend(fallback_reasons);
            return Some(fallback);
        }
        reasons.push(Why::Returning(Returning::ToManager {
            manager: name.clone(),
            ago,
            occupied: availability.is_occupied().then(|| availability.to_string()),
            wait_secs: policy.wait.as_secs(),
            fallback: fallback_action.clone(),
        }));
        Some(Step::Manager {
            name: name.clone(),
            ring_timeout: manager.ring_timeout,
            wait: policy.wait,
            fallback: Box::new(fallback),
        })
    }

    pub(crate) fn menu_input(&self, session: &mut MenuSession, input: MenuInput) -> Decision {
        let Some(name) = session.current().map(str::to_string) else {
            return Decision {
                step: Step::Hangup,
                reason: Reason::one(Why::Menu(MenuWhy::OutsideMenu)),
            };
        };
        let Some(menu) = self.plan.menus.get(&name) else {
            let mut reasons = Reason::new();
            let step = missing(&mut reasons, "menu", &name);
            return Decision {
                step,
                reason: reasons,
            };
        };
        let digit = match input {
            MenuInput::Digit(c) => Some(c.to_ascii_uppercase()),
            MenuInput::Timeout => None,
        };
        let chosen = digit.and_then(|d| menu.options.get(&d).map(|a| (d, a)));
        let menu_step = |prompts: Vec<String>| Step::Menu {
            menu: name.clone(),
            prompts,
            timeout: menu.timeout,
        };
        let mut reasons = Reason::new();
        let step = match chosen {
            Some((d, Action::Repeat)) => {
                reasons.push(Why::Menu(MenuWhy::Repeat {
                    menu: name.clone(),
                    key: d,
                }));
                menu_step(vec![menu.prompt.clone()])
            }
            Some((d, Action::Back)) => {
                let parent = session
                    .path()
                    .len()
                    .checked_sub(2)
                    .and_then(|i| session.path().get(i));
                match parent.and_then(|p| self.plan.menus.get(p).map(|m| (p.clone(), m))) {
                    Some((p, m)) => {
                        reasons.push(Why::Menu(MenuWhy::Back {
                            menu: name.clone(),
                            key: d,
                            to: p.clone(),
                        }));
                        let step = Step::Menu {
                            menu: p.clone(),
                            prompts: vec![m.prompt.clone()],
                            timeout: m.timeout,
                        };
                        session.enter(&p);
                        step
                    }
                    None => {
                        reasons.push(Why::Menu(MenuWhy::BackAtFirst {
                            menu: name.clone(),
                            key: d,
                        }));
                        menu_step(vec![menu.prompt.clone()])
                    }
                }
            }
            Some((d, action)) => {
                reasons.push(Why::Menu(MenuWhy::Chose {
                    menu: name.clone(),
                    key: d,
                    action: action.clone(),
                }));
                let step = self.resolve(action, &mut reasons, 0);
                if let Step::Menu { menu, .. } = step.target() {
                    session.enter(menu);
                }
                step
            }
            None => {
                session.failures += 1;
                let attempts = menu.retries.saturating_add(1);
                let failed = |gave_up: Option<Action>, attempt: u32| {
                    Why::Menu(MenuWhy::Failed {
                        menu: name.clone(),
                        key: digit,
                        timeout_secs: menu.timeout.as_secs(),
                        attempt,
                        attempts,
                        gave_up,
                    })
                };
                if session.failures >= attempts {
                    reasons.push(failed(Some(menu.on_failure.clone()), session.failures));
                    let step = self.resolve(&menu.on_failure, &mut reasons, 0);
                    if let Step::Menu { menu, .. } = step.target() {
                        session.enter(menu);
                    }
                    step
                } else {
                    reasons.push(failed(None, session.failures + 1));
                    let apology = match digit {
                        Some(_) => menu.invalid_prompt.clone(),
                        None => menu.timeout_prompt.clone(),
                    };
                    menu_step(apology.into_iter().chain([menu.prompt.clone()]).collect())
                }
            }
        };
        Decision {
            step,
            reason: reasons,
        }
    }
}

fn missing(reasons: &mut Reason, kind: &'static str, name: &str) -> Step {
    reasons.push(Why::Missing {
        kind,
        name: name.to_string(),
    });
    Step::Hangup
}

/// "3 days ago", "2 hours ago", "just now".
pub(crate) fn ago(secs: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if s < 86_400 => plural(s / 3600, "hour"),
        s => plural(s / 86_400, "day"),
    }
}

/// The decisions of a call walked through the plan: the entry decision, then one per
/// key pressed while in a menu; keys left over once the call has left the menus are
/// noted. Shared by live routing ([`route_call`]) and `switchboard explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub decisions: Vec<Decision>,
    pub notes: Vec<String>,
}

impl Env<'_> {
    /// Entry decision plus one decision per key pressed while in a menu.
    pub(crate) fn walk(
        &self,
        ctx: &CallContext,
        history: Option<&PreviousInteraction>,
        crm: Option<&CrmAnswer>,
    ) -> Walk {
        let mut out = Walk {
            decisions: vec![self.entry(ctx, history, crm)],
            notes: Vec::new(),
        };
        let mut session = MenuSession::new();
        let mut keys = ctx.digits.chars().filter(|c| !c.is_whitespace());
        while let Some(menu) = current_menu(&out.decisions) {
            session.enter(&menu);
            let Some(key) = keys.next() else { break };
            out.decisions
                .push(self.menu_input(&mut session, MenuInput::Digit(key)));
        }
        let rest: String = keys.collect();
        if !rest.is_empty() {
            out.notes.push(format!(
                "keys \"{rest}\" were not used: the call had left the menus"
            ));
        }
        out
    }
}

fn current_menu(decisions: &[Decision]) -> Option<String> {
    match decisions.last().map(|d| d.step.target()) {
        Some(Step::Menu { menu, .. }) => Some(menu.clone()),
        _ => None,
    }
}

/// The decision for a new call. Keys in `ctx.digits` are fed through the menus as a
/// caller would press them; the returned decision is where the call is after them.
pub fn route_call(
    plan: &DialPlan,
    ctx: &CallContext,
    states: &ManagerStates,
    history: Option<&PreviousInteraction>,
) -> Decision {
    route_call_with(plan, ctx, states, history, None)
}

/// [`route_call`] with what the CRM said about the caller (`[lookup]`): see
/// [`super::crm`].
pub fn route_call_with(
    plan: &DialPlan,
    ctx: &CallContext,
    states: &ManagerStates,
    history: Option<&PreviousInteraction>,
    crm: Option<&CrmAnswer>,
) -> Decision {
    let env = Env {
        plan,
        states,
        now: ctx.now,
    };
    let mut walk = env.walk(ctx, history, crm);
    walk.decisions.pop().unwrap_or(Decision {
        step: Step::Hangup,
        reason: Reason::new(),
    })
}

/// The caller pressed a key (or did not) in the menu `session` is at.
pub fn on_menu_input(
    plan: &DialPlan,
    session: &mut MenuSession,
    input: MenuInput,
    now: Timestamp,
    states: &ManagerStates,
) -> Decision {
    Env { plan, states, now }.menu_input(session, input)
}

/// Turns any action into a step at `now` (e.g. a department's overflow action after
/// the call layer gave up ringing).
pub fn resolve(
    plan: &DialPlan,
    action: &Action,
    now: Timestamp,
    states: &ManagerStates,
) -> Decision {
    let mut reasons = Reason::one(Why::Then(action.clone()));
    let step = Env { plan, states, now }.resolve(action, &mut reasons, 0);
    Decision {
        step,
        reason: reasons,
    }
}

/// Whether `manager` can be rung right now for a direct call (`manager:NAME`, a
/// returning caller, a transfer). [`Availability::is_occupied`] tells busy or in
/// wrap-up — worth waiting for — from offline, paused or off hours. `None`: not in the
/// plan.
pub fn manager_availability(
    plan: &DialPlan,
    manager: &str,
    states: &ManagerStates,
    now: Timestamp,
) -> Option<Availability> {
    let m = plan.managers.get(manager)?;
    let env = Env { plan, states, now };
    Some(env.availability(m, &states.get(manager), Duration::ZERO))
}

fn unrouted_reason(dialled: &str) -> Reason {
    Reason::one(Why::NoRoute {
        number: dialled.to_string(),
    })
}

/// Whether a call to `dialled` has nowhere to go (no number entry matches and there is
/// no catch-all): the reason, so the call layer can refuse it before answering (404)
/// instead of answering and hanging up, which the caller's carrier would bill.
pub fn unrouted(plan: &DialPlan, dialled: &str) -> Option<Reason> {
    plan.number_route(dialled)
        .is_none()
        .then(|| unrouted_reason(dialled))
}
