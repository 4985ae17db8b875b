//! The flow's own steps: walking the IVR, menus, connecting, entering and waiting in the
//! queue, and filing callback requests. The `handle_*` entry points in the parent call
//! these.

use super::*;

impl Flow {
    // ---- internals ------------------------------------------------------------------

    pub(super) fn continue_ivr(
        &mut self,
        now: Instant,
        wall: Timestamp,
        step: routing::Step,
        reason: Reason,
    ) {
        self.state = State::Ivr;
        self.story.stage = Stage::Ivr;
        let info = self.info.clone();
        self.ivr.continue_with(now, wall, &info, step, reason);
        self.drain_ivr(now, wall);
    }

    pub(super) fn next_wait_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        WAIT_PLAY_BASE | (self.next_id & !WAIT_PLAY_BASE)
    }

    /// Loop `prompt` for the caller unless it already loops.
    pub(super) fn loop_prompt(&mut self, prompt: &str) {
        let play_id = self.next_wait_id();
        if let State::Connecting { looping, .. } = &mut self.state {
            if looping.as_ref().is_some_and(|(p, _)| p == prompt) {
                return;
            }
            *looping = Some((prompt.to_string(), play_id));
            self.actions.push_back(FlowAction::Play {
                play_id,
                prompts: vec![prompt.to_string()],
                looping: true,
                first_key_wait: Duration::ZERO,
            });
        }
    }

    pub(super) fn event(&mut self, ev: CallEvent) {
        if self.records {
            self.actions.push_back(FlowAction::Event(ev));
        }
    }

    /// Whether this call reports life events (a customer call).
    pub fn keeps_record(&self) -> bool {
        self.records
    }

    /// Carry out what the IVR asked for.
    pub(super) fn drain_ivr(&mut self, now: Instant, wall: Timestamp) {
        while let Some(action) = self.ivr.poll_action() {
            match action {
                IvrAction::Play {
                    play_id,
                    prompts,
                    first_key_wait,
                } => {
                    tracing::debug!("playing {prompts:?}");
                    self.actions.push_back(FlowAction::Play {
                        play_id,
                        prompts,
                        looping: false,
                        first_key_wait,
                    });
                }
                IvrAction::StopPlayback => self.actions.push_back(FlowAction::StopPlayback),
                IvrAction::MenuEntered { menu } => self.event(CallEvent::MenuEntered {
                    key: self.key,
                    menu,
                }),
                IvrAction::MenuDone {
                    menu,
                    result,
                    reason,
                } => self.menu_done(wall, menu, result, reason),
                IvrAction::Decision { reason } => {
                    tracing::info!("routing: {reason}");
                    if reason.after_hours() && self.story.missed.is_none() {
                        self.story.missed = Some(Missed::AfterHours);
                    }
                    self.event(CallEvent::Decision {
                        key: self.key,
                        reason,
                    });
                }
                IvrAction::Hangup { reason } => {
                    tracing::info!("IVR finished: {reason}");
                    self.actions.push_back(FlowAction::Hangup { reason });
                }
                IvrAction::Connect(target) => self.connect(target),
                IvrAction::Record {
                    mailbox,
                    max,
                    silence,
                } => {
                    self.next_id = self.next_id.wrapping_add(1);
                    let record_id = self.next_id & !WAIT_PLAY_BASE;
                    tracing::info!("recording a message for {mailbox}");
                    self.story.stage = Stage::Recording;
                    self.state = State::Voicemail {
                        recording: Some(Recording {
                            record_id,
                            mailbox: mailbox.clone(),
                            path: None,
                        }),
                    };
                    self.actions.push_back(FlowAction::Record {
                        record_id,
                        mailbox,
                        max,
                        silence,
                    });
                }
            }
        }
        // The IVR started a voicemail greeting.
        if self.ivr.in_voicemail()
            && !matches!(self.state, State::Voicemail { .. })
            && let Some(mailbox) = self.ivr.greeting_mailbox().map(str::to_string)
        {
            self.story.stage = Stage::Greeting;
            self.story.voicemail = true;
            if self.story.missed.is_none() {
                self.story.chose_voicemail = true;
            }
            self.event(CallEvent::Voicemail {
                key: self.key,
                mailbox,
            });
            self.state = State::Voicemail { recording: None };
        }
        let _ = now;
    }

    pub(super) fn menu_done(
        &mut self,
        wall: Timestamp,
        menu: String,
        result: MenuResult,
        reason: Option<Reason>,
    ) {
        let input = match &result {
            MenuResult::Digits(d) => d.clone(),
            MenuResult::NoInput => String::new(),
        };
        tracing::info!(
            "menu {menu}: {}{}",
            if input.is_empty() {
                "no input".to_string()
            } else {
                format!("caller chose {input}")
            },
            reason
                .as_ref()
                .map(|r| format!(" → {r}"))
                .unwrap_or_default()
        );
        if let Some(r) = &reason
            && r.after_hours()
            && self.story.missed.is_none()
        {
            self.story.missed = Some(Missed::AfterHours);
        }
        self.callbacks.push_menu_step(MenuStep {
            menu: menu.clone(),
            digits: input.clone(),
            at: wall,
        });
        self.event(CallEvent::MenuChoice {
            key: self.key,
            menu,
            input,
            reason,
        });
    }

    pub(super) fn connect(&mut self, target: ConnectTarget) {
        let Some(plan) = self.plan() else {
            self.actions.push_back(FlowAction::Hangup {
                reason: "nobody to connect to".into(),
            });
            return;
        };
        let (event_target, department) = match &target {
            ConnectTarget::Department(d) => (format!("department:{d}"), Some(d.clone())),
            ConnectTarget::Manager { name, .. } => (format!("manager:{name}"), None),
        };
        tracing::info!("connecting the caller to {event_target}");
        // A direct manager call lands in the callback queue of a department they are
        // in.
        self.callbacks.set_department(match &target {
            ConnectTarget::Department(d) => d.clone(),
            ConnectTarget::Manager { name, .. } => plan
                .departments
                .values()
                .find(|d| d.members.contains(name))
                .map_or_else(|| name.clone(), |d| d.name.clone()),
        });
        self.story.stage = Stage::Connecting;
        self.state = State::Connecting {
            looping: None,
            queue: None,
        };
        self.event(CallEvent::Connecting {
            key: self.key,
            target: event_target,
            department,
        });
        // The plan's priority (number, caller list) or the CRM's, whichever is higher.
        let priority = plan
            .priority_of(&self.info.caller, &self.info.dialled)
            .max(self.priority);
        self.actions.push_back(FlowAction::Connect {
            target,
            plan,
            priority,
        });
    }

    // ---- the queue (announcements, the callback offer) -------------------------------

    /// The caller (re)joined a department's queue.
    pub(super) fn enter_queue(
        &mut self,
        now: Instant,
        wall: Timestamp,
        department: &str,
        position: usize,
        estimate: crate::connect::WaitEstimate,
    ) {
        let plan = self.ivr.program().plan();
        let State::Connecting { queue, .. } = &mut self.state else {
            return;
        };
        match queue {
            Some(q) if q.department == department => q.handle_requeued(position, estimate),
            _ => {
                if let Some(plan) = plan {
                    *queue = Some(Box::new(QueueWait::new(
                        &plan, department, position, estimate, now, wall,
                    )));
                }
            }
        }
    }

    /// Carry out what the queue logic asked for.
    pub(super) fn queue_actions(&mut self, _now: Instant, actions: Vec<WaitAction>) {
        for a in actions {
            match a {
                WaitAction::Play { play_id, prompts } => {
                    tracing::debug!("playing {prompts:?}");
                    if let State::Connecting { looping, .. } = &mut self.state {
                        *looping = None;
                    }
                    self.actions.push_back(FlowAction::Play {
                        play_id,
                        prompts,
                        looping: false,
                        first_key_wait: Duration::ZERO,
                    });
                }
                WaitAction::StopPlayback => {
                    if let State::Connecting { looping, .. } = &mut self.state {
                        *looping = None;
                    }
                    self.actions.push_back(FlowAction::StopPlayback);
                }
                WaitAction::ResumeHold => {
                    let hold = self
                        .queue_wait()
                        .map(|q| q.department.clone())
                        .and_then(|d| {
                            self.plan().and_then(|p| {
                                p.departments.get(&d).and_then(|d| d.hold_prompt.clone())
                            })
                        });
                    self.loop_prompt(&hold.unwrap_or_else(|| "hold_music".into()));
                }
                WaitAction::Virtualize { number } => {
                    tracing::info!(
                        "the caller asked to be called back at {number}; their place is kept"
                    );
                    self.story.callback_queued = true;
                    self.callback_number = Some(number);
                    // The place moves to the dial-back now, not after the goodbye: the
                    // caller was just told they will be called back, so a manager who
                    // frees up during the goodbye must not be rung for this live call.
                    if let Some(q) = self.queue_wait().cloned() {
                        self.virtual_queue(&q);
                    }
                }
                WaitAction::Hangup => {
                    // The goodbye played: the place was kept at the confirmation (a
                    // no-op here then), the call ends.
                    if let State::Connecting { queue: Some(q), .. } =
                        std::mem::replace(&mut self.state, State::Ivr)
                    {
                        self.virtual_queue(&q);
                    }
                    self.story.stage = Stage::Ivr;
                    self.actions.push_back(FlowAction::Hangup {
                        reason: "the caller will be called back".into(),
                    });
                }
            }
        }
    }

    /// Hand the caller's place over to the dial-back.
    pub(super) fn virtual_queue(&mut self, q: &QueueWait) {
        let Some(number) = self.callback_number.take() else {
            return;
        };
        let priority = self
            .plan()
            .map_or(0, |p| p.priority_of(&self.info.caller, &self.info.dialled))
            .max(self.priority);
        self.event(CallEvent::CallbackQueued {
            key: self.key,
            department: q.department.clone(),
            number: number.clone(),
        });
        self.actions.push_back(FlowAction::VirtualQueue {
            department: q.department.clone(),
            number,
            priority,
            queued_at: q.queued_at,
        });
    }

    pub(super) fn callback_request(&self, reason: CallbackReason, mailbox: &str) -> NewCallback {
        self.callbacks
            .request(&self.info, self.ivr.context().source, reason, mailbox)
    }

    pub(super) fn file(&mut self, request: NewCallback) {
        self.callbacks.mark_filed();
        tracing::info!(
            "callback request filed for {} in {} ({})",
            request.caller,
            request.department,
            request.reason.as_str()
        );
        self.actions.push_back(FlowAction::Callback(request));
    }
}
