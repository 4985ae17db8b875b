//! Turns a call's life events into its [`CallRecord`], pure: the driver hands each
//! returned record to the store worker, off the signalling path.

use std::collections::HashMap;

use jiff::Timestamp;

use super::CallEvent;
use super::CallKey;
use crate::config::DialPlan;
use crate::model::{CallOutcome, CallRecord, MenuStep, Transfer};

#[derive(Debug, Default)]
pub struct Recorder {
    open: HashMap<CallKey, CallRecord>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls with an open record.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The calls in progress, oldest first (the admin API's live view).
    pub fn live(&self) -> Vec<CallRecord> {
        let mut v: Vec<CallRecord> = self.open.values().cloned().collect();
        v.sort_by_key(|r| r.started_at);
        v
    }

    /// Apply an event; returns the record to write when it changed.
    pub fn handle_event(
        &mut self,
        wall: Timestamp,
        plan: Option<&DialPlan>,
        ev: &CallEvent,
    ) -> Option<CallRecord> {
        match ev {
            CallEvent::Started { key, info } => {
                let source = plan
                    .and_then(|p| p.number_route(&info.dialled))
                    .map(|r| r.source.clone())
                    .unwrap_or_default();
                let rec = CallRecord {
                    call_id: info.call_id.clone(),
                    started_at: info.started_at,
                    answered_at: None,
                    ended_at: None,
                    dialled: info.dialled.clone(),
                    source,
                    caller: info.caller.clone(),
                    caller_name: info.caller_name.clone(),
                    menu_path: Vec::new(),
                    decision: String::new(),
                    reason: String::new(),
                    department: None,
                    answered_by: None,
                    outcome: CallOutcome::InProgress,
                    hangup_side: None,
                    transfers: Vec::new(),
                    recording: None,
                };
                self.open.insert(*key, rec.clone());
                Some(rec)
            }
            CallEvent::Answered { .. }
            | CallEvent::RingEnded { .. }
            | CallEvent::Ringing { .. }
            | CallEvent::LookedUp { .. }
            | CallEvent::Recorded { .. } => None,
            CallEvent::RecordingStarted { key, path } => {
                let rec = self.open.get_mut(key)?;
                rec.recording = Some(path.display().to_string());
                Some(rec.clone())
            }
            CallEvent::Connecting {
                key,
                target,
                department,
            } => {
                let rec = self.open.get_mut(key)?;
                rec.decision = target.clone();
                if department.is_some() {
                    rec.department = department.clone();
                }
                Some(rec.clone())
            }
            CallEvent::Connected { key, manager } => {
                // The first manager to answer: "who answered and how fast". Later
                // answers after a transfer are in `transfers` and the ring attempts.
                let rec = self.open.get_mut(key)?;
                if rec.answered_by.is_none() {
                    rec.answered_by = Some(manager.clone());
                    rec.answered_at = Some(wall);
                }
                Some(rec.clone())
            }
            CallEvent::Transferred { key, from, to } => {
                let rec = self.open.get_mut(key)?;
                rec.transfers.push(Transfer {
                    from: from.clone(),
                    to: to.clone(),
                    at: wall,
                });
                Some(rec.clone())
            }
            CallEvent::Decision { key, reason } => {
                let rec = self.open.get_mut(key)?;
                rec.reason = reason.to_string();
                Some(rec.clone())
            }
            CallEvent::MenuChoice {
                key,
                menu,
                input,
                reason,
            } => {
                let rec = self.open.get_mut(key)?;
                rec.menu_path.push(MenuStep {
                    menu: menu.clone(),
                    digits: input.clone(),
                    at: wall,
                });
                if let Some(r) = reason {
                    rec.reason = r.to_string();
                }
                Some(rec.clone())
            }
            CallEvent::Voicemail { key, mailbox } => {
                let rec = self.open.get_mut(key)?;
                if rec.decision.is_empty() {
                    rec.decision = format!("voicemail:{mailbox}");
                }
                if rec.department.is_none() {
                    rec.department = Some(mailbox.clone());
                }
                Some(rec.clone())
            }
            CallEvent::Queued { .. }
            | CallEvent::CallbackQueued { .. }
            | CallEvent::WaitingFor { .. }
            | CallEvent::MenuEntered { .. } => None,
            CallEvent::Ended { key, outcome, .. } => {
                let mut rec = self.open.remove(key)?;
                rec.ended_at = Some(wall);
                rec.outcome = outcome.outcome;
                rec.hangup_side = Some(outcome.side);
                Some(rec)
            }
        }
    }
}
