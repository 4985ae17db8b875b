//! The simulator predicts what the router does: one generated day of traffic (over a
//! thousand calls, several departments, busy managers, returning callers, queue
//! timeouts, abandons, voicemail) runs through the simulator's switch and through the
//! live sans-IO endpoint — every call as SIP messages from a trunk, every manager a
//! phone answering INVITEs — on the same virtual clock, and every call ends up with the
//! same decisions: who was rung in what order, queue positions, who answered and
//! when, and the outcome. Then the live run's records and ring attempts are stored and
//! replayed (`--replay-db`): the replay reproduces them.

mod flows;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flows::{header, phone_sdp, reply};
use jiff::Timestamp;
use switchboard::call::plan::PlanProgram;
use switchboard::call::record::Recorder;
use switchboard::call::{
    CallEvent, CallKey, DigitSource, Lookup, LookupResult, MediaCommand, MediaEvent, RecordEnd,
};
use switchboard::config::{DialPlan, ServerConfig, load_str};
use switchboard::endpoint::{Endpoint, EndpointConfig, Output};
use switchboard::routing::PreviousInteraction;
use switchboard::sim::cli::replay_matches;
use switchboard::sim::{
    Observed, ReplayOptions, RingId, SimResult, Switch, Trace, TrafficFile, replay, run, simulate,
};
use switchboard::sip::{Peer, Transport};
use switchboard::store::{MemoryStore, RingOutcome, Store, StoreWrite};

const TRUNK: &str = "10.0.0.1:5070";
const LOOPING: u32 = 0x8000_0000;

const PLAN: &str = r#"
[[numbers]]
number = "100"
source = "main"
action = "play:welcome -> menu:main"

[[numbers]]
number = "200"
source = "vip"
action = "department:team"

[menus.main]
prompt = "main_menu"
options = { "1" = "department:sales", "2" = "department:support", "3" = "voicemail:general" }
timeout_secs = 4
retries = 1
on_failure = "department:support"

[departments.sales]
members = ["anna", "ben", "carla"]
strategy = "round-robin"
ring_timeout_secs = 12
queue_timeout_secs = 90
max_waiting = 4
wrap_up_secs = 10
overflow = "voicemail:sales"

[departments.support]
members = ["dora", "emil"]
strategy = "longest-idle"
ring_timeout_secs = 10
queue_timeout_secs = 60
max_waiting = 3
overflow = "hangup"

[departments.team]
members = ["anna", "dora", "finn"]
strategy = "ring-all"
ring_timeout_secs = 15
queue_timeout_secs = 45
overflow = "voicemail:general"

[voicemail.sales]
[voicemail.general]

[history]
enabled = true
lookback_days = 30
wait_secs = 20

[managers.anna]
contact = "sip:anna@10.0.1.1:5060"
[managers.ben]
contact = "sip:ben@10.0.1.2:5060"
[managers.carla]
contact = "sip:carla@10.0.1.3:5060"
[managers.dora]
contact = "sip:dora@10.0.1.4:5060"
[managers.emil]
contact = "sip:emil@10.0.1.5:5060"
[managers.finn]
contact = "sip:finn@10.0.1.6:5060"
"#;

const TRAFFIC: &str = r#"
seed = 11
date = "2026-12-01"
start = "09:00"
end = "13:00"

[arrivals]
per_hour = { "09-13" = 280 }

[numbers]
"100" = 0.8
"200" = 0.2

[callers]
pool = 700
returning_share = 0.3

[menus.main]
"1" = 0.55
"2" = 0.3
"3" = 0.05
timeout = 0.05
hangup = 0.05

[patience]
dist = "exponential"
mean = 70

[manager_defaults]
answer_probability = 0.85
answer_delay = { dist = "uniform", min = 1, max = 9 }
talk_time = { dist = "exponential", mean = 150 }

[managers.ben]
answer_probability = 0.6
answer_delay = { dist = "uniform", min = 4, max = 16 }

[managers.finn]
shifts = ["09:30-12:00"]
"#;

fn plan() -> DialPlan {
    load_str(PLAN, Path::new("plan.toml"), None)
        .unwrap_or_else(|e| panic!("{e}"))
        .plan
}

struct LiveRing {
    call: usize,
    manager: String,
    invite: String,
    peer: String,
    /// Our To tag once it answered.
    tag: String,
}

/// The live endpoint behind the simulator's `Switch`: SIP messages in and out.
struct LiveSwitch {
    ep: Endpoint,
    now: Instant,
    wall: Timestamp,
    keys: HashMap<usize, CallKey>,
    calls_by_key: HashMap<CallKey, usize>,
    caller_tags: HashMap<usize, String>,
    rings: HashMap<RingId, LiveRing>,
    ring_by_call_id: HashMap<String, RingId>,
    bridged: HashMap<usize, RingId>,
    next_ring: RingId,
    history: HashMap<usize, Option<PreviousInteraction>>,
    stop_recording: Vec<(CallKey, u32)>,
    recording: HashMap<CallKey, u32>,
    observed: VecDeque<Observed>,
    recorder: Recorder,
    store: MemoryStore,
    plan: Arc<DialPlan>,
    /// The media plane's first-key wait, as `MediaSession` keeps it: a list played with
    /// a `first_key_wait` (a menu's) is reported once that wait is over, or at the
    /// caller's first key, carrying when it really ended; the simulator reports every
    /// end at once. Both must decide alike.
    waits: HashMap<(CallKey, u32), Duration>,
    held: Vec<HeldEnd>,
    /// Held ends to report at once: a new list started on their leg.
    late: Vec<HeldEnd>,
}

#[derive(Clone, Copy)]
struct HeldEnd {
    key: CallKey,
    play_id: u32,
    ended: Instant,
    report_at: Instant,
}

fn udp(addr: &str) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: addr.parse().unwrap(),
    }
}

impl LiveSwitch {
    fn new(plan: Arc<DialPlan>, seed: u64) -> Self {
        let server = ServerConfig {
            trunks: vec!["10.0.0.0/24".parse().unwrap()],
            ring_before_answer_ms: 0,
            ..ServerConfig::default()
        };
        let cfg = EndpointConfig::from_server(&server, "127.0.0.1:5060".parse().unwrap());
        let p = plan.clone();
        let ep = Endpoint::new(
            cfg,
            Box::new(move |_| Box::new(PlanProgram::new(p.clone(), Box::new(|_| true)))),
            // The endpoint seeds its connect policy with `seed ^ 0x57a7`: the same
            // seed as the simulator's.
            seed ^ 0x57a7,
        );
        LiveSwitch {
            ep,
            now: Instant::now(),
            wall: Timestamp::UNIX_EPOCH,
            keys: HashMap::new(),
            calls_by_key: HashMap::new(),
            caller_tags: HashMap::new(),
            rings: HashMap::new(),
            ring_by_call_id: HashMap::new(),
            bridged: HashMap::new(),
            next_ring: 0,
            history: HashMap::new(),
            stop_recording: Vec::new(),
            recording: HashMap::new(),
            observed: VecDeque::new(),
            recorder: Recorder::new(),
            store: MemoryStore::new(),
            plan,
            waits: HashMap::new(),
            held: Vec::new(),
            late: Vec::new(),
        }
    }

    fn at(&mut self, now: Instant, wall: Timestamp) {
        self.now = now;
        self.wall = wall;
    }

    fn sip(&mut self, from: &str, text: &str) {
        self.ep
            .handle_sip(self.now, self.wall, udp(from), text.as_bytes());
        self.drain();
    }

    fn media(&mut self, key: CallKey, ev: MediaEvent) {
        self.ep.handle_media_event(self.now, self.wall, key, ev);
        self.drain();
    }

    /// Everything the endpoint sent, answered the way a trunk and phones would.
    fn drain(&mut self) {
        let mut work = true;
        while work {
            work = false;
            let mut sent = Vec::new();
            let mut lookups = Vec::new();
            while let Some(o) = self.ep.poll_output() {
                match o {
                    Output::Transmit(t) => {
                        sent.push((t.peer.addr, String::from_utf8_lossy(&t.payload).to_string()))
                    }
                    Output::Media(m) => self.media_cmd(m),
                    Output::Event(e) => self.event(e),
                    Output::Store(w) => self.store_write(*w),
                    Output::Lookup(Lookup::History { call, .. }) => lookups.push(call),
                    // No [lookup] in the compared plans.
                    Output::Lookup(Lookup::Crm { .. }) => {}
                    Output::Claim(c) => panic!("a single instance claims nothing: {c:?}"),
                }
            }
            for (to, msg) in sent {
                work = true;
                self.answer_message(to, &msg);
            }
            for call in lookups {
                work = true;
                let c = self.calls_by_key.get(&call).copied();
                let h = c.and_then(|c| self.history.get(&c).cloned()).flatten();
                self.ep
                    .handle_lookup(self.now, self.wall, call, LookupResult::History(h));
            }
            for h in std::mem::take(&mut self.late) {
                work = true;
                self.report(h);
            }
            for (key, id) in std::mem::take(&mut self.stop_recording) {
                work = true;
                self.ep.handle_media_event(
                    self.now,
                    self.wall,
                    key,
                    MediaEvent::RecordingFinished {
                        record_id: id,
                        path: format!("sim-{}.wav", key.0).into(),
                        duration: Duration::ZERO,
                        ended_by: RecordEnd::Stopped,
                        silent: false,
                        error: None,
                    },
                );
            }
        }
    }

    /// A held end, reported now (without draining: the callers drain).
    fn report(&mut self, h: HeldEnd) {
        self.ep.handle_media_event(
            self.now,
            self.wall,
            h.key,
            MediaEvent::PlaybackFinished {
                play_id: h.play_id,
                ended: h.ended,
            },
        );
    }

    /// Takes `key`'s held end, if any.
    fn take_held(&mut self, key: CallKey) -> Option<HeldEnd> {
        let i = self.held.iter().position(|h| h.key == key)?;
        Some(self.held.swap_remove(i))
    }

    fn store_write(&mut self, w: StoreWrite) {
        if let StoreWrite::RingAttempt(a) = &w {
            let _ = self.store.add_ring_attempt(a);
        }
    }

    fn media_cmd(&mut self, m: MediaCommand) {
        match m {
            MediaCommand::Play {
                call,
                play_id,
                prompts,
                first_key_wait,
            } if play_id & LOOPING == 0 => {
                let held = self.take_held(call);
                self.late.extend(held);
                if !first_key_wait.is_zero() {
                    self.waits.insert((call, play_id), first_key_wait);
                }
                if let Some(c) = self.calls_by_key.get(&call).copied() {
                    self.observed.push_back(Observed::Play {
                        call: c,
                        play_id,
                        prompts: prompts.len(),
                    });
                }
            }
            MediaCommand::StopPlayback { call } => {
                // As the media plane: no end follows a stop, held or not.
                let _ = self.take_held(call);
                if let Some(c) = self.calls_by_key.get(&call).copied() {
                    self.observed.push_back(Observed::StopPlayback { call: c });
                }
            }
            MediaCommand::Record {
                call, record_id, ..
            } => {
                self.recording.insert(call, record_id);
                if let Some(c) = self.calls_by_key.get(&call).copied() {
                    self.observed
                        .push_back(Observed::Record { call: c, record_id });
                }
            }
            MediaCommand::StopRecording { call } => {
                if let Some(id) = self.recording.remove(&call) {
                    self.stop_recording.push((call, id));
                }
            }
            _ => {}
        }
    }

    fn event(&mut self, e: CallEvent) {
        if let Some(rec) = self.recorder.handle_event(self.wall, Some(&self.plan), &e) {
            self.store.upsert_call(&rec).unwrap();
        }
        if let CallEvent::Started { key, info } = &e {
            let c: usize = info.call_id.trim_start_matches('c').parse().unwrap();
            self.calls_by_key.insert(*key, c);
            self.keys.insert(c, *key);
        }
        let Some(c) = self.calls_by_key.get(&e.key()).copied() else {
            return;
        };
        if let CallEvent::Connected { manager, .. } = &e {
            let ring = self
                .rings
                .iter()
                .find(|(_, r)| r.call == c && r.manager == *manager && !r.tag.is_empty())
                .map(|(k, _)| *k);
            if let Some(ring) = ring {
                self.bridged.insert(c, ring);
                self.observed.push_back(Observed::Bridged {
                    call: c,
                    ring,
                    manager: manager.clone(),
                });
            }
        }
        if let CallEvent::Ended { .. } = &e {
            self.recording.remove(&e.key());
        }
        self.observed
            .push_back(Observed::Event { call: c, event: e });
    }

    /// What the trunk or a phone does with a message we sent it.
    fn answer_message(&mut self, to: SocketAddr, msg: &str) {
        let dest = to.to_string();
        let is = |m: &str| msg.starts_with(&format!("{m} "));
        if dest == TRUNK {
            if msg.starts_with("SIP/2.0 200") && header(msg, "CSeq").ends_with("INVITE") {
                // Our answer to a caller: the trunk ACKs.
                let call_id = header(msg, "Call-ID");
                let c: usize = call_id.trim_start_matches('c').parse().unwrap();
                let tag = header(msg, "To").split("tag=").nth(1).unwrap().to_string();
                self.caller_tags.insert(c, tag);
                let ack = self.caller_request(c, "ACK", 1);
                self.sip(TRUNK, &ack);
            } else if is("BYE") {
                self.sip(TRUNK, &reply(msg, "200 OK", &self.caller_tag_of(msg), None));
            }
            return;
        }
        if is("INVITE") {
            self.next_ring += 1;
            let ring = self.next_ring;
            let manager = header(msg, "To")
                .split("sip:")
                .nth(1)
                .and_then(|s| s.split('@').next())
                .unwrap()
                .to_string();
            let orig = header(msg, "X-Switchboard-Call-ID");
            let c: usize = orig.trim_start_matches('c').parse().unwrap();
            self.ring_by_call_id.insert(header(msg, "Call-ID"), ring);
            self.rings.insert(
                ring,
                LiveRing {
                    call: c,
                    manager: manager.clone(),
                    invite: msg.to_string(),
                    peer: dest.clone(),
                    tag: String::new(),
                },
            );
            self.observed.push_back(Observed::Ring {
                call: c,
                ring,
                manager,
            });
            let ringing = reply(msg, "180 Ringing", &format!("p{ring}"), None);
            self.sip(&dest, &ringing);
        } else if is("CANCEL") {
            let Some(ring) = self.ring_by_call_id.get(&header(msg, "Call-ID")).copied() else {
                return;
            };
            self.observed.push_back(Observed::RingStopped { ring });
            self.sip(&dest, &reply(msg, "200 OK", &format!("p{ring}"), None));
            if let Some(r) = self.rings.get(&ring) {
                let invite = r.invite.clone();
                self.sip(
                    &dest,
                    &reply(&invite, "487 Request Terminated", &format!("p{ring}"), None),
                );
            }
        } else if is("BYE") {
            let ring = self.ring_by_call_id.get(&header(msg, "Call-ID")).copied();
            self.sip(
                &dest,
                &reply(msg, "200 OK", &format!("p{}", ring.unwrap_or(0)), None),
            );
        }
    }

    fn caller_tag_of(&self, msg: &str) -> String {
        let c: usize = header(msg, "Call-ID")
            .trim_start_matches('c')
            .parse()
            .unwrap_or(0);
        format!("t{c}")
    }

    fn caller_request(&self, c: usize, method: &str, cseq: u32) -> String {
        format!(
            "{method} sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKc{c}{method}{cseq}\r\nFrom: <sip:caller@10.0.0.1>;tag=t{c}\r\nTo: <sip:x@127.0.0.1>;tag={}\r\nCall-ID: c{c}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            self.caller_tags.get(&c).cloned().unwrap_or_default()
        )
    }

    fn key(&self, c: usize) -> Option<CallKey> {
        self.keys.get(&c).copied()
    }
}

impl Switch for LiveSwitch {
    fn arrive(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: usize,
        dialled: &str,
        caller: &str,
        history: Option<PreviousInteraction>,
    ) {
        self.at(now, wall);
        self.history.insert(call, history);
        let sdp = flows::CALLER_SDP;
        let invite = format!(
            "INVITE sip:{dialled}@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bKi{call}\r\nFrom: <sip:{caller}@10.0.0.1>;tag=t{call}\r\nTo: <sip:{dialled}@127.0.0.1>\r\nCall-ID: c{call}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{TRUNK}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        self.sip(TRUNK, &invite);
    }

    fn digit(&mut self, now: Instant, wall: Timestamp, call: usize, digit: char) {
        self.at(now, wall);
        if let Some(k) = self.key(call) {
            // The media plane reports a held end before the key that ends its wait.
            if let Some(h) = self.take_held(k) {
                self.report(h);
                self.drain();
            }
            self.media(
                k,
                MediaEvent::Digit {
                    digit,
                    source: DigitSource::Rfc4733,
                },
            );
        }
    }

    fn prompt_finished(&mut self, now: Instant, wall: Timestamp, call: usize, play_id: u32) {
        self.at(now, wall);
        if let Some(k) = self.key(call) {
            match self.waits.remove(&(k, play_id)) {
                Some(wait) => self.held.push(HeldEnd {
                    key: k,
                    play_id,
                    ended: now,
                    report_at: now + wait,
                }),
                None => self.media(
                    k,
                    MediaEvent::PlaybackFinished {
                        play_id,
                        ended: now,
                    },
                ),
            }
        }
    }

    fn recording_finished(
        &mut self,
        now: Instant,
        wall: Timestamp,
        call: usize,
        record_id: u32,
        duration: Duration,
    ) {
        self.at(now, wall);
        if let Some(k) = self.key(call) {
            self.recording.remove(&k);
            self.media(
                k,
                MediaEvent::RecordingFinished {
                    record_id,
                    path: format!("sim-{call}.wav").into(),
                    duration,
                    ended_by: RecordEnd::Digit('#'),
                    silent: false,
                    error: None,
                },
            );
        }
    }

    fn caller_hangs_up(&mut self, now: Instant, wall: Timestamp, call: usize) {
        self.at(now, wall);
        if let Some(k) = self.key(call) {
            let _ = self.take_held(k);
        }
        let bye = self.caller_request(call, "BYE", 2);
        self.sip(TRUNK, &bye);
    }

    fn phone_answers(&mut self, now: Instant, wall: Timestamp, ring: RingId) {
        self.at(now, wall);
        let Some(r) = self.rings.get_mut(&ring) else {
            return;
        };
        r.tag = format!("p{ring}");
        let ok = reply(&r.invite, "200 OK", &r.tag, Some(&phone_sdp(30000, 0)));
        let peer = r.peer.clone();
        self.sip(&peer, &ok);
    }

    fn phone_rejects(&mut self, now: Instant, wall: Timestamp, ring: RingId, outcome: RingOutcome) {
        self.at(now, wall);
        let Some(r) = self.rings.get(&ring) else {
            return;
        };
        let status = match outcome {
            RingOutcome::Busy => "486 Busy Here",
            RingOutcome::Declined => "603 Decline",
            _ => "500 Server Error",
        };
        let resp = reply(&r.invite, status, &format!("p{ring}"), None);
        let peer = r.peer.clone();
        self.sip(&peer, &resp);
    }

    fn manager_hangs_up(&mut self, now: Instant, wall: Timestamp, call: usize) {
        self.at(now, wall);
        let Some(r) = self
            .bridged
            .get(&call)
            .and_then(|ring| self.rings.get(ring))
        else {
            return;
        };
        // A branch of its own: the same phone hangs up many calls.
        let bye = flows::phone_request(&r.invite, "BYE", 2, &r.tag, "").replace(
            "branch=z9hG4bKpBYE2",
            &format!("branch=z9hG4bKpBYE{}", r.tag),
        );
        let peer = r.peer.clone();
        self.sip(&peer, &bye);
    }

    fn signed_in(&mut self, now: Instant, wall: Timestamp, manager: &str, on: bool) {
        self.at(now, wall);
        if on {
            let _ = self.ep.unpause_manager(now, wall, manager);
        } else {
            self.ep.pause_manager(now, wall, manager, "off shift");
        }
        self.drain();
    }

    fn timeout(&mut self, now: Instant, wall: Timestamp) {
        self.at(now, wall);
        let (due, held): (Vec<HeldEnd>, Vec<HeldEnd>) =
            self.held.iter().partition(|h| h.report_at <= now);
        self.held = held;
        for h in due {
            self.report(h);
        }
        self.ep.handle_timeout(now, wall);
        self.drain();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let held = self.held.iter().map(|h| h.report_at).min();
        match (self.ep.poll_timeout(), held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll(&mut self) -> Option<Observed> {
        self.observed.pop_front()
    }
}

fn traffic() -> switchboard::sim::Traffic {
    let file =
        TrafficFile::parse(TRAFFIC, Path::new("traffic.toml")).unwrap_or_else(|e| panic!("{e}"));
    let p = plan();
    file.check(&[("plan", &p)])
        .unwrap_or_else(|e| panic!("{e}"));
    file.generate(11)
}

/// Per call: its number, outcome and trace.
type Summary<'a> = Vec<(usize, &'a str, &'a [(u64, Trace)])>;

fn summary(r: &SimResult) -> Summary<'_> {
    r.calls
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.outcome.as_str(), c.trace.as_slice()))
        .collect()
}

#[test]
fn the_simulator_and_the_live_router_make_the_same_decisions_and_replay_reproduces_them() {
    let p = plan();
    let traffic = traffic();
    assert!(traffic.arrivals.len() >= 1000, "{}", traffic.arrivals.len());
    let sim = simulate(&p, &traffic, &mut |_, _| {});
    let mut live = LiveSwitch::new(Arc::new(p.clone()), traffic.seed);
    let real = run(&p, &traffic, &mut live, &mut |_, _| {});

    // The traffic exercises what it should.
    let count = |f: &dyn Fn(&switchboard::sim::CallResult) -> bool| {
        sim.calls.iter().filter(|c| f(c)).count()
    };
    let queued = count(&|c| c.trace.iter().any(|(_, t)| matches!(t, Trace::Queued(..))));
    let waited_for = count(&|c| {
        c.trace
            .iter()
            .any(|(_, t)| matches!(t, Trace::WaitingFor(_)))
    });
    let abandoned = count(&|c| c.outcome == switchboard::store::CallOutcome::AbandonedRinging);
    let voicemail = count(&|c| c.outcome == switchboard::store::CallOutcome::Voicemail);
    let answered = count(&|c| c.answered_by.is_some());
    let no_answer_failover = count(&|c| {
        c.trace
            .iter()
            .filter(|(_, t)| matches!(t, Trace::Rung(_)))
            .count()
            > 1
    });
    eprintln!(
        "{} calls: {answered} answered, {queued} queued, {waited_for} waited for their manager, \
         {abandoned} abandoned waiting, {voicemail} voicemail, {no_answer_failover} rang more than one phone; overflowed {}",
        sim.calls.len(),
        sim.calls.iter().filter(|c| c.overflowed).count()
    );
    for (what, n) in [
        ("queued", queued),
        ("waited for a returning caller's manager", waited_for),
        ("abandoned", abandoned),
        ("voicemail", voicemail),
        ("failover", no_answer_failover),
    ] {
        assert!(n >= 10, "too few calls {what}: {n}");
    }
    assert!(sim.calls.iter().filter(|c| c.overflowed).count() >= 10);

    // Call by call, the same decisions at the same moments.
    let (a, b) = (summary(&sim), summary(&real));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "call {} differs", x.0);
    }
    assert_eq!(a.len(), b.len());
    for (x, y) in sim.calls.iter().zip(&real.calls) {
        assert_eq!(
            (
                &x.answered_by,
                x.answered_ms,
                &x.department,
                &x.menus,
                x.overflowed
            ),
            (
                &y.answered_by,
                y.answered_ms,
                &y.department,
                &y.menus,
                y.overflowed
            )
        );
    }
    assert_eq!(sim.rings, real.rings);

    // Replay the live run's records: the same plan reproduces them.
    let store = live.store;
    let opts = ReplayOptions {
        from: traffic.origin,
        to: traffic
            .origin
            .checked_add(jiff::SignedDuration::from_hours(6))
            .unwrap(),
        lookback: p.history.lookback,
        seed: traffic.seed,
    };
    let mut replayed_traffic = replay(&store, &opts, Some(&traffic)).unwrap();
    replayed_traffic.prior = traffic.prior.clone();
    let replayed = simulate(&p, &replayed_traffic, &mut |_, _| {});
    let m = replay_matches(&replayed);
    eprintln!("replay: {m:?}");
    assert_eq!(m.total, sim.calls.len());
    assert_eq!(m.routed_alike, m.total);
    assert_eq!(m.ended_alike, m.total);
}
