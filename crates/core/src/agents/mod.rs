//! Managers' availability: who is signed in, paused, ringing, talking, in wrap-up.
//!
//! This is the one place that knows a manager's load. The connect policy
//! ([`crate::connect`]) changes it (a ring starts or ends, a call is answered, a talk
//! ends) and reads it back as the routing engine's [`ManagerStates`]; the endpoint
//! tells it about registrations and pauses; the admin API reads [`ManagerStatus`].
//!
//! The interface is deliberately narrow (a handful of events in, a snapshot out). With
//! several Switchboard instances sharing PostgreSQL, each instance still counts its own
//! rings and talks here, and adds what the others hold ([`Elsewhere`], from the shared
//! snapshot the connect policy applies every second); the claim that guards
//! `max_calls` across instances is the connect policy's (`connect::shared`).
//!
//! ```text
//!               ring_started           answered
//!   free ──────────────────▶ ringing ───────────▶ talking
//!    ▲  ◀──── ring_ended ─────┘                     │ talk_ended
//!    └──────────── wrap-up over (time) ◀── wrap-up ◀┘
//!   (paused / signed out / not registered: not offered calls in any state)
//! ```

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::config::DialPlan;
use crate::routing::{ManagerState, ManagerStates};

/// Why and since when a manager is paused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pause {
    pub reason: String,
    pub since: Timestamp,
}

/// One manager's availability and load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agent {
    /// Their phone's registration is live until then (`None`: not registered).
    pub registered_until: Option<Timestamp>,
    /// Signed out of every queue (the simulator's shifts, or the manager's sign-out
    /// code without a department).
    pub signed_out: bool,
    /// Signed out of these departments' queues only.
    pub signed_out_of: std::collections::BTreeSet<String>,
    /// Do not disturb: not rung at all.
    pub dnd: Option<Timestamp>,
    pub paused: Option<Pause>,
    /// Phones ringing for them now (a ringing phone counts against `max_calls`, so
    /// nobody is offered two callers at once beyond it).
    pub ringing: u32,
    pub talking: u32,
    pub last_call_end: Option<Timestamp>,
    /// Calls answered since the router started.
    pub calls_answered: u32,
    /// What other instances hold for them (shared mode; zero otherwise).
    pub elsewhere: Elsewhere,
}

/// A manager's load on the other instances, as of the last shared snapshot (plus the
/// rings claimed elsewhere since, learnt from refused claims).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Elsewhere {
    pub ringing: u32,
    pub talking: u32,
    /// The latest end of a conversation anywhere (wrap-up across instances).
    pub last_call_end: Option<Timestamp>,
    /// Paused on any instance (a pause is shared: set on one, seen by all).
    pub paused: Option<Pause>,
}

impl Agent {
    fn registered(&self, wall: Timestamp) -> bool {
        self.registered_until.is_some_and(|until| until > wall)
    }

    /// The engine's view of this manager at `wall`.
    fn state(&self, wall: Timestamp) -> ManagerState {
        ManagerState {
            registered: self.registered(wall),
            paused: self.is_paused(),
            active_calls: self.ringing
                + self.talking
                + self.elsewhere.ringing
                + self.elsewhere.talking,
            last_call_end: self.last_call_end.max(self.elsewhere.last_call_end),
            calls_today: self.calls_answered,
            dnd: self.dnd.is_some(),
            signed_out_of: self.signed_out_of.clone(),
        }
    }

    fn is_paused(&self) -> bool {
        self.paused.is_some() || self.signed_out || self.elsewhere.paused.is_some()
    }

    /// The pause in force here or on another instance.
    fn pause_in_force(&self) -> Option<&Pause> {
        self.paused.as_ref().or(self.elsewhere.paused.as_ref())
    }
}

/// Everyone's availability, keyed by manager name.
#[derive(Debug, Clone, Default)]
pub struct Agents {
    agents: BTreeMap<String, Agent>,
}

impl Agents {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self, manager: &str) -> &mut Agent {
        self.agents.entry(manager.to_string()).or_default()
    }

    /// Managers whose phones were registered at some point.
    pub fn registered_names(&self) -> Vec<String> {
        self.agents
            .iter()
            .filter(|(_, a)| a.registered_until.is_some())
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn get(&self, manager: &str) -> Option<&Agent> {
        self.agents.get(manager)
    }

    /// The routing engine's input at `wall` (queue lengths are the connect policy's
    /// to fill in).
    pub fn states(&self, wall: Timestamp) -> ManagerStates {
        ManagerStates {
            managers: self
                .agents
                .iter()
                .map(|(name, a)| (name.clone(), a.state(wall)))
                .collect(),
            queued: Default::default(),
        }
    }

    pub fn ring_started(&mut self, manager: &str) {
        self.entry(manager).ringing += 1;
    }

    /// A phone stopped ringing without a conversation.
    pub fn ring_ended(&mut self, manager: &str) {
        let a = self.entry(manager);
        a.ringing = a.ringing.saturating_sub(1);
    }

    /// A ringing phone was answered: the ring becomes a conversation.
    pub fn answered(&mut self, manager: &str) {
        let a = self.entry(manager);
        a.ringing = a.ringing.saturating_sub(1);
        a.talking += 1;
        a.calls_answered += 1;
    }

    /// A conversation ended (hang-up or transfer): wrap-up starts now.
    pub fn talk_ended(&mut self, manager: &str, wall: Timestamp) {
        let a = self.entry(manager);
        a.talking = a.talking.saturating_sub(1);
        a.last_call_end = Some(wall);
    }

    /// Their phones' registrations now last until `until` (`None`: none left).
    pub fn set_registered_until(&mut self, manager: &str, until: Option<Timestamp>) {
        self.entry(manager).registered_until = until;
    }

    /// Signed in (or out of) every queue.
    pub fn set_signed_in(&mut self, manager: &str, on: bool) {
        let a = self.entry(manager);
        a.signed_out = !on;
        if on {
            a.signed_out_of.clear();
        }
    }

    /// Signed in to (or out of) one department's queue. Returns whether it changed.
    pub fn set_signed_in_to(&mut self, manager: &str, department: &str, on: bool) -> bool {
        let a = self.entry(manager);
        if on {
            a.signed_out_of.remove(department)
        } else {
            a.signed_out_of.insert(department.to_string())
        }
    }

    /// Do not disturb on (since `wall`) or off; returns when it had been turned on,
    /// when it ends now.
    pub fn set_dnd(&mut self, manager: &str, on: bool, wall: Timestamp) -> Option<Timestamp> {
        let a = self.entry(manager);
        if on {
            a.dnd.get_or_insert(wall);
            None
        } else {
            a.dnd.take()
        }
    }

    pub fn pause(&mut self, manager: &str, reason: &str, wall: Timestamp) {
        self.entry(manager).paused = Some(Pause {
            reason: reason.to_string(),
            since: wall,
        });
    }

    /// Returns the pause that ended, if they were paused.
    pub fn unpause(&mut self, manager: &str) -> Option<Pause> {
        self.entry(manager).paused.take()
    }

    /// What the other instances hold now (shared mode): replaces the previous view for
    /// every manager (one missing from `elsewhere` holds nothing elsewhere).
    pub fn set_elsewhere(&mut self, elsewhere: &BTreeMap<String, Elsewhere>) {
        for (name, a) in &mut self.agents {
            a.elsewhere = elsewhere.get(name).cloned().unwrap_or_default();
        }
        for (name, e) in elsewhere {
            self.entry(name).elsewhere = e.clone();
        }
    }

    /// Another instance holds `manager` (a refused claim): count them as full until the
    /// next snapshot tells the real figure, so we do not ask again at once.
    pub fn taken_elsewhere(&mut self, manager: &str, max_calls: u32) {
        let a = self.entry(manager);
        let here = a.ringing + a.talking;
        let there = a.elsewhere.ringing + a.elsewhere.talking;
        if here + there < max_calls {
            a.elsewhere.ringing += max_calls - here - there;
        }
    }

    /// Every manager of `plan` with their state at `wall`, for the admin API and the
    /// dashboard (wrap-up is the longest `wrap_up_secs` of their departments).
    pub fn status(&self, plan: &DialPlan, wall: Timestamp) -> Vec<ManagerStatus> {
        let idle = Agent::default();
        plan.managers
            .values()
            .map(|m| {
                let a = self.agents.get(&m.name).unwrap_or(&idle);
                let registered = a.registered(wall);
                let wrap_up = plan
                    .departments
                    .values()
                    .filter(|d| d.members.contains(&m.name))
                    .map(|d| d.wrap_up)
                    .max()
                    .unwrap_or_default();
                let last_end = a.last_call_end.max(a.elsewhere.last_call_end);
                let (ringing, talking) = (
                    a.ringing + a.elsewhere.ringing,
                    a.talking + a.elsewhere.talking,
                );
                let in_wrap_up = last_end.is_some_and(|end| {
                    let since = wall.duration_since(end).as_secs();
                    since >= 0 && (since as u64) < wrap_up.as_secs()
                });
                let state = if talking > 0 {
                    "talking"
                } else if ringing > 0 {
                    "ringing"
                } else if m.contact.is_none() && !registered {
                    "offline"
                } else if a.dnd.is_some() {
                    "dnd"
                } else if a.is_paused() {
                    "paused"
                } else if in_wrap_up {
                    "wrap_up"
                } else {
                    "free"
                };
                ManagerStatus {
                    name: m.name.clone(),
                    display_name: m.display_name.clone(),
                    extension: m.extension.clone(),
                    state,
                    registered,
                    paused: a.pause_in_force().cloned(),
                    ringing,
                    talking,
                    max_calls: m.max_calls,
                    last_call_end: last_end,
                    calls_answered: a.calls_answered,
                    dnd: a.dnd.is_some(),
                    signed_out_of: plan
                        .departments
                        .values()
                        .filter(|d| d.members.contains(&m.name))
                        .filter(|d| a.signed_out || a.signed_out_of.contains(&d.name))
                        .map(|d| d.name.clone())
                        .collect(),
                    departments: plan
                        .departments
                        .values()
                        .filter(|d| d.members.contains(&m.name))
                        .map(|d| d.name.clone())
                        .collect(),
                }
            })
            .collect()
    }
}

/// One manager as the admin API shows them: presence and load right now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManagerStatus {
    pub name: String,
    pub display_name: String,
    pub extension: Option<String>,
    /// `offline` (no phone registered, no static contact), `free`, `ringing`,
    /// `talking`, `wrap_up`, `dnd` or `paused`.
    pub state: &'static str,
    pub registered: bool,
    pub paused: Option<Pause>,
    /// Phones ringing for them and conversations, on every instance.
    pub ringing: u32,
    pub talking: u32,
    pub max_calls: u32,
    pub last_call_end: Option<Timestamp>,
    /// Calls answered since the router started.
    pub calls_answered: u32,
    /// Do not disturb.
    pub dnd: bool,
    /// Their departments whose queue they are signed out of.
    pub signed_out_of: Vec<String>,
    /// Every department they are a member of.
    pub departments: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_ring_then_an_answer_is_one_call_and_wrap_up_starts_at_the_end() {
        let mut a = Agents::new();
        let w = t("2026-12-01T10:00:00Z");
        a.set_registered_until("andrew", Some(t("2026-12-01T11:00:00Z")));
        a.ring_started("andrew");
        assert_eq!(a.states(w).get("andrew").active_calls, 1);
        a.answered("andrew");
        let st = a.states(w).get("andrew");
        assert_eq!((st.active_calls, st.calls_today), (1, 1));
        a.talk_ended("andrew", w);
        let st = a.states(w).get("andrew");
        assert_eq!((st.active_calls, st.last_call_end), (0, Some(w)));
        // The registration runs out.
        assert!(!a.states(t("2026-12-01T11:00:00Z")).get("andrew").registered);
    }

    #[test]
    fn paused_or_signed_out_managers_are_not_offered_calls() {
        let mut a = Agents::new();
        let w = t("2026-12-01T10:00:00Z");
        a.pause("elena", "lunch", w);
        assert!(a.states(w).get("elena").paused);
        assert_eq!(a.unpause("elena").map(|p| p.reason), Some("lunch".into()));
        assert!(!a.states(w).get("elena").paused);
        a.set_signed_in("elena", false);
        assert!(a.states(w).get("elena").paused);
    }
}
