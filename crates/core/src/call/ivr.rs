//! Executes [`Step`]s: prompts, menus with barge-in and digit collection, hang-up.
//!
//! Sans-IO: digits, playback completions and timeouts come in with `now`; media
//! commands and the hang-up request go out through [`IvrRunner::poll_action`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::program::{
    CallContextInfo, CallInfo, CollectSpec, ConnectTarget, MenuResult, Program, Step,
};
use crate::media::collector::{Collected, CollectorConfig, DigitCollector, EndedBy};
use crate::routing::{ManagerStates, Reason};

/// What the runner wants the call to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvrAction {
    Play {
        play_id: u32,
        prompts: Vec<String>,
        /// A menu's first-digit timeout, for the media plane to wait out before it
        /// reports the end ([`crate::media::command::MediaCommand::Play`]); zero
        /// otherwise.
        first_key_wait: Duration,
    },
    StopPlayback,
    /// A menu starts (its prompts play and its keys are collected).
    MenuEntered {
        menu: String,
    },
    /// A menu finished: for the call's story and its record.
    MenuDone {
        menu: String,
        result: MenuResult,
        reason: Option<Reason>,
    },
    /// The program's entry decision and why (e.g. "returning caller: spoke with andrew").
    Decision {
        reason: Reason,
    },
    Hangup {
        reason: String,
    },
    /// Ring people and bridge (the call layer takes over until it calls
    /// [`IvrRunner::continue_with`]).
    Connect(ConnectTarget),
    /// Start recording the caller (the greeting has played); the call layer reports
    /// the end with [`IvrRunner::handle_recording_finished`].
    Record {
        mailbox: String,
        max: std::time::Duration,
        silence: std::time::Duration,
    },
}

#[derive(Debug)]
enum State {
    Idle,
    Playing {
        play_id: u32,
        then: Step,
    },
    Menu {
        id: String,
        play_id: Option<u32>,
        collector: DigitCollector,
    },
    /// The call layer is ringing people for this call.
    Connecting,
    /// Playing the voicemail greeting; recording starts when it ends.
    Greeting {
        play_id: u32,
        mailbox: String,
        max: std::time::Duration,
        silence: std::time::Duration,
        then: Step,
    },
    /// Recording a message; `then` runs when it ends.
    Recording {
        then: Step,
    },
    Done,
}

pub struct IvrRunner {
    program: Box<dyn Program>,
    state: State,
    next_play_id: u32,
    actions: VecDeque<IvrAction>,
}

impl std::fmt::Debug for IvrRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IvrRunner")
            .field("state", &self.state)
            .finish()
    }
}

/// Whether `step` is a menu with type-ahead, possibly after more prompts.
fn leads_to_type_ahead_menu(step: &Step) -> bool {
    match step {
        Step::Play { then, .. } => leads_to_type_ahead_menu(then),
        Step::Menu { collect, .. } => collect.type_ahead,
        _ => false,
    }
}

/// `prompts`, then `then`'s (a type-ahead menu, possibly after more prompts), as the
/// menu with every prompt in order.
fn into_menu(mut prompts: Vec<String>, mut then: Step) -> Step {
    while let Step::Play {
        prompts: more,
        then: next,
    } = then
    {
        prompts.extend(more);
        then = *next;
    }
    match then {
        Step::Menu {
            id,
            prompts: own,
            collect,
        } => {
            prompts.extend(own);
            Step::Menu {
                id,
                prompts,
                collect,
            }
        }
        // Not a menu after all (leads_to_type_ahead_menu said otherwise): play, then go on.
        other => Step::Play {
            prompts,
            then: Box::new(other),
        },
    }
}

fn collector_config(spec: &CollectSpec) -> CollectorConfig {
    CollectorConfig {
        max_digits: spec.max_digits,
        terminator: spec.terminator,
        first_digit_timeout: spec.first_digit_timeout,
        inter_digit_timeout: spec.inter_digit_timeout,
    }
}

impl IvrRunner {
    pub fn new(program: Box<dyn Program>) -> Self {
        Self {
            program,
            state: State::Idle,
            next_play_id: 0,
            actions: VecDeque::new(),
        }
    }

    pub fn start(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: &CallInfo,
        states: &ManagerStates,
        history: Option<crate::routing::PreviousInteraction>,
    ) {
        let step = self.program.start(call, wall, states, history);
        if let Some(reason) = self.program.last_reason() {
            self.actions.push_back(IvrAction::Decision {
                reason: reason.clone(),
            });
        }
        self.execute(now, step);
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// A prompt ended. Stale completions (of a prompt we already stopped) are ignored.
    pub fn handle_playback_finished(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: &CallInfo,
        id: u32,
    ) {
        if matches!(&self.state, State::Greeting { play_id, .. } if *play_id == id) {
            if let State::Greeting {
                mailbox,
                max,
                silence,
                then,
                ..
            } = std::mem::replace(&mut self.state, State::Idle)
            {
                self.actions.push_back(IvrAction::Record {
                    mailbox,
                    max,
                    silence,
                });
                self.state = State::Recording { then };
            }
            return;
        }
        match &mut self.state {
            State::Playing { play_id, .. } if *play_id == id => {
                if let State::Playing { then, .. } = std::mem::replace(&mut self.state, State::Idle)
                {
                    self.execute(now, then);
                }
            }
            State::Menu {
                play_id, collector, ..
            } if *play_id == Some(id) => {
                *play_id = None;
                // The first-digit timer runs from the end of the prompt, so a long
                // prompt does not eat the caller's time to answer.
                collector.start(now);
            }
            _ => {}
        }
        let _ = (wall, call);
    }

    /// A DTMF digit from any source.
    pub fn handle_digit(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: &CallInfo,
        states: &ManagerStates,
        digit: char,
    ) {
        let State::Menu {
            id,
            play_id,
            collector,
        } = &mut self.state
        else {
            return; // other digits outside menus are ignored
        };
        if play_id.take().is_some() {
            // Barge-in: the first digit cuts the prompts at once, those played before
            // the menu's own included (type-ahead: see `into_menu`).
            // (An INFO key can also land here after the prompts ended, while the media
            // plane still waits for a first key before reporting their end.)
            tracing::info!("key {digit} pressed during the prompt: kept for menu {id}");
            self.actions.push_back(IvrAction::StopPlayback);
        }
        if let Some(done) = collector.handle_digit(now, digit) {
            self.finish_menu(now, wall, call, states, done);
        }
    }

    pub fn handle_timeout(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: &CallInfo,
        states: &ManagerStates,
    ) {
        let State::Menu { collector, .. } = &mut self.state else {
            return;
        };
        if let Some(done) = collector.handle_timeout(now) {
            self.finish_menu(now, wall, call, states, done);
        }
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Menu { collector, .. } => collector.poll_timeout(),
            _ => None,
        }
    }

    #[must_use]
    pub fn poll_action(&mut self) -> Option<IvrAction> {
        self.actions.pop_front()
    }

    pub fn last_reason(&self) -> Option<&Reason> {
        self.program.last_reason()
    }

    pub fn program(&self) -> &dyn Program {
        self.program.as_ref()
    }

    pub fn program_mut(&mut self) -> &mut dyn Program {
        self.program.as_mut()
    }

    pub fn context(&self) -> CallContextInfo {
        self.program.context()
    }

    /// A connect attempt ended without a bridge: run the routing step that follows.
    pub fn continue_with(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: &CallInfo,
        step: crate::routing::Step,
        reason: Reason,
    ) {
        let step = self.program.continue_with(call, wall, step, reason.clone());
        self.actions.push_back(IvrAction::Decision { reason });
        self.execute(now, step);
    }

    /// Whether a voicemail greeting is playing or a message is being recorded.
    pub fn in_voicemail(&self) -> bool {
        matches!(self.state, State::Greeting { .. } | State::Recording { .. })
    }

    /// The mailbox whose greeting is playing.
    pub fn greeting_mailbox(&self) -> Option<&str> {
        match &self.state {
            State::Greeting { mailbox, .. } => Some(mailbox),
            _ => None,
        }
    }

    /// The message is recorded: continue (goodbye, hang up).
    pub fn handle_recording_finished(&mut self, now: Instant) {
        if let State::Recording { then } = std::mem::replace(&mut self.state, State::Idle) {
            self.execute(now, then);
        }
    }

    fn finish_menu(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: &CallInfo,
        states: &ManagerStates,
        done: Collected,
    ) {
        let State::Menu { id, .. } = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        let result = match done.ended_by {
            EndedBy::NoInput => MenuResult::NoInput,
            _ if done.digits.is_empty() => MenuResult::NoInput,
            _ => MenuResult::Digits(done.digits),
        };
        let step = self
            .program
            .on_menu_result(call, wall, states, &id, result.clone());
        let reason = self.program.last_reason().cloned();
        self.actions.push_back(IvrAction::MenuDone {
            menu: id,
            result,
            reason,
        });
        self.execute(now, step);
    }

    fn execute(&mut self, _now: Instant, mut step: Step) {
        loop {
            match step {
                Step::Play { prompts, then } if prompts.is_empty() => step = *then,
                // Prompts that lead straight into a type-ahead menu play as one list with
                // the menu's own (Asterisk's `Background(timeout&menu)`): a key pressed
                // anywhere in it is the menu's first, as type-ahead would have it, and
                // the media plane reports one end instead of one per step, with no gap
                // between them. A silent caller's menu replay (timeout prompt, menu
                // prompt) is then one wake-up chain, not two (issue 16).
                Step::Play { prompts, then } if leads_to_type_ahead_menu(&then) => {
                    step = into_menu(prompts, *then);
                }
                Step::Play { prompts, then } => {
                    let play_id = self.play(prompts, Duration::ZERO);
                    self.state = State::Playing {
                        play_id,
                        then: *then,
                    };
                    return;
                }
                Step::Menu {
                    id,
                    prompts,
                    collect,
                } => {
                    self.actions
                        .push_back(IvrAction::MenuEntered { menu: id.clone() });
                    let collector = DigitCollector::new(collector_config(&collect));
                    // The media plane waits out the first-digit timeout itself
                    // after the prompts, so a caller who presses nothing costs the
                    // call one activation per replay, not two (issue 16).
                    let play_id = if prompts.is_empty() {
                        None
                    } else {
                        Some(self.play(prompts, collect.first_digit_timeout))
                    };
                    let mut state = State::Menu {
                        id,
                        play_id,
                        collector,
                    };
                    if let State::Menu {
                        play_id: None,
                        collector,
                        ..
                    } = &mut state
                    {
                        collector.start(_now);
                    }
                    self.state = state;
                    return;
                }
                Step::Hangup { reason } => {
                    self.actions.push_back(IvrAction::Hangup { reason });
                    self.state = State::Done;
                    return;
                }
                Step::Connect(target) => {
                    self.actions.push_back(IvrAction::Connect(target));
                    self.state = State::Connecting;
                    return;
                }
                Step::Record {
                    mailbox,
                    prompts,
                    max,
                    silence,
                    then,
                } => {
                    let play_id = self.play(prompts, Duration::ZERO);
                    self.state = State::Greeting {
                        play_id,
                        mailbox,
                        max,
                        silence,
                        then: *then,
                    };
                    return;
                }
            }
        }
    }

    fn play(&mut self, prompts: Vec<String>, first_key_wait: Duration) -> u32 {
        self.next_play_id = self.next_play_id.wrapping_add(1);
        let play_id = self.next_play_id;
        self.actions.push_back(IvrAction::Play {
            play_id,
            prompts,
            first_key_wait,
        });
        play_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::program::{CollectSpec, DemoIvr, Program};
    use std::time::Duration;

    fn info() -> CallInfo {
        CallInfo {
            call_id: "c1".into(),
            caller: "100".into(),
            caller_name: None,
            dialled: "1000".into(),
            started_at: Timestamp::UNIX_EPOCH,
        }
    }

    /// The actions, without the menu-entered notes.
    fn drain(r: &mut IvrRunner) -> Vec<IvrAction> {
        std::iter::from_fn(|| r.poll_action())
            .filter(|a| !matches!(a, IvrAction::MenuEntered { .. }))
            .collect()
    }

    #[test]
    fn demo_ivr_barge_in_and_confirm() {
        let t0 = Instant::now();
        let w = Timestamp::UNIX_EPOCH;
        let ci = info();
        let mut r = IvrRunner::new(Box::new(DemoIvr::default()));
        r.start(t0, w, &ci, &ManagerStates::default(), None);
        assert_eq!(
            drain(&mut r),
            vec![IvrAction::Play {
                play_id: 1,
                prompts: vec!["welcome".into()],
                // A menu: the media plane waits out its first-digit timeout.
                first_key_wait: Duration::from_secs(5),
            }]
        );
        // digit during the welcome prompt: prompt stops at once, digit confirmed
        r.handle_digit(
            t0 + Duration::from_millis(700),
            w,
            &ci,
            &ManagerStates::default(),
            '3',
        );
        let a = drain(&mut r);
        assert_eq!(a[0], IvrAction::StopPlayback);
        assert!(
            matches!(&a[1], IvrAction::MenuDone { result: MenuResult::Digits(d), .. } if d == "3")
        );
        assert_eq!(
            a[2],
            IvrAction::Play {
                play_id: 2,
                prompts: vec!["you_pressed".into(), "digit_3".into(), "goodbye".into()],
                first_key_wait: Duration::ZERO,
            }
        );
        // a stale completion of the stopped welcome prompt is ignored
        r.handle_playback_finished(t0 + Duration::from_secs(1), w, &ci, 1);
        assert!(drain(&mut r).is_empty());
        r.handle_playback_finished(t0 + Duration::from_secs(3), w, &ci, 2);
        assert!(matches!(drain(&mut r)[..], [IvrAction::Hangup { .. }]));
        assert!(r.is_done());
    }

    #[test]
    fn timeout_runs_from_end_of_prompt_and_retries_then_hangs_up() {
        let t0 = Instant::now();
        let w = Timestamp::UNIX_EPOCH;
        let ci = info();
        let mut r = IvrRunner::new(Box::new(DemoIvr::default()));
        r.start(t0, w, &ci, &ManagerStates::default(), None);
        assert_eq!(r.poll_timeout(), None, "no timer while the prompt plays");
        let mut now = t0;
        let mut play = 1;
        for attempt in 0..3 {
            drain(&mut r);
            now += Duration::from_secs(3);
            r.handle_playback_finished(now, w, &ci, play);
            let deadline = r.poll_timeout().unwrap();
            assert_eq!(deadline, now + Duration::from_secs(5));
            r.handle_timeout(deadline, w, &ci, &ManagerStates::default());
            let a = drain(&mut r);
            assert!(matches!(
                &a[0],
                IvrAction::MenuDone {
                    result: MenuResult::NoInput,
                    ..
                }
            ));
            let IvrAction::Play {
                play_id, prompts, ..
            } = &a[1]
            else {
                panic!("{a:?}")
            };
            if attempt < 2 {
                // The timeout prompt and the menu's replay play as one list.
                assert_eq!(prompts, &vec!["timeout".to_string(), "welcome".to_string()]);
                play = *play_id;
            } else {
                assert_eq!(prompts, &vec!["timeout".to_string(), "goodbye".to_string()]);
                r.handle_playback_finished(now, w, &ci, *play_id);
                assert!(matches!(r.poll_action(), Some(IvrAction::Hangup { .. })));
            }
            now = deadline;
        }
    }

    /// `play:welcome -> menu:m`: a program whose first step is a prompt before a menu.
    struct WelcomeThenMenu {
        type_ahead: bool,
        got: Option<MenuResult>,
    }

    impl Program for WelcomeThenMenu {
        fn start(
            &mut self,
            _call: &CallInfo,
            _wall: Timestamp,
            _states: &ManagerStates,
            _history: Option<crate::routing::PreviousInteraction>,
        ) -> Step {
            Step::play(
                &["welcome"],
                Step::Menu {
                    id: "m".into(),
                    prompts: vec!["main_menu".into()],
                    collect: CollectSpec {
                        type_ahead: self.type_ahead,
                        ..CollectSpec::default()
                    },
                },
            )
        }
        fn on_menu_result(
            &mut self,
            _call: &CallInfo,
            _wall: Timestamp,
            _states: &ManagerStates,
            _menu: &str,
            result: MenuResult,
        ) -> Step {
            self.got = Some(result);
            Step::hangup("done")
        }
    }

    #[test]
    fn a_key_during_the_welcome_prompt_is_kept_for_the_menu() {
        let t0 = Instant::now();
        let w = Timestamp::UNIX_EPOCH;
        let ci = info();
        let mut r = IvrRunner::new(Box::new(WelcomeThenMenu {
            type_ahead: true,
            got: None,
        }));
        r.start(t0, w, &ci, &ManagerStates::default(), None);
        drain(&mut r);
        r.handle_digit(
            t0 + Duration::from_millis(1500),
            w,
            &ci,
            &ManagerStates::default(),
            '2',
        );
        let a = drain(&mut r);
        assert_eq!(a[0], IvrAction::StopPlayback);
        assert!(
            matches!(&a[1], IvrAction::MenuDone { menu, result: MenuResult::Digits(d), .. } if menu == "m" && d == "2"),
            "{a:?}"
        );
        assert!(matches!(a[2], IvrAction::Hangup { .. }), "{a:?}");
        assert!(
            !a.iter().any(|x| matches!(x, IvrAction::Play { .. })),
            "the menu prompt is not played after the caller chose: {a:?}"
        );
    }

    #[test]
    fn without_type_ahead_the_key_is_ignored() {
        let t0 = Instant::now();
        let w = Timestamp::UNIX_EPOCH;
        let ci = info();
        let mut r = IvrRunner::new(Box::new(WelcomeThenMenu {
            type_ahead: false,
            got: None,
        }));
        r.start(t0, w, &ci, &ManagerStates::default(), None);
        drain(&mut r);
        r.handle_digit(
            t0 + Duration::from_millis(1500),
            w,
            &ci,
            &ManagerStates::default(),
            '2',
        );
        assert!(drain(&mut r).is_empty());
        r.handle_playback_finished(t0 + Duration::from_secs(3), w, &ci, 1);
        assert_eq!(
            drain(&mut r),
            vec![IvrAction::Play {
                play_id: 2,
                prompts: vec!["main_menu".into()],
                first_key_wait: CollectSpec::default().first_digit_timeout,
            }]
        );
    }

    #[test]
    fn invalid_digit_replays_menu() {
        let t0 = Instant::now();
        let w = Timestamp::UNIX_EPOCH;
        let ci = info();
        let mut r = IvrRunner::new(Box::new(DemoIvr::default()));
        r.start(t0, w, &ci, &ManagerStates::default(), None);
        drain(&mut r);
        r.handle_digit(t0, w, &ci, &ManagerStates::default(), '*');
        let a = drain(&mut r);
        // "Invalid", then the menu again, as one list: no gap, one end to report.
        assert_eq!(
            a.last(),
            Some(&IvrAction::Play {
                play_id: 2,
                prompts: vec!["invalid".into(), "welcome".into()],
                first_key_wait: Duration::from_secs(5),
            })
        );
        assert_eq!(r.poll_timeout(), None, "no timer while the prompts play");
        r.handle_playback_finished(t0, w, &ci, 2);
        assert_eq!(drain(&mut r), vec![]);
        assert!(r.poll_timeout().is_some(), "the menu listens");
    }

    /// A key pressed during the prompt before a type-ahead menu (here "invalid") cuts
    /// the list and is the menu's first key, as type-ahead has it.
    #[test]
    fn a_key_during_the_replays_first_prompt_is_the_menus() {
        let t0 = Instant::now();
        let w = Timestamp::UNIX_EPOCH;
        let ci = info();
        let states = ManagerStates::default();
        let mut r = IvrRunner::new(Box::new(DemoIvr::default()));
        r.start(t0, w, &ci, &states, None);
        drain(&mut r);
        r.handle_digit(t0, w, &ci, &states, '*');
        drain(&mut r);
        r.handle_digit(t0, w, &ci, &states, '1');
        let a = drain(&mut r);
        assert_eq!(a.first(), Some(&IvrAction::StopPlayback), "{a:?}");
        assert!(
            a.iter().any(|x| matches!(
                x,
                IvrAction::MenuDone { result: MenuResult::Digits(d), .. } if d == "1"
            )),
            "{a:?}"
        );
    }
}
