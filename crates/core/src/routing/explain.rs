//! `switchboard explain`: the path a call would take and why, using the same functions
//! live calls use, so what the admin reads is what the router does.

use std::fmt;

use super::department::{Selection, select_department};
use super::engine::{Decision, Env, Step};
use super::state::{CallContext, ManagerStates, PreviousInteraction, StrategyState, Tried};
use crate::config::DialPlan;
use crate::model::CrmAnswer;

/// The steps of a simulated call, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub decisions: Vec<Decision>,
    /// What happens next that is not a decision of its own (waiting for a key, whom a
    /// department would ring, ignored keys).
    pub notes: Vec<String>,
    /// The last decision is the department's own at ring time (overflow: nobody can
    /// take the call now), which the call layer takes after its connect failed.
    pub connect_decision: bool,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.decisions.iter().enumerate() {
            writeln!(f, "{}. {}", i + 1, d.reason)?;
            writeln!(f, "   => {}", d.step)?;
        }
        for n in &self.notes {
            writeln!(f, "   {n}")?;
        }
        Ok(())
    }
}

/// Simulates the call: entry decision, then each key of `ctx.digits` in the menus, then
/// a preview of whom the department would ring (with fresh strategy state, so the
/// preview does not disturb live round-robin positions).
pub fn explain(
    plan: &DialPlan,
    ctx: &CallContext,
    states: &ManagerStates,
    history: Option<&PreviousInteraction>,
) -> Explanation {
    explain_with(plan, ctx, states, history, None)
}

/// [`explain`] with what the CRM said about the caller (`explain --lookup`).
pub fn explain_with(
    plan: &DialPlan,
    ctx: &CallContext,
    states: &ManagerStates,
    history: Option<&PreviousInteraction>,
    crm: Option<&CrmAnswer>,
) -> Explanation {
    let env = Env {
        plan,
        states,
        now: ctx.now,
    };
    let walk = env.walk(ctx, history, crm);
    let mut out = Explanation {
        decisions: walk.decisions,
        notes: walk.notes,
        connect_decision: false,
    };
    let last = out.decisions.last().map(|d| d.step.clone());
    match last.as_ref().map(Step::target) {
        Some(Step::Menu { menu, .. }) => {
            if let Some(m) = plan.menus.get(menu) {
                let options: Vec<String> = m
                    .options
                    .iter()
                    .map(|(k, a)| format!("{k} → {a}"))
                    .collect();
                out.notes
                    .push(format!("waits for a key: {}", options.join(", ")));
            }
        }
        Some(Step::Department { name }) => {
            let mut strategy = StrategyState::default();
            let d = select_department(plan, name, ctx.now, states, &mut strategy, &Tried::new());
            match d.selection {
                Selection::Overflow(step) | Selection::AfterHours(step) => {
                    out.decisions.push(Decision {
                        step,
                        reason: d.reason,
                    });
                    out.connect_decision = true;
                }
                _ => out.notes.push(d.reason.to_string()),
            }
        }
        _ => {}
    }
    out
}
