//! Managers' states from outside a call: pause and unpause with a reason,
//! do-not-disturb, signing in to and out of a department's queue — from the admin API
//! ([`Endpoint::agent_command`]) or by dialling a feature code from their registered
//! phone (`[features]`, answered with a short prompt and no call record).
//!
//! Each state that lasts is written as an [`AgentInterval`] (opened, then closed) so
//! the per-manager report can show the time paused per reason; intervals still open
//! at a restart are put back ([`Endpoint::restore_agent_states`]).

use std::time::Instant;

use jiff::Timestamp;

use super::Endpoint;
use crate::call::ServiceAnswer;
use crate::config::queueing::{FeatureAction, prompts};
use crate::model::{AgentInterval, AgentStateKind, StoreWrite};
use crate::sip::Peer;
use crate::sip::rsip;
use crate::transaction::ServerKey;

/// What a manager (or an admin for them) asks for.
pub type AgentCommand = FeatureAction;

/// Why a state change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("there is no manager \"{0}\" in the dial plan")]
    UnknownManager(String),
    #[error("there is no department \"{0}\" in the dial plan")]
    UnknownDepartment(String),
    #[error("{manager} is not a member of {department}")]
    NotAMember { manager: String, department: String },
    #[error("a pause needs a reason (e.g. lunch, meeting)")]
    NoReason,
}

impl Endpoint {
    /// Apply `cmd` for `manager` now.
    pub fn agent_command(
        &mut self,
        now: Instant,
        wall: Timestamp,
        manager: &str,
        cmd: &AgentCommand,
    ) -> Result<(), AgentError> {
        if let Some(plan) = &self.plan {
            let m = plan
                .managers
                .get(manager)
                .ok_or_else(|| AgentError::UnknownManager(manager.to_string()))?;
            if let AgentCommand::SignIn {
                department: Some(d),
                ..
            } = cmd
            {
                let dept = plan
                    .departments
                    .get(d)
                    .ok_or_else(|| AgentError::UnknownDepartment(d.clone()))?;
                if !dept.members.contains(&m.name) {
                    return Err(AgentError::NotAMember {
                        manager: manager.to_string(),
                        department: d.clone(),
                    });
                }
            }
        }
        match cmd {
            AgentCommand::Pause { reason } => {
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(AgentError::NoReason);
                }
                let current = self
                    .connector
                    .agents()
                    .get(manager)
                    .and_then(|a| a.paused.clone());
                if current.as_ref().is_some_and(|p| p.reason == reason) {
                    return Ok(());
                }
                if let Some(p) = current {
                    self.close_interval(wall, manager, AgentStateKind::Paused, &p.reason);
                }
                tracing::info!("{manager} paused ({reason})");
                self.connector.handle_pause(now, wall, manager, reason);
                self.open_interval(wall, manager, AgentStateKind::Paused, reason);
            }
            AgentCommand::Unpause => {
                if let Some(p) = self.connector.handle_unpause(now, wall, manager) {
                    tracing::info!("{manager} is back from {}", p.reason);
                    self.close_interval(wall, manager, AgentStateKind::Paused, &p.reason);
                }
            }
            AgentCommand::DoNotDisturb { on } => {
                let was_on = self
                    .connector
                    .agents()
                    .get(manager)
                    .is_some_and(|a| a.dnd.is_some());
                self.connector.handle_dnd(now, wall, manager, *on);
                if *on && !was_on {
                    tracing::info!("{manager} turned do-not-disturb on");
                    self.open_interval(wall, manager, AgentStateKind::DoNotDisturb, "");
                } else if !*on && was_on {
                    tracing::info!("{manager} turned do-not-disturb off");
                    self.close_interval(wall, manager, AgentStateKind::DoNotDisturb, "");
                }
            }
            AgentCommand::SignIn {
                department: Some(d),
                on,
            } => {
                if self
                    .connector
                    .handle_signed_in_to(now, wall, manager, d, *on)
                {
                    tracing::info!(
                        "{manager} signed {} the {d} queue",
                        if *on { "in to" } else { "out of" }
                    );
                    if *on {
                        self.close_interval(wall, manager, AgentStateKind::SignedOut, d);
                    } else {
                        self.open_interval(wall, manager, AgentStateKind::SignedOut, d);
                    }
                }
            }
            AgentCommand::SignIn {
                department: None,
                on,
            } => {
                tracing::info!(
                    "{manager} signed {} every queue",
                    if *on { "in to" } else { "out of" }
                );
                if *on {
                    let open: Vec<String> = self
                        .agent_intervals
                        .keys()
                        .filter(|(m, k, _)| m == manager && *k == AgentStateKind::SignedOut)
                        .map(|(_, _, d)| d.clone())
                        .collect();
                    for d in open {
                        self.close_interval(wall, manager, AgentStateKind::SignedOut, &d);
                    }
                } else {
                    self.open_interval(wall, manager, AgentStateKind::SignedOut, "");
                }
                self.connector.handle_signed_in(now, wall, manager, *on);
            }
        }
        self.pump(now, wall);
        Ok(())
    }

    /// States still open when the router stopped: put back as they were (their
    /// intervals stay open in the store).
    pub fn restore_agent_states(
        &mut self,
        now: Instant,
        wall: Timestamp,
        open: Vec<AgentInterval>,
    ) {
        for i in open.into_iter().filter(|i| i.ended_at.is_none()) {
            let m = i.manager.clone();
            match i.kind {
                AgentStateKind::Paused => {
                    self.connector
                        .handle_pause(now, i.started_at, &m, &i.detail)
                }
                AgentStateKind::DoNotDisturb => {
                    self.connector.handle_dnd(now, i.started_at, &m, true);
                }
                AgentStateKind::SignedOut if i.detail.is_empty() => {
                    self.connector.handle_signed_in(now, wall, &m, false)
                }
                AgentStateKind::SignedOut => {
                    self.connector
                        .handle_signed_in_to(now, wall, &m, &i.detail, false);
                }
            }
            tracing::info!("restored: {m} {} {}", i.kind, i.detail);
            self.agent_intervals
                .insert((m, i.kind, i.detail), i.started_at);
        }
        self.pump(now, wall);
    }

    fn open_interval(
        &mut self,
        wall: Timestamp,
        manager: &str,
        kind: AgentStateKind,
        detail: &str,
    ) {
        let key = (manager.to_string(), kind, detail.to_string());
        if self.agent_intervals.contains_key(&key) {
            return;
        }
        self.agent_intervals.insert(key, wall);
        self.outputs
            .push_back(super::Output::Store(Box::new(StoreWrite::AgentState(
                AgentInterval {
                    manager: manager.to_string(),
                    kind,
                    detail: detail.to_string(),
                    started_at: wall,
                    ended_at: None,
                },
            ))));
    }

    fn close_interval(
        &mut self,
        wall: Timestamp,
        manager: &str,
        kind: AgentStateKind,
        detail: &str,
    ) {
        let key = (manager.to_string(), kind, detail.to_string());
        let Some(started_at) = self.agent_intervals.remove(&key) else {
            return;
        };
        self.outputs
            .push_back(super::Output::Store(Box::new(StoreWrite::AgentState(
                AgentInterval {
                    manager: manager.to_string(),
                    kind,
                    detail: detail.to_string(),
                    started_at,
                    ended_at: Some(wall),
                },
            ))));
    }

    /// The feature codes of the plan in force.
    fn features(&self) -> crate::config::queueing::FeatureCodes {
        self.plan
            .as_ref()
            .map(|p| p.features.clone())
            .unwrap_or_default()
    }

    /// Whether an INVITE from a manager's phone dials one of their feature codes.
    pub(super) fn is_feature_code(&self, req: &rsip::Request) -> bool {
        let dialled = crate::sip::headers::request_uri_user(req).unwrap_or_default();
        self.features().action(&dialled).is_some()
    }

    /// A manager dialled a feature code: change their state, answer with a short
    /// prompt, hang up. No routing, no call record.
    pub(super) fn feature_call(
        &mut self,
        now: Instant,
        wall: Timestamp,
        key: ServerKey,
        req: rsip::Request,
        peer: Peer,
        manager: &str,
    ) {
        let dialled = crate::sip::headers::request_uri_user(&req).unwrap_or_default();
        let Some(action) = self.features().action(&dialled) else {
            return self.new_call(now, wall, key, req, peer);
        };
        let prompt = match self.agent_command(now, wall, manager, &action) {
            Ok(()) => match &action {
                FeatureAction::Pause { .. } => prompts::AGENT_PAUSED,
                FeatureAction::Unpause => prompts::AGENT_UNPAUSED,
                FeatureAction::SignIn { on: true, .. } => prompts::AGENT_SIGNED_IN,
                FeatureAction::SignIn { on: false, .. } => prompts::AGENT_SIGNED_OUT,
                FeatureAction::DoNotDisturb { on: true } => prompts::AGENT_DND_ON,
                FeatureAction::DoNotDisturb { on: false } => prompts::AGENT_DND_OFF,
            },
            Err(e) => {
                tracing::info!("{manager} dialled {dialled}: refused ({e})");
                "invalid"
            }
        };
        tracing::info!("{manager} dialled feature code {dialled}");
        self.new_call_with(
            now,
            wall,
            key,
            req,
            peer,
            Some(Box::new(ServiceAnswer {
                prompt: prompt.to_string(),
            })),
        );
    }
}
