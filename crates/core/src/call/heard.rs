//! What a caller hears on a path through the plan, for `switchboard explain`: every
//! prompt, in order, as a live call plays it, including the ones the call layer adds
//! (announcements, the `callback_confirm` confirmation before voicemail or hang-up, the
//! greeting and beep, goodbye, ringback or hold music while people ring).
//!
//! Built by running the routing decisions through the same [`PlanProgram`] conversion
//! a live call uses, so the two cannot disagree.

use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;

use super::plan::PlanProgram;
use super::program::{ConnectTarget, Step};
use crate::config::DialPlan;
use crate::routing::{self, Decision, Explanation, ManagerStates};

/// What the caller hears while the members of `department` ring: its `hold_prompt`,
/// else a ringback tone (like an Asterisk queue). A direct manager call hears ringback.
pub fn ringing_prompt(plan: &DialPlan, department: &str) -> String {
    plan.departments
        .get(department)
        .and_then(|d| d.hold_prompt.clone())
        .unwrap_or_else(|| "ringback".into())
}

/// One thing the caller hears, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A prompt played (a menu's prompt plays until a key interrupts it).
    Prompt(String),
    /// The caller is recorded into this voicemail box.
    Recording(String),
    /// People ring; the caller hears this prompt meanwhile (looped).
    Ringing(String),
}

/// What the caller hears for one decision, and what follows if nobody answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub heard: Vec<Heard>,
    /// A connect step's way out when nobody takes the call: the routing step (as
    /// text) and what the caller hears then.
    pub unanswered: Option<(String, Box<Path>)>,
}

/// Overflow chains longer than this are cut (an overflow to a department whose
/// overflow comes back is caught by `check`, but explain must never loop).
const MAX_DEPTH: usize = 4;

/// What the caller hears for `decision` (see [`PlanProgram::preview`] for
/// `from_connect`).
pub fn path(plan: &Arc<DialPlan>, decision: &Decision, from_connect: bool, now: Timestamp) -> Path {
    path_at(plan, decision, from_connect, now, 0)
}

fn path_at(
    plan: &Arc<DialPlan>,
    decision: &Decision,
    from_connect: bool,
    now: Timestamp,
    depth: usize,
) -> Path {
    let prompts = plan.prompts.clone();
    let mut program = PlanProgram::new(plan.clone(), Box::new(move |p| prompts.contains(p)));
    let mut out = Path {
        heard: Vec::new(),
        unanswered: None,
    };
    let mut step = program.preview(decision, from_connect);
    loop {
        step = match step {
            Step::Play { prompts, then } => {
                out.heard.extend(prompts.into_iter().map(Heard::Prompt));
                *then
            }
            Step::Menu { prompts, .. } => {
                out.heard.extend(prompts.into_iter().map(Heard::Prompt));
                break;
            }
            Step::Record {
                mailbox,
                prompts,
                then,
                ..
            } => {
                out.heard.extend(prompts.into_iter().map(Heard::Prompt));
                out.heard.push(Heard::Recording(mailbox));
                *then
            }
            Step::Hangup { .. } => break,
            Step::Connect(target) => {
                let (ringing, next) = match target {
                    ConnectTarget::Department(name) => {
                        let overflow = plan.departments.get(&name).map(|d| {
                            routing::resolve(plan, &d.overflow, now, &ManagerStates::default())
                        });
                        (ringing_prompt(plan, &name), overflow)
                    }
                    ConnectTarget::Manager { fallback, .. } => (
                        "ringback".to_string(),
                        Some(Decision {
                            step: *fallback,
                            reason: routing::Reason::new(),
                        }),
                    ),
                };
                out.heard.push(Heard::Ringing(ringing));
                if let Some(next) = next
                    && depth < MAX_DEPTH
                {
                    let then = path_at(plan, &next, true, now, depth + 1);
                    out.unanswered = Some((next.step.to_string(), Box::new(then)));
                }
                break;
            }
        }
    }
    out
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .heard
            .iter()
            .map(|h| match h {
                Heard::Prompt(p) => p.clone(),
                Heard::Recording(box_) => format!("[records a message for \"{box_}\"]"),
                Heard::Ringing(p) => format!("[{p} while ringing]"),
            })
            .collect();
        if items.is_empty() {
            f.write_str("nothing")?;
        } else {
            f.write_str(&items.join(", "))?;
        }
        if let Some((step, then)) = &self.unanswered {
            write!(f, "; if nobody answers: {step}: {then}")?;
        }
        Ok(())
    }
}

/// `explain`'s text: each decision, its step, and everything the caller hears, then the
/// notes. A department decision followed by the department's own decision at ring
/// time (overflow, closed) leaves the "if nobody answers" part to that one.
pub fn render(plan: &Arc<DialPlan>, ex: &Explanation, now: Timestamp) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let n = ex.decisions.len();
    for (i, d) in ex.decisions.iter().enumerate() {
        let from_connect = ex.connect_decision && i + 1 == n;
        let mut heard = path(plan, d, from_connect, now);
        if ex.connect_decision && i + 2 == n {
            heard.unanswered = None;
        }
        let _ = writeln!(out, "{}. {}", i + 1, d.reason);
        let _ = writeln!(out, "   => {}", d.step);
        let _ = writeln!(out, "   caller hears: {heard}");
    }
    for note in &ex.notes {
        let _ = writeln!(out, "   {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    const PLAN: &str = r#"
[[numbers]]
number = "1000"
action = "play:welcome -> menu:main"
hours = "office"
after_hours = "play:closed -> voicemail:general"

[[numbers]]
number = "2000"
action = "department:sales"

[[numbers]]
number = "3000"
action = "manager:andrew"

[menus.main]
prompt = "main_menu"
options = { "1" = "department:sales" }

[departments.sales]
members = ["andrew"]
overflow = "voicemail:sales"
hold_prompt = "hold_music"

[managers.andrew]
contact = "sip:101@10.0.0.5"

[hours.office]
timezone = "UTC"
monday = ["09:00-17:00"]

[voicemail.general]
greeting = "general_greeting"

[voicemail.sales]
"#;

    fn plan() -> Arc<DialPlan> {
        Arc::new(
            load_str(PLAN, std::path::Path::new("plan.toml"), None)
                .unwrap_or_else(|e| panic!("{e}"))
                .plan,
        )
    }

    fn explain(to: &str, at: &str, digits: &str) -> String {
        let plan = plan();
        let now: Timestamp = at.parse().unwrap();
        let ctx = routing::CallContext::new(to, "555", now).with_digits(digits);
        let ex = routing::explain(&plan, &ctx, &ManagerStates::default(), None);
        render(&plan, &ex, now)
    }

    #[test]
    fn after_hours_voicemail_plays_the_confirmation_first() {
        // Monday 21:00 UTC: closed.
        let text = explain("1000", "2026-11-23T21:00:00Z", "");
        assert!(
            text.contains(
                "caller hears: closed, callback_confirm, general_greeting, beep, \
                 [records a message for \"general\"], goodbye"
            ),
            "{text}"
        );
    }

    #[test]
    fn open_hours_menu_then_department_with_overflow() {
        let text = explain("1000", "2026-11-23T10:00:00Z", "1");
        assert!(
            text.contains("caller hears: welcome, main_menu\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "caller hears: connecting, [hold_music while ringing]; if nobody answers: \
                 voicemail \"sales\": callback_confirm, voicemail_greeting, beep, \
                 [records a message for \"sales\"], goodbye"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_manager_call_falls_back_with_the_confirmation() {
        let text = explain("3000", "2026-11-23T10:00:00Z", "");
        assert!(
            text.contains("caller hears: connecting, [ringback while ringing]; if nobody answers:"),
            "{text}"
        );
        assert!(text.contains("callback_confirm"), "{text}");
    }
}
