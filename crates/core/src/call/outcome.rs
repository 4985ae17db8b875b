//! How a call ended, decided once, from typed facts.
//!
//! A call collects a [`Story`] as it goes (routing met closed hours, a connect failed
//! and why, a manager answered, a message was recorded, the plan itself ended the
//! call). When it ends, [`classify`] turns the story and the [`EndCause`] into the
//! record's [`CallOutcome`], who hung up, and whether the caller is owed a call back
//! and why. The live router and the simulator both call it, so their figures mean the
//! same thing, and no outcome ever depends on the wording of a log line.

use crate::model::{CallOutcome, CallbackReason, Side};
use crate::routing::{OverflowCause, Reason};

/// Why a call ended, as the call layer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndCause {
    /// BYE from the caller.
    CallerHungUp,
    /// CANCEL before we answered.
    CallerCancelled,
    /// The manager the caller was talking to hung up.
    ManagerHungUp,
    /// The dial plan ended the call (goodbye, `hangup`, after a message). The text
    /// is for the log.
    PlanEnded(String),
    RtpTimeout,
    NoAck,
    /// The caller's side stopped refreshing the session (RFC 4028 session timer): it
    /// is gone, though the call may have been silent (on hold) all along.
    SessionExpired,
    /// Refused before answering with this status.
    Rejected(u16),
    MediaFailed(String),
    /// Switchboard was stopped (SIGTERM) with the call still up: it was hung up from
    /// our side after the drain (`[server] drain_secs`), see `endpoint::stopping`.
    Stopped,
}

impl std::fmt::Display for EndCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndCause::CallerHungUp => f.write_str("the caller hung up"),
            EndCause::CallerCancelled => f.write_str("the caller hung up before the answer"),
            EndCause::ManagerHungUp => f.write_str("the manager hung up"),
            EndCause::PlanEnded(why) => write!(f, "the dial plan ended the call ({why})"),
            EndCause::RtpTimeout => f.write_str("no audio from the other side"),
            EndCause::NoAck => f.write_str("no ACK for our answer"),
            EndCause::SessionExpired => {
                f.write_str("the caller's side stopped refreshing the session")
            }
            EndCause::Rejected(code) => write!(f, "refused with {code}"),
            EndCause::MediaFailed(why) => write!(f, "media failed ({why})"),
            EndCause::Stopped => f.write_str("Switchboard was stopped"),
        }
    }
}

/// Why the call could not reach a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// Closed hours of the number or the department.
    AfterHours,
    /// The department's queue was full.
    QueueFull,
    /// Nobody answered: all rung without answer, nobody available, queue timeout, the
    /// returning caller's manager did not take it.
    NobodyAnswered,
}

impl Missed {
    /// The typed facts of a routing or connect decision.
    pub fn of(reason: &Reason) -> Missed {
        if reason.after_hours() {
            Missed::AfterHours
        } else if reason.overflow() == Some(OverflowCause::QueueFull) {
            Missed::QueueFull
        } else {
            Missed::NobodyAnswered
        }
    }

    fn callback_reason(self) -> CallbackReason {
        match self {
            Missed::AfterHours => CallbackReason::AfterHours,
            Missed::QueueFull => CallbackReason::Overflow,
            Missed::NobodyAnswered => CallbackReason::NobodyAnswered,
        }
    }
}

/// Where the call is, for the outcome of an ending now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Stage {
    /// Prompts and menus of the plan.
    #[default]
    Ivr,
    /// Ringing managers, queued, or waiting for one manager.
    Connecting,
    /// Talking to a manager (or on hold by them).
    Bridged,
    /// The voicemail greeting is playing.
    Greeting,
    /// The caller's message is being recorded.
    Recording,
}

/// What happened to a call so far, in typed facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Story {
    pub stage: Stage,
    /// Why the call could not reach a person, once it could not (also set after
    /// hours before any connect).
    pub missed: Option<Missed>,
    /// The first manager who answered.
    pub answered_by: Option<String>,
    /// Someone is talking to the caller now (reset by a transfer: a transferred caller
    /// nobody takes is owed a call back like any other).
    pub with_someone: bool,
    /// The caller reached voicemail (greeting or message).
    pub voicemail: bool,
    /// A message was kept (the recording has audio or at least a file).
    pub message: bool,
    /// Voicemail was the plan's choice for this caller (a number or menu option), not
    /// the result of a failed connect.
    pub chose_voicemail: bool,
    /// The caller asked to be called back while queued and their place is kept: the
    /// dial-back owes them the call, not a callback request.
    pub callback_queued: bool,
}

/// The outcome of a call, decided at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub outcome: CallOutcome,
    pub side: Side,
    /// `Some`: file a callback request with this reason.
    pub callback: Option<CallbackReason>,
}

/// The one classification of how a call ended.
pub fn classify(story: &Story, cause: &EndCause) -> Outcome {
    let side = match cause {
        EndCause::CallerHungUp | EndCause::CallerCancelled => Side::Caller,
        EndCause::ManagerHungUp => Side::Manager,
        _ => Side::System,
    };
    let owed = |story: &Story| -> Option<CallbackReason> {
        match story.missed {
            Some(m) => Some(m.callback_reason()),
            None if story.chose_voicemail || story.voicemail => Some(CallbackReason::Voicemail),
            None => Some(CallbackReason::Missed),
        }
    };
    let outcome = |outcome, callback| Outcome {
        outcome,
        side,
        callback,
    };
    if story.callback_queued {
        return outcome(CallOutcome::CallbackQueued, None);
    }
    if story.answered_by.is_some() {
        // Answered, even if a transfer then went nowhere; that caller still gets a
        // call back (they are with nobody now).
        let callback = match story.stage {
            _ if story.with_someone => None,
            Stage::Connecting => Some(CallbackReason::AbandonedWaiting),
            Stage::Greeting | Stage::Recording => owed(story),
            Stage::Ivr => story.missed.map(Missed::callback_reason),
            Stage::Bridged => None,
        };
        return outcome(CallOutcome::Answered, callback);
    }
    if story.message {
        return outcome(CallOutcome::Voicemail, owed(story));
    }
    match cause {
        EndCause::RtpTimeout
        | EndCause::NoAck
        | EndCause::SessionExpired
        | EndCause::MediaFailed(_)
        | EndCause::Rejected(_) => outcome(CallOutcome::Failed, None),
        EndCause::CallerHungUp | EndCause::CallerCancelled | EndCause::ManagerHungUp => {
            match story.stage {
                Stage::Connecting => outcome(
                    CallOutcome::AbandonedRinging,
                    Some(CallbackReason::AbandonedWaiting),
                ),
                // Hung up during the greeting: no message, still called back for the
                // reason they reached voicemail.
                Stage::Greeting | Stage::Recording => outcome(CallOutcome::Missed, owed(story)),
                // Hung up while being told nobody could take the call: missed.
                _ if story.missed.is_some() => outcome(CallOutcome::Missed, owed(story)),
                _ => outcome(CallOutcome::AbandonedInIvr, None),
            }
        }
        // Cut off by our own stop: interrupted, as after a crash, but the caller who was
        // trying to reach someone is owed a call back (a caller still in the menus had
        // not asked for anyone yet).
        EndCause::Stopped => {
            let callback = match story.stage {
                Stage::Ivr => story.missed.map(Missed::callback_reason),
                Stage::Connecting => Some(
                    story
                        .missed
                        .map_or(CallbackReason::NobodyAnswered, Missed::callback_reason),
                ),
                _ => owed(story),
            };
            outcome(CallOutcome::Interrupted, callback)
        }
        EndCause::PlanEnded(_) => {
            if story.missed.is_some() || story.voicemail {
                // The plan gave up on reaching a person (after hours, overflow, a
                // silent voicemail): the caller is in the callback queue.
                outcome(CallOutcome::Missed, owed(story))
            } else {
                outcome(CallOutcome::CompletedInIvr, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn story(stage: Stage) -> Story {
        Story {
            stage,
            ..Story::default()
        }
    }

    fn check(s: &Story, cause: EndCause, want: CallOutcome, cb: Option<CallbackReason>) {
        let o = classify(s, &cause);
        assert_eq!((o.outcome, o.callback), (want, cb), "{s:?} {cause:?}");
    }

    #[test]
    fn every_ending_has_one_outcome_and_callback_reason() {
        use CallOutcome as O;
        use CallbackReason as R;
        let plan = EndCause::PlanEnded("x".into());
        // The plan's own hangup in the IVR: served, not abandoned.
        check(&story(Stage::Ivr), plan.clone(), O::CompletedInIvr, None);
        // The caller hanging up in a menu.
        check(
            &story(Stage::Ivr),
            EndCause::CallerHungUp,
            O::AbandonedInIvr,
            None,
        );
        check(
            &story(Stage::Ivr),
            EndCause::CallerCancelled,
            O::AbandonedInIvr,
            None,
        );
        // Abandoned while ringing or queued.
        check(
            &story(Stage::Connecting),
            EndCause::CallerHungUp,
            O::AbandonedRinging,
            Some(R::AbandonedWaiting),
        );
        // After hours, voicemail left, router hangs up after '#'.
        let mut s = story(Stage::Ivr);
        s.missed = Some(Missed::AfterHours);
        s.voicemail = true;
        s.message = true;
        check(&s, plan.clone(), O::Voicemail, Some(R::AfterHours));
        // ...or the caller hangs up mid-message.
        s.stage = Stage::Recording;
        check(
            &s,
            EndCause::CallerHungUp,
            O::Voicemail,
            Some(R::AfterHours),
        );
        // ...or during the greeting: missed, still called back for after hours.
        s.message = false;
        s.stage = Stage::Greeting;
        check(&s, EndCause::CallerHungUp, O::Missed, Some(R::AfterHours));
        // After hours without voicemail: confirm + goodbye.
        let mut s = story(Stage::Ivr);
        s.missed = Some(Missed::AfterHours);
        check(&s, plan.clone(), O::Missed, Some(R::AfterHours));
        // Overflow (queue full) and nobody answered.
        s.missed = Some(Missed::QueueFull);
        check(&s, plan.clone(), O::Missed, Some(R::Overflow));
        s.missed = Some(Missed::NobodyAnswered);
        s.voicemail = true;
        s.message = true;
        check(&s, plan.clone(), O::Voicemail, Some(R::NobodyAnswered));
        // Voicemail chosen in a menu.
        let mut s = story(Stage::Ivr);
        s.chose_voicemail = true;
        s.voicemail = true;
        s.message = true;
        check(&s, plan.clone(), O::Voicemail, Some(R::Voicemail));
        // Answered and ended by either side.
        let mut s = story(Stage::Bridged);
        s.answered_by = Some("andrew".into());
        s.with_someone = true;
        check(&s, EndCause::CallerHungUp, O::Answered, None);
        check(&s, EndCause::ManagerHungUp, O::Answered, None);
        // Transferred, and the caller hangs up while the new target rings.
        s.with_someone = false;
        s.stage = Stage::Connecting;
        check(
            &s,
            EndCause::CallerHungUp,
            O::Answered,
            Some(R::AbandonedWaiting),
        );
        // Transferred, nobody took it, the plan ended it after the confirmation.
        s.stage = Stage::Ivr;
        s.missed = Some(Missed::NobodyAnswered);
        check(&s, plan, O::Answered, Some(R::NobodyAnswered));
        // Technical failures.
        check(&story(Stage::Ivr), EndCause::RtpTimeout, O::Failed, None);
        // Asked to be called back while queued: the place is kept, no request filed,
        // whoever hangs up.
        let mut s = story(Stage::Ivr);
        s.callback_queued = true;
        check(&s, EndCause::CallerHungUp, O::CallbackQueued, None);
        check(&s, EndCause::PlanEnded("x".into()), O::CallbackQueued, None);
        assert_eq!(
            classify(&story(Stage::Ivr), &EndCause::CallerHungUp).side,
            Side::Caller
        );
    }

    #[test]
    fn a_call_cut_off_by_a_stop_is_interrupted_and_the_waiting_caller_called_back() {
        use CallOutcome as O;
        use CallbackReason as R;
        let stop = EndCause::Stopped;
        // Still in the menus: nobody asked for yet, nothing owed.
        check(&story(Stage::Ivr), stop.clone(), O::Interrupted, None);
        // Waiting in a queue or ringing managers: called back.
        check(
            &story(Stage::Connecting),
            stop.clone(),
            O::Interrupted,
            Some(R::NobodyAnswered),
        );
        // Told it is after hours: called back for that.
        let mut s = story(Stage::Ivr);
        s.missed = Some(Missed::AfterHours);
        check(&s, stop.clone(), O::Interrupted, Some(R::AfterHours));
        // Mid-message: the message is kept.
        let mut s = story(Stage::Recording);
        s.chose_voicemail = true;
        s.voicemail = true;
        s.message = true;
        check(&s, stop.clone(), O::Voicemail, Some(R::Voicemail));
        // Talking to a manager: answered, as it was.
        let mut s = story(Stage::Bridged);
        s.answered_by = Some("andrew".into());
        s.with_someone = true;
        check(&s, stop.clone(), O::Answered, None);
        assert_eq!(classify(&s, &stop).side, Side::System);
    }
}
