//! A caller waiting in a department's queue, without SIP: what they are told (their
//! position and estimated wait, on entering and then every `announce_secs`) and the
//! callback offer (press a key, hear the number we will call, confirm or key in
//! another, hang up keeping the place). Part of [`super::Flow`]; the live call and the
//! simulator both run it.
//!
//! ```text
//!  Wait(queue) ──▶ Waiting ──timer──▶ announcement ──played──▶ Waiting (hold music)
//!                    │ callback key
//!                    ▼
//!                 Confirm("we will call you back at +49…; 1 to confirm, 2 for another")
//!                    │ 1 or silence            │ 2
//!                    ▼                         ▼
//!                  Done (goodbye, hang up) ◀── Entering (keys, #) ── refused ──▶ Refused
//!  A manager becoming free (Ring) ends the dialog: the caller is connected as usual.
//! ```
//! Every number the caller could make us dial passes the trunk's
//! [`check_number`](crate::config::queueing::OutboundTrunk::check_number).

use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::config::DialPlan;
use crate::config::queueing::{QueueAnnouncements, digit_prompts, number_prompts, prompts as p};
use crate::connect::WaitEstimate;
use crate::connect::estimate::{SpokenWait, spoken};

/// Play ids the flow uses for its own looping prompts (the IVR counts from 1). Kept
/// here, beside the queue's bit below, so the two bits are chosen in one place.
pub const WAIT_PLAY_BASE: u32 = 0x8000_0000;
/// Play ids of the queue's own prompts carry this bit (below the looping prompts'
/// bit): dialog prompts have only this one, announcements both.
pub const QUEUE_PLAY_BASE: u32 = 0x4000_0000;
/// With the callback offer but no position announcements, the offer repeats this often.
pub const OFFER_EVERY: Duration = Duration::from_secs(60);
/// How long the caller has to press 1 or 2 after the number is read back; silence
/// confirms.
pub const CONFIRM_WAIT: Duration = Duration::from_secs(6);
/// Keying in a number: the first key within this, then each next one.
pub const FIRST_KEY_WAIT: Duration = Duration::from_secs(15);
pub const NEXT_KEY_WAIT: Duration = Duration::from_secs(5);
/// Wrong numbers keyed before the offer is dropped.
pub const MAX_REFUSED: u32 = 2;
/// The longest number a caller can key in.
pub const MAX_KEYED: usize = 20;

/// What the waiting caller's flow asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitAction {
    /// Play these prompts (replacing the hold music); `observed` dialog prompts the
    /// simulated caller listens to, announcements it does not.
    Play { play_id: u32, prompts: Vec<String> },
    /// Back to the hold music.
    ResumeHold,
    /// Silence (the caller is keying in a number).
    StopPlayback,
    /// The caller confirmed: keep their place, call back `number`.
    Virtualize { number: String },
    /// The goodbye played: end the call.
    Hangup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Dialog {
    /// The number is read back; then up to `CONFIRM_WAIT` for 1 or 2.
    Confirm {
        number: String,
        listen_until: Option<Instant>,
    },
    /// Keying in a number (ends with `#` or a pause).
    Entering {
        digits: String,
        until: Option<Instant>,
    },
    /// "We cannot call that number" plays; then keying in again, or back to waiting.
    Refused { enter_next: bool },
    /// The goodbye plays; then the call ends.
    Done,
}

/// A caller in a queue.
#[derive(Debug, Clone)]
pub struct QueueWait {
    pub department: String,
    pub position: usize,
    pub estimate: WaitEstimate,
    /// When they joined the queue (their place, persisted with a callback).
    pub queued_at: Timestamp,
    settings: QueueAnnouncements,
    /// Callbacks are possible (a key and a trunk).
    offer: bool,
    next_announce: Option<Instant>,
    /// A phone of the department rings for them now: no announcements meanwhile.
    ringing: bool,
    /// The queue prompt playing now.
    playing: Option<u32>,
    dialog: Option<Dialog>,
    refused: u32,
    next_id: u32,
}

impl QueueWait {
    /// The caller joined `department`'s queue at `position`.
    pub fn new(
        plan: &DialPlan,
        department: &str,
        position: usize,
        estimate: WaitEstimate,
        now: Instant,
        wall: Timestamp,
    ) -> Self {
        let settings = plan
            .departments
            .get(department)
            .map(|d| d.queue.clone())
            .unwrap_or_default();
        let offer = settings.callback_key.is_some() && plan.callback_trunk().is_some();
        let next_announce = (settings.every.is_some() || offer).then_some(now);
        QueueWait {
            department: department.to_string(),
            position,
            estimate,
            queued_at: wall,
            settings,
            offer,
            next_announce,
            ringing: false,
            playing: None,
            dialog: None,
            refused: 0,
            next_id: 0,
        }
    }

    pub fn in_dialog(&self) -> bool {
        self.dialog.is_some()
    }

    /// Whether the caller has confirmed and only the goodbye is left.
    pub fn is_done(&self) -> bool {
        self.dialog == Some(Dialog::Done)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let dialog = match &self.dialog {
            Some(Dialog::Confirm { listen_until, .. }) => *listen_until,
            Some(Dialog::Entering { until, .. }) => *until,
            _ => None,
        };
        let announce = self.next_announce.filter(|_| !self.ringing);
        [dialog, announce].into_iter().flatten().min()
    }

    /// A new place in the queue (someone ahead left, or a VIP arrived).
    pub fn handle_position(&mut self, position: usize, estimate: WaitEstimate) {
        self.position = position;
        self.estimate = estimate;
    }

    /// Back in the queue after a ring round without an answer.
    pub fn handle_requeued(&mut self, position: usize, estimate: WaitEstimate) {
        self.ringing = false;
        self.handle_position(position, estimate);
    }

    /// A member's phone rings for the caller: the dialog (if any) is over, they are
    /// being connected. Returns whether a queue prompt was cut.
    pub fn handle_ringing(&mut self) -> bool {
        self.ringing = true;
        self.dialog = None;
        self.playing.take().is_some()
    }

    pub fn handle_timeout(
        &mut self,
        now: Instant,
        plan: &DialPlan,
        caller: &str,
    ) -> Vec<WaitAction> {
        match self.dialog.clone() {
            Some(Dialog::Confirm {
                number,
                listen_until: Some(t),
            }) if t <= now => {
                // Silence confirms the number just read back.
                return self.confirm(number);
            }
            Some(Dialog::Entering {
                digits,
                until: Some(t),
            }) if t <= now => {
                return self.keyed(now, plan, &digits);
            }
            _ => {}
        }
        let _ = caller;
        match self.next_announce {
            Some(t) if t <= now && !self.ringing => {
                let every = self.settings.every.unwrap_or(OFFER_EVERY);
                self.next_announce = Some(now + every);
                if self.dialog.is_some() || self.playing.is_some() {
                    return Vec::new();
                }
                let prompts = self.announcement();
                if prompts.is_empty() {
                    return Vec::new();
                }
                let id = self.new_id(true);
                self.playing = Some(id);
                vec![WaitAction::Play {
                    play_id: id,
                    prompts,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// What the caller hears now: position, wait, the callback offer.
    pub fn announcement(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if self.settings.every.is_some() {
            v.push(p::POSITION.into());
            v.extend(number_prompts(self.position as u64));
            v.push(p::IN_LINE.into());
            if self.settings.wait
                && let Some(secs) = self.estimate.secs()
            {
                match spoken(secs, self.settings.max_minutes) {
                    SpokenWait::UnderAMinute => v.push(p::WAIT_UNDER_A_MINUTE.into()),
                    SpokenWait::About(m) => {
                        v.push(p::WAIT_ABOUT.into());
                        v.extend(number_prompts(m));
                        v.push(if m == 1 { p::MINUTE } else { p::MINUTES }.into());
                    }
                    SpokenWait::MoreThan(m) => {
                        v.push(p::WAIT_MORE_THAN.into());
                        v.extend(number_prompts(m));
                        v.push(p::MINUTES.into());
                    }
                }
            }
        }
        if self.offer
            && let Some(k) = self.settings.callback_key
        {
            v.push(p::CALLBACK_OFFER.into());
            v.extend(digit_prompts(&k.to_string()));
        }
        v
    }

    /// A queue prompt ended.
    pub fn handle_playback_finished(
        &mut self,
        now: Instant,
        play_id: u32,
        plan: &DialPlan,
        caller: &str,
    ) -> Vec<WaitAction> {
        if self.playing != Some(play_id) {
            return Vec::new();
        }
        self.playing = None;
        match self.dialog.clone() {
            None => vec![WaitAction::ResumeHold],
            Some(Dialog::Confirm { number, .. }) => {
                self.dialog = Some(Dialog::Confirm {
                    number,
                    listen_until: Some(now + CONFIRM_WAIT),
                });
                Vec::new()
            }
            Some(Dialog::Entering {
                digits,
                until: None,
            }) => {
                self.dialog = Some(Dialog::Entering {
                    digits,
                    until: Some(now + FIRST_KEY_WAIT),
                });
                Vec::new()
            }
            Some(Dialog::Entering { .. }) => Vec::new(),
            Some(Dialog::Refused { enter_next: true }) => self.start_entering(),
            Some(Dialog::Refused { enter_next: false }) => {
                self.dialog = None;
                vec![WaitAction::ResumeHold]
            }
            Some(Dialog::Done) => {
                let _ = (plan, caller);
                vec![WaitAction::Hangup]
            }
        }
    }

    /// A key while queued.
    pub fn handle_digit(
        &mut self,
        now: Instant,
        digit: char,
        plan: &DialPlan,
        caller: &str,
    ) -> Vec<WaitAction> {
        if self.ringing {
            return Vec::new();
        }
        match self.dialog.clone() {
            None if self.offer && Some(digit) == self.settings.callback_key => {
                self.start_offer(plan, caller)
            }
            None => Vec::new(),
            Some(Dialog::Confirm { number, .. }) => match digit {
                '1' => self.confirm(number),
                '2' if plan.callbacks.keyed_numbers => self.start_entering(),
                _ => Vec::new(),
            },
            Some(Dialog::Entering { mut digits, .. }) => match digit {
                '#' => self.keyed(now, plan, &digits),
                '0'..='9' if digits.len() < MAX_KEYED => {
                    digits.push(digit);
                    // The first key stops the "please enter" prompt.
                    let stop = self.playing.take().is_some();
                    self.dialog = Some(Dialog::Entering {
                        digits,
                        until: Some(now + NEXT_KEY_WAIT),
                    });
                    if stop {
                        vec![WaitAction::StopPlayback]
                    } else {
                        Vec::new()
                    }
                }
                _ => Vec::new(),
            },
            Some(Dialog::Refused { .. } | Dialog::Done) => Vec::new(),
        }
    }

    /// The callback key: read the caller's number back, or ask for one.
    fn start_offer(&mut self, plan: &DialPlan, caller: &str) -> Vec<WaitAction> {
        let Some(trunk) = plan.callback_trunk() else {
            return Vec::new();
        };
        match trunk.check_number(caller) {
            Ok(_) => self.read_back(plan, caller.to_string()),
            Err(why) => {
                tracing::info!("the caller's own number cannot be called back ({why})");
                self.refuse(plan.callbacks.keyed_numbers)
            }
        }
    }

    fn read_back(&mut self, plan: &DialPlan, number: String) -> Vec<WaitAction> {
        let mut prompts = vec![p::CALLBACK_WILL_CALL.to_string()];
        prompts.extend(digit_prompts(&number));
        prompts.push(
            if plan.callbacks.keyed_numbers {
                p::CALLBACK_CONFIRM_OPTIONS
            } else {
                p::CALLBACK_CONFIRM_ONLY
            }
            .into(),
        );
        self.dialog = Some(Dialog::Confirm {
            number,
            listen_until: None,
        });
        self.play_dialog(prompts)
    }

    fn start_entering(&mut self) -> Vec<WaitAction> {
        self.dialog = Some(Dialog::Entering {
            digits: String::new(),
            until: None,
        });
        self.play_dialog(vec![p::CALLBACK_ENTER_NUMBER.into()])
    }

    /// The caller finished keying a number.
    fn keyed(&mut self, _now: Instant, plan: &DialPlan, digits: &str) -> Vec<WaitAction> {
        if digits.is_empty() {
            self.dialog = None;
            return vec![WaitAction::ResumeHold];
        }
        let number = plan.callbacks.keyed_to_number(digits);
        match plan.callback_trunk().map(|t| t.check_number(&number)) {
            Some(Ok(_)) => self.read_back(plan, number),
            Some(Err(why)) => {
                tracing::info!("keyed-in callback number {number} refused ({why})");
                self.refuse(true)
            }
            None => {
                self.dialog = None;
                vec![WaitAction::ResumeHold]
            }
        }
    }

    /// "We cannot call that number", then keying in (while tries are left).
    fn refuse(&mut self, may_enter: bool) -> Vec<WaitAction> {
        self.refused += 1;
        let enter_next = may_enter && self.refused <= MAX_REFUSED;
        self.dialog = Some(Dialog::Refused { enter_next });
        self.play_dialog(vec![p::CALLBACK_REFUSED.into()])
    }

    fn confirm(&mut self, number: String) -> Vec<WaitAction> {
        self.dialog = Some(Dialog::Done);
        let mut out = vec![WaitAction::Virtualize { number }];
        out.extend(self.play_dialog(vec![p::CALLBACK_QUEUED.into()]));
        out
    }

    fn play_dialog(&mut self, prompts: Vec<String>) -> Vec<WaitAction> {
        let id = self.new_id(false);
        self.playing = Some(id);
        vec![WaitAction::Play {
            play_id: id,
            prompts,
        }]
    }

    fn new_id(&mut self, announcement: bool) -> u32 {
        self.next_id = (self.next_id + 1) & 0x0fff_ffff;
        let id = QUEUE_PLAY_BASE | self.next_id;
        if announcement {
            id | WAIT_PLAY_BASE
        } else {
            id
        }
    }
}
