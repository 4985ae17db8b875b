//! What a call does, without SIP or RTP: the IVR program, what the caller hears while
//! people are rung or while they wait, voicemail, transfers, the callback request and
//! the outcome. The live call ([`super::Call`]) wraps a `Flow` in a SIP dialog, legs
//! and media streams; the simulator drives the very same `Flow` on its virtual clock
//! with modelled callers and managers. Both feed it the connect policy's decisions
//! ([`crate::connect::ConnectOutput`]), so both do exactly the same thing.
//!
//! ```text
//!   start ──▶ Ivr ──Connect──▶ Connecting ──answered──▶ Bridged ──transfer──▶ Ivr …
//!              │  ▲               │ (ringing, queued,      │ hold/unhold
//!              │  └───failed──────┘  waiting for one)      │
//!              ├──voicemail──▶ Greeting ──▶ Recording ──▶ Ivr (goodbye)
//!              └──hangup / the caller leaves / ends ──▶ Ended
//! ```
//! The stages are [`Stage`]s of the call's [`Story`], from which [`classify`] decides
//! the outcome when the call ends.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::callback::{Callbacks, set_recording};
use super::event::CallEvent;
use super::ivr::{IvrAction, IvrRunner};
use super::outcome::{EndCause, Missed, Outcome, Stage, Story, classify};
use super::program::{CallContextInfo, CallInfo, ConnectTarget, MenuResult, Program};
pub use super::waiting::WAIT_PLAY_BASE;
use super::waiting::{QUEUE_PLAY_BASE, QueueWait, WaitAction};
use crate::config::{Action, DialPlan};
use crate::connect::{ConnectOutput, Wait};
use crate::media::RecordEnd;
use crate::model::{CallbackReason, MenuStep, NewCallback};
use crate::routing::{self, ManagerStates, PreviousInteraction, Reason, Why};

mod steps;

/// How long a call that ended mid-message waits for its recording to be closed before
/// the callback request is filed without the message's length.
pub const RECORDING_GRACE: Duration = Duration::from_secs(5);

/// What the flow asks its executor to do.
#[derive(Debug, Clone)]
pub enum FlowAction {
    /// Play prompts to the caller. `looping` prompts (ringback, hold music) repeat
    /// until something else happens; the flow replays them itself when they end.
    Play {
        play_id: u32,
        prompts: Vec<String>,
        looping: bool,
        /// See [`crate::media::command::MediaCommand::Play`]: a menu's first-digit
        /// timeout, zero for every other list.
        first_key_wait: Duration,
    },
    StopPlayback,
    /// Ask the connect policy to connect the caller to `target`.
    Connect {
        target: ConnectTarget,
        plan: Arc<DialPlan>,
        priority: u8,
    },
    /// The caller is no longer waiting for people (the call moved on): tell the
    /// connect policy.
    LeaveConnect,
    /// Record the caller for `mailbox`; report with [`Flow::handle_recording_finished`].
    Record {
        record_id: u32,
        mailbox: String,
        max: Duration,
        silence: Duration,
    },
    StopRecording,
    /// The plan ends the call: hang up on the caller.
    Hangup {
        reason: String,
    },
    /// A life event for logs, records and metrics.
    Event(CallEvent),
    /// File this callback request.
    Callback(NewCallback),
    /// The queued caller hung up to be called back at `number`: their place in
    /// `department`'s queue is kept (the connect policy's virtual entry, persisted).
    VirtualQueue {
        department: String,
        number: String,
        priority: u8,
        /// When they joined the queue (their place).
        queued_at: Timestamp,
    },
}

/// A message being recorded.
#[derive(Debug, Clone)]
struct Recording {
    record_id: u32,
    mailbox: String,
    path: Option<PathBuf>,
}

#[derive(Debug)]
enum State {
    /// Created, the IVR not started yet (ringing, waiting for the ACK).
    Idle,
    Ivr,
    /// Waiting for people; `looping` is the prompt repeating for the caller; `queue`
    /// while they wait in a department's queue (announcements, the callback offer).
    Connecting {
        looping: Option<(String, u32)>,
        queue: Option<Box<QueueWait>>,
    },
    Bridged {
        manager: String,
        /// Hold music playing while the manager holds the call.
        hold: Option<u32>,
    },
    Voicemail {
        recording: Option<Recording>,
    },
    /// Over; a callback request may wait for its recording to close until `deadline`.
    Ended {
        pending: Option<(u32, NewCallback, Instant)>,
    },
}

/// One call's logic.
pub struct Flow {
    key: super::CallKey,
    info: CallInfo,
    ivr: IvrRunner,
    state: State,
    story: Story,
    callbacks: Callbacks,
    transferred_by: Option<String>,
    /// The number a queued caller confirmed for their callback.
    callback_number: Option<String>,
    next_id: u32,
    started: Instant,
    actions: VecDeque<FlowAction>,
    /// Life events are reported (a customer call); off for a manager's feature code.
    records: bool,
    /// Queue priority from the CRM (`[lookup]`); 0 = normal.
    priority: u8,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("key", &self.key)
            .field("state", &self.state)
            .field("story", &self.story)
            .finish()
    }
}

impl Flow {
    pub fn new(
        key: super::CallKey,
        info: CallInfo,
        program: Box<dyn Program>,
        now: Instant,
    ) -> Self {
        let records = program.keeps_record();
        let mut flow = Flow {
            key,
            records,
            ivr: IvrRunner::new(program),
            state: State::Idle,
            story: Story::default(),
            callbacks: Callbacks::default(),
            transferred_by: None,
            callback_number: None,
            next_id: 0,
            started: now,
            actions: VecDeque::new(),
            priority: 0,
            info: info.clone(),
        };
        flow.event(CallEvent::Started { key, info });
        flow
    }

    pub fn info(&self) -> &CallInfo {
        &self.info
    }

    pub fn story(&self) -> &Story {
        &self.story
    }

    /// The plan this call runs on (it keeps it across reloads).
    pub fn plan(&self) -> Option<Arc<DialPlan>> {
        self.ivr.program().plan()
    }

    /// The context that travels to managers' phones.
    pub fn context(&self) -> CallContextInfo {
        let mut ctx = self.ivr.context();
        if let Some(by) = &self.transferred_by {
            ctx.reason = format!("transferred by {by}; {}", ctx.reason);
        }
        ctx
    }

    /// The manager the caller is talking to now.
    pub fn bridged_to(&self) -> Option<&str> {
        match &self.state {
            State::Bridged { manager, .. } => Some(manager),
            _ => None,
        }
    }

    /// The recording in progress, or the one an ended call still waits for.
    pub fn recording_id(&self) -> Option<u32> {
        match &self.state {
            State::Voicemail {
                recording: Some(r), ..
            } => Some(r.record_id),
            State::Ended {
                pending: Some((id, _, _)),
            } => Some(*id),
            _ => None,
        }
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended { .. })
    }

    /// Ended and nothing left to file.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Ended { pending: None })
    }

    #[must_use]
    pub fn poll_action(&mut self) -> Option<FlowAction> {
        self.actions.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Ended { pending } => pending.as_ref().map(|(_, _, at)| *at),
            State::Connecting { queue: Some(q), .. } => [self.ivr.poll_timeout(), q.poll_timeout()]
                .into_iter()
                .flatten()
                .min(),
            _ => self.ivr.poll_timeout(),
        }
    }

    /// The queue the caller waits in now, with their place.
    pub fn queue_wait(&self) -> Option<&QueueWait> {
        match &self.state {
            State::Connecting { queue: Some(q), .. } => Some(q),
            _ => None,
        }
    }

    // ---- inputs ---------------------------------------------------------------------

    /// Whom the caller spoke with before matters to this call's program from then on
    /// (the executor looks it up before [`Self::start`]).
    pub fn wants_history(&self) -> Option<Timestamp> {
        self.ivr.program().wants_history(&self.info)
    }

    /// Whether the CRM should be asked about this call before [`Self::start_with`],
    /// and how long to wait for it.
    pub fn wants_lookup(&self) -> Option<Duration> {
        self.ivr.program().wants_lookup(&self.info)
    }

    /// Whether the conversation should be recorded now (`record = true`).
    pub fn wants_recording(&self) -> bool {
        self.ivr.program().records()
    }

    /// The caller is answered and listening: run the program.
    pub fn start(
        &mut self,
        now: Instant,
        wall: Timestamp,
        states: &ManagerStates,
        history: Option<PreviousInteraction>,
    ) {
        self.start_with(now, wall, states, history, None);
    }

    /// [`Self::start`] with what the CRM answered (`None`: not asked, or it failed).
    pub fn start_with(
        &mut self,
        now: Instant,
        wall: Timestamp,
        states: &ManagerStates,
        history: Option<PreviousInteraction>,
        crm: Option<crate::model::CrmAnswer>,
    ) {
        if !matches!(self.state, State::Idle) {
            return;
        }
        if let Some(answer) = &crm {
            self.priority = answer.priority.unwrap_or(0);
            self.ivr.program_mut().set_crm(answer);
        }
        self.state = State::Ivr;
        let info = self.info.clone();
        self.ivr.start(now, wall, &info, states, history);
        self.drain_ivr(now, wall);
    }

    pub fn handle_digit(
        &mut self,
        now: Instant,
        wall: Timestamp,
        states: &ManagerStates,
        digit: char,
    ) {
        match &mut self.state {
            State::Ivr | State::Voicemail { .. } => {
                let info = self.info.clone();
                self.ivr.handle_digit(now, wall, &info, states, digit);
                self.drain_ivr(now, wall);
            }
            State::Connecting { queue: Some(q), .. } => {
                let Some(plan) = self.ivr.program().plan() else {
                    return;
                };
                let actions = q.handle_digit(now, digit, &plan, &self.info.caller);
                self.queue_actions(now, actions);
            }
            _ => {}
        }
    }

    pub fn handle_playback_finished(&mut self, now: Instant, wall: Timestamp, play_id: u32) {
        if play_id & QUEUE_PLAY_BASE != 0 {
            if let State::Connecting { queue: Some(q), .. } = &mut self.state
                && let Some(plan) = self.ivr.program().plan()
            {
                let actions = q.handle_playback_finished(now, play_id, &plan, &self.info.caller);
                self.queue_actions(now, actions);
            }
            return;
        }
        if play_id & WAIT_PLAY_BASE != 0 {
            // A looping prompt ended: play it again while it still applies.
            let again = match &self.state {
                State::Connecting {
                    looping: Some((prompt, id)),
                    ..
                } if *id == play_id => Some(prompt.clone()),
                State::Bridged { hold: Some(id), .. } if *id == play_id => {
                    Some("hold_music".to_string())
                }
                _ => None,
            };
            if let Some(prompt) = again {
                self.actions.push_back(FlowAction::Play {
                    play_id,
                    prompts: vec![prompt],
                    looping: true,
                    first_key_wait: Duration::ZERO,
                });
            }
            return;
        }
        let info = self.info.clone();
        self.ivr.handle_playback_finished(now, wall, &info, play_id);
        self.drain_ivr(now, wall);
    }

    /// A menu's digit timer.
    pub fn handle_timeout(&mut self, now: Instant, wall: Timestamp, states: &ManagerStates) {
        if let State::Ended { pending } = &mut self.state {
            if pending.as_ref().is_some_and(|(_, _, at)| *at <= now)
                && let Some((_, request, _)) = pending.take()
            {
                tracing::warn!(
                    "a recording was not closed in time; filing the request without its length"
                );
                self.actions.push_back(FlowAction::Callback(request));
            }
            return;
        }
        if let State::Connecting { queue: Some(q), .. } = &mut self.state
            && let Some(plan) = self.ivr.program().plan()
        {
            let actions = q.handle_timeout(now, &plan, &self.info.caller);
            self.queue_actions(now, actions);
        }
        let info = self.info.clone();
        self.ivr.handle_timeout(now, wall, &info, states);
        self.drain_ivr(now, wall);
    }

    /// The connect policy decided something for this call.
    pub fn handle_connect(&mut self, now: Instant, wall: Timestamp, out: ConnectOutput) {
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        match out {
            ConnectOutput::Ring {
                managers,
                department,
                reason,
                ..
            } => {
                if !reason.is_empty() {
                    tracing::info!("{reason}");
                }
                tracing::debug!("ringing {}", managers.join(", "));
                if let State::Connecting {
                    queue: Some(q),
                    looping,
                } = &mut self.state
                    && q.handle_ringing()
                {
                    // A queue prompt was cut: whatever loops next starts afresh.
                    *looping = None;
                }
                // Connected live after all: no callback owed.
                self.story.callback_queued = false;
                // Like an Asterisk queue: the department's hold music while members
                // ring, else a ringback tone.
                let prompt = match (department.as_deref(), self.plan()) {
                    (Some(d), Some(plan)) => super::heard::ringing_prompt(&plan, d),
                    _ => "ringback".into(),
                };
                self.loop_prompt(&prompt);
            }
            ConnectOutput::Wait { wait, reason, .. } => {
                tracing::info!("{reason}");
                match wait {
                    Wait::Queue {
                        department,
                        position,
                        hold_prompt,
                        estimate,
                    } => {
                        self.event(CallEvent::Queued {
                            key: self.key,
                            department: department.clone(),
                            position,
                        });
                        self.enter_queue(now, wall, &department, position, estimate);
                        self.loop_prompt(&hold_prompt.unwrap_or_else(|| "hold_music".into()));
                        // The announcement on entering (it replaces the hold music
                        // until it ends).
                        if let State::Connecting { queue: Some(q), .. } = &mut self.state
                            && let Some(plan) = self.ivr.program().plan()
                        {
                            let actions = q.handle_timeout(now, &plan, &self.info.caller);
                            self.queue_actions(now, actions);
                        }
                    }
                    Wait::Manager { name } => {
                        self.event(CallEvent::WaitingFor {
                            key: self.key,
                            manager: name,
                        });
                        self.loop_prompt("hold_music");
                    }
                }
            }
            ConnectOutput::Position {
                position, estimate, ..
            } => {
                if let State::Connecting { queue: Some(q), .. } = &mut self.state {
                    q.handle_position(position, estimate);
                }
            }
            ConnectOutput::Failed { step, reason, .. } => {
                tracing::info!("connect failed: {reason}");
                if let State::Connecting {
                    looping: Some(_), ..
                } = &self.state
                {
                    self.actions.push_back(FlowAction::StopPlayback);
                }
                self.story.missed = Some(Missed::of(&reason));
                self.continue_ivr(now, wall, step, reason);
            }
        }
    }

    /// A manager answered: the caller is bridged to them (the executor stops what the
    /// caller heard and relays the media).
    pub fn handle_answered(&mut self, manager: &str) {
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        self.state = State::Bridged {
            manager: manager.to_string(),
            hold: None,
        };
        self.story.stage = Stage::Bridged;
        self.story.with_someone = true;
        self.story.missed = None;
        if self.story.answered_by.is_none() {
            self.story.answered_by = Some(manager.to_string());
        }
        self.event(CallEvent::Connected {
            key: self.key,
            manager: manager.to_string(),
        });
    }

    /// The manager put the caller on hold (hold music) or took them off it.
    pub fn handle_hold(&mut self, on: bool) {
        let next = self.next_wait_id();
        if let State::Bridged { hold, .. } = &mut self.state {
            if on && hold.is_none() {
                *hold = Some(next);
                self.actions.push_back(FlowAction::Play {
                    play_id: next,
                    prompts: vec!["hold_music".into()],
                    looping: true,
                    first_key_wait: Duration::ZERO,
                });
            } else if !on {
                *hold = None;
            }
        }
    }

    /// The manager passed the call on (REFER or the feature code): the caller is
    /// connected to `action` without going through the menus again.
    pub fn handle_transfer(
        &mut self,
        now: Instant,
        wall: Timestamp,
        states: &ManagerStates,
        action: &Action,
    ) {
        let State::Bridged { manager, .. } = &self.state else {
            return;
        };
        let from = manager.clone();
        let Some(plan) = self.plan() else {
            return;
        };
        self.event(CallEvent::Transferred {
            key: self.key,
            from: from.clone(),
            to: action.to_string(),
        });
        self.transferred_by = Some(from.clone());
        // The caller is with nobody now: if the new target cannot take them, the call
        // lands in the callback queue like any other unanswered call.
        self.story.with_someone = false;
        self.state = State::Ivr;
        self.story.stage = Stage::Ivr;
        let decision = routing::resolve(&plan, action, wall, states);
        let mut reason = Reason::one(Why::TransferredBy { manager: from });
        reason.extend(decision.reason);
        self.continue_ivr(now, wall, decision.step, reason);
    }

    /// The executor chose where the message is written.
    pub fn handle_recording_started(&mut self, record_id: u32, path: PathBuf) {
        if let State::Voicemail {
            recording: Some(r), ..
        } = &mut self.state
            && r.record_id == record_id
        {
            r.path = Some(path);
        }
    }

    /// The message is in its file (or could not be written: `error`).
    #[allow(clippy::too_many_arguments)]
    pub fn handle_recording_finished(
        &mut self,
        now: Instant,
        wall: Timestamp,
        record_id: u32,
        path: PathBuf,
        duration: Duration,
        ended_by: RecordEnd,
        silent: bool,
        error: Option<String>,
    ) {
        if let State::Ended { pending } = &mut self.state {
            if pending.as_ref().is_some_and(|(id, _, _)| *id == record_id)
                && let Some((_, mut request, _)) = pending.take()
            {
                set_recording(&mut request, &path, duration, silent, error);
                self.actions.push_back(FlowAction::Callback(request));
            }
            return;
        }
        let State::Voicemail {
            recording: Some(rec),
            ..
        } = &self.state
        else {
            return;
        };
        if rec.record_id != record_id {
            return;
        }
        let mailbox = rec.mailbox.clone();
        tracing::info!(
            "message recorded: {:.1} s, ended by {ended_by:?}{}",
            duration.as_secs_f64(),
            if silent { " (silent)" } else { "" }
        );
        self.story.message = error.is_none();
        let owed = classify(&self.story, &EndCause::PlanEnded(String::new())).callback;
        if let Some(reason) = owed.filter(|_| !self.callbacks.is_filed()) {
            let mut request = self.callback_request(reason, &mailbox);
            set_recording(&mut request, &path, duration, silent, error);
            self.file(request);
        }
        self.state = State::Ivr;
        self.story.stage = Stage::Ivr;
        self.ivr.handle_recording_finished(now);
        self.drain_ivr(now, wall);
    }

    /// The call is over (either side hung up, or it failed): decide the outcome once,
    /// file the callback request if the caller is owed one, and report the end.
    pub fn handle_end(&mut self, now: Instant, cause: EndCause) -> Outcome {
        let pending_recording =
            match std::mem::replace(&mut self.state, State::Ended { pending: None }) {
                State::Ended { pending } => {
                    self.state = State::Ended { pending };
                    // Already ended: report the same outcome again, file nothing.
                    return classify(&self.story, &cause);
                }
                State::Connecting { queue, .. } => {
                    match queue.filter(|_| self.story.callback_queued) {
                        // Confirmed a callback and hung up (or we did, after the
                        // goodbye): the place is kept.
                        Some(q) => self.virtual_queue(&q),
                        None => self.actions.push_back(FlowAction::LeaveConnect),
                    }
                    None
                }
                State::Voicemail {
                    recording: Some(r), ..
                } => {
                    // Hung up mid-message: the message is kept.
                    self.actions.push_back(FlowAction::StopRecording);
                    self.story.message = true;
                    Some(r)
                }
                _ => None,
            };
        let outcome = classify(&self.story, &cause);
        if let Some(reason) = outcome.callback.filter(|_| self.callbacks.mark_filed()) {
            let mailbox = pending_recording
                .as_ref()
                .map(|r| r.mailbox.clone())
                .or_else(|| self.ivr.greeting_mailbox().map(str::to_string))
                .unwrap_or_default();
            let mut request = self.callback_request(reason, &mailbox);
            match pending_recording {
                Some(r) => {
                    // Filed when the media plane has closed the file.
                    request.recording_path = r.path.map(|p| p.display().to_string());
                    self.state = State::Ended {
                        pending: Some((r.record_id, request, now + RECORDING_GRACE)),
                    };
                }
                None => self.file(request),
            }
        }
        let duration = now.saturating_duration_since(self.started);
        tracing::info!(
            "call ended after {:.1} s: {cause} → {}",
            duration.as_secs_f64(),
            outcome.outcome
        );
        self.event(CallEvent::Ended {
            key: self.key,
            cause,
            duration,
            outcome: outcome.clone(),
        });
        outcome
    }
}
